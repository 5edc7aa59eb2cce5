"""Two operations on one instance cannot both win (PostgreSQL, real threads, real row locks)."""
import threading

import pytest
from django.db import connection

from engine import api
from engine.errors import AlreadyCompleted, ConcurrentUpdate
from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance
from tests.processes.child_protection.flows import FORMS, open_task, start_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def race(n, func):
    barrier = threading.Barrier(n)
    outcomes = []

    def run(i):
        try:
            barrier.wait()
            outcomes.append(("ok", func(i)))
        except Exception as exc:
            outcomes.append(("error", exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_same_task_completed_from_two_threads_exactly_one_wins(deployed, users):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    revision_before = ProcessInstance.objects.get(pk=instance_id).revision

    outcomes = race(2, lambda i: api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"]))

    assert sorted(kind for kind, _ in outcomes) == ["error", "ok"]
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, AlreadyCompleted), error
    assert str(error)  # a sentence for the person who lost the race
    assert HumanTask.objects.get(pk=task_id).status == "completed"
    assert AuditEvent.objects.filter(instance_id=instance_id, kind="completed").count() == 1
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="partner.police").count() == 1
    assert ProcessInstance.objects.get(pk=instance_id).revision == revision_before + 1
    # Nothing lost: the process went on exactly once.
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Respond").count() == 1


def test_many_racers_on_one_task_still_one_winner(deployed, users):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    outcomes = race(8, lambda i: api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"]))
    assert [kind for kind, _ in outcomes].count("ok") == 1
    assert all(isinstance(v, (AlreadyCompleted, ConcurrentUpdate)) for k, v in outcomes if k == "error")
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Respond").count() == 1


def test_two_different_tasks_of_one_instance_both_complete(deployed, users):
    """Serialised by the row lock, not lost: the police receipt and the response run in parallel branches."""
    instance_id = start_case(users)
    api.complete_task(task_id=open_task(instance_id, "Task_Intake"), data=FORMS["Task_Intake"], actor=users["intake"])
    receipt, respond = open_task(instance_id, "Task_PoliceReceipt"), open_task(instance_id, "Task_Respond")
    jobs = [(receipt, "Task_PoliceReceipt", users["intake"]), (respond, "Task_Respond", users["worker"])]
    outcomes = race(2, lambda i: api.complete_task(task_id=jobs[i][0], data=FORMS[jobs[i][1]], actor=jobs[i][2]))
    assert [kind for kind, _ in outcomes] == ["ok", "ok"]
    assert open_task(instance_id, "Task_Assessment")


def test_sweep_and_a_users_step_on_one_instance_never_deadlock(deployed, users):
    """The sweeper takes the instance lock first, like every step, so neither waits on the other in a cycle."""
    import datetime as dt

    from engine.errors import CaseflowError
    from engine.models import HumanTask

    for _ in range(5):
        instance_id = start_case(users)
        api.complete_task(task_id=open_task(instance_id, "Task_Intake"), data=FORMS["Task_Intake"], actor=users["intake"])
        respond = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Respond")
        as_of = respond.created_at + dt.timedelta(hours=25)
        jobs = [lambda: api.fire_due_timers(as_of=as_of),
                lambda: api.complete_task(task_id=respond.pk, data=FORMS["Task_Respond"], actor=users["worker"])]
        outcomes = race(2, lambda i: jobs[i]())
        for kind, value in outcomes:
            assert kind == "ok" or isinstance(value, CaseflowError), value
        respond.refresh_from_db()
        assert respond.status == "completed"


def test_reports_started_at_the_same_moment_all_get_a_case_number(deployed, users):
    from processes.child_protection.models import ChildProtectionCase

    outcomes = race(4, lambda i: start_case(users))
    assert [kind for kind, _ in outcomes] == ["ok"] * 4, outcomes
    assert ChildProtectionCase.objects.values("case_no").distinct().count() == 4


def test_claim_racing_a_completion_on_the_same_instance_never_deadlocks(deployed, users):
    from engine.errors import CaseflowError

    for _ in range(5):
        instance_id = start_case(users)
        api.complete_task(task_id=open_task(instance_id, "Task_Intake"), data=FORMS["Task_Intake"], actor=users["intake"])
        receipt, respond = open_task(instance_id, "Task_PoliceReceipt"), open_task(instance_id, "Task_Respond")
        jobs = [lambda: api.claim_task(task_id=respond, actor=users["worker"]),
                lambda: api.complete_task(task_id=receipt, data=FORMS["Task_PoliceReceipt"], actor=users["intake"])]
        outcomes = race(2, lambda i: jobs[i]())
        assert all(kind == "ok" or isinstance(value, CaseflowError) for kind, value in outcomes), outcomes


def test_a_broken_instance_does_not_stop_the_sweep_for_the_others(deployed, users):
    import datetime as dt

    from engine.models import HumanTask

    broken, healthy = start_case(users), start_case(users)
    for instance_id in (broken, healthy):
        api.complete_task(task_id=open_task(instance_id, "Task_Intake"), data=FORMS["Task_Intake"], actor=users["intake"])
    state = ProcessInstance.objects.get(pk=broken).state
    state["format"] = "from-another-engine"
    from django.db.models import F

    # Any change made outside the engine bumps the revision, or a process holding the live workflow would not see it.
    ProcessInstance.objects.filter(pk=broken).update(state=state, revision=F("revision") + 1)
    created = HumanTask.objects.get(instance_id=healthy, bpmn_id="Task_Respond").created_at
    result = api.fire_due_timers(as_of=created + dt.timedelta(hours=25))
    assert result.timers_fired == 1 and result.conflicts == 1
    assert HumanTask.objects.filter(instance_id=healthy, bpmn_id="Task_SupervisorEscalation").exists()
