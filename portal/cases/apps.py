from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "portal.cases"
    label = "cases"
    verbose_name = _("Cases")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        registry.register_upload_usage(_attachments_uploaded)


def _attachments_uploaded(user, since) -> int:
    """What the user attached to task forms since then: counted against the daily upload quota."""
    from django.db.models import Sum

    from .models import Attachment

    if getattr(user, "pk", None) is None:
        return 0
    return Attachment.objects.filter(uploaded_by=user, uploaded_at__gte=since).aggregate(n=Sum("size"))["n"] or 0
