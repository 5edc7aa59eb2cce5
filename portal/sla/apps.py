from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    """The SLA compliance report (supervisors, administrators) and the working-day calendar (administrators)."""

    name = "portal.sla"
    label = "sla"
    verbose_name = _("Deadlines")

    def ready(self):
        from engine import registry
        from engine.process_app import NavEntry

        registry.register_nav(NavEntry("sla-report", _("Deadlines"), frozenset({"supervisor", "admin"})))
