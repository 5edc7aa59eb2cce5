"""A volunteer's own sign-in: given by a worker or supervisor of the village from the member's page
with a one-time password shown once, then the volunteer's own passbook and services and nothing
else; a suspended or withdrawn volunteer is told so and sees nothing. One test per rule."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from engine.station import AccessLog
from processes.time_bank.models import Member, MemberStatus
from tests.conftest import PASSWORD, make_user

from . import flows

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "qiuyue-huanghua-2026"


@pytest.fixture
def world(deployed, users):
    worker, worker_xs = users["worker"], users["worker_xishui"]
    sup_ds = make_user("sup_ds", "supervisor", villages=["dongshan"])
    members = {
        "vol": flows.member("volunteer", by=worker, name="李秋月"),
        "other": flows.member("volunteer", by=worker, name="王志强"),
        "elder": flows.member("elder", by=worker, name="张奶奶"),
        "elder2": flows.member("elder", by=worker, name="赵爷爷"),
        "pending": flows.member("volunteer", by=worker, name="待批志愿者", approved=False),
        "xs": flows.member("volunteer", by=worker_xs, village="xishui", name="西水志愿者"),
    }
    flows.give_hours(members["vol"], 3, worker)
    flows.give_hours(members["other"], 7, worker)
    # One service given and deposited, one matched and waiting; another volunteer's service beside them.
    flows.service(worker, members["elder"], members["vol"], flows.moment(2, 9), flows.moment(2, 11))
    waiting = flows.request(worker, members["elder2"], members["vol"], item="errands")
    others = flows.service(worker, members["elder2"], members["other"], flows.moment(1, 14), flows.moment(1, 15))
    return {**users, "sup_ds": sup_ds}, members, {"waiting": waiting, "others": others}


def _staff(people, who) -> Client:
    client = Client()
    client.force_login(people[who])
    return client


def _issue(people, members, who="worker", member="vol", data=None):
    return _staff(people, who).post(f"/time-bank/members/{members[member].pk}/login/", data or {})


def _credentials(response) -> tuple[str, str]:
    text = response.content.decode()
    username = re.search(r'data-testid="username">([^<]+)<', text).group(1)
    password = re.search(r'data-testid="password">([^<]+)<', text).group(1)
    return username, password


def _sign_in(username, password) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def _volunteer(world) -> Client:
    """The volunteer signed in with their own password (the one-time one replaced)."""
    people, members, _cases = world
    username, password = _credentials(_issue(people, members))
    client = _sign_in(username, password)
    client.post("/time-bank/me/password/", {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    return client


def test_a_worker_gives_an_approved_volunteer_a_sign_in_shown_once(world):
    people, members, _cases = world
    response = _issue(people, members)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    username, password = _credentials(response)
    member = Member.objects.get(pk=members["vol"].pk)
    assert member.user.username == username and member.password_to_change and member.login_issued_by == people["worker"]
    assert set(member.user.groups.values_list("name", flat=True)) == {"volunteer"}
    assert not member.user.is_staff and member.user.check_password(password)
    assert password not in str(Client().get("/").content)  # not stored anywhere a page could show again
    assert "李秋月" not in member.user.first_name + member.user.last_name  # the name stays encrypted, in the member only


def test_only_an_approved_volunteer_gets_a_sign_in(world):
    people, members, _cases = world
    for member in ("pending", "elder"):
        response = _issue(people, members, member=member)
        assert response.status_code == 302
        assert Member.objects.get(pk=members[member].pk).user is None


def test_staff_of_another_village_or_role_cannot_give_a_sign_in(world):
    people, members, _cases = world
    for who in ("worker_xishui", "intake"):
        assert _issue(people, members, who=who).status_code == 404
    assert Member.objects.get(pk=members["vol"].pk).user is None
    assert _issue(people, members, who="sup_ds").status_code == 200  # a supervisor of the village may


def test_the_first_sign_in_asks_for_a_password_of_their_own(world):
    people, members, _cases = world
    username, password = _credentials(_issue(people, members))
    client = _sign_in(username, password)
    assert client.get("/")["Location"] == "/time-bank/me/"  # a volunteer lands on their passbook, not an inbox
    assert client.get("/time-bank/me/")["Location"] == "/time-bank/me/password/"
    response = client.post("/time-bank/me/password/", {"old_password": password, "new_password1": "12345678901",
                                                       "new_password2": "12345678901"})
    assert response.status_code == 400 and "error" in response.content.decode()
    response = client.post("/time-bank/me/password/", {"old_password": password, "new_password1": NEW_PASSWORD,
                                                       "new_password2": NEW_PASSWORD})
    assert response["Location"] == "/time-bank/me/"
    assert client.get("/time-bank/me/").status_code == 200
    assert not Member.objects.get(pk=members["vol"].pk).password_to_change
    assert Client().post("/accounts/login/", {"username": username, "password": password}).status_code == 200  # spent


def test_a_volunteer_sees_their_own_passbook_and_services_and_each_reading_is_logged(world):
    people, members, cases = world
    client = _volunteer(world)
    page = client.get("/time-bank/me/").content.decode()
    assert 'data-testid="balance">' in page and re.search(r'data-testid="balance">\s*5\.00', page)  # 3 earlier + 2 served
    assert "张奶奶" in page and "赵爷爷" in page  # the service given and the one waiting for them
    assert f"TBS-{cases['waiting']:05d}" in page and f"TBS-{cases['others']:05d}" not in page  # not another volunteer's
    assert "王志强" not in page
    assert client.get("/time-bank/me/print/").status_code == 200
    views = set(AccessLog.objects.filter(record=f"time_bank_member:{members['vol'].pk}", user=Member.objects.get(pk=members["vol"].pk).user)
                .values_list("view", flat=True))
    assert views == {"time_bank_own_passbook", "time_bank_own_passbook_print"}


@pytest.mark.parametrize("url", [
    "/time-bank/", "/time-bank/members/{other}/", "/time-bank/members/{vol}/", "/time-bank/members/{other}/print/",
    "/time-bank/ledger/", "/time-bank/anomalies/", "/time-bank/members/new/", "/households/", "/elderly/", "/search/?q=王",
    "/cases/{waiting}/", "/children/", "/monitoring/", "/year/",
])
def test_a_volunteer_reads_nothing_else(world, url):
    _people, members, cases = world
    client = _volunteer(world)
    ids = {"other": members["other"].pk, "vol": members["vol"].pk, "waiting": cases["waiting"]}
    assert client.get(url.format(**ids)).status_code == 404


def test_a_volunteer_has_no_inbox_and_no_task(world):
    _people, _members, cases = world
    from engine.models import HumanTask

    client = _volunteer(world)
    assert client.get("/?tab=group")["Location"] == "/time-bank/me/"
    task = HumanTask.objects.filter(instance_id=cases["waiting"], status="open").first()
    assert client.get(f"/tasks/{task.pk}/").status_code == 404
    page = client.get("/time-bank/me/").content.decode()
    assert 'href="/start/"' not in page and 'href="/notifications/"' not in page  # the header offers only their page


def test_a_volunteer_cannot_move_anyones_hours(world):
    _people, members, _cases = world
    client = _volunteer(world)
    for action, data in (("donate", {"hours": "1"}), ("expire", {"hours": "1", "note": "x"}), ("status", {"action": "withdraw", "note": "x"}),
                         ("login", {})):
        assert client.post(f"/time-bank/members/{members['vol'].pk}/{action}/", data).status_code == 404
    assert flows.balance(members["vol"]) == 5


@pytest.mark.parametrize("status", [MemberStatus.SUSPENDED, MemberStatus.WITHDRAWN])
def test_a_suspended_or_withdrawn_volunteer_is_told_so_and_sees_nothing(world, status):
    people, members, _cases = world
    client = _volunteer(world)
    action = "suspend" if status == MemberStatus.SUSPENDED else "withdraw"
    assert _staff(people, "sup_ds").post(f"/time-bank/members/{members['vol'].pk}/status/", {"action": action, "note": "家中有事"}).status_code == 302
    assert Member.objects.get(pk=members["vol"].pk).status == status
    for url in ("/time-bank/me/", "/time-bank/me/print/", "/time-bank/me/password/"):
        response = client.get(url)
        assert response.status_code == 403
        text = response.content.decode()
        assert 'data-testid="refused"' in text and "张奶奶" not in text and "5.00" not in text
    assert client.get("/")["Location"] == "/time-bank/me/"
    assert AccessLog.objects.filter(user=Member.objects.get(pk=members["vol"].pk).user, outcome="refused").count() == 3
    # ... and gets no new password meanwhile.
    assert _issue(people, members).status_code == 302


def test_a_supervisor_reinstates_a_suspended_volunteer_but_never_a_withdrawn_one(world):
    people, members, _cases = world
    sup = _staff(people, "sup_ds")
    url = f"/time-bank/members/{members['vol'].pk}/status/"
    sup.post(url, {"action": "suspend", "note": "核实中"})
    sup.post(url, {"action": "reinstate", "note": "核实无误"})
    assert Member.objects.get(pk=members["vol"].pk).status == MemberStatus.APPROVED
    sup.post(url, {"action": "withdraw", "note": "本人申请退出"})
    sup.post(url, {"action": "reinstate", "note": "再来"})
    assert Member.objects.get(pk=members["vol"].pk).status == MemberStatus.WITHDRAWN
    # A worker does not suspend; a supervisor of another village gets 404.
    assert _staff(people, "worker").post(url, {"action": "suspend", "note": "x"}).status_code == 404
    assert Member.objects.get(pk=members["vol"].pk).status == MemberStatus.WITHDRAWN


def test_a_new_one_time_password_replaces_the_old_and_lifts_a_lock_out(world, settings):
    people, members, _cases = world
    username, first = _credentials(_issue(people, members))
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/accounts/login/", {"username": username, "password": "wrong-password-1"})
    assert Client().post("/accounts/login/", {"username": username, "password": first}).status_code == 429  # locked
    username_again, second = _credentials(_issue(people, members))
    assert username_again == username and second != first
    _sign_in(username, second)
    assert Client().post("/accounts/login/", {"username": username, "password": first}).status_code == 200  # refused, not locked


def test_linking_an_existing_account_never_takes_a_staff_account(world):
    people, members, _cases = world
    for username in ("worker", "admin", "nobody-such", "<b>x</b>", "=HYPERLINK(\"http://x\")", "x" * 151, ""):
        response = _issue(people, members, data={"username": username} if username else {"username": " "})
        if username == "":
            assert response.status_code == 200  # blank: a new account, as without the field
            Member.objects.filter(pk=members["vol"].pk).update(user=None)
            continue
        assert response.status_code == 302, username
        assert Member.objects.get(pk=members["vol"].pk).user is None
        assert set(people["worker"].groups.values_list("name", flat=True)) == {"worker"}
    plain = get_user_model().objects.create_user("qiuyue", password=PASSWORD)
    assert _issue(people, members, data={"username": "qiuyue"}).status_code == 302
    member = Member.objects.get(pk=members["vol"].pk)
    assert member.user == plain and not member.password_to_change
    assert _issue(people, members, member="other", data={"username": "qiuyue"}).status_code == 302  # one member per account
    assert Member.objects.get(pk=members["other"].pk).user is None


def test_the_status_form_refuses_bad_input_without_a_traceback(world):
    people, members, _cases = world
    sup = _staff(people, "sup_ds")
    url = f"/time-bank/members/{members['vol'].pk}/status/"
    for data in ({}, {"action": "suspend"}, {"action": "suspend", "note": "x" * 301}, {"action": "<script>", "note": "x"},
                 {"action": "suspend", "note": ""}):
        response = sup.post(url, data)
        assert response.status_code == 302
    assert Member.objects.get(pk=members["vol"].pk).status == MemberStatus.APPROVED
    sup.post(url, {"action": "suspend", "note": '=HYPERLINK("http://x","y")<b>'})
    page = sup.get(f"/time-bank/members/{members['vol'].pk}/").content.decode()
    assert "&lt;b&gt;" in page and "<b>" not in page.split('data-testid="status-note"')[1][:300]


def test_a_one_time_password_follows_a_stricter_policy(settings):
    """A station that asks for longer passwords still gets one (a longer one), never an endless search."""
    from processes.time_bank.volunteer_views import one_time_password

    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 14}}]
    password = one_time_password(None)
    assert len(password) >= 14 and set(password) <= set("abcdefghjkmnpqrstuvwxyz23456789")
