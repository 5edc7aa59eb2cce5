"""What a walk through the time bank found, one test each: what the elder asked for reaches the matcher
and the volunteer; the worker's service form starts from the volunteer's sign-in on the phone; a
member's hours are given away only with their recorded consent, which their passbook shows; and a
passbook's running balance follows the entries' own dates, whatever order they were written in."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from engine import api, clock
from engine.models import HumanTask
from processes.time_bank import ledger
from processes.time_bank.models import LedgerEntry, Member, Relative
from tests.conftest import make_user

from . import flows

pytestmark = pytest.mark.django_db

ASKED = "买降压药<script>alert(1)</script>\n顺路带鸡蛋 " + "x" * 80  # markup, a line break and an unbreakable word


def _client(user) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


def _linked(member: Member, username: str) -> Client:
    account = make_user(username, "volunteer", villages=[])
    Member.objects.filter(pk=member.pk).update(user=account, password_to_change=False)
    return _client(account)


@pytest.fixture
def bank(deployed, users):
    worker = users["worker"]
    vol = flows.member("volunteer", by=worker, name="李秋月")
    elder = flows.member("elder", by=worker, name="张奶奶")
    return {"worker": worker, "vol": vol, "elder": elder, "staff": _client(worker), "phone": _linked(vol, "tb_vol")}


def _requested(bank, notes: str = ASKED) -> int:
    return api.start_instance(process_key="time_bank", actor=bank["worker"], data={
        "elder": str(bank["elder"].pk), "item": "errands", "requested_by": "proxy", "notes": notes}).id


def _task_page(client, instance_id: int, bpmn_id: str) -> str:
    response = client.get(f"/tasks/{flows.open_task(instance_id, bpmn_id)}/")
    assert response.status_code == 200
    return response.content.decode()


def test_what_the_elder_asked_for_and_the_matchers_arrangements_reach_the_worker_and_the_volunteer(bank):
    case = _requested(bank)
    escaped = "买降压药&lt;script&gt;alert(1)&lt;/script&gt;<br>顺路带鸡蛋"
    match = _task_page(bank["staff"], case, "Task_Match")
    assert "What is needed" in match and escaped in match and "<script>alert" not in match
    css = (Path(__file__).resolve().parents[3] / "portal/static/portal/portal.css").read_text()
    assert re.search(r"\.summary dd \{[^}]*overflow-wrap:anywhere", css)  # a long word breaks at a phone's edge
    flows.complete(case, "Task_Match", bank["worker"], {"volunteer": str(bank["vol"].pk), "notes": "周六上午九点<b>村委会门口</b>碰头"})
    service = _task_page(bank["staff"], case, "Task_Service")  # the worker recording the service
    assert escaped in service and "周六上午九点&lt;b&gt;村委会门口&lt;/b&gt;碰头" in service
    mine = bank["phone"].get("/time-bank/me/").content.decode()
    block = re.search(r'data-testid="what-is-needed">(.*?)</p>', mine, re.S)
    assert block and escaped in block.group(1) and "<script>alert" not in mine
    # What the matcher arranged reaches the volunteer too, as text.
    arranged = re.search(r'data-testid="arrangements">(.*?)</p>', mine, re.S)
    assert arranged and "周六上午九点&lt;b&gt;村委会门口&lt;/b&gt;碰头" in arranged.group(1)
    # A request with nothing written shows no empty heading.
    quiet = _requested(bank, notes="")
    assert "What is needed" not in _task_page(bank["staff"], quiet, "Task_Match")


def _service_form_value(client, case: int, key: str) -> str:
    page = _task_page(client, case, "Task_Service")
    found = re.search(rf'name="{key}" value="([^"]*)"', page)
    assert found, key
    return found.group(1)


def test_the_workers_service_form_starts_from_the_volunteers_sign_in_on_the_phone(bank):
    case = flows.request(bank["worker"], bank["elder"], bank["vol"])
    assert _service_form_value(bank["staff"], case, "signed_in_at") == ""
    arrived = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    with clock.frozen_at(arrived):
        assert bank["phone"].post(f"/time-bank/me/services/{case}/sign-in/").status_code == 302
    local = timezone.localtime(arrived).strftime("%Y-%m-%dT%H:%M")
    assert _service_form_value(bank["staff"], case, "signed_in_at") == local
    # Taken back on the phone: off the form too.
    bank["phone"].post(f"/time-bank/me/services/{case}/undo/")
    assert _service_form_value(bank["staff"], case, "signed_in_at") == ""
    # A time the worker typed into their draft stays when the volunteer signs in afterwards.
    task_id = flows.open_task(case, "Task_Service")
    typed = timezone.localtime(arrived - dt.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M")
    api.save_draft(task_id=task_id, data={"signed_in_at": typed, "done": "扫地"}, actor=bank["worker"])
    with clock.frozen_at(arrived):
        bank["phone"].post(f"/time-bank/me/services/{case}/sign-in/")
    assert _service_form_value(bank["staff"], case, "signed_in_at") == typed
    # The worker corrects the prefilled time and records the service: the corrected time counts.
    api.save_draft(task_id=task_id, data={}, actor=bank["worker"])
    bank["phone"].post(f"/time-bank/me/services/{case}/undo/")
    with clock.frozen_at(arrived):
        bank["phone"].post(f"/time-bank/me/services/{case}/sign-in/")
    assert _service_form_value(bank["staff"], case, "signed_in_at") == local
    corrected = arrived + dt.timedelta(minutes=10)
    flows.serve(case, bank["worker"], corrected, arrived + dt.timedelta(hours=1, minutes=10))
    session = flows.session_of(case)
    assert session.signed_in_at == corrected and session.hours == Decimal("1.00") and not session.self_recorded
    assert HumanTask.objects.get(pk=task_id).completed_by == bank["worker"]


def _consent_form(receiver: Member | None = None, **changes) -> dict:
    form = {"hours": "2", "note": "给母亲", "consent_how": "signed",
            "consent_at": timezone.localtime(timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}
    if receiver is not None:
        form["receiver"] = str(receiver.pk)
    return {**form, **changes}


def test_a_members_hours_are_given_away_only_with_their_recorded_consent(bank):
    vol, elder, staff = bank["vol"], bank["elder"], bank["staff"]
    flows.give_hours(vol, 5, bank["worker"])
    Relative.objects.create(member=vol, relative=elder, relation="parent", recorded_by=bank["worker"], recorded_at=timezone.now())
    before = LedgerEntry.objects.count()
    future = timezone.localtime(timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for refused in (_consent_form(elder, consent_how=""), _consent_form(elder, consent_at=""), _consent_form(elder, consent_at=future)):
        staff.post(f"/time-bank/members/{vol.pk}/transfer/", refused)
    for refused in (_consent_form(consent_how=""), _consent_form(consent_at="")):
        staff.post(f"/time-bank/members/{vol.pk}/donate/", refused)
    assert LedgerEntry.objects.count() == before and flows.balance(vol) == 5
    # The ledger itself refuses a gift without a consent, whatever calls it.
    with pytest.raises(ledger.LedgerRefused):
        ledger.transfer(vol, elder, 1, actor=bank["worker"], consent=None)
    with pytest.raises(ledger.LedgerRefused):
        ledger.donate(vol, 1, actor=bank["worker"], consent=ledger.Consent("signed", None))

    answer = staff.post(f"/time-bank/members/{vol.pk}/transfer/", _consent_form(elder), follow=True).content.decode()
    assert "Recorded in the ledger." in answer
    staff.post(f"/time-bank/members/{vol.pk}/donate/", _consent_form(hours="1", consent_how="phone", note=""))
    given = LedgerEntry.objects.get(account__member=vol, kind="transfer_out")
    donated = LedgerEntry.objects.get(account__member=vol, kind="donate")
    assert (given.consent_how, given.actor, donated.consent_how) == ("signed", bank["worker"], "phone")
    assert given.consent_at is not None and flows.balance(vol) == 2
    # Both gifts, and how the volunteer agreed, on the staff passbook and on the volunteer's own page.
    agreed = "The member agreed: signed a written request, " + timezone.localtime(given.consent_at).strftime("%Y-%m-%d %H:%M")
    for page in (staff.get(f"/time-bank/members/{vol.pk}/").content.decode(), bank["phone"].get("/time-bank/me/").content.decode()):
        assert agreed in page and "The member agreed: said so on a phone call with the worker" in page


def _book_rows(page: str) -> list[tuple[str, str]]:
    """(credit or -debit, running balance) of each passbook row, top to bottom."""
    book = page[page.index('data-testid="passbook"'):]
    book = book[:book.index("</tbody>")]
    rows = []
    for row in re.findall(r"<tr data-entry=.*?</tr>", book, re.S):
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        rows.append((cells[0] or f"-{cells[1]}", cells[2]))
    return rows


def test_the_running_balance_follows_the_entries_dates_not_the_order_they_were_written(bank):
    vol, worker = bank["vol"], bank["worker"]
    flows.give_hours(vol, 3, worker)  # today
    with clock.frozen_at(timezone.now() - dt.timedelta(days=9)):
        ledger.deposit(vol, 2, session=None, actor=worker, note="补录")  # written later, dated nine days back
        ledger.donate(vol, 1, actor=worker, consent=ledger.Consent("in_person", clock.now()))
    assert [e.balance_after for e in LedgerEntry.objects.filter(account__member=vol).order_by("pk")] == [3, 5, 4]
    staff_page = bank["staff"].get(f"/time-bank/members/{vol.pk}/").content.decode()
    assert _book_rows(staff_page) == [("2.00", "2.00"), ("-1.00", "1.00"), ("3.00", "4.00")]
    assert 'data-testid="balance">4.00<' in staff_page
    printed = bank["staff"].get(f"/time-bank/members/{vol.pk}/print/").content.decode()
    assert _book_rows(printed) == [("2.00", "2.00"), ("-1.00", "1.00"), ("3.00", "4.00")]
    # The volunteer's own page lists the newest first, with the same balances.
    mine = bank["phone"].get("/time-bank/me/").content.decode()
    assert _book_rows(mine) == [("3.00", "4.00"), ("-1.00", "1.00"), ("2.00", "2.00")]
    # Entries of the same moment keep the order they were written in.
    moment = timezone.now() - dt.timedelta(days=20)
    with clock.frozen_at(moment):
        ledger.deposit(vol, 1, session=None, actor=worker)
        ledger.donate(vol, Decimal("0.5"), actor=worker, consent=ledger.Consent("signed", moment))
    staff_page = bank["staff"].get(f"/time-bank/members/{vol.pk}/").content.decode()
    assert _book_rows(staff_page)[:2] == [("1.00", "1.00"), ("-0.50", "0.50")]
