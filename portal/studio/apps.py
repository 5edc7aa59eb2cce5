from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StudioConfig(AppConfig):
    """The process studio: administrators see every process's versions, export and import BPMN
    files, and edit a diagram in the bpmn-js modeler (docs/adr/0013)."""

    name = "portal.studio"
    label = "studio"
    verbose_name = _("Process studio")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry
        from engine.process_app import NavEntry

        registry.register_nav(NavEntry("studio", _("Process studio"), frozenset({"admin"})))
