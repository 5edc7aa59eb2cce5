"""The time bank's pages: who may open and do what, member by member (a table of every page and
action against the members of one's own and of another village), the two-step approval, and the
registration form with and without the elderly-care records to link to."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from engine import registry
from processes.time_bank import ledger
from processes.time_bank.models import LedgerEntry, Member, Relative
from tests.conftest import make_user

from . import flows

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users):
    people = {**users, "sup_ds": make_user("sup_ds", "supervisor", villages=["dongshan"]),
              "sup_xs": make_user("sup_xs", "supervisor", villages=["xishui"]),
              "worker_beipo": make_user("worker_beipo", "worker", villages=["beipo"])}  # not a pilot village
    worker, worker_xs = people["worker"], people["worker_xishui"]
    members = {
        "ds": flows.member("volunteer", by=worker, name="东山志愿者"),
        "ds_elder": flows.member("elder", by=worker, name="东山老人"),
        "ds_pending": flows.member("volunteer", by=worker, name="东山待批", approved=False),
        "xs": flows.member("volunteer", by=worker_xs, village="xishui", name="西水志愿者"),
        "xs_pending": flows.member("elder", by=worker_xs, village="xishui", name="西水待批", approved=False),
    }
    flows.give_hours(members["ds"], 6, worker)
    flows.give_hours(members["xs"], 4, worker_xs)
    Relative.objects.create(member=members["ds"], relative=members["ds_elder"], relation="parent", recorded_by=worker,
                            recorded_at=flows.moment(0, 0))
    return people, members


STAFF_DS = {"worker", "supervisor", "admin", "sup_ds"}  # may read dongshan's members
STAFF_XS = {"worker_xishui", "supervisor", "admin", "sup_xs"}
SUPERVISORS = {"supervisor", "admin", "sup_ds", "sup_xs"}
EVERYONE = ["anon", "worker", "worker_xishui", "worker_beipo", "supervisor", "sup_ds", "sup_xs", "admin", "intake", "outsider"]

# (page, object) -> who gets 200 (everyone else signed in: 404; anonymous: the sign-in page)
READS = {
    ("/time-bank/", None): STAFF_DS | STAFF_XS | {"worker_beipo"},
    ("/time-bank/members/new/", None): STAFF_DS | STAFF_XS | {"worker_beipo"},
    ("/time-bank/members/{}/", "ds"): STAFF_DS,
    ("/time-bank/members/{}/print/", "ds"): STAFF_DS,
    ("/time-bank/members/{}/", "xs"): STAFF_XS,
    ("/time-bank/members/{}/print/", "xs_pending"): STAFF_XS,
    ("/time-bank/ledger/", None): SUPERVISORS,
    ("/time-bank/anomalies/", None): SUPERVISORS,
}
# What each reader finds listed: members on the home page, accounts' entries in the ledger.
LISTED = {"worker": {"ds", "ds_elder", "ds_pending"}, "worker_xishui": {"xs", "xs_pending"}, "worker_beipo": set(),
          "sup_ds": {"ds", "ds_elder", "ds_pending"}, "sup_xs": {"xs", "xs_pending"},
          "supervisor": {"ds", "ds_elder", "ds_pending", "xs", "xs_pending"}, "admin": {"ds", "ds_elder", "ds_pending", "xs", "xs_pending"}}
LEDGER = {"sup_ds": {"ds"}, "sup_xs": {"xs"}, "supervisor": {"ds", "xs"}, "admin": {"ds", "xs"}}
CONSENT = {"consent_how": "signed", "consent_at": flows.moment(1, 9).strftime("%Y-%m-%dT%H:%M")}  # the member's, recorded
# (action, object, data) -> who may do it; the others get 404 and nothing changes
WRITES = [
    ("decide", "ds_pending", {"decision": "approve"}, {"supervisor", "admin", "sup_ds"}),
    ("decide", "xs_pending", {"decision": "refuse"}, {"supervisor", "admin", "sup_xs"}),
    ("donate", "ds", {"hours": "1", **CONSENT}, STAFF_DS),
    ("transfer", "ds", {"hours": "1", "receiver": "ds_elder", **CONSENT}, STAFF_DS),
    ("expire", "ds", {"hours": "1", "note": "规则到期"}, {"supervisor", "admin", "sup_ds"}),
    ("relatives", "xs", {"relative": "xs", "relation": "spouse"}, set()),  # never oneself
    ("relatives", "ds_elder", {"relative": "ds", "relation": "child"}, STAFF_DS),
]


def client_for(people, who) -> Client:
    client = Client()
    if who != "anon":
        client.force_login(people[who])
    return client


def state():
    return (list(LedgerEntry.objects.values_list("pk", flat=True)), list(Member.objects.values_list("pk", "status")),
            Relative.objects.count())


def test_who_may_open_each_page_and_what_it_lists(world):
    people, members = world
    by_pk = {m.pk: key for key, m in members.items()}
    broken = []
    for (page, obj), readers in READS.items():
        url = page.format(members[obj].pk) if obj else page
        for who in EVERYONE:
            response = client_for(people, who).get(url)
            expected = "login" if who == "anon" else ("200" if who in readers else "404")
            got = "login" if response.status_code == 302 and "/accounts/login/" in response["Location"] else str(response.status_code)
            if got != expected:
                broken.append((url, who, expected, got))
    for who, expected in LISTED.items():
        text = client_for(people, who).get("/time-bank/").content.decode()
        shown = {by_pk[int(pk)] for pk in __import__("re").findall(r'data-member="(\d+)"', text)}
        if shown != expected:
            broken.append(("/time-bank/ lists", who, expected, shown))
    for who, expected in LEDGER.items():
        text = client_for(people, who).get("/time-bank/ledger/").content.decode()
        shown = {key for key, m in members.items() if f">{m.number}</a>" in text}
        if shown != expected:
            broken.append(("/time-bank/ledger/ lists", who, expected, shown))
    assert broken == []


def test_who_may_change_what(world):
    people, members = world
    broken = []
    for action, obj, data, allowed in WRITES:
        post = {k: (str(members[v].pk) if k in ("receiver", "relative") else v) for k, v in data.items()}
        for who in EVERYONE:
            if who == "anon":
                continue
            before = state()
            from django.db import transaction

            try:
                with transaction.atomic():
                    response = client_for(people, who).post(f"/time-bank/members/{members[obj].pk}/{action}/", post)
                    changed = state() != before
                    raise _Undo
            except _Undo:
                pass
            if who in allowed:
                ok = response.status_code == 302 and changed
            elif not allowed and who in STAFF_XS:
                ok = response.status_code == 400 and not changed  # refused, the passbook with the form and why
            else:
                ok = response.status_code == 404 and not changed
            if not ok:
                broken.append((action, obj, who, response.status_code, changed))
    assert broken == []


class _Undo(Exception):
    pass


def test_a_member_is_registered_by_a_worker_and_approved_by_another_person(world):
    people, _members = world
    worker, sup_ds = client_for(people, "worker"), client_for(people, "sup_ds")
    form = {"kind": "volunteer", "village": "dongshan", "name": "王阿姨", "birth_year": "1962", "household": "DS-300",
            "identity_checked": "on", "training_date": flows.moment(3, 9).date().isoformat(), "training_topic": "助老服务与安全"}
    # Without training a volunteer is refused, next to the field; a village outside the worker's pilot villages too.
    refused = worker.post("/time-bank/members/new/", {**form, "training_date": "", "training_topic": ""})
    assert refused.status_code == 400 and "training" in refused.content.decode().lower() or "培训" in refused.content.decode()
    assert worker.post("/time-bank/members/new/", {**form, "village": "beipo"}).status_code == 400
    assert worker.post("/time-bank/members/new/", {**form, "birth_year": "2015"}).status_code == 400  # too young to volunteer
    response = worker.post("/time-bank/members/new/", form)
    assert response.status_code == 302
    member = Member.objects.get(status="pending", household="DS-300")
    assert member.name == "王阿姨" and member.registered_by == people["worker"]
    # Not yet offered to be matched with anyone.
    assert str(member.pk) not in dict(registry.option_source("time_bank_volunteers", people["worker"], {}))
    # The worker cannot approve; a supervisor who registered a member cannot approve them either.
    assert worker.post(f"/time-bank/members/{member.pk}/decide/", {"decision": "approve"}).status_code == 404
    own = flows.member("elder", by=people["sup_ds"], approved=False)
    sup_ds.post(f"/time-bank/members/{own.pk}/decide/", {"decision": "approve"})
    assert Member.objects.get(pk=own.pk).status == "pending"
    page = sup_ds.get(f"/time-bank/members/{member.pk}/").content.decode()
    assert 'data-testid="decide"' in page
    sup_ds.post(f"/time-bank/members/{member.pk}/decide/", {"decision": "approve", "note": "培训合格"})
    member.refresh_from_db()
    assert (member.status, member.decided_by, member.decision_note) == ("approved", people["sup_ds"], "培训合格")
    assert str(member.pk) in dict(registry.option_source("time_bank_volunteers", people["worker"], {}))
    # Decided once: a second decision changes nothing.
    client_for(people, "supervisor").post(f"/time-bank/members/{member.pk}/decide/", {"decision": "refuse"})
    assert Member.objects.get(pk=member.pk).status == "approved"


def test_the_elderly_care_record_is_chosen_when_that_process_offers_it_and_typed_otherwise(world, monkeypatch):
    people, _members = world
    monkeypatch.delitem(registry._option_sources, "elderly_people", raising=False)  # as where elderly care is not installed
    worker = client_for(people, "worker")
    assert 'name="person_key"' in worker.get("/time-bank/members/new/").content.decode()
    form = {"kind": "elder", "village": "dongshan", "name": "赵奶奶", "birth_year": "1941"}
    assert worker.post("/time-bank/members/new/", {**form, "person_key": "张三"}).status_code == 400
    assert worker.post("/time-bank/members/new/", {**form, "person_key": "elderly_care:41"}).status_code == 302
    assert worker.post("/time-bank/members/new/", {**form, "person_key": "elderly_care:41"}).status_code == 400  # already a member
    monkeypatch.setitem(registry._option_sources, "elderly_people", lambda user: [("elderly_care:42", "EC-42 钱爷爷")])
    page = worker.get("/time-bank/members/new/").content.decode()
    assert "EC-42 钱爷爷" in page
    assert worker.post("/time-bank/members/new/", {**form, "person_key": "elderly_care:43"}).status_code == 400  # not offered
    assert worker.post("/time-bank/members/new/", {**form, "person_key": "elderly_care:42"}).status_code == 302


def test_the_passbook_prints_deposits_withdrawals_and_the_balance(world):
    people, members = world
    ledger.donate(members["ds"], Decimal("1.5"), actor=people["worker"], consent=flows.consent())
    page = client_for(people, "worker").get(f"/time-bank/members/{members['ds'].pk}/print/").content.decode()
    assert members["ds"].number in page and "东山志愿者" in page
    assert "6.00" in page and "1.50" in page and 'data-testid="balance">4.50<' in page
    assert 'class="top"' not in page  # no header on paper


def test_a_supervisor_reverses_an_entry_from_the_ledger_page(world):
    people, members = world
    entry = LedgerEntry.objects.get(account__member=members["ds"])
    assert client_for(people, "sup_xs").post(f"/time-bank/ledger/{entry.pk}/reverse/", {"note": "录错"}).status_code == 404
    assert client_for(people, "worker").post(f"/time-bank/ledger/{entry.pk}/reverse/", {"note": "录错"}).status_code == 404
    client_for(people, "sup_ds").post(f"/time-bank/ledger/{entry.pk}/reverse/", {"note": ""})
    assert not LedgerEntry.objects.filter(reverses=entry).exists()
    client_for(people, "sup_ds").post(f"/time-bank/ledger/{entry.pk}/reverse/", {"note": "录错"})
    assert LedgerEntry.objects.get(reverses=entry).hours == Decimal("-6.00")
    assert flows.balance(members["ds"]) == 0


def test_every_reading_of_a_passbook_is_in_the_access_log(world):
    from engine.station import AccessLog

    people, members = world
    worker = client_for(people, "worker")
    assert worker.get(f"/time-bank/members/{members['ds'].pk}/").status_code == 200
    assert worker.get(f"/time-bank/members/{members['ds'].pk}/print/").status_code == 200
    assert client_for(people, "worker_xishui").get(f"/time-bank/members/{members['ds'].pk}/").status_code == 404
    logged = sorted(AccessLog.objects.values_list("user__username", "view", "record"))
    record = f"time_bank_member:{members['ds'].pk}"
    assert logged == [("worker", "time_bank_passbook", record), ("worker", "time_bank_passbook_print", record)]
