"""Households in hardship, their needs, the catalogue of policies and charitable resources, and the
referrals between them (the work plan's needs-resources matching). Eligibility rules are data on each resource (rules.py)."""
from decimal import Decimal

from django.conf import settings
import pghistory
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _, pgettext_lazy  # "needs matching": words other catalogues translate otherwise

from django.core.validators import MaxValueValidator, MinValueValidator

from engine import registry
from engine.crypto import (
    EncryptedBooleanField, EncryptedCharField, EncryptedDecimalField, EncryptedIntegerField, EncryptedJSONField, EncryptedTextField,
)

MONEY = {"max_digits": 12, "decimal_places": 2}


class NeedCategory(models.TextChoices):
    MEDICAL_AID = "medical_aid", _("medical aid")
    JOB_TRAINING = "job_training", _("job training")
    TEMPORARY_CARE = "temporary_care", _("temporary care")
    EDUCATION = "education", _("education")
    HOUSING = "housing", _("housing")
    PSYCHOLOGICAL = "psychological", _("psychological support")
    ASSISTIVE_DEVICES = "assistive_devices", _("assistive devices")
    EMPLOYMENT = "employment", _("employment")
    OTHER = "other", _("other")


class MonitoringStatus(models.TextChoices):
    STABLE = "stable", _("stable")
    WATCH = "watch", _("watch closely")
    EXIT = "exit", _("exit monitoring")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class Household(models.Model):
    code = models.CharField(_("household number"), max_length=32, unique=True)
    village = models.CharField(_("village"), max_length=64, db_index=True)
    # Personal: encrypted at rest (ADR 0019); code, village and monitoring status stay in clear for lists.
    head_name = EncryptedCharField(_("head of household"), max_length=50)
    annual_income = EncryptedDecimalField(_("household income a year"), default=Decimal("0"), **MONEY)
    medical_expenses = EncryptedDecimalField(_("medical expenses a year"), default=Decimal("0"), **MONEY)
    schooling_expenses = EncryptedDecimalField(_("schooling expenses a year"), default=Decimal("0"), **MONEY)
    benefits = EncryptedJSONField(_("current benefits"), default=list, blank=True, help_text="e.g. dibao, temporary_relief")
    risk_flags = EncryptedJSONField(_("risk flags"), default=list, blank=True, help_text="illness, schooling, disaster")
    resident = models.BooleanField(_("registered resident of the township"), default=True)
    monitoring_status = models.CharField(_("monitoring status"), max_length=16, blank=True, choices=MonitoringStatus.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")

    def __str__(self):
        return self.code

    @property
    def size(self) -> int:
        return max(1, len(self.members.all()))

    @cached_property
    def income(self) -> registry.HouseholdIncome:
        """The income the matching judges and the pages show: the one another process recorded
        (the monthly monitoring visit, a month's income times 12, with the size counted on that
        visit) when there is one, else the one entered when the household was registered — which
        nothing in the station updates afterwards. `prime_incomes` fills it for a whole list."""
        known = registry.household_incomes([self.pk]).get(self.pk) if self.pk else None
        return known or self.registered_income()

    def registered_income(self) -> registry.HouseholdIncome:
        return registry.HouseholdIncome(self.annual_income, self.size, self.updated_at.date() if self.updated_at else None,
                                        str(_("as registered")))

    @staticmethod
    def prime_incomes(households) -> list["Household"]:
        """The households, each with its `income` read: one query per providing process for all."""
        households = list(households)
        known = registry.household_incomes([h.pk for h in households])
        for household in households:
            household.__dict__["income"] = known.get(household.pk) or household.registered_income()
        return households

    @property
    def per_capita_income(self) -> Decimal:
        return self.income.per_capita

    @property
    def in_monitoring_list(self) -> bool:
        return self.per_capita_income < Decimal(settings.NEEDS_MATCHING["income_line"])


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class Member(models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    name = EncryptedCharField(_("name"), max_length=50)  # encrypted at rest (ADR 0019)
    relation = models.CharField(_("relation to the head"), max_length=20)
    # Age and health are sensitive too (ADR 0019 addendum): encrypted; the matching rules compare them
    # in Python after reading, no query filters or sorts on them.
    age = EncryptedIntegerField(_("age"), validators=[MinValueValidator(0), MaxValueValidator(130)])
    sex = models.CharField(_("sex"), max_length=8)
    disability_certificate = EncryptedBooleanField(_("disability certificate"), default=False)
    chronic_illness = EncryptedBooleanField(_("chronic illness"), default=False)
    school_enrolled = models.BooleanField(_("enrolled in school"), default=False)
    employed = models.BooleanField(_("in work"), default=False)

    class Meta:
        verbose_name = _("household member")
        verbose_name_plural = _("household members")


class ResourceKind(models.TextChoices):
    POLICY = "policy", _("government policy")
    SOCIAL = "social", _("social resource")


class CapacityUnit(models.TextChoices):
    PLACES = "places", _("places")
    YUAN = "yuan", _("yuan")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class Resource(models.Model):
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=ResourceKind.choices)
    provider = models.CharField(_("provider"), max_length=100)
    provider_group = models.CharField(_("provider's user group"), max_length=80, blank=True,
                                      help_text=_("Partner-office users who confirm referrals in the portal; empty: notified by message."))
    categories = models.JSONField(_("need categories served"), default=list)
    rules = models.JSONField(_("eligibility rules"), default=list, blank=True)
    capacity_unit = models.CharField(_("capacity counted in"), max_length=8, choices=CapacityUnit.choices, default=CapacityUnit.PLACES,
                                     help_text=_("Places: each accepted referral takes one. Yuan: it takes the referral's amount."))
    capacity_left = models.DecimalField(_("capacity left"), **MONEY)
    capacity_total = models.DecimalField(_("capacity"), **MONEY)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    active = models.BooleanField(pgettext_lazy("needs matching", "active"), default=True)

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        constraints = [models.CheckConstraint(condition=Q(capacity_left__gte=0), name="resource_capacity_never_negative")]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        from .rules import rule_problems

        problems = rule_problems(self.rules)
        if problems:
            raise ValidationError({"rules": problems})
        if self.capacity_unit == CapacityUnit.PLACES and self.capacity_total is not None and self.capacity_total != int(self.capacity_total):
            raise ValidationError({"capacity_total": _("Places are counted in whole numbers.")})

    def take(self, referral_amount) -> Decimal:
        """What accepting one referral takes from the capacity: a place, or the referral's yuan."""
        return Decimal("1") if self.capacity_unit == CapacityUnit.PLACES else Decimal(str(referral_amount or 0))

    def capacity_text(self, value) -> str:
        """A capacity as people read it: 40 places, or 80,000.00 yuan."""
        if self.capacity_unit == CapacityUnit.YUAN:
            return _("%(amount)s yuan") % {"amount": f"{Decimal(value):,.2f}"}
        return _("%(n)d places") % {"n": int(value)}


class NeedStatus(models.TextChoices):
    OPEN = "open", _("open")
    GAP = "gap", _("no resource (gap)")
    PLANNED = "planned", _("in the service plan")
    REFERRED = "referred", _("referred")
    MET = "met", _("met")
    PARTLY_MET = "partly_met", _("partly met")
    UNMET = "unmet", _("unmet")


class Need(models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="needs")
    instance_id = models.BigIntegerField(db_index=True)
    number = models.PositiveSmallIntegerField(_("need number"))
    category = models.CharField(_("category"), max_length=24, choices=NeedCategory.choices)
    description = EncryptedCharField(_("description"), max_length=200)  # encrypted at rest (ADR 0019)
    urgency = models.CharField(_("urgency"), max_length=8)
    member = EncryptedCharField(_("member concerned"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=NeedStatus.choices, default=NeedStatus.OPEN)
    proposals = models.JSONField(_("matching result"), default=list, blank=True)
    declined_resources = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("need")
        verbose_name_plural = _("needs")
        constraints = [models.UniqueConstraint(fields=["instance_id", "number"], name="need_number_per_instance")]


class ReferralStatus(models.TextChoices):
    SENT = "sent", _("sent")
    ACCEPTED = "accepted", _("accepted")
    DECLINED = "declined", _("declined")
    EXPIRED = "expired", _("no answer in time")


class Referral(models.Model):
    need = models.ForeignKey(Need, on_delete=models.CASCADE, related_name="referrals")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="referrals")
    instance_id = models.BigIntegerField(db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.SENT)
    responsible = models.CharField(_("who does it"), max_length=40, blank=True)
    due_date = models.DateField(_("by when"), null=True, blank=True)
    amount = models.DecimalField(_("amount (yuan)"), null=True, blank=True, **MONEY)
    sent_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    reason = EncryptedTextField(_("reason"), blank=True)  # why a family was referred or declined: encrypted (ADR 0019)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")


class HouseholdCase(models.Model):
    """One needs-matching case of a household. At most one is open at a time (a constraint, so two
    workers starting at the same moment cannot both succeed); each gets its own number."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="cases")
    instance_id = models.BigIntegerField(unique=True)
    number = models.PositiveSmallIntegerField()
    open = models.BooleanField(default=True)
    opened_at = models.DateTimeField()

    class Meta:
        verbose_name = _("household case")
        verbose_name_plural = _("household cases")
        constraints = [
            models.UniqueConstraint(fields=["household"], condition=Q(open=True), name="one_open_case_per_household"),
            models.UniqueConstraint(fields=["household", "number"], name="household_case_number"),
        ]
