"""Files attached to task forms (the access log of who opened which case is engine.station.AccessLog)."""
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def new_token() -> str:
    return uuid.uuid4().hex


def _upload_to(instance, filename):
    return f"attachments/{instance.token[:2]}/{instance.token}"


class Attachment(models.Model):
    token = models.CharField(max_length=32, unique=True, default=new_token)
    task_id = models.BigIntegerField(db_index=True)
    instance_id = models.BigIntegerField(db_index=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    file = models.FileField(upload_to=_upload_to)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
