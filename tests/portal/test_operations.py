"""/healthz, /readyz and /metrics: what each answers, to whom, and that the engine's numbers in
/metrics are the rows planted in the database."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from engine.models import HumanTask, InstanceStatus, OutboxMessage, ProcessInstance, Timer, TimerStatus
from tests.processes.child_protection.flows import FORMS, complete, open_task, start_case

pytestmark = pytest.mark.django_db
# A Redis database of this test process's own (pytest-xdist runs the suite in several): db 14, 13, ...
BROKER = f"redis://127.0.0.1:6379/{14 - int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)}"


def metrics_of(response) -> dict[str, float]:
    """{sample name with its labels: value} of a Prometheus text answer."""
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


def test_healthz_answers_ok_without_a_session():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_the_database_and_no_broker_configured(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert "broker" not in body["checks"]
    assert body["checks"]["sweep"]["ok"] and body["checks"]["sweep"]["lag_seconds"] == 0


def test_readyz_checks_the_broker_when_one_is_configured(settings, monkeypatch):
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(app.conf, "broker_url", BROKER)
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"] == {"ok": True}

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["broker"]["error"]
    assert body["checks"]["database"] == {"ok": True}


def test_readyz_fails_when_the_database_does_not_answer(monkeypatch):
    from engine import selectors

    monkeypatch.setattr(selectors, "database_problem", lambda: "OperationalError: connection refused")
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "OperationalError: connection refused"}


def test_readyz_fails_when_a_timer_waits_past_due_longer_than_the_allowed_lag(deployed, users, settings):
    settings.CASEFLOW_READY_MAX_SWEEP_LAG_SECONDS = 120
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    timers = Timer.objects.filter(instance_id=instance_id, status=TimerStatus.WAITING)
    assert timers.count() == 2  # the 24-hour and 48-hour response timers

    timers.filter(bpmn_id="Timer_Response24h").update(due_at=timezone.now() - dt.timedelta(seconds=60))
    body = Client().get("/readyz").json()
    assert body["status"] == "ready" and 59 <= body["checks"]["sweep"]["lag_seconds"] <= 120

    timers.filter(bpmn_id="Timer_Response24h").update(due_at=timezone.now() - dt.timedelta(hours=1))
    response = Client().get("/readyz")
    assert response.status_code == 503
    sweep = response.json()["checks"]["sweep"]
    assert sweep["ok"] is False and sweep["lag_seconds"] >= 3600 and sweep["max_lag_seconds"] == 120


def test_metrics_are_refused_to_addresses_outside_the_allowlist_whoever_is_signed_in(users, settings):
    settings.CASEFLOW_METRICS_ALLOW = ["127.0.0.1", "10.9.0.0/16"]
    settings.CASEFLOW_METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.9.3.4").get("/metrics").status_code == 200
    for user in users.values():  # a session is no key to the metrics, an administrator's neither
        client = Client(REMOTE_ADDR="192.0.2.7")
        client.force_login(user)
        assert client.get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 403


def test_metrics_answer_a_bearer_token_from_anywhere_and_refuse_a_wrong_one(settings):
    settings.CASEFLOW_METRICS_ALLOW = []
    settings.CASEFLOW_METRICS_TOKEN = "s3cret-scrape-token"
    outside = Client(REMOTE_ADDR="192.0.2.7")
    assert outside.get("/metrics").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="s3cret-scrape-token").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403  # an empty allowlist allows no address


def test_metrics_count_the_planted_rows(deployed, users):
    now = timezone.now()
    cases = [start_case(users) for _ in range(3)]
    for instance_id in cases:
        complete(users, instance_id, "Task_Intake")
    # Now each case has two open tasks (police receipt, respond) and two waiting timers in the future.
    HumanTask.objects.filter(pk=open_task(cases[0], "Task_Respond")).update(due_at=now - dt.timedelta(hours=1))
    HumanTask.objects.filter(pk=open_task(cases[1], "Task_Respond")).update(due_at=now - dt.timedelta(hours=2))
    Timer.objects.filter(instance_id=cases[0], bpmn_id="Timer_Response24h").update(due_at=now - dt.timedelta(seconds=600))
    Timer.objects.filter(instance_id=cases[1], bpmn_id="Timer_Response24h").update(due_at=now - dt.timedelta(seconds=30))
    ProcessInstance.objects.filter(pk=cases[2]).update(status=InstanceStatus.ERROR)
    OutboxMessage.objects.all().delete()
    for n, (status, age) in enumerate([("pending", 300), ("pending", 5), ("failed", 900), ("sent", 1000)]):
        OutboxMessage.objects.create(key=f"planted:{n}", channel="sms", payload={}, status=status,
                                     created_at=now - dt.timedelta(seconds=age), next_attempt_at=now)
    open_count = HumanTask.objects.filter(status="open").count()

    values = metrics_of(Client().get("/metrics"))

    assert values["caseflow_open_tasks"] == open_count == 6
    assert values["caseflow_overdue_tasks"] == 2
    assert values["caseflow_timers_due"] == 2
    assert 600 <= values["caseflow_sweep_lag_seconds"] < 700
    assert values["caseflow_outbox_backlog"] == 2
    assert 300 <= values["caseflow_outbox_oldest_seconds"] < 400
    assert values["caseflow_outbox_failed"] == 1
    assert values["caseflow_instances_in_error"] == 1


def test_metrics_carry_django_prometheus_and_the_step_latency_by_outcome(deployed, users):
    from engine import api

    before = metrics_of(Client().get("/metrics"))
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"])
    with pytest.raises(Exception):
        api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"])
    values = metrics_of(Client().get("/metrics"))

    def grew(name):
        return values.get(name, 0) - before.get(name, 0)

    assert grew("caseflow_step_seconds_count{act=act,outcome=ok}") >= 1
    assert grew("caseflow_step_seconds_count{act=act,outcome=conflict}") == 1
    assert grew("caseflow_step_failures_total{act=act,reason=conflict}") == 1
    assert any(name.startswith("django_http_requests_total_by_method_total") for name in values)


def test_step_logs_are_structured_and_carry_the_instance_and_task_ids(deployed, users):
    """Production logs are JSON lines through the LOGGING formatter; a step binds the ids it works on."""
    from engine import api

    root_handler = logging.getLogger().handlers[0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root_handler.formatter)
    step_logger = logging.getLogger("caseflow.step")
    step_logger.addHandler(handler)
    old_level = step_logger.level
    step_logger.setLevel(logging.DEBUG)
    try:
        instance_id = start_case(users)
        task_id = open_task(instance_id, "Task_Intake")
        api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"])
    finally:
        step_logger.removeHandler(handler)
        step_logger.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    completion = [line for line in lines if line.get("task_id") == task_id]
    assert completion, lines
    assert completion[0]["event"] == "step" and completion[0]["instance_id"] == instance_id
    assert completion[0]["level"] == "debug" and completion[0]["logger"] == "caseflow.step" and "ms" in completion[0]
