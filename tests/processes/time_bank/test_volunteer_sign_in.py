"""A volunteer signs in and out of their own service on their phone: the times are the server's, the
sign-out records the service as the volunteer, and the elder's confirmation then goes to the social
worker as before. Only the service's own volunteer, only while it waits for them, and never with
typed times. One test per rule."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from engine import api
from engine.errors import FormInvalid, NotPermitted
from engine.models import AuditEvent, HumanTask
from processes.time_bank.models import Member, MemberStatus, ServiceSession, SessionStatus
from tests.conftest import make_user

from . import flows

pytestmark = pytest.mark.django_db


def _linked(member: Member, username: str) -> Client:
    """The member's own sign-in, as a worker's "give a sign-in" links it (password already replaced)."""
    account = make_user(username, "volunteer", villages=[])
    Member.objects.filter(pk=member.pk).update(user=account, password_to_change=False)
    return _client(account)


def _client(user) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"  # the pages' messages in English, to read them here
    client.force_login(user)
    return client


@pytest.fixture
def world(deployed, users):
    worker = users["worker"]
    vol = flows.member("volunteer", by=worker, name="李秋月")
    other = flows.member("volunteer", by=worker, name="王志强")
    elder = flows.member("elder", by=worker, name="张奶奶")
    case = flows.request(worker, elder, vol, item="errands")
    others = flows.request(worker, elder, other)
    return {"users": users, "vol": vol, "other": other, "elder": elder, "case": case, "others": others,
            "client": _linked(vol, "tb_vol"), "other_client": _linked(other, "tb_other")}


def _arrived_hours_ago(case: int, hours: float) -> None:
    """The volunteer pressed "sign in" that long ago (the sign-out refuses one within minutes)."""
    ServiceSession.objects.filter(instance_id=case).update(arrived_at=timezone.now() - dt.timedelta(hours=hours))


def _page(client) -> str:
    return client.get("/time-bank/me/").content.decode()


def test_a_volunteer_signs_in_and_out_and_the_service_is_recorded_as_theirs(world):
    client, case = world["client"], world["case"]
    page = _page(client)
    assert f'action="/time-bank/me/services/{case}/sign-in/"' in page
    with time_machine.travel(dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.timezone.utc), tick=False):
        assert client.post(f"/time-bank/me/services/{case}/sign-in/").status_code == 302
    page = _page(client)
    assert 'data-testid="signed-in-at"' in page and "11-30 09:00" in page  # the station's time
    assert flows.session_of(case).arrived_at == dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(dt.datetime(2026, 11, 30, 2, 30, tzinfo=dt.timezone.utc), tick=False):
        response = client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "买药、打扫院子"})
    assert response.status_code == 302
    session = flows.session_of(case)
    assert session.status == SessionStatus.SERVED and session.self_recorded
    assert str(session.hours) == "1.50"
    assert session.signed_in_at == dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.timezone.utc)
    done = HumanTask.objects.get(instance_id=case, bpmn_id="Task_Service")
    assert done.status == "completed" and done.completed_by.username == "tb_vol" and done.form_data["done"] == "买药、打扫院子"
    assert AuditEvent.objects.filter(instance_id=case, kind="completed", actor__username="tb_vol").exists()
    # The elder's confirmation is the social worker's, not the volunteer's.
    confirm = HumanTask.objects.get(instance_id=case, bpmn_id="Task_Confirm", status="open")
    assert confirm.candidate_group == "worker" and confirm.assignee_id != done.completed_by_id
    flows.confirm(case, world["users"]["worker"])
    assert flows.balance(world["vol"]) == 1.5
    summary = dict((str(k), str(v)) for k, v in api.case_summary(instance_id=case, process_key="time_bank",
                                                                viewer=world["users"]["supervisor"]))
    assert summary["Signed in and out"] == "by the volunteer, on the phone"


def test_the_sign_out_keeps_what_was_typed_when_it_is_refused(world):
    client, case = world["client"], world["case"]
    assert "Sign in first" in client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "陪聊"}).content.decode()
    client.post(f"/time-bank/me/services/{case}/sign-in/")
    at_once = client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "陪聊"})  # a tap that landed on the wrong button
    assert at_once.status_code == 400 and "less than 5 minutes" in at_once.content.decode()
    _arrived_hours_ago(case, 1)
    empty = client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "  "})
    assert empty.status_code == 400 and 'data-testid="sign-out-error"' in empty.content.decode()
    huge = client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "<b>长</b>" * 200})
    text = huge.content.decode()
    assert huge.status_code == 400 and "At most 500" in text and "&lt;b&gt;长&lt;/b&gt;" in text and "<b>长</b>" not in text
    assert HumanTask.objects.get(instance_id=case, bpmn_id="Task_Service").status == "open"
    # More than a day after the sign-in (pressed yesterday morning): refused by the service's own
    # rule, the text kept, nothing recorded.
    _arrived_hours_ago(case, 30)
    late = client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "陪老人聊天"})
    assert late.status_code == 400 and "more than a day ago" in late.content.decode() and "陪老人聊天" in late.content.decode()
    assert "tell the social worker when you came and left" in late.content.decode()
    assert flows.session_of(case).status == SessionStatus.MATCHED


def test_a_double_press_and_a_second_service_change_nothing(world, deployed):
    client, case, worker = world["client"], world["case"], world["users"]["worker"]
    client.post(f"/time-bank/me/services/{case}/sign-in/")
    first = flows.session_of(case).arrived_at
    client.post(f"/time-bank/me/services/{case}/sign-in/")
    assert flows.session_of(case).arrived_at == first
    second = flows.request(worker, world["elder"], world["vol"])
    response = client.post(f"/time-bank/me/services/{second}/sign-in/", follow=True)
    assert "still signed in at" in response.content.decode()
    assert flows.session_of(second).arrived_at is None
    _arrived_hours_ago(case, 2)
    client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "读报"})
    again = client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "读报"}, follow=True)
    assert "already recorded" in again.content.decode()
    assert HumanTask.objects.filter(instance_id=case, bpmn_id="Task_Service", status="completed").count() == 1


def test_a_sign_in_by_mistake_is_taken_back(world):
    client, case = world["client"], world["case"]
    client.post(f"/time-bank/me/services/{case}/sign-in/")
    client.post(f"/time-bank/me/services/{case}/undo/")
    assert flows.session_of(case).arrived_at is None
    assert 'data-testid="sign-in"' in _page(client)


def test_no_sign_in_before_the_planned_day(world, deployed):
    worker = world["users"]["worker"]
    instance_id = api.start_instance(process_key="time_bank", actor=worker, data={
        "elder": str(world["elder"].pk), "item": "company", "requested_by": "elder",
        "scheduled_for": (flows.moment(0, 0).date() + dt.timedelta(days=3)).isoformat()}).id
    flows.complete(instance_id, "Task_Match", worker, {"volunteer": str(world["vol"].pk)})
    client = world["client"]
    assert 'data-testid="sign-in-later"' in _page(client)
    client.post(f"/time-bank/me/services/{instance_id}/sign-in/")
    assert flows.session_of(instance_id).arrived_at is None


def test_only_the_services_own_volunteer_signs_in_or_out(world):
    case, others = world["case"], world["others"]
    stranger = world["other_client"]
    for action in ("sign-in", "sign-out", "undo"):
        assert stranger.post(f"/time-bank/me/services/{case}/{action}/", {"done": "x"}).status_code == 404
    staff = _client(world["users"]["worker"])
    assert staff.post(f"/time-bank/me/services/{case}/sign-in/").status_code == 404  # staff have no passbook
    assert flows.session_of(case).arrived_at is None
    assert f"/time-bank/me/services/{others}/" not in _page(world["client"])


def test_a_suspended_volunteer_cannot_sign_out(world):
    client, case = world["client"], world["case"]
    client.post(f"/time-bank/me/services/{case}/sign-in/")
    _arrived_hours_ago(case, 2)
    Member.objects.filter(pk=world["vol"].pk).update(status=MemberStatus.SUSPENDED)
    assert client.post(f"/time-bank/me/services/{case}/sign-out/", {"done": "读报"}).status_code == 403
    assert HumanTask.objects.get(instance_id=case, bpmn_id="Task_Service").status == "open"


def test_the_volunteer_cannot_complete_the_task_with_typed_times_or_before_signing_in(world):
    case, account = world["case"], Member.objects.get(pk=world["vol"].pk).user
    task = flows.open_task(case, "Task_Service")
    typed = {"signed_in_at": flows.moment(1, 9).isoformat(), "signed_out_at": flows.moment(1, 17).isoformat(), "done": "x"}
    with pytest.raises(NotPermitted):  # not signed in on the phone: not theirs to complete at all
        api.complete_task(task_id=task, data=typed, actor=account)
    world["client"].post(f"/time-bank/me/services/{case}/sign-in/")
    with pytest.raises(FormInvalid) as refused:
        api.complete_task(task_id=task, data=typed, actor=account)
    assert "not typed" in str(refused.value.field_errors["signed_out_at"][0])
    assert world["client"].get(f"/tasks/{task}/").status_code == 404  # the task page stays closed to them
    assert HumanTask.objects.get(pk=task).status == "open"


def test_the_worker_still_records_for_a_volunteer_without_a_phone(world):
    case, worker = world["case"], world["users"]["worker"]
    world["client"].post(f"/time-bank/me/services/{case}/sign-in/")
    staff = _client(worker)
    task_page = staff.get(f"/tasks/{flows.open_task(case, 'Task_Service')}/").content.decode()
    assert re.search(r"Volunteer signed in on the phone", task_page)  # the worker sees the volunteer is there
    # The matching's form names the volunteer as the worker's list does, not by the member's id.
    match = next(f for f in api.submitted_forms(instance_id=case, viewer=worker) if f.bpmn_id == "Task_Match")
    assert [v.value for v in match.fields] == [f"{world['vol'].number} 李秋月"]
    flows.serve(case, worker, flows.moment(0, 0, 5), flows.moment(0, 1, 5))
    session = flows.session_of(case)
    assert session.status == SessionStatus.SERVED and not session.self_recorded and str(session.hours) == "1.00"
    assert 'data-testid="sign-out"' not in _page(world["client"])
