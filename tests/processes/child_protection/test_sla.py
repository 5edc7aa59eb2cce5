"""The 24-hour response SLA: a boundary timer on the response task, escalation to the supervisor,
then to the civil-affairs office — each exactly once, however often or concurrently timers are swept."""
import datetime as dt
import threading

import pytest
from django.db import connection

from engine import api
from engine.errors import NotPermitted
from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance, Timer
from engine.spiff import runtime
from processes.child_protection.models import ChildProtectionCase

from .flows import FORMS, complete, open_task, start_case

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)


def case_awaiting_response(users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    return instance_id, HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Respond")


def escalations(instance_id, bpmn_id):
    return HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id).count()


def test_response_is_due_24_hours_after_the_report_was_received(deployed, users):
    """Received at 22:10 and typed in at 22:29: due at 22:10 the next day, not 22:29."""
    instance_id, respond = case_awaiting_response(users)
    received_at = ChildProtectionCase.objects.get(instance_id=instance_id).received_at
    assert respond.due_at == received_at + 24 * H
    assert respond.created_at - received_at >= dt.timedelta(minutes=19)  # typed in later than received
    assert respond.candidate_group == "worker"
    assert sorted(Timer.objects.filter(instance=respond.instance).values_list("bpmn_id", "status")) == [
        ("Timer_Response24h", "waiting"), ("Timer_Response48h", "waiting")]


def test_nothing_fires_before_the_deadline(deployed, users):
    instance_id, respond = case_awaiting_response(users)
    result = api.fire_due_timers(as_of=respond.created_at + 23 * H)
    assert result.timers_fired == 0 and escalations(instance_id, "Task_SupervisorEscalation") == 0


@pytest.mark.django_db(transaction=True)  # on-commit delivery, at the sweep's commit (while its clock reads +25 h)
def test_breach_escalates_to_supervisor_exactly_once_when_swept_twice(deployed, users, sent):
    instance_id, respond = case_awaiting_response(users)
    first = api.fire_due_timers(as_of=respond.created_at + 25 * H)
    second = api.fire_due_timers(as_of=respond.created_at + 26 * H)

    assert (first.timers_fired, second.timers_fired) == (1, 0)
    assert escalations(instance_id, "Task_SupervisorEscalation") == 1
    escalation = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_SupervisorEscalation")
    assert escalation.candidate_group == "supervisor" and escalation.status == "open"
    respond.refresh_from_db()
    assert respond.status == "open" and respond.sla_breached_at is not None  # the worker can still respond
    assert AuditEvent.objects.filter(instance_id=instance_id, kind="escalated").count() == 1
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").count() == 1
    assert [m["channel"] for m in sent].count("sla.breach") == 1


def test_still_open_after_48_hours_goes_to_civil_affairs(deployed, users):
    instance_id, respond = case_awaiting_response(users)
    api.fire_due_timers(as_of=respond.created_at + 25 * H)
    api.fire_due_timers(as_of=respond.created_at + 49 * H)
    civil = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_CivilAffairsEscalation")
    assert civil.candidate_group == "civil_affairs"
    complete(users, instance_id, "Task_CivilAffairsEscalation", {"oversight_action": "电话督促站长当日家访"})
    complete(users, instance_id, "Task_SupervisorEscalation", {"action": "note_only", "reason": "已督促"})
    complete(users, instance_id, "Task_Respond")
    assert open_task(instance_id, "Task_PoliceReceipt")


def test_responding_in_time_cancels_both_timers(deployed, users):
    instance_id, respond = case_awaiting_response(users)
    complete(users, instance_id, "Task_Respond")
    assert set(Timer.objects.filter(instance_id=instance_id).values_list("status", flat=True)) == {"cancelled"}
    assert api.fire_due_timers(as_of=respond.created_at + 100 * H).timers_fired == 0
    assert escalations(instance_id, "Task_SupervisorEscalation") == 0


def test_supervisor_reassigns_overdue_response(deployed, users):
    instance_id, respond = case_awaiting_response(users)
    api.claim_task(task_id=respond.pk, actor=users["worker"])
    api.fire_due_timers(as_of=respond.created_at + 25 * H)
    complete(users, instance_id, "Task_SupervisorEscalation",
             {"action": "reassign", "reassign_to": "worker2", "reason": "李明病假，改派赵丽"})
    respond.refresh_from_db()
    assert respond.assignee == users["worker2"]
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=respond.pk, data=FORMS["Task_Respond"], actor=users["worker"])
    api.complete_task(task_id=respond.pk, data=FORMS["Task_Respond"], actor=users["worker2"])
    # AuditEvent.data is encrypted at rest (ADR 0019): read through the field, not filtered in SQL.
    assert any(e.data.get("assignee") == "worker2" for e in AuditEvent.objects.filter(instance_id=instance_id, kind="assigned"))


