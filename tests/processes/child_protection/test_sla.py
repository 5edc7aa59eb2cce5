"""The 24-hour response SLA: a boundary timer on the response task, escalation to the supervisor,
then to the civil-affairs office — each exactly once, however often or concurrently timers are swept."""
import datetime as dt
import threading

import pytest
from django.db import connection

from engine import api
from engine.errors import NotPermitted
from engine.models import AuditEvent, HumanTask, OutboxMessage, Timer
from processes.child_protection.models import ChildProtectionCase

from .flows import FORMS, complete, open_task, start_case

pytestmark = pytest.mark.django_db(transaction=True)
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
    assert AuditEvent.objects.filter(instance_id=instance_id, kind="assigned", data__assignee="worker2").exists()


def test_supervisor_may_take_over_and_respond(deployed, users):
    instance_id, respond = case_awaiting_response(users)
    api.fire_due_timers(as_of=respond.created_at + 25 * H)
    complete(users, instance_id, "Task_SupervisorEscalation", {"action": "respond_myself", "reason": "亲自家访"})
    api.complete_task(task_id=respond.pk, data=FORMS["Task_Respond"], actor=users["supervisor"])
    respond.refresh_from_db()
    assert respond.completed_by == users["supervisor"]


@pytest.mark.postgres
def test_breach_escalates_once_when_sweepers_race(deployed, users):
    """Four sweepers at once over ten overdue cases: every case escalates exactly once."""
    cases = [case_awaiting_response(users) for _ in range(10)]
    as_of = max(r.created_at for _, r in cases) + 25 * H
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
    for instance_id, _respond in cases:
        assert escalations(instance_id, "Task_SupervisorEscalation") == 1
        assert AuditEvent.objects.filter(instance_id=instance_id, kind="escalated").count() == 1
        assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").count() == 1
