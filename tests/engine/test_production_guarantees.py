"""The guarantees of production mode, on real PostgreSQL, Redis and Celery worker and beat
processes, scaled down to keep the suite short (the full sizes are bench/production.py):

- timers due at one moment, two workers and two beats: every timer fired once, every escalation
  task and breach notice exists once, every instance advanced by exactly one step;
- workers killed with SIGKILL while they advance instances: after restart all are advanced, nothing
  lost, every notice delivered (a repeat only where a kill fell between a send and its commit);
- Redis stopped (and every worker down) while work comes due and people complete tasks: nothing
  lost, the due work done in the first sweeps after they return;
- the database connection dropped in the middle of a step: nothing of it applied, and the job's
  retry applies it once.

A Redis server of our own runs on a free port (tests/production.py), so stopping it touches nobody
else's."""
from __future__ import annotations

import datetime as dt
import random
import threading
import time

import psycopg
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from engine import api
from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance, Timer, TimerStatus
from tests import production
from tests.processes.child_protection.flows import FORMS, START, complete, open_task, start_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]
UTC = dt.timezone.utc


def cases_due_at(users, count: int, due: dt.datetime) -> list[int]:
    """`count` child-protection reports whose 24-hour response timer comes due at `due` (a whole
    minute: the report's arrival time is typed to the minute), each with its intake recorded."""
    received = due - dt.timedelta(hours=24)
    received_text = timezone.localtime(received).strftime("%Y-%m-%dT%H:%M")
    ids = []
    with time_machine.travel(received + dt.timedelta(seconds=5), tick=True):
        for _ in range(count):
            instance_id = start_case(users, {**START, "received_at": received_text})
            complete(users, instance_id, "Task_Intake")
            ids.append(instance_id)
    return ids


def past_minute(minutes_ago: int = 80) -> dt.datetime:
    return (timezone.now() - dt.timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)


def waiting_due(ids) -> int:
    return Timer.objects.filter(instance_id__in=ids, bpmn_id="Timer_Response24h", status=TimerStatus.WAITING).count()


def breach_keys(ids) -> set[str]:
    return set(OutboxMessage.objects.filter(instance_id__in=ids, channel="sla.breach").values_list("key", flat=True))


def assert_each_escalated_once(ids, revisions: dict[int, int]):
    """Every timer fired once and every instance advanced by exactly one step: its escalation task,
    its breach notice, its audit trail, its revision."""
    assert waiting_due(ids) == 0
    assert Timer.objects.filter(instance_id__in=ids, bpmn_id="Timer_Response24h", status=TimerStatus.FIRED).count() == len(ids)
    escalations = HumanTask.objects.filter(instance_id__in=ids, bpmn_id="Task_SupervisorEscalation")
    assert escalations.count() == len(ids) and escalations.values("instance_id").distinct().count() == len(ids)
    assert HumanTask.objects.filter(instance_id__in=ids, bpmn_id="Task_Respond", sla_breached_at__isnull=False).count() == len(ids)
    assert OutboxMessage.objects.filter(instance_id__in=ids, channel="sla.breach").count() == len(ids)
    fired = AuditEvent.objects.filter(instance_id__in=ids, kind="timer_fired", bpmn_id="Timer_Response24h")
    assert fired.count() == len(ids)
    now = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
    assert {pk: now[pk] - revisions[pk] for pk in ids} == {pk: 1 for pk in ids}


@pytest.fixture
def redis_server():
    with production.OwnRedis() as server:
        yield server


@pytest.fixture
def fleet(tmp_path, redis_server):
    """Start workers and beats against the test database and our Redis; stop them all afterwards."""
    started = []
    notices_file = tmp_path / "notices.txt"
    # A worker killed while it delivers leaves its claimed messages leased: production's 300-s lease
    # would hold them past every wait below. A 20-s lease is the same rule, at the tests' pace.
    env = production.environment(connection.settings_dict, redis_server.url, notices_file, CASEFLOW_OUTBOX_LEASE_SECONDS=20)

    class Fleet:
        notices = notices_file
        redis = redis_server

        def worker(self, name="w1", **kw):
            process = production.worker(env, name, tmp_path, **kw)
            started.append(process)
            return process

        def beat(self, name="b1"):
            process = production.beat(env, name, tmp_path)
            started.append(process)
            return process

        def output(self):
            return "\n".join(f"--- {p.log.name}\n{p.output(2000)}" for p in started)

    yield Fleet()
    for process in started:
        process.kill()  # nothing of theirs is needed any more: no warm shutdown to wait for


def test_timers_due_at_one_moment_fire_once_with_two_workers_and_two_beats(deployed, users, fleet):
    ids = cases_due_at(users, 40, past_minute())
    revisions = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
    for name in ("w1", "w2"):
        fleet.worker(name)
    for name in ("b1", "b2"):
        fleet.beat(name)

    swept = production.wait_for(lambda: waiting_due(ids) == 0, 120)
    delivered = production.wait_for(lambda: len(production.notices(fleet.notices)) == len(ids), 60)

    assert swept and delivered, fleet.output()
    assert_each_escalated_once(ids, revisions)
    sent = production.notices(fleet.notices)
    assert {key for _channel, key in sent} == breach_keys(ids)
    assert max(sent.values()) == 1  # no process was killed: nothing sent twice


