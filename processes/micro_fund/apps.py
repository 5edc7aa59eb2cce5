from pathlib import Path

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

HERE = Path(__file__).resolve().parent


class MicroFundConfig(AppConfig):
    name = "processes.micro_fund"
    label = "micro_fund"
    verbose_name = _("Community micro-fund")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        from . import handlers  # noqa: F401 - registers services, hooks and option lists

        registry.register_process("micro_fund", HERE.parent / "bpmn" / "micro_fund.bpmn", HERE / "forms")
