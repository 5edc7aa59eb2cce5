"""What the engine keeps: immutable definition versions, one row per instance with its serialized
state and a revision, and the projections every list and report reads (human tasks, timers),
plus the append-only audit trail and the outbox of outside effects. Everything an instance step
changes is written in one transaction by engine/spiff/runtime.py."""
from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from engine.crypto import EncryptedJSONField


class ProcessDefinition(models.Model):
    """One deployed, numbered, never-changed version of a process key."""

    key = models.SlugField(_("process key"), max_length=64)
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    bpmn_xml = models.TextField(_("BPMN XML"))
    forms = models.JSONField(_("forms"), default=dict, help_text="element id -> form-js schema")
    spec = models.JSONField(help_text="SpiffWorkflow spec, serialized once at deploy")
    user_tasks = models.JSONField(default=dict, help_text="bpmn id -> {name, lane, candidate_group}")
    timers = models.JSONField(default=dict, blank=True, help_text="timer event id -> Caseflow options (clock_starts_from)")
    start_group = models.CharField(max_length=64)
    start_event_id = models.CharField(max_length=128)
    checksum = models.CharField(max_length=64)
    deployed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    deployed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="definition_key_version_unique")]
        ordering = ["key", "-version"]

    def __str__(self):
        return f"{self.key} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Process definition versions are immutable; deploy a new version.")
        super().save(*args, **kwargs)


class JSONText(models.JSONField):
    """JSON kept as text on every database, for a document written whole and read whole and never
    queried inside (an instance's state: lists and reports read the projections). PostgreSQL then
    neither parses it into jsonb on each write nor prints it back out on each read: with lz4
    compression (engine 0019) that is about 0.5 ms of a 12 KB step save, measured by
    bench/step.py. On SQLite a JSON field is text already."""

    def db_type(self, connection):
        return "text"

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "as_sql"):
            return value
        return json.dumps(value, cls=self.encoder)


class InstanceStatus(models.TextChoices):
    RUNNING = "running", _("running")
    COMPLETED = "completed", _("completed")
    ERROR = "error", _("error")
    CANCELLED = "cancelled", _("cancelled")


class ProcessInstance(models.Model):
    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="instances")
    process_key = models.SlugField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.RUNNING)
    revision = models.PositiveIntegerField(default=0, help_text="bumped by every step; guards concurrent writes")
    state = JSONText(help_text="SpiffWorkflow state without the spec")
    village = models.CharField(_("village"), max_length=64, blank=True, db_index=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    error_element = models.CharField(max_length=128, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["process_key", "status"]),
            # The incidents page: the few instances in error, newest first, among millions of others.
            models.Index(fields=["-id"], condition=models.Q(status="error"), name="engine_instance_in_error"),
        ]

    def __str__(self):
        return f"{self.process_key} #{self.pk}"


class TaskStatus(models.TextChoices):
    OPEN = "open", _("open")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")


class HumanTask(models.Model):
    """The projection of one ready user task: inboxes and reports query these rows, never the state."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="human_tasks")
    spiff_task_id = models.UUIDField()
    bpmn_id = models.CharField(max_length=128)
    name = models.CharField(max_length=200)
    lane = models.CharField(max_length=128)
    candidate_group = models.CharField(max_length=64)
    process_key = models.SlugField(max_length=64)
    village = models.CharField(max_length=64, blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_tasks")
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="completed_tasks")
    completed_at = models.DateTimeField(null=True, blank=True)
    # Personal data: encrypted at rest (engine/crypto.py, ADR 0019); the columns above stay in clear for queries.
    form_data = EncryptedJSONField(null=True, blank=True)
    draft_data = EncryptedJSONField(null=True, blank=True, help_text="saved but not submitted; never validated")
    named = models.BooleanField(default=False, help_text="routed to a named person (assignee_from): never open to the whole group")
    context = models.JSONField(null=True, blank=True, help_text="what this task is about (context_from), e.g. a referral id")
    returned = models.BooleanField(default=False, help_text="a step sent back with reasons (done before in this case): marked so in the inbox")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "spiff_task_id"], name="human_task_unique_per_instance")]
        indexes = [
            models.Index(fields=["candidate_group", "due_at"], name="open_task_group_due", condition=Q(status="open")),
            models.Index(fields=["assignee", "due_at"], name="open_task_assignee_due", condition=Q(status="open")),
            models.Index(fields=["candidate_group", "village", "due_at"], name="open_task_group_village_due", condition=Q(status="open")),
            # The "group" inbox: claimable rows in sort order, so deep pages need no sort (bench/inbox.py).
            models.Index(fields=["candidate_group", "due_at", "created_at", "id"], name="claimable_task_group_due",
                         condition=Q(status="open", assignee__isnull=True)),
            models.Index(fields=["completed_by", "-completed_at"], name="task_completed_by"),
            # The deadline-warning sweep (engine/api/sla.py): open tasks with a deadline, in deadline order.
            models.Index(fields=["due_at", "id"], name="open_task_due_warning",
                         condition=Q(status="open", due_at__isnull=False, sla_breached_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.name} ({self.instance_id})"


class TimerStatus(models.TextChoices):
    WAITING = "waiting", _("waiting")
    FIRED = "fired", _("fired")
    CANCELLED = "cancelled", _("cancelled")


class Timer(models.Model):
    """A waiting timer event. Sweepers claim due rows with FOR UPDATE SKIP LOCKED."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="timers")
    spiff_task_id = models.UUIDField()
    bpmn_id = models.CharField(max_length=128)
    name = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=TimerStatus.choices, default=TimerStatus.WAITING)
    fired_at = models.DateTimeField(null=True, blank=True)
    attached_to = models.ForeignKey(HumanTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="timers")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "spiff_task_id"], name="timer_unique_per_instance")]
        indexes = [models.Index(fields=["due_at"], name="waiting_timer_due", condition=Q(status="waiting"))]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError("Audit events are append-only.")

    def delete(self):
        raise ValueError("Audit events are append-only.")


