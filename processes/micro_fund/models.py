"""The micro-fund's own records: organisations, the year's fund and its ledger, applications and
reviews. Money is Decimal (yuan and fen); the fund can never be over-committed: a guarded UPDATE
in ledger.py and a CHECK constraint here both refuse it."""
from decimal import Decimal

from django.conf import settings
import pghistory
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _, pgettext_lazy  # "micro fund": words other catalogues translate otherwise

MONEY = {"max_digits": 12, "decimal_places": 2}


class OrgKind(models.TextChoices):
    OLD_AGE = "old_age", _("old-age association")
    WOMEN = "women", _("women's mutual-aid group")
    WORTHIES = "worthies", _("village worthies' council")
    VOLUNTEERS = "volunteers", _("volunteer team")
    OTHER = "other", _("other")


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=OrgKind.choices)
    village = models.CharField(_("village"), max_length=64)
    registered = models.BooleanField(_("registered social organisation"), default=False)
    group_name = models.CharField(max_length=80, unique=True, help_text="the Django group of its members")

    class Meta:
        verbose_name = _("community organisation")
        verbose_name_plural = _("community organisations")

    def __str__(self):
        return self.name


class Fund(models.Model):
    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    name = models.CharField(_("name"), max_length=100)
    total_budget = models.DecimalField(_("total budget"), **MONEY)
    committed = models.DecimalField(_("committed"), default=Decimal("0"), **MONEY)
    disbursed = models.DecimalField(_("disbursed"), default=Decimal("0"), **MONEY)
    returned = models.DecimalField(_("returned"), default=Decimal("0"), **MONEY)

    class Meta:
        verbose_name = _("fund")
        verbose_name_plural = _("funds")
        constraints = [
            models.CheckConstraint(condition=Q(committed__gte=0) & Q(committed__lte=F("total_budget")), name="fund_never_over_committed"),
            models.CheckConstraint(condition=Q(disbursed__gte=0) & Q(returned__gte=0), name="fund_movements_positive"),
        ]

    @property
    def available(self) -> Decimal:
        return self.total_budget - self.committed

    def __str__(self):
        return self.name


class Stage(models.TextChoices):
    APPLYING = "applying", _("application")
    REVIEW = "review", _("review")
    APPROVED = "approved", pgettext_lazy("micro fund", "approved")
    REJECTED = "rejected", _("rejected")
    SUPERVISION = "supervision", _("supervision")
    EVALUATION = "evaluation", _("evaluation")
    COMPLETED = "completed", _("completed")
    SUSPENDED = "suspended", _("suspended")


class Category(models.TextChoices):
    ENVIRONMENT = "environment", _("environment")
    CULTURE = "culture", _("culture")
    CHILDREN = "children", _("children")
    ELDERLY = "elderly", _("elderly")
    OTHER = "other", _("other")


class Application(models.Model):
    instance_id = models.BigIntegerField(unique=True)
    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="applications")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="applications")
    title = models.CharField(pgettext_lazy("micro fund", "title"), max_length=100)
    village = models.CharField(_("village"), max_length=64)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices, default=Stage.APPLYING)
    requested_amount = models.DecimalField(_("requested"), null=True, blank=True, **MONEY)
    approved_amount = models.DecimalField(_("approved"), null=True, blank=True, **MONEY)
    disbursed = models.DecimalField(_("disbursed"), default=Decimal("0"), **MONEY)
    spent = models.DecimalField(_("spent"), null=True, blank=True, **MONEY)
    revision_rounds = models.PositiveSmallIntegerField(_("revision rounds"), default=0)
    # The panel's round: a decision that sends the application back opens a new one, whose scores
    # (of the revised application) are the ones that count; earlier rounds' reviews are kept.
    review_round = models.PositiveSmallIntegerField(_("review round"), default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("micro-fund application")
        verbose_name_plural = _("micro-fund applications")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(disbursed__gte=0), name="application_disbursed_positive")]

    def __str__(self):
        return self.title

    @property
    def committed_amount(self) -> Decimal:
        """What this project holds of the fund now: its approval while it runs, its final cost once
        closed (paid less any money paid back), what was paid if it was suspended."""
        if self.stage in (Stage.APPROVED, Stage.SUPERVISION, Stage.EVALUATION):
            return self.approved_amount or Decimal("0")
        if self.stage == Stage.COMPLETED:
            return min(self.disbursed, self.spent if self.spent is not None else self.disbursed)
        if self.stage == Stage.SUSPENDED:
            return self.disbursed
        return Decimal("0")


class Review(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    conflict_of_interest = models.BooleanField(default=False)
    conflict_reason = models.CharField(max_length=1000, blank=True)
    scores = models.JSONField(default=dict)
    weighted_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    recommendation = models.CharField(max_length=16, blank=True)
    submitted_at = models.DateTimeField()
    round = models.PositiveSmallIntegerField(default=1)  # the application's review_round it was given in

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "round", "reviewer"], name="one_review_per_reviewer_and_round")]


class EntryKind(models.TextChoices):
    COMMIT = "commit", _("committed")
    DISBURSE = "disburse", _("disbursed")
    RELEASE = "release", _("released back to the fund")
    RETURN = "return", _("returned")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class LedgerEntry(models.Model):
    """Every movement of the fund, with who and why. Never updated or deleted."""

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="entries")
    application = models.ForeignKey(Application, null=True, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.DecimalField(**MONEY)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=300)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)