def test_supervisor_may_take_over_and_respond(deployed, users):
    instance_id, respond = case_awaiting_response(users)
    api.fire_due_timers(as_of=respond.created_at + 25 * H)
    complete(users, instance_id, "Task_SupervisorEscalation", {"action": "respond_myself", "reason": "亲自家访"})
    api.complete_task(task_id=respond.pk, data=FORMS["Task_Respond"], actor=users["supervisor"])
    respond.refresh_from_db()
    assert respond.completed_by == users["supervisor"]


@pytest.mark.django_db(transaction=True)  # threads: each sweeper has its own connection and sees only committed rows
@pytest.mark.postgres
def test_breach_escalates_once_when_sweepers_race(deployed, users, monkeypatch):
    """Four sweepers at once over ten overdue cases: every case escalates exactly once, and is
    stepped once — never again by a sweeper that read its timer before another fired it."""
    cases = [case_awaiting_response(users) for _ in range(10)]
    as_of = max(r.created_at for _, r in cases) + 25 * H
    revisions = dict(ProcessInstance.objects.values_list("pk", "revision"))
    stepped, real_run_step = [], runtime.run_step

    def counting_run_step(instance_id, *args, **kwargs):
        stepped.append(instance_id)
        return real_run_step(instance_id, *args, **kwargs)

    monkeypatch.setattr(runtime, "run_step", counting_run_step)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait()
            results.append(api.fire_due_timers(as_of=as_of))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r.timers_fired for r in results) == 10
    assert sorted(stepped) == sorted(i for i, _ in cases)
    assert {i: r - revisions[i] for i, r in ProcessInstance.objects.values_list("pk", "revision") if i in revisions} == {i: 1 for i, _ in cases}
    for instance_id, _respond in cases:
        assert escalations(instance_id, "Task_SupervisorEscalation") == 1
        assert AuditEvent.objects.filter(instance_id=instance_id, kind="escalated").count() == 1
        assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # threads: the other sweeper commits on its own connection
def test_a_sweeper_never_steps_a_case_whose_timer_another_fired_after_it_looked(deployed, users, monkeypatch):
    """The sweeper reads a page of due timers, then locks their cases. Another sweeper fires them all
    and commits in between (forced here); the first finds them locked-free but no longer due and
    steps none of them — no load, no rewrite, no revision bump."""
    from engine.api import timers

    cases = [case_awaiting_response(users) for _ in range(3)]
    as_of = max(r.created_at for _, r in cases) + 25 * H
    real_page, raced = timers._due_page, []

    def page_then_race(*args):
        page = real_page(*args)
        if page and not raced:
            raced.append(True)
            other = threading.Thread(target=lambda: (raced.append(api.fire_due_timers(as_of=as_of)), connection.close()))
            other.start()
            other.join(60)
        return page

    monkeypatch.setattr(timers, "_due_page", page_then_race)
    revisions = dict(ProcessInstance.objects.values_list("pk", "revision"))
    stepped, real_run_step = [], runtime.run_step
    monkeypatch.setattr(runtime, "run_step", lambda instance_id, *a, **k: (stepped.append(instance_id), real_run_step(instance_id, *a, **k))[1])
    mine = api.fire_due_timers(as_of=as_of)
    assert raced[1].timers_fired == 3 and mine.timers_fired == 0
    assert len(stepped) == 3  # the other sweeper's steps only
    assert {i: r - revisions[i] for i, r in ProcessInstance.objects.values_list("pk", "revision") if i in revisions} == {i: 1 for i, _ in cases}


def test_the_summary_rounds_time_left_as_the_deadline_badge_does():
    """A report due in 35 h 59 min reads "36 h" in the case summary, as in the badge beside it."""
    from django.utils import translation

    from processes.child_protection.handlers import _hours

    with translation.override("en"):
        assert _hours(dt.timedelta(hours=35, minutes=59)) == "36 h"
        assert _hours(dt.timedelta(hours=35, minutes=20)) == "35 h"
        assert _hours(dt.timedelta(minutes=20)) == "20 min"
        assert _hours(dt.timedelta(seconds=5)) == "1 min"


def test_the_badge_is_red_once_the_breach_is_recorded_whatever_the_pages_clock_says():
    """`fire-timers --as-of` (or a server whose clock is behind the sweeper's) breaches a task whose
    deadline this page's clock has not reached: the badge says overdue, not "10 d left"."""
    from types import SimpleNamespace

    from django.utils import timezone, translation

    from portal.inbox.templatetags.portal_tags import sla_badge

    due = timezone.now() + dt.timedelta(days=10)
    with translation.override("en"):
        assert 'data-sla="green"' in sla_badge(SimpleNamespace(status="open", due_at=due, sla_breached_at=None))
        breached = sla_badge(SimpleNamespace(status="open", due_at=due, sla_breached_at=timezone.now()))
    assert 'data-sla="red"' in breached and ">overdue<" in breached
