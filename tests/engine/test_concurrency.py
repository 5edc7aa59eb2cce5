"""Two operations on one instance cannot both win (PostgreSQL, real threads, real row locks), and
the timer sweep neither deadlocks with people's steps nor stops at a broken instance — on the
engine's sample diagrams."""
import datetime as dt

import pytest
from django.db.models import F

from engine import api, registry
from engine.errors import AlreadyCompleted, CaseflowError, ConcurrentUpdate
from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance
from tests.threads import race

from . import samples
from .samples import RECORD, START

pytestmark = pytest.mark.django_db


def open_task(instance_id: int, bpmn_id: str) -> int:
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id=bpmn_id, status="open").pk


def start(users, process_key: str) -> int:
    return api.start_instance(process_key=process_key, data=START, actor=users["intake"]).id


def record(users, instance_id: int):
    return api.complete_task(task_id=open_task(instance_id, "Task_A"), data=RECORD, actor=users["intake"])


@pytest.fixture
def notifying(users):
    """The two-lane sample with a service task after the record that queues one outside notice."""
    registry.register_service("sample.notify", lambda ctx, params: {"queued": ctx.enqueue("sample.notice", {}, effect="notice")})
    samples.deploy(samples.two_lanes("notifying", service="sample.notify"), users["admin"])
    return "notifying"


@pytest.fixture
def parallel(users):
    """After the record, Task_B (intake desk) and Task_C (worker, with a deadline) are open at once;
    Task_D follows both. Completing Task_B also writes Task_C's row (its deadline): a claim of
    Task_C and that completion lock the same rows, in the same order or they deadlock."""
    samples.deploy(samples.parallel_tasks("parallel", timer='"PT24H"'), users["admin"])
    return "parallel"


@pytest.fixture
def late(users):
    """Task_B (a worker's) escalates to the supervisor when still open 24 hours after it opened."""
    samples.deploy(samples.boundary_timer("late", '"PT24H"'), users["admin"])
    return "late"


@pytest.mark.django_db(transaction=True)  # threads: each has its own connection and sees only committed rows
@pytest.mark.postgres
def test_same_task_completed_from_two_threads_exactly_one_wins(notifying, users):
    instance_id = start(users, notifying)
    task_id = open_task(instance_id, "Task_A")
    revision_before = ProcessInstance.objects.get(pk=instance_id).revision

    outcomes = race(2, lambda i: api.complete_task(task_id=task_id, data=RECORD, actor=users["intake"]))

    assert sorted(kind for kind, _ in outcomes) == ["error", "ok"]
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, AlreadyCompleted), error
    assert str(error)  # a sentence for the person who lost the race
    assert HumanTask.objects.get(pk=task_id).status == "completed"
    assert AuditEvent.objects.filter(instance_id=instance_id, kind="completed").count() == 1
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sample.notice").count() == 1
    assert ProcessInstance.objects.get(pk=instance_id).revision == revision_before + 1
    # Nothing lost: the process went on exactly once.
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_B").count() == 1


@pytest.mark.django_db(transaction=True)  # threads
@pytest.mark.postgres
def test_many_racers_on_one_task_still_one_winner(notifying, users):
    instance_id = start(users, notifying)
    task_id = open_task(instance_id, "Task_A")
    outcomes = race(8, lambda i: api.complete_task(task_id=task_id, data=RECORD, actor=users["intake"]))
    assert [kind for kind, _ in outcomes].count("ok") == 1
    assert all(isinstance(v, (AlreadyCompleted, ConcurrentUpdate)) for k, v in outcomes if k == "error")
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_B").count() == 1
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sample.notice").count() == 1


