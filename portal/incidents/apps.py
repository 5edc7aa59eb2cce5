from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    """The administrators' page of cases that stopped with an error (/studio/incidents/)."""

    name = "portal.incidents"
    label = "incidents"
    verbose_name = _("Incidents")

    def ready(self):
        from engine import registry
        from engine.process_app import NavEntry

        registry.register_nav(NavEntry("incidents", _("Incidents"), frozenset({"admin"})))
