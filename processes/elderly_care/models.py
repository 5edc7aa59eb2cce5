"""Left-behind elderly (65+) of the township: the person, their screening and risk tier, the monthly
"三个一" visits, the health archive (which refers to the village doctor's findings, it does not copy
the clinical file), the social-support archive, risk-flag referrals and reported major changes.

Names, contacts, family, health and what visits found are personal data: encrypted at rest (ADR
0019). The village, the household number, the tier, dates and statuses stay in clear, for lists and
for the monthly cycle."""
from __future__ import annotations

import datetime as dt

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import DateField, Q
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_lazy as _, pgettext_lazy  # "elderly care": words other catalogues translate otherwise

from engine.crypto import EncryptedCharField, EncryptedDecimalField, EncryptedJSONField, EncryptedTextField

from .cycle import LOCAL

BP = {"max_digits": 5, "decimal_places": 1}


class Tier(models.TextChoices):
    HIGH = "high", _("high risk")
    KEY = "key", _("key")
    GENERAL = "general", _("general")


class Living(models.TextChoices):
    ALONE = "alone", _("lives alone")
    SPOUSE = "spouse", _("with spouse only")
    GRANDCHILDREN = "grandchildren", _("with grandchildren")
    CHILDREN = "children", _("with children")
    OTHER = "other", _("other")


class RuleKind(models.TextChoices):
    TIERS = "tiers", _("tier rules")
    FLAGS = "flags", _("risk-flag thresholds")