@pytest.mark.django_db(transaction=True)  # threads
@pytest.mark.postgres
@pytest.mark.slow
def test_a_hundred_completions_of_one_task_one_wins_each_round(notifying, users):
    """100 people submit one task at the same moment, round after round: each round exactly one step
    is applied and the 99 others get a clear refusal (already completed, or changed meanwhile). The
    suite runs 4 rounds; bench/production.py (part `race`) runs 20 on the child-protection intake."""
    for round_ in range(4):
        instance_id = start(users, notifying)
        task_id = open_task(instance_id, "Task_A")
        revision = ProcessInstance.objects.get(pk=instance_id).revision

        outcomes = race(100, lambda i: api.complete_task(task_id=task_id, data=RECORD, actor=users["intake"]), connections=40)

        kinds = [kind for kind, _ in outcomes]
        assert (len(outcomes), kinds.count("ok")) == (100, 1), (round_, [v for k, v in outcomes if k == "error"][:3])
        refusals = [value for kind, value in outcomes if kind == "error"]
        assert all(isinstance(v, (AlreadyCompleted, ConcurrentUpdate)) and str(v) for v in refusals), (round_, refusals[:3])
        assert ProcessInstance.objects.get(pk=instance_id).revision == revision + 1
        assert AuditEvent.objects.filter(instance_id=instance_id, kind="completed").count() == 1
        assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_B").count() == 1
        assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sample.notice").count() == 1


@pytest.mark.django_db(transaction=True)  # threads
@pytest.mark.postgres
def test_two_different_tasks_of_one_instance_both_complete(parallel, users):
    """Serialised by the row lock, not lost: two tasks of parallel branches completed at once."""
    instance_id = start(users, parallel)
    record(users, instance_id)
    jobs = [(open_task(instance_id, "Task_B"), users["intake"]), (open_task(instance_id, "Task_C"), users["worker"])]
    outcomes = race(2, lambda i: api.complete_task(task_id=jobs[i][0], data={"note": "x"}, actor=jobs[i][1]))
    assert [kind for kind, _ in outcomes] == ["ok", "ok"]
    assert open_task(instance_id, "Task_D")


@pytest.mark.django_db(transaction=True)  # threads
@pytest.mark.postgres
def test_sweep_and_a_users_step_on_one_instance_never_deadlock(late, users):
    """The sweeper takes the instance lock first, like every step, so neither waits on the other in a cycle."""
    for _ in range(5):
        instance_id = start(users, late)
        record(users, instance_id)
        task_b = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_B")
        as_of = task_b.created_at + dt.timedelta(hours=25)
        jobs = [lambda: api.fire_due_timers(as_of=as_of),
                lambda: api.complete_task(task_id=task_b.pk, data={"note": "x"}, actor=users["worker"])]
        outcomes = race(2, lambda i: jobs[i]())
        for kind, value in outcomes:
            assert kind == "ok" or isinstance(value, CaseflowError), value
        task_b.refresh_from_db()
        assert task_b.status == "completed"


@pytest.mark.django_db(transaction=True)  # threads
@pytest.mark.postgres
def test_claim_racing_a_completion_on_the_same_instance_never_deadlocks(parallel, users):
    for _ in range(5):
        instance_id = start(users, parallel)
        record(users, instance_id)
        task_b, task_c = open_task(instance_id, "Task_B"), open_task(instance_id, "Task_C")
        jobs = [lambda: api.claim_task(task_id=task_c, actor=users["worker"]),
                lambda: api.complete_task(task_id=task_b, data={"note": "x"}, actor=users["intake"])]
        outcomes = race(2, lambda i: jobs[i]())
        assert all(kind == "ok" or isinstance(value, CaseflowError) for kind, value in outcomes), outcomes


def test_a_broken_instance_does_not_stop_the_sweep_for_the_others(late, users):
    broken, healthy = start(users, late), start(users, late)
    for instance_id in (broken, healthy):
        record(users, instance_id)
    state = ProcessInstance.objects.get(pk=broken).state
    state["format"] = "from-another-engine"
    # Any change made outside the engine bumps the revision, or a process holding the live workflow would not see it.
    ProcessInstance.objects.filter(pk=broken).update(state=state, revision=F("revision") + 1)
    created = HumanTask.objects.get(instance_id=healthy, bpmn_id="Task_B").created_at
    result = api.fire_due_timers(as_of=created + dt.timedelta(hours=25))
    assert result.timers_fired == 1 and result.conflicts == 1
    assert HumanTask.objects.filter(instance_id=healthy, bpmn_id="Task_Escalate").exists()