def test_workers_killed_with_sigkill_while_advancing_lose_nothing(deployed, users, fleet):
    ids = cases_due_at(users, 30, past_minute())
    revisions = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
    fleet.beat()
    worker = fleet.worker()
    kills = 0
    rng = random.Random(12)
    while kills < 2 and waiting_due(ids) > 0:
        # Kill this life of the worker in the middle of a sweep batch (its transaction open).
        if not production.wait_for(lambda: production.sweeping(connection.settings_dict), 60, every=0.02):
            break
        time.sleep(rng.uniform(0.0, 0.3))
        worker.kill()
        kills += 1
        worker.start()

    assert production.wait_for(lambda: waiting_due(ids) == 0, 120), fleet.output()
    assert production.wait_for(lambda: len(production.notices(fleet.notices)) == len(ids), 60), fleet.output()
    assert kills == 2
    assert_each_escalated_once(ids, revisions)
    sent = production.notices(fleet.notices)
    assert {key for _channel, key in sent} == breach_keys(ids)
    # Delivery is at least once with the message key as idempotency key: only a kill between a
    # provider's answer and the commit that records it can repeat a send, at most once per kill.
    assert sum(sent.values()) - len(sent) <= kills


@pytest.fixture
def publishing(fleet):
    """This process publishes its jobs to our Redis, as a web process does (the suite otherwise runs
    them eagerly, in process)."""
    from portal.celery import app

    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=fleet.redis.url)
    app._pool = None
    yield
    app.conf.update(saved)
    app._pool = None


def test_redis_stopped_and_every_worker_down_lose_nothing_and_due_work_is_done_when_they_return(deployed, users, fleet, publishing):
    fleet.beat()
    worker = fleet.worker()

    fleet.redis.stop()
    worker.kill()  # and every worker is down
    outage_started = time.monotonic()
    # Meanwhile people record reports (each commit's nudge to the outbox fails: no broker; the step
    # stands) and timers come due.
    recorded = []
    for _ in range(3):
        instance_id = start_case(users)
        complete(users, instance_id, "Task_Intake")
        recorded.append(instance_id)
    due_during_outage = cases_due_at(users, 10, past_minute())
    revisions = dict(ProcessInstance.objects.filter(pk__in=due_during_outage).values_list("pk", "revision"))
    time.sleep(max(0.0, 10 - (time.monotonic() - outage_started)))
    assert waiting_due(due_during_outage) == len(due_during_outage)  # nothing could sweep
    fleet.redis.start()
    worker.start()
    back = timezone.now()

    assert production.wait_for(lambda: waiting_due(due_during_outage) == 0, 90), fleet.output()
    assert_each_escalated_once(due_during_outage, revisions)
    latest = max(Timer.objects.filter(instance_id__in=due_during_outage, bpmn_id="Timer_Response24h").values_list("fired_at", flat=True))
    assert (latest - back).total_seconds() < 60  # within the first sweeps after the return (bench/production.py measures it)
    # Nothing lost: the reports recorded during the outage stand, and their police notices, queued
    # while no nudge could be sent, are delivered by the beat's nudges once Redis is back.
    for instance_id in recorded:
        assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Intake", status="completed").count() == 1
    police = set(OutboxMessage.objects.filter(instance_id__in=recorded, channel="partner.police").values_list("key", flat=True))
    assert len(police) == len(recorded)
    everything = police | breach_keys(due_during_outage)
    assert production.wait_for(lambda: {key for _c, key in production.notices(fleet.notices)} >= everything, 90), fleet.output()
    assert max(production.notices(fleet.notices).values()) == 1


def test_a_connection_dropped_mid_step_applies_nothing_and_the_retry_applies_it_once(deployed, users, fleet):
    [instance_id] = cases_due_at(users, 1, past_minute())
    revision = ProcessInstance.objects.get(pk=instance_id).revision
    respond = open_task(instance_id, "Task_Respond")
    dsn = connection.settings_dict
    holder = psycopg.connect(host=dsn["HOST"], port=dsn["PORT"], user=dsn["USER"], dbname=dsn["NAME"], autocommit=False)
    watcher = psycopg.connect(host=dsn["HOST"], port=dsn["PORT"], user=dsn["USER"], dbname=dsn["NAME"], autocommit=True)
    try:
        # Hold the response task's row: the worker's step locks the instance, runs the workflow, and
        # then waits here to mark the task breached, in the middle of its transaction.
        holder.execute("SELECT id FROM engine_humantask WHERE id = %s FOR UPDATE", [respond])
        fleet.beat()
        fleet.worker()

        def blocked_step():
            return watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND query ILIKE '%%engine_humantask%%' "
                "AND pid <> pg_backend_pid()", [dsn["NAME"]]).fetchall()

        assert production.wait_for(lambda: bool(blocked_step()), 60), fleet.output()
        [(pid,)] = blocked_step()[:1]
        watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
        time.sleep(0.5)
        # Nothing of the step is applied, whatever it had written before the connection dropped.
        assert ProcessInstance.objects.get(pk=instance_id).revision == revision
        assert waiting_due([instance_id]) == 1
        assert not HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_SupervisorEscalation").exists()
        assert not OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").exists()
    finally:
        holder.rollback()
        holder.close()
        watcher.close()

    assert production.wait_for(lambda: waiting_due([instance_id]) == 0, 90), fleet.output()
    assert_each_escalated_once([instance_id], {instance_id: revision})
