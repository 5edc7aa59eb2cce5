"""Moving money: each function is one guarded UPDATE plus one ledger entry, inside the caller's
transaction (an engine step). Two approvals racing for the last money cannot both commit it: the
UPDATE's WHERE clause re-checks the balance in the database, and only one row count comes back 1."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import F
from django.utils.translation import gettext as _

from engine import clock

from .models import Application, EntryKind, Fund, LedgerEntry

CENT = Decimal("0.01")


class InsufficientFunds(Exception):
    def __init__(self, available: Decimal):
        super().__init__(_("Only %(available)s yuan of the fund is still available.") % {"available": f"{available:,.2f}"})
        self.available = available


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def fund_for(year: int) -> Fund:
    fund, _created = Fund.objects.get_or_create(
        # The stored name is for the admin site; pages show the name in the reader's language.
        year=year, defaults={"name": f"{year}年度社区治理微基金",
                             "total_budget": money(settings.MICRO_FUND["budget"])})
    return fund


def _entry(application: Application, kind: str, amount: Decimal, actor, reason: str) -> None:
    LedgerEntry.objects.create(fund_id=application.fund_id, application=application, kind=kind, amount=amount,
                               actor=actor, reason=reason[:300], at=clock.now())


def commit(application: Application, amount: Decimal, actor, reason: str) -> None:
    amount = money(amount)
    updated = Fund.objects.filter(pk=application.fund_id, committed__lte=F("total_budget") - amount).update(
        committed=F("committed") + amount)
    if updated != 1:
        raise InsufficientFunds(Fund.objects.get(pk=application.fund_id).available)
    _entry(application, EntryKind.COMMIT, amount, actor, reason)


def disburse(application: Application, amount: Decimal, actor, reason: str) -> None:
    amount = money(amount)
    if amount <= 0:
        return
    updated = Application.objects.filter(pk=application.pk, disbursed__lte=F("approved_amount") - amount).update(
        disbursed=F("disbursed") + amount)
    if updated != 1:
        raise ValueError(_("A payment would exceed the approved amount."))
    Fund.objects.filter(pk=application.fund_id).update(disbursed=F("disbursed") + amount)
    application.refresh_from_db(fields=["disbursed"])
    _entry(application, EntryKind.DISBURSE, amount, actor, reason)


def release(application: Application, amount: Decimal, actor, reason: str) -> None:
    """Give money committed to a project back to the fund's available balance."""
    amount = money(amount)
    if amount <= 0:
        return
    Fund.objects.filter(pk=application.fund_id, committed__gte=amount).update(committed=F("committed") - amount)
    _entry(application, EntryKind.RELEASE, amount, actor, reason)


def record_return(application: Application, amount: Decimal, actor, reason: str) -> None:
    """Cash a project paid back (it received more than it spent)."""
    amount = money(amount)
    if amount <= 0:
        return
    Fund.objects.filter(pk=application.fund_id).update(returned=F("returned") + amount)
    _entry(application, EntryKind.RETURN, amount, actor, reason)
