"""Asynchronous service tasks, delivered by the outbox's worker (engine/outbox.py, ADR 0022).

A service task whose operation is registered with `asynchronous=True` does not call it in the step:
the step queues the call as an outbox message on the channel `service:<operation>` and the task
waits. The deliverer (the Celery job `deliver_outbox`, or the embedded sweeper's thread) claims it
like any message, calls the handler with no transaction open — a slow outside system holds no lock
and blocks no step or sweep — and then continues the instance in a step of its own with the result.
A failure is retried with the outbox's back-off; after the last attempt the case stops in the
visible error state at that task, naming the operation and the error (the incidents page), and
`retry_instance` queues the call again. Never dropped: the row stays until the case goes on."""
from __future__ import annotations

import logging

from engine import registry
from engine.errors import InvalidState
from engine.models import InstanceStatus, OutboxMessage, ProcessInstance
from engine.spiff import runtime

log = logging.getLogger("caseflow.outbox")
PREFIX = runtime.SERVICE_CHANNEL_PREFIX


def is_service_call(message: OutboxMessage) -> bool:
    return message.channel.startswith(PREFIX)


def perform(message: OutboxMessage) -> str:
    """Call the operation (outside any transaction) and continue the instance with its answer; the
    receipt says what became of it. Raises on a failure, for the outbox to retry."""
    payload = message.payload
    operation = payload["operation"]
    handler = registry.service_handler(operation)
    if handler is None or not registry.is_asynchronous_service(operation):
        raise RuntimeError(f"asynchronous service operation '{operation}' is not registered")
    status = ProcessInstance.objects.filter(pk=message.instance_id).values_list("status", flat=True).first()
    if status in (InstanceStatus.CANCELLED, InstanceStatus.COMPLETED, None):
        return f"not called: the case is {status or 'gone'}"
    result = handler(dict(payload.get("params") or {}), key=message.key)
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise TypeError(f"service operation '{operation}' answered {type(result).__name__}, not a dict")
    try:
        step = runtime.run_step(message.instance_id, None, runtime.continue_service(payload["task_id"], operation, result))
    except InvalidState:
        status = ProcessInstance.objects.filter(pk=message.instance_id).values_list("status", flat=True).first()
        if status in (InstanceStatus.CANCELLED, InstanceStatus.COMPLETED):
            return f"answered, but the case is {status}"
        raise  # in error for another reason: try again after the case is retried
    return "continued" if not step.noop else "answered; the task had already gone on"


def give_up(message: OutboxMessage, error: str) -> None:
    """The last attempt failed: the case stops at the service task where people see it."""
    payload = message.payload
    if message.instance_id is None:
        return
    element = payload.get("element", "")
    runtime.stop_with_error(message.instance_id, element, f"Service task '{payload.get('operation')}' failed after "
                                                          f"{message.attempts} attempts: {error}"[:1000])