class AuditKind(models.TextChoices):
    DEPLOYED = "deployed", _("deployed")
    STARTED = "started", _("started")
    TASK_READY = "task_ready", _("task ready")
    CLAIMED = "claimed", _("claimed")
    RELEASED = "released", _("released")
    ASSIGNED = "assigned", _("assigned")
    COMPLETED = "completed", _("completed")
    TIMER_FIRED = "timer_fired", _("timer fired")
    ESCALATED = "escalated", _("escalated")
    SERVICE_CALLED = "service_called", _("service called")
    SERVICE_QUEUED = "service_queued", _("service call queued")
    CANCELLED = "cancelled", _("cancelled")
    SHARED = "shared", _("shared")
    ERROR = "error", _("error")
    RETRIED = "retried", _("retried")
    INSTANCE_COMPLETED = "instance_completed", _("instance completed")
    MIGRATED = "migrated", _("moved to another version")
    MESSAGE_RETRIED = "message_retried", _("message sent again")
    SLA_WARNING = "sla_warning", _("deadline warning")
    SECOND_FACTOR_RESET = "second_factor_reset", _("two-step sign-in reset")  # an account's, by an administrator (no case)
    NOTICE = "notice", _("notice sent")  # a process told a named person something (StepContext.notify)


class AuditEvent(models.Model):
    """Our own record of what happened, by whom, with the data submitted — never read back from
    SpiffWorkflow's task history (3.2.0 shares nested data between tasks)."""

    instance = models.ForeignKey(ProcessInstance, null=True, on_delete=models.PROTECT, related_name="audit_events")
    definition = models.ForeignKey(ProcessDefinition, null=True, on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey(HumanTask, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events")
    kind = models.CharField(max_length=32, choices=AuditKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="username at the time, or 'system'")
    bpmn_id = models.CharField(max_length=128, blank=True)
    at = models.DateTimeField()
    data = EncryptedJSONField(default=dict, blank=True, help_text="encrypted at rest: carries submitted form data")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["instance", "at"])]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class SlaWarning(models.Model):
    """One warning before a task's deadline, at one share of its SLA (50 %, 80 %): the unique pair
    (task, percent) is what makes a warning happen once however many sweepers run (engine/api/sla.py)."""

    task = models.ForeignKey(HumanTask, on_delete=models.CASCADE, related_name="sla_warnings")
    percent = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField(help_text="the deadline the warning was about")
    warned_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "percent"], name="one_sla_warning_per_task_percent")]


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class OutboxMessage(models.Model):
    """An outside effect (police notice, SMS, e-mail), written in the step's transaction and
    delivered after commit. The unique key makes a retried step or a re-run delivery a no-op.

    Delivery claims a message for a while (`sending`, `claim_token`, `lease_until`) in a short
    transaction, sends it outside any transaction, and records the result only if it still holds the
    claim: a deliverer that died mid-send leaves a lease that runs out, and the message is claimed
    again (ADR 0022). `delivered` names the route's backends that already took it, so a retry after a
    partial failure does not send the e-mail again because the SMS failed."""

    key = models.CharField(max_length=255, unique=True)
    channel = models.CharField(max_length=64)
    payload = EncryptedJSONField(default=dict, help_text="encrypted at rest: a police notice carries the case's facts")
    instance = models.ForeignKey(ProcessInstance, null=True, on_delete=models.PROTECT, related_name="outbox")
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    receipt = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered = models.JSONField(default=list, blank=True, help_text="the route's backends that already took it")

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="pending_outbox", condition=Q(status="pending")),
            models.Index(fields=["lease_until"], name="sending_outbox", condition=Q(status="sending")),
            models.Index(fields=["-last_attempt_at"], name="failed_outbox", condition=Q(status="failed")),
        ]




class InstanceUserObjectPermission(UserObjectPermissionBase):
    """django-guardian grant of one instance to one user (e.g. a case shared with a partner office),
    with a direct foreign key: guardian's generic table is slow on big tables."""

    content_object = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE)


class InstanceGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE)


from engine.business_calendar import CalendarDay  # noqa: E402,F401 - the station's working days belong to this app
from engine.station import AccessLog, StaffProfile, Village  # noqa: E402,F401 - the station's models belong to this app
