"""The time bank's own records: members (volunteers and the elders they serve), the relatives a
member may give hours to, one service per case, and the ledger of hours.

Hours are never a balance someone edits. Every movement is a `LedgerEntry`, appended under a row
lock on the account (ledger.py) and never changed afterwards: the ORM refuses it, and a database
trigger refuses UPDATE and DELETE (migration 0002). A balance is the sum of an account's entries;
each entry also keeps the balance after it, which a CHECK keeps at zero or above. Hours buy
services only: a redemption must name the service it paid for, and no entry kind means money."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy  # "time bank": words other catalogues translate otherwise


from engine.crypto import EncryptedCharField, EncryptedTextField

HOURS = {"max_digits": 8, "decimal_places": 2}


class MemberKind(models.TextChoices):
    VOLUNTEER = "volunteer", _("volunteer")
    ELDER = "elder", _("elder served")


class MemberStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("time bank", "waiting for approval")
    APPROVED = "approved", pgettext_lazy("time bank", "approved")
    REFUSED = "refused", pgettext_lazy("time bank", "refused")
    # A supervisor's later decision on an approved member: suspended may be approved again, withdrawn
    # is final. Neither serves nor signs in usefully (a volunteer's own pages say so and show nothing).
    SUSPENDED = "suspended", pgettext_lazy("time bank", "suspended")
    WITHDRAWN = "withdrawn", pgettext_lazy("time bank", "withdrawn")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class Member(models.Model):
    """A volunteer or an elder of a pilot village. A worker registers them (a volunteer with the
    training they had); a supervisor who did not register them approves or refuses."""

    village = models.CharField(_("village"), max_length=64, db_index=True)
    kind = models.CharField(_("kind"), max_length=16, choices=MemberKind.choices)
    name = EncryptedCharField(pgettext_lazy("time bank", "name"), max_length=50)  # encrypted at rest (ADR 0019)
    phone = EncryptedCharField(_("phone"), max_length=20, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("year of birth"))
    # The household it lives in (a household number or the door plate, as the village writes it):
    # a volunteer serving their own household is flagged for the supervisor.
    household = models.CharField(pgettext_lazy("time bank", "household"), max_length=40, blank=True)
    # An opaque key of another process's record of this person ("elderly_care:<id>"), so the elder's
    # page there can show the balance held here without either process importing the other.
    person_key = models.CharField(_("elderly-care record"), max_length=64, blank=True)
    identity_checked = models.BooleanField(_("identity checked"), default=False)
    training_date = models.DateField(_("training date"), null=True, blank=True)
    training_topic = models.CharField(_("training"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.PENDING)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(pgettext_lazy("time bank", "note"), max_length=300, blank=True)
    # The last suspension, withdrawal or reinstatement (the row history keeps every earlier one).
    status_changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_note = models.CharField(pgettext_lazy("time bank", "reason"), max_length=300, blank=True)
    # A volunteer's own sign-in to the portal (their passbook and services only), made by a worker or
    # supervisor of the village. `password_to_change`: the one-time password a worker handed over is
    # still the password, and the volunteer's pages ask for their own first.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="time_bank_member")
    password_to_change = models.BooleanField(default=False)
    login_issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    login_issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("time-bank member")
        verbose_name_plural = _("time-bank members")
        ordering = ["village", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["person_key"], condition=~Q(person_key=""), name="time_bank_one_member_per_person"),
            models.CheckConstraint(condition=~Q(kind="volunteer", status="approved") | Q(training_date__isnull=False),
                                   name="time_bank_approved_volunteer_trained"),
        ]

    def __str__(self):
        return self.number

    @property
    def number(self) -> str:
        """The passbook number printed on paper: no name, no language."""
        return f"TB-{self.pk:05d}"

    @property
    def approved(self) -> bool:
        return self.status == MemberStatus.APPROVED


class Relation(models.TextChoices):
    SPOUSE = "spouse", _("spouse")
    PARENT = "parent", _("parent")
    CHILD = "child", pgettext_lazy("time bank", "child")
    GRANDPARENT = "grandparent", _("grandparent")
    GRANDCHILD = "grandchild", _("grandchild")
    SIBLING = "sibling", _("brother or sister")


class Relative(models.Model):
    """`relative` is a close relative of `member` (recorded by a worker): the only kind of member
    `member` may give hours to."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="relatives")
    relative = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    relation = models.CharField(pgettext_lazy("time bank", "relation"), max_length=16, choices=Relation.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "relative"], name="time_bank_relative_once"),
            models.CheckConstraint(condition=~Q(member=models.F("relative")), name="time_bank_relative_not_self"),
        ]


