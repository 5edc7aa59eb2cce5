"""Files attached to task forms, and the access log of who opened which case (minors' data:
every read of a child's file is recorded — PIPL art. 28, 未成年人网络保护条例)."""
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


class AccessLog(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    instance_id = models.BigIntegerField(db_index=True)
    process_key = models.CharField(max_length=64)
    view = models.CharField(max_length=32)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log entries")

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The access log is append-only.")
        super().save(*args, **kwargs)
