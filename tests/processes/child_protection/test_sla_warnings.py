"""Warnings before the deadline (50 % and 80 % of the time from the task's opening to its deadline),
each once per task and share however often or concurrently swept; the breach and the second breach
recorded, on the case's timeline and in notifications; no quiet hours hold an escalation back; the
24-hour clock counts calendar time over a public holiday."""
import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from engine import api
from engine.models import AuditEvent, HumanTask, OutboxMessage, SlaWarning
from portal.notifications.models import Notification

from .flows import START, complete, start_case

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
CST = ZoneInfo("Asia/Shanghai")


def awaiting_response(users, data=None):
    instance_id = start_case(users, data)
    complete(users, instance_id, "Task_Intake")
    return instance_id, HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Respond")


def share(task, fraction):
    return task.created_at + (task.due_at - task.created_at) * fraction


def warnings_of(instance_id):
    return sorted(e.data["percent"] for e in AuditEvent.objects.filter(instance_id=instance_id, kind="sla_warning"))


def test_warned_at_half_and_four_fifths_once_each(deployed, users):
    instance_id, respond = awaiting_response(users)
    assert api.warn_before_deadlines(as_of=share(respond, 0.45)) == 0
    assert api.warn_before_deadlines(as_of=share(respond, 0.55)) == 1
    assert api.warn_before_deadlines(as_of=share(respond, 0.60)) == 0  # swept again: nothing new
    assert api.warn_before_deadlines(as_of=share(respond, 0.85)) == 1
    assert api.warn_before_deadlines(as_of=share(respond, 0.95)) == 0
    assert warnings_of(instance_id) == [50, 80]
    keys = sorted(OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.warning").values_list("key", flat=True))
    assert keys == [f"{instance_id}:{respond.pk}:sla_warning_50", f"{instance_id}:{respond.pk}:sla_warning_80"]
    # Nobody holds the response yet: the workers of its village are told, not a worker elsewhere.
    notices = Notification.objects.filter(kind="due_soon", task_id=respond.pk)
    assert sorted(notices.values_list("user__username", "percent")) == [("worker", 50), ("worker", 80), ("worker2", 50), ("worker2", 80)]
    # On the case's timeline, as everyone who may read the case sees it.
    history = api.get_instance(instance_id=instance_id, with_history=True, viewer=api.SYSTEM).history
    assert [e.data["percent"] for e in history if e.kind == "sla_warning"] == [50, 80]


def test_a_held_task_warns_its_holder_only(deployed, users):
    instance_id, respond = awaiting_response(users)
    api.claim_task(task_id=respond.pk, actor=users["worker2"])
    api.warn_before_deadlines(as_of=share(respond, 0.55))
    assert list(Notification.objects.filter(kind="due_soon", task_id=respond.pk).values_list("user__username", flat=True)) == ["worker2"]
    assert OutboxMessage.objects.get(channel="sla.warning").payload["assignee"] == "worker2"


def test_both_shares_passed_while_no_sweep_ran_are_each_given_once(deployed, users):
    instance_id, respond = awaiting_response(users)
    assert api.warn_before_deadlines(as_of=share(respond, 0.9)) == 2
    assert warnings_of(instance_id) == [50, 80]


def test_no_warning_after_the_deadline_or_for_a_done_task(deployed, users):
    instance_id, respond = awaiting_response(users)
    assert api.warn_before_deadlines(as_of=respond.due_at + H) == 0  # too late to warn: the breach speaks
    other_id, other = awaiting_response(users)
    complete(users, other_id, "Task_Respond")
    api.warn_before_deadlines(as_of=share(other, 0.9))
    assert warnings_of(other_id) == [] and warnings_of(instance_id) == [50, 80]  # the open one is still warned, in time


def test_a_process_sets_its_own_shares(deployed, users, settings):
    settings.CASEFLOW_SLA_WARNINGS_CHILD_PROTECTION = [25]
    instance_id, respond = awaiting_response(users)
    assert api.warning_percents("child_protection") == (25,)
    assert api.warn_before_deadlines(as_of=share(respond, 0.9)) == 1
    assert warnings_of(instance_id) == [25]
    settings.CASEFLOW_SLA_WARNINGS_CHILD_PROTECTION = []
    assert api.warning_percents("child_protection") == ()


def test_the_sweep_pages_through_many_open_tasks(deployed, users):
    cases = [awaiting_response(users) for _ in range(5)]
    as_of = max(share(r, 0.55) for _, r in cases)
    assert api.warn_before_deadlines(as_of=as_of, page=2) == 5  # pages of 2: each task met once
    assert SlaWarning.objects.count() == 5


@pytest.mark.django_db(transaction=True)  # threads: each sweeper has its own connection and sees only committed rows
@pytest.mark.postgres
def test_two_sweepers_at_once_warn_once(deployed, users):
    cases = [awaiting_response(users) for _ in range(6)]
    as_of = max(share(r, 0.85) for _, r in cases)
    barrier, results, errors = threading.Barrier(2), [], []

    def sweep():
        try:
            barrier.wait()
            results.append(api.warn_before_deadlines(as_of=as_of))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sum(results) == 12
    for instance_id, respond in cases:
        assert warnings_of(instance_id) == [50, 80]
        assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.warning").count() == 2
        assert Notification.objects.filter(user=users["worker"], kind="due_soon", task_id=respond.pk).count() == 2


def test_breach_and_second_breach_are_recorded_on_the_case_and_notified(deployed, users):
    instance_id, respond = awaiting_response(users)
    api.fire_due_timers(as_of=respond.due_at + H)
    api.fire_due_timers(as_of=respond.due_at + 25 * H)
    escalated = AuditEvent.objects.filter(instance_id=instance_id, kind="escalated")
    assert sorted(e.data["timer"] for e in escalated) == ["24小时未响应", "48小时仍未响应"]
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").count() == 2
    history = api.get_instance(instance_id=instance_id, with_history=True, viewer=api.SYSTEM).history
    assert [e.kind for e in history].count("escalated") == 2
    assert Notification.objects.filter(user=users["supervisor"], kind="breached", task_id=respond.pk).exists()
    civil_task = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_CivilAffairsEscalation")
    assert Notification.objects.filter(user=users["civil"], kind="new_task", task_id=civil_task.pk).exists()


def test_an_escalation_due_at_three_in_the_morning_fires_at_three(deployed, users):
    """No quiet hours exist: a deadline in the night escalates in the first sweep after it, and the
    supervisor's notice is written in that same sweep."""
    now = dt.datetime.now(CST)
    three = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if three <= now:
        three += dt.timedelta(days=1)
    received = three - 24 * H
    instance_id, respond = awaiting_response(users, {**START, "received_at": received.strftime("%Y-%m-%dT%H:%M")})
    assert respond.due_at == three
    assert api.fire_due_timers(as_of=three + dt.timedelta(seconds=1)).timers_fired == 1
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_SupervisorEscalation").count() == 1
    assert Notification.objects.filter(user=users["supervisor"], kind="breached", task_id=respond.pk).exists()


def test_the_24_hour_clock_counts_calendar_time_over_national_day(deployed, users):
    received = dt.datetime(2026, 9, 30, 21, 0, tzinfo=CST)
    with time_machine.travel(received + dt.timedelta(minutes=20), tick=False):
        instance_id, respond = awaiting_response(users, {**START, "received_at": "2026-09-30T21:00"})
    assert respond.due_at == dt.datetime(2026, 10, 1, 21, 0, tzinfo=CST)  # on the holiday, 24 hours later


def test_the_sweep_leaves_tasks_far_from_a_warning_in_the_database(deployed, users):
    """The sweep's cost is the tasks inside the warning zone (past the first share, not yet warned at
    the last): 120 open tasks with deadlines, none at 50 % yet, cost one query that returns nothing;
    once 30 of them pass 50 %, pages of 20 read only those 30 — two pages, each with one read of the
    warnings already given — before and after they are warned."""
    import uuid

    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    instance_id, respond = awaiting_response(users)
    HumanTask.objects.filter(pk=respond.pk).update(status="completed")
    now = timezone.now()
    HumanTask.objects.bulk_create([HumanTask(
        instance_id=instance_id, spiff_task_id=uuid.uuid4(), bpmn_id="Task_X", name="x", lane="社工", candidate_group="worker",
        process_key="child_protection", village="dongshan", created_at=now, due_at=now + dt.timedelta(hours=10, minutes=i))
        for i in range(120)])
    with CaptureQueriesContext(connection) as queries:
        assert api.warn_before_deadlines(as_of=now + H, page=20) == 0
    assert len(queries.captured_queries) == 1
    as_of = now + dt.timedelta(hours=5, minutes=14, seconds=45)  # 50 % of 10 h + i min, for i < 30
    assert api.warn_before_deadlines(as_of=as_of, page=20) == 30
    with CaptureQueriesContext(connection) as queries:
        assert api.warn_before_deadlines(as_of=as_of, page=20) == 0
    assert len(queries.captured_queries) == 4


def test_the_sweep_is_a_periodic_job_so_serve_and_celery_beat_both_run_it(deployed, users):
    from engine import jobs, registry

    assert registry.periodic_jobs()["warn_before_deadlines"] == api.warn_before_deadlines
    instance_id, respond = awaiting_response(users)
    HumanTask.objects.filter(pk=respond.pk).update(created_at=respond.created_at - 30 * H)  # about 30 of its 54 hours gone: 56 %
    assert jobs.run_periodic_jobs()["warn_before_deadlines"] == 1
    assert warnings_of(instance_id) == [50]