class AccountKind(models.TextChoices):
    MEMBER = "member", _("member")
    POOL = "pool", _("donation pool")


class Account(models.Model):
    """What the ledger's entries belong to, and the row a movement locks: one per member, and the
    township's donation pool (donated hours, and hours above a member's cap)."""

    kind = models.CharField(max_length=8, choices=AccountKind.choices, default=AccountKind.MEMBER)
    member = models.OneToOneField(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="account")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=Q(kind="pool"), name="time_bank_one_pool"),
            models.CheckConstraint(condition=Q(kind="pool", member__isnull=True) | Q(kind="member", member__isnull=False),
                                   name="time_bank_account_owner"),
        ]


class ServiceItem(models.TextChoices):
    COMPANY = "company", _("companionship and chat")
    ERRANDS = "errands", _("shopping or buying medicine")
    CLEANING = "cleaning", _("cleaning and tidying")
    MEALS = "meals", _("cooking or bringing meals")
    HAIRCUT = "haircut", _("haircut")
    REPAIRS = "repairs", _("small repairs")
    ESCORT = "escort", _("going with them to the doctor")
    OTHER = "other", _("other help")


class SessionStatus(models.TextChoices):
    REQUESTED = "requested", pgettext_lazy("time bank", "requested")
    MATCHED = "matched", pgettext_lazy("time bank", "volunteer matched")
    SERVED = "served", pgettext_lazy("time bank", "served, waiting for confirmation")
    IN_REVIEW = "in_review", pgettext_lazy("time bank", "waiting for the supervisor")
    DEPOSITED = "deposited", pgettext_lazy("time bank", "hours deposited")
    REFUSED = "refused", pgettext_lazy("time bank", "not credited")
    NOT_CONFIRMED = "not_confirmed", pgettext_lazy("time bank", "not confirmed by the elder")
    CANCELLED = "cancelled", pgettext_lazy("time bank", "cancelled")


class PaidWith(models.TextChoices):
    OWN = "own", _("the elder's own hours")
    POOL = "pool", _("the donation pool")
    FREE = "free", _("free (a public service)")


class ServiceSession(models.Model):
    """One service of one case: who asked, who served, when the volunteer signed in and out, who
    confirmed, what the checks found, and what was credited."""

    instance_id = models.BigIntegerField(unique=True)
    village = models.CharField(max_length=64, db_index=True)
    elder = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="services_received")
    volunteer = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="services_given")
    item = models.CharField(_("service"), max_length=16, choices=ServiceItem.choices)
    requested_by = models.CharField(pgettext_lazy("time bank", "requested by"), max_length=16)
    # What the elder or their family asked for, as the request form took it down: the matcher and the
    # volunteer read it. Encrypted at rest (ADR 0019): it can say what ails the elder.
    request_notes = EncryptedTextField(_("what is needed"), blank=True, default="")
    # What the matcher arranged with the volunteer (when, where to meet, what to bring): the volunteer
    # reads it on their page and the worker in the case. Encrypted like the request.
    arrangements = EncryptedTextField(_("arrangements"), blank=True, default="")
    scheduled_for = models.DateField(_("planned for"), null=True, blank=True)
    signed_in_at = models.DateTimeField(_("signed in"), null=True, blank=True)
    signed_out_at = models.DateTimeField(_("signed out"), null=True, blank=True)
    # The volunteer's own sign-in on their phone (the server's clock, never typed); the sign-out on
    # the phone completes the service with it. `self_recorded`: the times are the volunteer's own,
    # not recorded by a worker on their behalf.
    arrived_at = models.DateTimeField(_("signed in on the phone"), null=True, blank=True)
    self_recorded = models.BooleanField(_("signed in and out by the volunteer"), default=False)
    hours = models.DecimalField(_("hours served"), null=True, blank=True, **HOURS)
    confirmed_by = models.CharField(_("confirmed by"), max_length=16, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    paid_with = models.CharField(_("paid with"), max_length=8, choices=PaidWith.choices, blank=True)
    # Codes of the anomaly checks that fired (anomalies.py) and of the caps passed (review needed).
    flags = models.JSONField(default=list, blank=True)
    review_reasons = models.JSONField(default=list, blank=True)
    credited_hours = models.DecimalField(_("hours credited"), null=True, blank=True, **HOURS)
    status = models.CharField(_("status"), max_length=16, choices=SessionStatus.choices, default=SessionStatus.REQUESTED)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(signed_out_at__isnull=True) | Q(signed_out_at__gt=models.F("signed_in_at")),
                                   name="time_bank_sign_out_after_sign_in"),
        ]
        indexes = [models.Index(fields=["volunteer", "signed_in_at"], name="time_bank_volunteer_sessions")]

    @property
    def number(self) -> str:
        return f"TBS-{self.instance_id:05d}"


