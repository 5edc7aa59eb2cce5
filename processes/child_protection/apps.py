from pathlib import Path

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

HERE = Path(__file__).resolve().parent


class ChildProtectionConfig(AppConfig):
    name = "processes.child_protection"
    label = "child_protection"
    verbose_name = _("Child protection")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        from . import handlers  # noqa: F401 - registers services and hooks

        registry.register_process("child_protection", HERE.parent / "bpmn" / "child_protection.bpmn", HERE / "forms")
