"""The supervisor's ledger counts each account's balance as the passbook does (by the entries' own
dates), and a refused gift on the passbook comes back with what was typed and why, nothing written."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from engine import clock
from processes.time_bank import ledger
from processes.time_bank.models import LedgerEntry, Relative

from . import flows

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


@pytest.fixture
def bank(deployed, users):
    worker = users["worker"]
    vol = flows.member("volunteer", by=worker, name="李秋月")
    elder = flows.member("elder", by=worker, name="张奶奶")
    return {"worker": worker, "vol": vol, "elder": elder, "staff": _client(worker), "sup": _client(users["supervisor"])}


def _ledger_balances(page: str, member) -> list[tuple[str, str]]:
    """(hours, balance shown) of the member's rows on the ledger page, top to bottom."""
    rows = re.findall(r'<li class="task" data-entry="\d+">(.*?)</li>', page, re.S)
    found = []
    for row in rows:
        if f">{member.number}</a>" in row:
            hours = re.search(r"· ([+-]?[\d.]+)</span>", row).group(1)
            found.append((hours, re.search(r"balance ([\d.-]+)", row).group(1)))
    return found


def test_the_ledger_page_shows_each_accounts_balance_by_the_entries_dates_as_the_passbook_does(bank):
    vol, elder, worker = bank["vol"], bank["elder"], bank["worker"]
    flows.give_hours(vol, 3, worker)  # today
    flows.give_hours(elder, 7, worker)  # another account, between them on the page
    with clock.frozen_at(timezone.now() - dt.timedelta(days=9)):
        ledger.deposit(vol, 2, session=None, actor=worker, note="补录")  # written later, dated nine days back
        ledger.donate(vol, 1, actor=worker, consent=ledger.Consent("in_person", clock.now()))
    assert [e.balance_after for e in LedgerEntry.objects.filter(account__member=vol).order_by("pk")] == [3, 5, 4]
    page = bank["sup"].get("/time-bank/ledger/").content.decode()
    # Newest first; the stored balances would read 3, 4, 5 (a jump); by date they are 4, 1, 2.
    assert _ledger_balances(page, vol) == [("+3.00", "4.00"), ("-1.00", "1.00"), ("+2.00", "2.00")]
    assert _ledger_balances(page, elder) == [("+7.00", "7.00")]
    pool = re.search(r"donation pool · [^<]*</span>\s*<span class=\"task-meta\">[^<]*balance ([\d.]+)", page)
    assert pool and Decimal(pool.group(1)) == Decimal("1.00")


def _consent_form(receiver=None, **changes) -> dict:
    form = {"hours": "2", "note": "给母亲看病", "consent_how": "signed",
            "consent_at": timezone.localtime(timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}
    if receiver is not None:
        form["receiver"] = str(receiver.pk)
    return {**form, **changes}


def _form(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start:page.index("</form>", start)]


def test_a_refused_gift_keeps_what_was_typed_and_says_why(bank):
    vol, elder, staff = bank["vol"], bank["elder"], bank["staff"]
    flows.give_hours(vol, 5, bank["worker"])
    Relative.objects.create(member=vol, relative=elder, relation="parent", recorded_by=bank["worker"], recorded_at=timezone.now())
    before = LedgerEntry.objects.count()
    # Refused by the form: no way of agreeing chosen.
    answer = staff.post(f"/time-bank/members/{vol.pk}/transfer/", _consent_form(elder, consent_how=""))
    assert answer.status_code == 400
    form = _form(answer.content.decode(), "transfer")
    assert 'value="给母亲看病"' in form and 'name="hours" value="2"' in form.replace('"\n', '"')
    assert f'<option value="{elder.pk}" selected>' in form and 'class="error"' in form
    # Refused by the ledger: more hours than the member holds.
    answer = staff.post(f"/time-bank/members/{vol.pk}/donate/", _consent_form(hours="9", consent_how="phone", note="捐给互助池"))
    assert answer.status_code == 400
    page = answer.content.decode()
    form = _form(page, "donate")
    assert 'value="捐给互助池"' in form and 'value="9"' in form and '<option value="phone" selected>' in form
    assert 'class="error"' in form and 'data-testid="passbook"' in page  # the passbook itself, not an error page
    assert LedgerEntry.objects.count() == before and flows.balance(vol) == 5
    # Accepted: recorded, and back to the passbook.
    answer = staff.post(f"/time-bank/members/{vol.pk}/donate/", _consent_form(hours="1", consent_how="phone"))
    assert answer.status_code == 302 and flows.balance(vol) == 4


def test_a_refused_expiry_or_relative_keeps_what_was_typed_and_says_why(bank):
    vol, elder = bank["vol"], bank["elder"]
    flows.give_hours(vol, 2, bank["worker"])
    before = LedgerEntry.objects.count()
    # More hours than the member holds: refused by the ledger, the hours and the reason come back.
    answer = bank["sup"].post(f"/time-bank/members/{vol.pk}/expire/", {"hours": "7.5", "note": "三年未使用，按规则到期"})
    assert answer.status_code == 400
    form = _form(answer.content.decode(), "expire")
    assert 'value="7.5"' in form and 'value="三年未使用，按规则到期"' in form and 'class="error"' in form
    # Negative hours: refused by the form.
    answer = bank["sup"].post(f"/time-bank/members/{vol.pk}/expire/", {"hours": "-1", "note": "误操作"})
    assert answer.status_code == 400 and 'value="误操作"' in _form(answer.content.decode(), "expire")
    assert LedgerEntry.objects.count() == before and flows.balance(vol) == 2
    # A relative recorded twice: refused, with the member and the relation as chosen.
    Relative.objects.create(member=vol, relative=elder, relation="parent", recorded_by=bank["worker"], recorded_at=timezone.now())
    answer = bank["staff"].post(f"/time-bank/members/{vol.pk}/relatives/", {"relative": str(elder.pk), "relation": "parent"})
    assert answer.status_code == 400
    form = _form(answer.content.decode(), "relative")
    assert f'<option value="{elder.pk}" selected>' in form and '<option value="parent" selected>' in form
    assert "already recorded" in form and Relative.objects.filter(member=vol).count() == 1