class RuleSet(models.Model):
    """One version of the tier rules or of the flag thresholds. Versions are never changed: an edit
    in the admin saves the next version, so every screening and flag names the rules it used."""

    kind = models.CharField(_("kind"), max_length=8, choices=RuleKind.choices)
    version = models.PositiveIntegerField(_("version"))
    rules = models.JSONField(_("rules"))
    note = models.CharField(_("why changed"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("rule version")
        verbose_name_plural = _("rule versions")
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="elderly_rule_version")]

    def __str__(self):
        return f"{self.get_kind_display()} v{self.version}"

    def clean(self):
        from . import rules

        problems = rules.tier_rule_problems(self.rules) if self.kind == RuleKind.TIERS else rules.flag_rule_problems(self.rules)
        if problems:
            raise ValidationError({"rules": problems})

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(_("A rule version is never changed; save a new version instead."))
        super().save(*args, **kwargs)

    @classmethod
    def publish(cls, kind: str, rules, *, note: str = "", by=None) -> "RuleSet":
        """Check the rules and store them as the next version of their kind (the latest is the one
        in force). Two administrators saving at once: one gets the next number, the other an error."""
        from django.db import transaction
        from django.db.models import Max

        with transaction.atomic():
            latest = cls.objects.filter(kind=kind).aggregate(v=Max("version"))["v"] or 0
            new = cls(kind=kind, version=latest + 1, rules=rules, note=note, created_by=by)
            new.full_clean()
            new.save()
        return new


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)
class ElderlyPerson(models.Model):
    code = models.CharField(_("number"), max_length=32, unique=True)
    village = models.CharField(_("village"), max_length=64, db_index=True)
    household_code = models.CharField(_("household number"), max_length=32, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("year of birth"))
    sex = models.CharField(_("sex"), max_length=8)
    # Personal (ADR 0019).
    name = EncryptedCharField(pgettext_lazy("elderly care", "name"), max_length=50)
    phone = EncryptedCharField(_("phone"), max_length=30, blank=True)
    living = EncryptedCharField(_("living situation"), max_length=20, choices=Living.choices)
    children = EncryptedJSONField(_("children and where they work"), default=list, blank=True,
                                  help_text='[{"name": "…", "relation": "儿子", "works_in": "广东东莞"}]')
    contact_frequency = EncryptedCharField(_("contact with children"), max_length=60, blank=True)
    emergency_contact = EncryptedCharField(_("emergency contact"), max_length=100, blank=True)
    carers = EncryptedJSONField(_("carers"), default=list, blank=True)
    chronic_conditions = EncryptedJSONField(_("chronic conditions"), default=list, blank=True)
    medication = EncryptedTextField(_("medication"), blank=True)
    doctor_file = EncryptedCharField(_("village clinic file number"), max_length=40, blank=True,
                                     help_text=_("Where the village doctor keeps the clinical record; the archive refers to it."))
    groups_joined = EncryptedJSONField(_("groups joined"), default=list, blank=True)
    # Screening and tier: set by the screening case, confirmed by the supervisor.
    tier = models.CharField(_("risk tier"), max_length=8, choices=Tier.choices, blank=True)
    tier_confirmed_at = models.DateTimeField(null=True, blank=True)
    screening_answers = EncryptedJSONField(_("screening answers"), default=dict, blank=True)
    cycle_instance_id = models.BigIntegerField(null=True, blank=True, unique=True)  # the running monthly cycle
    active = models.BooleanField(_("in the programme"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("elderly person")
        verbose_name_plural = _("elderly people")

    def __str__(self):
        return self.code

    @property
    def person_key(self) -> str:
        return f"elderly_care:{self.pk}"


class Screening(models.Model):
    person = models.ForeignKey(ElderlyPerson, on_delete=models.CASCADE, related_name="screenings")
    instance_id = models.BigIntegerField(db_index=True)
    answers = EncryptedJSONField(default=dict)
    computed_tier = models.CharField(max_length=8, choices=Tier.choices)
    reasons = EncryptedJSONField(default=list)
    rules_version = models.PositiveIntegerField()
    confirmed_tier = models.CharField(max_length=8, choices=Tier.choices, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    screened_at = models.DateTimeField()


class VisitKind(models.TextChoices):
    HEALTH = "health", _("health check with the village doctor")
    COMPANY = "company", _("companionship")
    HELP = "help", _("help with daily life")
    URGENT = "urgent", _("visit after a major change")


class VisitStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("elderly care", "open")
    DONE = "done", _("done")
    MISSED = "missed", _("missed")


# The three visits of "三个一", which a period owes; the urgent visit after a major change is not one of them.
CYCLE_KINDS = (VisitKind.HEALTH, VisitKind.COMPANY, VisitKind.HELP)


class VisitQuerySet(models.QuerySet):
    """A month's "三个一" visits, one rule for every figure of a month — the register's, the monthly
    report and its export, the station's year — so that they agree: a visit counts in the month its
    due date falls in (local time), whether it was made before it, on time, late in the grace days or
    not at all. A high-risk elder's week that straddles two months — Monday 28 September to Sunday 4
    October 2026, due Wednesday 30 September before National Day — counts in September, with a
    visit of it made on 29 September or on 2 October; the week of 30 November 2026, due Friday 4
    December, counts in December, also for a visit made on 30 November. Counting by the day a visit
    was made instead would move every late visit out of the month that owed it: a month's visits
    owed would change after the month, and the next month would owe an elder four visits of three.
    So each visit counts in exactly one month, and a month's visits owed are its visits done,
    missed and still open."""

    def of_months(self) -> "VisitQuerySet":
        """The "三个一" visits, each with the first day of the month it counts in (`month`)."""
        return self.filter(kind__in=CYCLE_KINDS).annotate(month=TruncMonth("due_at", tzinfo=LOCAL, output_field=DateField()))

    def in_month(self, month: dt.date) -> "VisitQuerySet":
        """The "三个一" visits that count in the month starting on `month`."""
        end = (month + dt.timedelta(days=32)).replace(day=1)
        return self.filter(kind__in=CYCLE_KINDS, due_at__gte=dt.datetime.combine(month, dt.time(0), LOCAL),
                           due_at__lt=dt.datetime.combine(end, dt.time(0), LOCAL))


class Visit(models.Model):
    """One visit a period owes a person (made when the period is planned, so a sweep that runs twice
    finds it made), or the 24-hour visit after a major change."""

    person = models.ForeignKey(ElderlyPerson, on_delete=models.CASCADE, related_name="visits")
    instance_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(_("kind"), max_length=8, choices=VisitKind.choices)
    period_start = models.DateField(_("period"))
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(_("status"), max_length=8, choices=VisitStatus.choices, default=VisitStatus.OPEN)
    village = models.CharField(max_length=64, db_index=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    data = EncryptedJSONField(default=dict, blank=True)  # what the visit recorded
    flags = EncryptedJSONField(default=list, blank=True)  # flag codes raised by it

    objects = VisitQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "kind", "period_start"], condition=~Q(kind="urgent"),
                                               name="one_visit_of_a_kind_per_period")]
        indexes = [models.Index(fields=["village", "period_start"])]


class HealthEntry(models.Model):
    """The health archive: what the village doctor found at a health check, with the clinic's file
    number — a reference to the clinical file, not a copy of it."""

    person = models.ForeignKey(ElderlyPerson, on_delete=models.CASCADE, related_name="health")
    visit = models.OneToOneField(Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="health_entry")
    date = models.DateField(_("date"))
    doctor_file = EncryptedCharField(_("village clinic file number"), max_length=40, blank=True)
    systolic = EncryptedDecimalField(_("systolic (mmHg)"), null=True, blank=True, **BP)
    diastolic = EncryptedDecimalField(_("diastolic (mmHg)"), null=True, blank=True, **BP)
    glucose = EncryptedDecimalField(_("glucose (mmol/L)"), null=True, blank=True, **BP)
    chronic_conditions = EncryptedJSONField(_("chronic conditions"), default=list, blank=True)
    medication = EncryptedTextField(_("medication"), blank=True)
    self_care_score = models.PositiveSmallIntegerField(_("self-care score"), null=True, blank=True)


class SupportEntry(models.Model):
    """The social-support archive: contact with children, neighbours, groups, help given."""

    person = models.ForeignKey(ElderlyPerson, on_delete=models.CASCADE, related_name="support")
    visit = models.OneToOneField(Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_entry")
    date = models.DateField(_("date"))
    video_call_minutes = models.PositiveSmallIntegerField(_("video call with children (minutes)"), default=0)
    mood = models.CharField(_("mood"), max_length=12, blank=True)
    notes = EncryptedTextField(_("notes"), blank=True)


class ReferralStatus(models.TextChoices):
    OPEN = "open", _("waiting for the village doctor")
    DONE = "done", _("followed up")
    WITHDRAWN = "withdrawn", _("withdrawn")


class Referral(models.Model):
    """A raised risk flag sent to the village doctor of the person's village."""

    person = models.ForeignKey(ElderlyPerson, on_delete=models.CASCADE, related_name="referrals")
    visit = models.ForeignKey(Visit, null=True, on_delete=models.SET_NULL, related_name="referrals")
    instance_id = models.BigIntegerField(db_index=True)
    village = models.CharField(max_length=64, db_index=True)
    flags = EncryptedJSONField(default=list)  # [{"code", "label", "value"}]
    rules_version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.OPEN)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = EncryptedTextField(blank=True)
    task_id = models.BigIntegerField(null=True, blank=True, unique=True)  # the doctor's follow-up task
    notice_task_id = models.BigIntegerField(null=True, blank=True, unique=True)  # the supervisor's notice

    @property
    def flags_text(self) -> str:
        """The flags as people read them: 独居, 收缩压≥160（172） — a yes/no fact by its label alone."""
        return "；".join(f["label"] if str(f.get("value")) in ("True", "") else f"{f['label']}（{f['value']}）" for f in self.flags)

    @property
    def outcome_text(self) -> str:
        """The doctor's answer as stored ("monitor: note") with the answer's words, not its code."""
        code, _sep, note = self.outcome.partition(": ")
        label = OUTCOME_LABELS.get(code)
        if label is None:
            return self.outcome
        return f"{label}：{note}" if note else str(label)


# The doctor's answers of Task_Referral's form, as the referral keeps them.
OUTCOME_LABELS = {"treated": _("treated at the village clinic"), "referred_up": _("referred to a hospital"),
                  "monitor": _("keep monitoring"), "no_issue": _("normal on recheck")}


class ChangeKind(models.TextChoices):
    HOSPITAL = "hospital", _("admitted to hospital")
    FALL = "fall", _("fall")
    CARER_LEFT = "carer_left", _("carer leaving")
    OTHER = "other", _("other major change")


class MajorChange(models.Model):
    person = models.ForeignKey(ElderlyPerson, on_delete=models.CASCADE, related_name="changes")
    instance_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=12, choices=ChangeKind.choices)
    happened_at = models.DateTimeField()
    reported_at = models.DateTimeField()
    details = EncryptedTextField(blank=True)
