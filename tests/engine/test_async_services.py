"""Asynchronous service tasks: the step queues the call and the task waits; the outbox's worker calls
the outside system with no transaction open and continues the case with its answer; a call delivered
twice (a crash between continuing and recording) moves the case on once; a call that keeps failing
stops the case in the visible error state naming the element and the error, and the administrator's
retry queues it again."""
from __future__ import annotations

import datetime as dt

import pytest

from engine import api, clock, registry, selectors
from engine.errors import InvalidState
from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance
from tests.engine import samples

pytestmark = pytest.mark.django_db

CALLS: list[tuple[dict, str]] = []


def lookup(params, *, key):
    CALLS.append((params, key))
    return {"household_found": True, "call": len(CALLS)}


def down(params, *, key):
    CALLS.append((params, key))
    raise ConnectionError("民政系统连接超时")


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    yield
    CALLS.clear()


def _start(users, key, operation, handler, django_capture_on_commit_callbacks=None):
    registry.register_service(operation, handler, asynchronous=True)
    samples.deploy(samples.service(key, operation), users["admin"])
    return api.start_instance(process_key=key, data={}, actor=users["worker"]).id


def _open(instance_id):
    return list(HumanTask.objects.filter(instance_id=instance_id, status="open").values_list("bpmn_id", flat=True))


def test_the_step_queues_the_call_and_a_worker_continues_the_case(users):
    instance_id = _start(users, "svc_async", "test.lookup_async", lookup)
    # The step only queued the call: nothing was called, the case waits at the service task.
    assert CALLS == [] and _open(instance_id) == [] and ProcessInstance.objects.get(pk=instance_id).status == "running"
    (call,) = OutboxMessage.objects.filter(instance_id=instance_id)
    assert call.channel == "service:test.lookup_async" and call.key.endswith(":service")
    assert AuditEvent.objects.filter(instance_id=instance_id, kind="service_queued", bpmn_id="Service_1").count() == 1

    assert api.deliver_outbox() == 1
    assert CALLS == [({}, call.key)]  # the key goes with the call: the outside system may drop a repeat
    assert _open(instance_id) == ["Task_A"]
    called = AuditEvent.objects.get(instance_id=instance_id, kind="service_called")
    assert called.data["result"] == {"household_found": True, "call": 1}
    call.refresh_from_db()
    assert call.status == "sent" and call.receipt == "continued"

    # A worker that died after continuing the case but before recording: the call is made again
    # with the same key, and the case does not move twice.
    OutboxMessage.objects.filter(pk=call.pk).update(status="pending", next_attempt_at=clock.now())
    assert api.deliver_outbox() == 1
    assert [key for _params, key in CALLS] == [call.key, call.key]
    assert _open(instance_id) == ["Task_A"] and AuditEvent.objects.filter(instance_id=instance_id, kind="service_called").count() == 1
    call.refresh_from_db()
    assert "already gone on" in call.receipt


def test_a_call_that_keeps_failing_stops_the_case_visibly_and_a_retry_queues_it_again(settings, users):
    settings.CASEFLOW_OUTBOX = {"max_attempts": 3, "backoff_seconds": 10}
    instance_id = _start(users, "svc_async_down", "test.down_async", down)
    now = clock.now()
    for _ in range(3):
        with clock.frozen_at(now):
            assert api.deliver_outbox() == 0
        call = OutboxMessage.objects.get(instance_id=instance_id)
        now = max(now, call.next_attempt_at) + dt.timedelta(seconds=1)
    assert len(CALLS) == 3 and call.status == "failed"
    instance = ProcessInstance.objects.get(pk=instance_id)
    assert instance.status == "error" and instance.error_element == "Service_1"
    assert "test.down_async" in instance.error_message and "民政系统连接超时" in instance.error_message
    # The case is on the incidents page; the call is not also among the undelivered messages.
    assert [i.instance_id for i in selectors.incidents(users["admin"]).incidents] == [instance_id]
    assert selectors.undelivered_messages(users["admin"]).total == 0
    with pytest.raises(InvalidState, match="incidents page"):
        api.retry_message(message_id=call.pk, actor=users["admin"])

    # The outside system is back: the administrator's retry queues the call again and the case goes on.
    registry.register_service("test.down_async", lookup, asynchronous=True)
    with clock.frozen_at(now):
        assert api.retry_instance(instance_id=instance_id, actor=users["admin"]).status == "running"
        call.refresh_from_db()
        assert (call.status, call.attempts) == ("pending", 0)
        assert api.deliver_outbox() == 1
    assert _open(instance_id) == ["Task_A"]


def test_a_call_for_a_cancelled_case_is_not_made(users):
    instance_id = _start(users, "svc_async_cancel", "test.lookup_cancel", lookup)
    api.cancel_instance(instance_id=instance_id, actor=users["supervisor"], reason="重复")
    assert api.deliver_outbox() == 1
    assert CALLS == [] and "cancelled" in OutboxMessage.objects.get(instance_id=instance_id).receipt


def test_a_synchronous_service_is_still_called_in_the_step(users):
    registry.register_service("test.lookup_sync", lambda ctx, params: {"ok": True})
    samples.deploy(samples.service("svc_sync", "test.lookup_sync"), users["admin"])
    instance_id = api.start_instance(process_key="svc_sync", data={}, actor=users["worker"]).id
    assert _open(instance_id) == ["Task_A"] and not OutboxMessage.objects.filter(instance_id=instance_id).exists()