class EntryKind(models.TextChoices):
    DEPOSIT = "deposit", _("deposit (service given)")
    REDEEM = "redeem", _("redeemed for a service")
    TRANSFER_OUT = "transfer_out", _("given to a relative")
    TRANSFER_IN = "transfer_in", _("received from a relative")
    DONATE = "donate", _("donated to the pool")
    DONATION = "donation", _("received by the pool")
    EXPIRE = "expire", _("expired")
    REVERSAL = "reversal", _("reversal")


class ConsentHow(models.TextChoices):
    """How a member agreed to give their hours away (to a relative or the pool)."""
    SIGNED = "signed", _("signed a written request")
    IN_PERSON = "in_person", _("said so to the worker in person")
    PHONE = "phone", _("said so on a phone call with the worker")


CREDITS = (EntryKind.DEPOSIT, EntryKind.TRANSFER_IN, EntryKind.DONATION)
DEBITS = (EntryKind.REDEEM, EntryKind.TRANSFER_OUT, EntryKind.DONATE, EntryKind.EXPIRE)


class _AppendOnly(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError("The time-bank ledger is append-only.")

    def delete(self):
        raise ValueError("The time-bank ledger is append-only.")


@pghistory.track(pghistory.InsertEvent(), append_only=True)  # row history (ADR 0020): who wrote which entry
class LedgerEntry(models.Model):
    """One movement of hours on one account. Entries of one movement (a transfer's two sides) share
    `movement`; a mistake is undone by a reversal entry that names what it reverses, never by an edit."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    hours = models.DecimalField(**HOURS)  # signed: + credits the account, - debits it
    balance_after = models.DecimalField(**HOURS)
    movement = models.UUIDField(default=uuid.uuid4, db_index=True)
    session = models.ForeignKey(ServiceSession, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    counterpart = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(db_index=True)
    # On the giver's side of a gift (transfer_out, donate): how and when the member agreed to give
    # their hours; the worker who recorded it is `actor`. ledger.transfer and ledger.donate require it.
    consent_how = models.CharField(max_length=16, choices=ConsentHow.choices, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)

    objects = _AppendOnly.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="time_bank_balance_never_negative"),
            models.CheckConstraint(condition=~Q(hours=0), name="time_bank_entry_not_zero"),
            models.CheckConstraint(condition=~Q(kind__in=[k.value for k in CREDITS]) | Q(hours__gt=0), name="time_bank_credit_positive"),
            models.CheckConstraint(condition=~Q(kind__in=[k.value for k in DEBITS]) | Q(hours__lt=0), name="time_bank_debit_negative"),
            # Hours buy services, never money: a redemption names the service it paid for.
            models.CheckConstraint(condition=~Q(kind="redeem") | Q(session__isnull=False), name="time_bank_redeem_for_a_service"),
            models.CheckConstraint(condition=~Q(kind="reversal") | Q(reverses__isnull=False), name="time_bank_reversal_names_entry"),
            # A consent says both how and when.
            models.CheckConstraint(condition=(Q(consent_how="") & Q(consent_at__isnull=True))
                                   | (~Q(consent_how="") & Q(consent_at__isnull=False)), name="time_bank_consent_how_and_when"),
        ]
        indexes = [models.Index(fields=["account", "at"], name="time_bank_account_entries")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The time-bank ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The time-bank ledger is append-only.")

    @property
    def credit(self) -> Decimal | None:
        return self.hours if self.hours > 0 else None

    @property
    def debit(self) -> Decimal | None:
        return -self.hours if self.hours < 0 else None
