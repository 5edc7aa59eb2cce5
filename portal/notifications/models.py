"""Notifications in the portal: new tasks and assignments, SLA warnings (one per share of the SLA) and
breaches, and what a process tells a named person about a case (`notice`: a partner office answered)."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    NEW_TASK = "new_task", _("new task")
    RETURNED = "returned", _("returned to you")
    ASSIGNED = "assigned", _("assigned to you")
    DUE_SOON = "due_soon", _("due soon")
    BREACHED = "breached", _("overdue")
    ACCESS_REQUEST = "access_request", _("access request")
    ACCESS_DECIDED = "access_decided", _("access decided")
    NOTICE = "notice", _("news")


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    task_id = models.BigIntegerField(null=True, blank=True)
    instance_id = models.BigIntegerField(null=True, blank=True)
    task_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    percent = models.PositiveSmallIntegerField(default=0, help_text="a deadline warning: the share of the SLA that had passed")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    link = models.CharField(max_length=200, blank=True, help_text="where the notice leads, a path of this site, when not to its task or case")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "kind", "task_id", "percent"], name="one_notification_per_task_kind")]
        indexes = [models.Index(fields=["user"], name="unread_notifications", condition=models.Q(read_at__isnull=True)),
                   models.Index(fields=["task_id", "kind"], name="notification_task_kind")]
