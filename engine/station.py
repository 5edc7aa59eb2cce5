"""The station every layer works with: its villages, where each member of staff works (the scope
the engine applies to every task and case), and the log of who read which case (minors' data: every
read of a child's file is recorded — PIPL art. 28, 未成年人网络保护条例). Public: the portal and the
process packages import these, never the engine's other models."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Village(models.Model):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["position", "code"]
        db_table = "accounts_village"  # the table kept its name when the model moved from the portal
        verbose_name = _("village")
        verbose_name_plural = _("villages")

    def __str__(self):
        return self.name


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    villages = models.ManyToManyField(Village, blank=True, verbose_name=_("villages"), db_table="accounts_staffprofile_villages")
    township_wide = models.BooleanField(_("works in every village"), default=False,
                                        help_text=_("Supervisors, the civil-affairs office and administrators work township-wide."))
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)

    class Meta:
        db_table = "accounts_staffprofile"
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self):
        return str(self.user)


def villages_of(user) -> set[str] | None:
    """The scope the engine applies: None = township-wide; a user without a profile sees no village."""
    return identity(user)[1]


def identity(user) -> tuple[set[str], set[str] | None]:
    """(roles, villages) of a user in one query: the groups it belongs to, and the villages it works
    in (None: the whole township; empty: no profile, no village)."""
    from django.contrib.auth import get_user_model

    rows = get_user_model().objects.filter(pk=user.pk).values_list(
        "groups__name", "staff_profile__id", "staff_profile__township_wide", "staff_profile__villages__code")
    groups, villages, has_profile, township_wide = set(), set(), False, False
    for group, profile_id, wide, village in rows:
        if group:
            groups.add(group)
        if profile_id is not None:
            has_profile, township_wide = True, bool(wide)
        if village:
            villages.add(village)
    if not has_profile:
        return groups, set()
    return groups, None if township_wide else villages


class AccessPurpose(models.TextChoices):
    """Why someone opens a minor's file (the list the reason form offers; free text goes with it)."""
    CASEWORK = "casework", _("Casework on this case (visit, assessment, plan, follow-up)")
    SUPERVISION = "supervision", _("Supervision or quality review")
    COVER = "cover", _("Covering for a colleague or taking the case over")
    OVERSIGHT = "oversight", _("Oversight by the civil-affairs office")
    LEGAL = "legal", _("Request from the police, procuratorate or court")
    COMPLAINT = "complaint", _("Complaint, appeal or audit")
    SUPPORT = "support", _("Technical support of the system")
    OWN_TASK = "own_task", _("Working on a task of this case")  # recorded by the task page; never offered on the form


class AccessRequestStatus(models.TextChoices):
    PENDING = "pending", _("waiting for approval")
    APPROVED = "approved", _("approved")
    REFUSED = "refused", _("refused")


class AccessRequest(models.Model):
    """A request to open a minor's file by someone outside its holders, and the supervisor's decision
    (ADR 0020). An approval opens the case to its requester until `expires_at`; nothing else."""
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by"))
    instance_id = models.BigIntegerField(db_index=True)  # 0 for a record that is not a case
    process_key = models.CharField(max_length=64)
    # a process's own record instead of a case, "<kind>:<id>" (a household with children); empty for a case
    record = models.CharField(max_length=64, blank=True, default="")
    village = models.CharField(max_length=64, blank=True)
    subject = models.CharField(max_length=200, blank=True)  # the case or household number, never the child's name
    purpose = models.CharField(_("purpose"), max_length=32, choices=AccessPurpose.choices)
    reason = models.CharField(_("reason"), max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=AccessRequestStatus.choices, default=AccessRequestStatus.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "cases_accessrequest"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "instance_id", "status"]), models.Index(fields=["status", "village"])]
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")


class AccessOutcome(models.TextChoices):
    GRANTED = "granted", _("opened")
    REFUSED = "refused", _("refused")


class _AppendOnly(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError("The access log is append-only.")

    def delete(self):
        raise ValueError("The access log is append-only.")


class AccessLog(models.Model):
    """One read (or export) of a case, or one refused attempt: who, what, when, why, under which
    approval. Append-only: the ORM refuses changes, and the database refuses UPDATE (and, on
    PostgreSQL, DELETE) with a trigger (engine migration 0009)."""
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    instance_id = models.BigIntegerField(db_index=True)
    process_key = models.CharField(max_length=64)
    view = models.CharField(max_length=32)
    record = models.CharField(max_length=64, blank=True, default="")  # "<kind>:<id>" for a record that is not a case
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=AccessOutcome.choices, default=AccessOutcome.GRANTED)
    purpose = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    approval = models.ForeignKey(AccessRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="reads")

    objects = _AppendOnly.as_manager()

    class Meta:
        db_table = "cases_accesslog"
        ordering = ["-at"]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log entries")

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The access log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The access log is append-only.")
