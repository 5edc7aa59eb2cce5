"""The production path: a real Celery worker on Redis sweeps timers and delivers the outbox."""
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import time_machine
from celery import Celery
from django.db import connection

from engine.models import HumanTask, OutboxMessage
from tests.processes.child_protection.flows import START, complete, start_case
from tests.dates import local_minutes_ago

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
# A Redis database of this test process's own (pytest-xdist runs the suite in several): db 14, 13, ...
BROKER = os.environ.get("CASEFLOW_TEST_BROKER_URL", f"redis://127.0.0.1:6379/{14 - int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)}")


@pytest.fixture
def worker():
    redis.Redis.from_url(BROKER).flushdb()
    db = connection.settings_dict
    env = {
        **os.environ, "CELERY_BROKER_URL": BROKER, "SECRET_KEY": "worker-test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CASEFLOW_NOTIFIER_BACKEND": "integrations.notifications.backends.LogNotifier",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--concurrency=1", "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_worker_sweeps_overdue_response_and_delivers_the_breach_notice(deployed, users, worker):
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=25), tick=True):
        instance_id = start_case(users, {**START, "received_at": local_minutes_ago(20)})
        complete(users, instance_id, "Task_Intake")

    client = Celery(broker=BROKER, set_as_current=False)
    client.send_task("engine.jobs.sweep_due_timers")

    escalated = wait_for(lambda: HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_SupervisorEscalation").exists())
    if not escalated:
        worker.terminate()
        pytest.fail("worker did not escalate; its output:\n" + worker.communicate(timeout=20)[0][-3000:])
    breach = lambda: OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach", status="sent").exists()  # noqa: E731
    assert wait_for(breach), "the worker queued but did not deliver the breach notice"
    client.send_task("engine.jobs.sweep_due_timers")  # a second nudge changes nothing
    time.sleep(2)
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_SupervisorEscalation").count() == 1


def test_the_worker_reconnects_to_a_broker_that_came_back_within_a_second():
    """kombu's default back-off (2, 4, 6 … 30 s) had the workers retry Redis up to 30 s after it
    returned, and every timer due during the outage waited for that: the worker's consumer retries
    every second at most, and the settings name it as the worker's consumer."""
    from portal.celery import Consumer, app

    class Connection:
        def __init__(self):
            self.calls = []

        def ensure_connection(self, *args, **kwargs):
            self.calls.append(kwargs)
            return self

        def as_uri(self):
            return "redis://127.0.0.1:1/0"

    consumer = object.__new__(Consumer)
    consumer.app, consumer.first_connection_attempt, consumer.broker_connection_retry_attempt = app, False, 0
    conn = Connection()
    assert consumer.ensure_connected(conn) is conn
    assert conn.calls and conn.calls[0]["interval_max"] <= 1 and conn.calls[0]["interval_step"] <= 1
    assert "ensure_connection" not in vars(conn)  # the connection keeps its own method afterwards
    assert app.conf.worker_consumer == "portal.celery:Consumer"
