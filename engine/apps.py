from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = _("Workflow engine")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from engine import checks, jobs, journal, registry  # noqa: F401 - registers the system checks

        from engine.api.sla import warn_before_deadlines

        journal.set_outbox_kicker(jobs.kick_outbox)
        # Run by `serve`'s sweeper thread and by Celery beat's periodic-jobs nudge alike.
        registry.register_periodic("warn_before_deadlines", warn_before_deadlines)
        registry.register_option_source("villages", lambda: list(settings.CASEFLOW_VILLAGES.items()))
