"""Moving hours: each function appends entries inside the caller's transaction (an engine step or a
page's action), after locking the accounts it touches (ADR 0026).

The lock is the account row (`SELECT ... FOR UPDATE`, in account order so two movements never wait
for each other crosswise). Under it the balance is summed from the entries, checked, and the new
entry appended with the balance after it. Two redemptions racing for the last hours queue on the
lock; the second sums after the first committed and is refused. The CHECK on `balance_after` refuses
a negative balance again in the database, whatever code writes. On SQLite (embedded mode) the
database's single writer does the same."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from engine import clock

from .models import Account, AccountKind, ConsentHow, EntryKind, LedgerEntry, Member, Relative

HUNDREDTH = Decimal("0.01")


class LedgerRefused(Exception):
    """A movement the rules do not allow; the message says why, in the reader's language."""


def hours(value) -> Decimal:
    return Decimal(str(value)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def balance_cap() -> Decimal:
    return hours(settings.TIME_BANK["balance_cap_hours"])


def pool() -> Account:
    with transaction.atomic():
        account, _created = Account.objects.get_or_create(kind=AccountKind.POOL, member=None)
    return account


def account_of(member: Member) -> Account:
    account, _created = Account.objects.get_or_create(member=member, defaults={"kind": AccountKind.MEMBER})
    return account


def balance(account: Account) -> Decimal:
    """The sum of the account's entries: the only balance there is."""
    return hours(LedgerEntry.objects.filter(account=account).aggregate(total=Sum("hours"))["total"] or 0)


def balances(member_ids) -> dict[int, Decimal]:
    """Balances of many members in one query (lists and pages)."""
    rows = (LedgerEntry.objects.filter(account__member_id__in=list(member_ids))
            .values_list("account__member_id").annotate(total=Sum("hours")))
    return {member_id: hours(total) for member_id, total in rows}


def _locked(*accounts: Account) -> dict[int, Decimal]:
    """Lock the accounts (in id order) and read their balances under the lock."""
    ids = sorted({a.pk for a in accounts})
    list(Account.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    totals = dict(LedgerEntry.objects.filter(account_id__in=ids).values_list("account_id").annotate(total=Sum("hours")))
    return {pk: hours(totals.get(pk) or 0) for pk in ids}


@dataclass(frozen=True)
class Consent:
    """How and when a member agreed to give their hours away. The hours are the member's: a worker
    records a gift only with it, and it stays on the giver's entry."""
    how: str
    at: dt.datetime | None


CONSENT_SKEW = dt.timedelta(minutes=5)  # a phone's clock a little ahead of the server's


def _checked(consent: Consent | None) -> Consent:
    if consent is None or consent.how not in ConsentHow.values:
        raise LedgerRefused(_("Say how the member agreed to give their hours."))
    if consent.at is None:
        raise LedgerRefused(_("Say when the member agreed to give their hours."))
    if consent.at > clock.now() + CONSENT_SKEW:
        raise LedgerRefused(_("The member's consent cannot be in the future."))
    return consent


def _append(account: Account, kind: str, amount: Decimal, before: dict, *, movement, actor, note: str,
            session=None, counterpart: Account | None = None, reverses: LedgerEntry | None = None,
            consent: Consent | None = None) -> LedgerEntry:
    after = before[account.pk] + amount
    if after < 0:
        raise LedgerRefused(_("The account holds only %(hours)s hours.") % {"hours": before[account.pk]})
    before[account.pk] = after
    return LedgerEntry.objects.create(account=account, kind=kind, hours=amount, balance_after=after, movement=movement,
                                      session=session, counterpart=counterpart, reverses=reverses, actor=actor,
                                      note=note[:300], at=clock.now(), consent_how=consent.how if consent else "",
                                      consent_at=consent.at if consent else None)


def _positive(amount) -> Decimal:
    amount = hours(amount)
    if amount <= 0:
        raise LedgerRefused(_("Enter a number of hours above zero."))
    return amount


@transaction.atomic
def deposit(member: Member, amount, *, session, actor, note: str = "") -> list[LedgerEntry]:
    """Credit a volunteer for a confirmed service. Hours that would take the account above the cap
    go to the donation pool instead (the written rules: excess is donated), in the same movement."""
    amount = _positive(amount)
    account, the_pool = account_of(member), pool()
    before = _locked(account, the_pool)
    room = max(balance_cap() - before[account.pk], Decimal("0"))
    kept, excess = min(amount, room), amount - min(amount, room)
    movement = uuid.uuid4()
    entries = []
    if kept > 0:
        entries.append(_append(account, EntryKind.DEPOSIT, kept, before, movement=movement, actor=actor, note=note, session=session))
    if excess > 0:
        # The pool's entry names the member it came from (its counterpart): no note in a language of the moment.
        entries.append(_append(the_pool, EntryKind.DONATION, excess, before, movement=movement, actor=actor, session=session,
                               counterpart=account, note=note))
    return entries


@transaction.atomic
def redeem(account: Account, amount, *, session, actor, note: str = "") -> LedgerEntry:
    """Pay for a service received with hours (a member's own, or the pool's). Only for a service:
    there is no other way out of the bank."""
    if session is None:
        raise LedgerRefused(_("Hours are redeemed only for a service."))
    amount = _positive(amount)
    before = _locked(account)
    if before[account.pk] < amount:
        raise LedgerRefused(_("Only %(hours)s hours are left on the account.") % {"hours": before[account.pk]})
    return _append(account, EntryKind.REDEEM, -amount, before, movement=uuid.uuid4(), actor=actor, note=note, session=session)


@transaction.atomic
def transfer(giver: Member, receiver: Member, amount, *, actor, consent: Consent, note: str = "") -> list[LedgerEntry]:
    """Give hours to a registered close relative who is an approved member (never anyone else), with
    the giver's consent."""
    amount = _positive(amount)
    consent = _checked(consent)
    if not (giver.approved and receiver.approved):
        raise LedgerRefused(_("Both members must be approved."))
    if not Relative.objects.filter(member=giver, relative=receiver).exists():
        raise LedgerRefused(_("Hours can be given only to a registered relative."))
    source, target = account_of(giver), account_of(receiver)
    before = _locked(source, target)
    if before[source.pk] < amount:
        raise LedgerRefused(_("Only %(hours)s hours are left on the account.") % {"hours": before[source.pk]})
    if before[target.pk] + amount > balance_cap():
        raise LedgerRefused(_("The relative's account would pass its cap of %(cap)s hours.") % {"cap": balance_cap()})
    movement = uuid.uuid4()
    return [_append(source, EntryKind.TRANSFER_OUT, -amount, before, movement=movement, actor=actor, note=note, counterpart=target,
                    consent=consent),
            _append(target, EntryKind.TRANSFER_IN, amount, before, movement=movement, actor=actor, note=note, counterpart=source)]


@transaction.atomic
def donate(member: Member, amount, *, actor, consent: Consent, note: str = "") -> list[LedgerEntry]:
    """Give hours to the donation pool, with the member's consent."""
    amount = _positive(amount)
    consent = _checked(consent)
    source, the_pool = account_of(member), pool()
    before = _locked(source, the_pool)
    if before[source.pk] < amount:
        raise LedgerRefused(_("Only %(hours)s hours are left on the account.") % {"hours": before[source.pk]})
    movement = uuid.uuid4()
    return [_append(source, EntryKind.DONATE, -amount, before, movement=movement, actor=actor, note=note, counterpart=the_pool,
                    consent=consent),
            _append(the_pool, EntryKind.DONATION, amount, before, movement=movement, actor=actor, note=note, counterpart=source)]


@transaction.atomic
def expire(account: Account, amount, *, actor, note: str) -> LedgerEntry:
    """Hours that lapse under the written rules (a supervisor's act, with the reason)."""
    amount = _positive(amount)
    if not note.strip():
        raise LedgerRefused(_("Say why the hours expire."))
    before = _locked(account)
    if before[account.pk] < amount:
        raise LedgerRefused(_("Only %(hours)s hours are left on the account.") % {"hours": before[account.pk]})
    return _append(account, EntryKind.EXPIRE, -amount, before, movement=uuid.uuid4(), actor=actor, note=note)


@transaction.atomic
def reverse(entry: LedgerEntry, *, actor, note: str) -> list[LedgerEntry]:
    """Undo a movement (all its entries: a transfer's two sides) with new entries of the opposite
    sign. Nothing is edited; a movement is reversed once; a reversal is not itself reversed (record
    the right movement instead); refused if an account no longer holds the hours to give back."""
    if not note.strip():
        raise LedgerRefused(_("Say why the entry is reversed."))
    entries = list(LedgerEntry.objects.filter(movement=entry.movement).select_related("account").order_by("pk"))
    if any(e.kind == EntryKind.REVERSAL for e in entries):
        raise LedgerRefused(_("A reversal cannot be reversed; record the right movement instead."))
    before = _locked(*[e.account for e in entries])
    if LedgerEntry.objects.filter(reverses__in=entries).exists():  # read under the lock: two reversers, one wins
        raise LedgerRefused(_("This entry has already been reversed."))
    movement = uuid.uuid4()
    return [_append(e.account, EntryKind.REVERSAL, -e.hours, before, movement=movement, actor=actor, note=note,
                    session=e.session, counterpart=e.counterpart, reverses=e) for e in entries]
