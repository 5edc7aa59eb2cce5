from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _sla_on_time(year: int, villages):
    """Deadlines met across every process: the engine's SLA figures, for the year's page."""
    from engine import registry, selectors

    total, by_month, by_village = selectors.on_time_shares(year, villages)
    return registry.FigureValues(total, by_month, by_village)


class DashboardConfig(AppConfig):
    name = "portal.dashboard"
    label = "dashboard"
    verbose_name = _("The station's year")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        registry.register_figure(registry.Figure(
            code="sla.on_time", label=_("Tasks done within their deadline"),
            # xgettext:no-python-format
            unit=_("% of tasks due"), compute=_sla_on_time,
            kind="share", order=900))
