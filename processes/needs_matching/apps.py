from pathlib import Path

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

HERE = Path(__file__).resolve().parent


class NeedsMatchingConfig(AppConfig):
    name = "processes.needs_matching"
    label = "needs_matching"
    verbose_name = _("Needs and resources matching")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        from . import handlers  # noqa: F401 - registers services, hooks and option lists

        registry.register_process("needs_matching", HERE.parent / "bpmn" / "needs_matching.bpmn", HERE / "forms")
