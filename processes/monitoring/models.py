"""Low-income families under monitoring: the monitored household (a needs-matching household, named
by its id and number, never imported), each month's update, the warnings the rules raised and what
became of them, and the warning rules themselves as versioned data.

Incomes, spending, events, notes, the head's name and ID number are personal: encrypted at rest
(ADR 0019). The village, household number, category, months, statuses, the household's size and its
band against the line stay in clear, for the list, the figures and the monthly cycle."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _, pgettext_lazy

from engine.crypto import EncryptedCharField, EncryptedDecimalField, EncryptedJSONField, EncryptedTextField

MONEY = {"max_digits": 12, "decimal_places": 2}
INCOME_SOURCES = ("wages", "farming", "pensions", "transfers", "other")
SPENDING_KINDS = ("medical", "education", "housing")


class Category(models.TextChoices):
    DIBAO = "dibao", _("minimum-living recipient")
    EXTREME = "extreme", _("extremely poor person")
    RELAPSE = "relapse", _("at risk of falling back into poverty")
    EDGE = "edge", _("on the edge of minimum living")
    RIGID = "rigid", _("hardship from rigid spending")
    OTHER = "other", pgettext_lazy("monitoring category", "other")


class Band(models.TextChoices):
    """Where a month's per-capita income lies: the lowest band it falls in."""

    BELOW_STANDARD = "below_standard", _("below the minimum-living standard")
    BELOW_EDGE = "below_edge", _("below 1.5 times the standard")
    BELOW_LINE = "below_line", _("below the 12,000-yuan line")
    ABOVE = "above", _("above the line")


class Event(models.TextChoices):
    HOSPITALISED = "hospitalised", _("hospitalisation or major illness")
    BREADWINNER = "breadwinner", _("death or disability of a breadwinner")
    SCHOOLING = "schooling", _("a child entering high school or college")
    DISASTER = "disaster", _("disaster")
    JOB_LOSS = "job_loss", _("job loss")


class HouseholdStatus(models.TextChoices):
    ACTIVE = "active", _("monitored")
    EXITED = "exited", _("left monitoring")


class MonitoredHousehold(models.Model):
    household_id = models.PositiveIntegerField(_("household"), unique=True)  # needs matching's household, by id
    code = models.CharField(_("household number"), max_length=32, db_index=True)
    village = models.CharField(_("village"), max_length=64, db_index=True)
    category = models.CharField(_("monitoring category"), max_length=16, choices=Category.choices)
    since = models.DateField(_("monitored since"))
    status = models.CharField(_("status"), max_length=8, choices=HouseholdStatus.choices, default=HouseholdStatus.ACTIVE)
    head_name = EncryptedCharField(_("head of household"), max_length=50, blank=True)
    head_id_number = EncryptedCharField(_("head's ID number"), max_length=18, blank=True)
    cycle_instance_id = models.PositiveBigIntegerField(null=True, blank=True, unique=True)  # its running monthly cycle
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("monitored household")
        verbose_name_plural = _("monitored households")

    def __str__(self):
        return self.code

    @property
    def person_key(self) -> str:
        return f"monitoring:{self.pk}"


class UpdateStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("monitoring", "due")
    DONE = "done", _("done")
    MISSED = "missed", pgettext_lazy("monitoring", "missed")


class MonthlyUpdate(models.Model):
    """One household's month: made open when the month is planned, filled by the worker's update."""

    household = models.ForeignKey(MonitoredHousehold, on_delete=models.CASCADE, related_name="updates")
    month = models.DateField(_("month"))  # its first day
    instance_id = models.PositiveBigIntegerField()
    village = models.CharField(max_length=64, db_index=True)
    status = models.CharField(_("status"), max_length=8, choices=UpdateStatus.choices, default=UpdateStatus.OPEN)
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    visited_on = models.DateField(null=True, blank=True)
    size = models.PositiveSmallIntegerField(_("household size"), null=True, blank=True)
    incomes = EncryptedJSONField(_("income by source"), default=dict, blank=True)  # source -> yuan in the month
    spending = EncryptedJSONField(_("rigid spending"), default=dict, blank=True)  # kind -> yuan in the month
    events = EncryptedJSONField(_("events"), default=list, blank=True)
    note = EncryptedTextField(pgettext_lazy("monitoring", "note"), blank=True)
    per_capita = EncryptedDecimalField(_("per-capita income a year"), null=True, blank=True, **MONEY)
    band = models.CharField(_("against the line"), max_length=16, blank=True, choices=Band.choices)

    class Meta:
        verbose_name = _("monthly update")
        verbose_name_plural = _("monthly updates")
        constraints = [models.UniqueConstraint(fields=["household", "month"], name="monitoring_one_update_a_month")]


class WarningStatus(models.TextChoices):
    RAISED = "raised", _("to verify")
    VERIFIED = "verified", _("verified, awaiting the supervisor")
    CONFIRMED = "confirmed", _("confirmed")
    DISMISSED = "dismissed", _("dismissed")


class Warning(models.Model):
    """What the rules found in one update: one warning (its reasons listed) and its chain — the
    verification visit, the supervisor's decision and the needs-matching case it fed."""

    household = models.ForeignKey(MonitoredHousehold, on_delete=models.CASCADE, related_name="warnings")
    update = models.OneToOneField(MonthlyUpdate, on_delete=models.CASCADE, related_name="warning")
    instance_id = models.PositiveBigIntegerField()
    village = models.CharField(max_length=64, db_index=True)
    rules_version = models.PositiveIntegerField()
    reasons = EncryptedJSONField(_("reasons"), default=list)  # [{"code", "label", "value"}]
    status = models.CharField(_("status"), max_length=10, choices=WarningStatus.choices, default=WarningStatus.RAISED)
    raised_at = models.DateTimeField()
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_on = models.DateField(null=True, blank=True)
    visit_findings = EncryptedTextField(_("what the visit found"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = EncryptedTextField(_("supervisor's note"), blank=True)
    needs_instance_id = models.PositiveBigIntegerField(null=True, blank=True)  # the needs-matching case it feeds
    linked_existing = models.BooleanField(default=False)  # that case was already open: linked, not started
    referral_problem = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("warning")
        verbose_name_plural = _("warnings")


class RuleSet(models.Model):
    """One version of the warning rules. Versions are never changed: saving in the admin (or the
    rules page) stores the next version, and each warning names the version it used."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    rules = models.JSONField(_("rules"))
    note = models.CharField(_("why changed"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("warning rules version")
        verbose_name_plural = _("warning rules versions")

    def __str__(self):
        return f"v{self.version}"

    def clean(self):
        from . import rules

        problems = rules.rule_problems(self.rules)
        if problems:
            raise ValidationError({"rules": problems})

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(_("A rule version is never changed; save a new version instead."))
        super().save(*args, **kwargs)

    @classmethod
    def publish(cls, rules, *, note: str = "", by=None) -> "RuleSet":
        """Check the rules and store them as the next version (the latest is in force)."""
        from django.db import transaction
        from django.db.models import Max

        with transaction.atomic():
            latest = cls.objects.aggregate(v=Max("version"))["v"] or 0
            new = cls(version=latest + 1, rules=rules, note=note, created_by=by)
            new.full_clean()
            new.save()
        return new
