"""Delivery of outside effects queued in the outbox, never inside a transaction (ADR 0022).

A step writes the message in its own transaction. Delivery then goes in three moves:

1. **Claim** a batch of due messages in one short transaction: `FOR UPDATE SKIP LOCKED` where the
   database has it, and a compare-and-set UPDATE everywhere (SQLite has no row locks, but its single
   writer and the guard keep two deliverers apart). A claimed message is `sending`, carries this
   claim's token, counts the attempt, and holds a lease until `lease_until`. Commit.
2. **Send** each message through the notifier backend with no transaction open and no row locked:
   a slow SMS gateway holds nothing a step, a sweep or another deliverer needs. The message key goes
   with it as the receiver's idempotency key.
3. **Record** each result in its own one-statement transaction, guarded by the claim token: a
   deliverer whose lease ran out and whose message was claimed again records nothing.

A deliverer that dies between sending and recording leaves a lease that runs out; the next deliverer
claims the message again and sends it once more with the same key (at least once). Failures retry
after an exponential back-off with jitter; after the last attempt the message is `failed`, and
administrators see it (with the stuck ones) on the portal's undelivered-messages page and may queue
it again. A message is never sent after its lease: a claim whose lease is nearly spent by slow
sends before it is handed back unsent, so two deliverers never send one message at the same time."""
from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils.module_loading import import_string

from engine import clock, service_calls
from engine.errors import DeliveryDeferred, DeliveryIncomplete
from engine.models import OutboxMessage, OutboxStatus

log = logging.getLogger("caseflow.outbox")

DEFAULTS = {
    "max_attempts": 8,
    "batch": 10,  # messages claimed in one transaction
    "lease_seconds": 300,  # how long a claim holds a message; must exceed a batch's sends
    "send_seconds": 60,  # the longest one send may take (a provider's timeout): no send starts later than lease - this
    "backoff_seconds": 30,  # first retry after about this long, doubling each attempt
    "backoff_max_seconds": 6 * 3600,
    "run_seconds": 120,  # one run claims no new batch after this long (a Celery job stays inside its time limit)
}


def outbox_settings() -> dict:
    """CASEFLOW_OUTBOX over the defaults."""
    return {**DEFAULTS, **getattr(settings, "CASEFLOW_OUTBOX", {})}


def notifier():
    """The backend named by settings.CASEFLOW_NOTIFIER_BACKEND (like EMAIL_BACKEND)."""
    return import_string(settings.CASEFLOW_NOTIFIER_BACKEND)()


@dataclass(frozen=True)
class Outcome:
    """What one send came to: `sent` with a receipt, `deferred` until an instant, or `failed` with an error."""

    kind: str
    receipt: str = ""
    error: str = ""
    until: dt.datetime | None = None
    done: tuple[str, ...] = ()


def deliver_pending(*, limit: int = 100) -> int:
    """Send up to `limit` due messages; answers how many were sent. Safe in any number of processes."""
    config = outbox_settings()
    backend = notifier()
    sent = handled = 0
    stop_claiming = time.monotonic() + config["run_seconds"]
    while handled < limit and time.monotonic() < stop_claiming:
        claimed = claim(min(config["batch"], limit - handled), config=config)
        if not claimed:
            break
        for position, message in enumerate(claimed):
            if not _may_still_send(message, config):
                release(claimed[position:])  # a slow batch: hand the rest back rather than send after the lease
                return sent
            handled += 1
            outcome = send(backend, message)
            if record(message, outcome, config=config) and outcome.kind == "sent":
                sent += 1
    return sent


def claim(size: int, *, config: dict | None = None) -> list[OutboxMessage]:
    """Mark up to `size` due messages (pending and due, or sending with a lease that ran out) as this
    deliverer's, in one short transaction, and return them with their payloads. A message whose lease
    ran out on its last attempt is failed instead: its deliverer stopped mid-send too often."""
    config = config or outbox_settings()
    now = clock.now()
    token = uuid.uuid4().hex
    due = Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) | Q(status=OutboxStatus.SENDING, lease_until__lte=now)
    with transaction.atomic():
        query = OutboxMessage.objects.filter(due).order_by("next_attempt_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            query = query.select_for_update(skip_locked=True)
        ids = list(query.values_list("pk", flat=True)[:size])
        if not ids:
            return []
        spent = OutboxMessage.objects.filter(due, pk__in=ids, status=OutboxStatus.SENDING, attempts__gte=config["max_attempts"])
        for message in spent.select_for_update() if spent.exists() else ():
            message.status, message.claim_token, message.lease_until = OutboxStatus.FAILED, "", None
            message.last_error = "the deliverer stopped while sending the last attempt (its lease ran out); it may have been sent"
            message.save(update_fields=["status", "claim_token", "lease_until", "last_error"])
            if service_calls.is_service_call(message):
                service_calls.give_up(message, message.last_error)
        # The guard repeats `due`: on a database without row locks, a message another deliverer
        # claimed since the SELECT no longer matches and stays theirs.
        OutboxMessage.objects.filter(due, pk__in=ids).update(
            status=OutboxStatus.SENDING, claim_token=token, lease_until=now + dt.timedelta(seconds=config["lease_seconds"]),
            attempts=F("attempts") + 1, last_attempt_at=now)
        return list(OutboxMessage.objects.filter(pk__in=ids, claim_token=token).order_by("next_attempt_at", "pk"))


def send(backend, message: OutboxMessage) -> Outcome:
    """Call the backend; `deliver_pending` does it with no transaction open (a test's own outer
    transaction aside). Any exception is an outcome, never lost."""
    try:
        if service_calls.is_service_call(message):
            receipt = service_calls.perform(message)
        else:
            receipt = backend.send(channel=message.channel, payload=message.payload, key=message.key, done=tuple(message.delivered or ()))
    except DeliveryDeferred as exc:
        return Outcome("deferred", error=str(exc)[:2000], until=exc.until, done=exc.done)
    except Exception as exc:  # noqa: BLE001 - a provider failure must not lose the message: retry with back-off
        return Outcome("failed", error=f"{type(exc).__name__}: {exc}"[:2000], done=getattr(exc, "done", ()) if isinstance(exc, DeliveryIncomplete) else ())
    return Outcome("sent", receipt=str(receipt or "")[:255])


def record(message: OutboxMessage, outcome: Outcome, *, config: dict | None = None) -> bool:
    """Write one send's outcome in one guarded statement; False if the claim was lost meanwhile (the
    lease ran out and another deliverer holds the message now: its result counts, not this one)."""
    config = config or outbox_settings()
    now = clock.now()
    mine = OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.SENDING, claim_token=message.claim_token)
    released = {"claim_token": "", "lease_until": None}
    delivered = sorted(set(message.delivered or ()) | set(outcome.done))
    if outcome.kind == "sent":
        changed = mine.update(status=OutboxStatus.SENT, sent_at=now, receipt=outcome.receipt, last_error="", **released)
    elif outcome.kind == "deferred":
        changed = mine.update(status=OutboxStatus.PENDING, next_attempt_at=max(outcome.until, now), attempts=F("attempts") - 1,
                              delivered=delivered, **released)
    elif message.attempts >= config["max_attempts"]:
        changed = mine.update(status=OutboxStatus.FAILED, last_error=outcome.error, delivered=delivered, **released)
        if changed:
            log.error("outbox message %s failed for good after %d attempts: %s", message.key, message.attempts, outcome.error)
            if service_calls.is_service_call(message):
                service_calls.give_up(message, outcome.error)
    else:
        changed = mine.update(status=OutboxStatus.PENDING, next_attempt_at=now + backoff(message.attempts, config=config),
                              last_error=outcome.error, delivered=delivered, **released)
        if changed:
            log.warning("outbox message %s attempt %d failed: %s", message.key, message.attempts, outcome.error)
    if not changed:
        log.warning("outbox message %s: claim lost before its result was recorded (%s)", message.key, outcome.kind)
    return bool(changed)


def release(messages: list[OutboxMessage]) -> None:
    """Hand claimed but unsent messages back, due now, without counting the attempt."""
    for message in messages:
        OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.SENDING, claim_token=message.claim_token).update(
            status=OutboxStatus.PENDING, attempts=F("attempts") - 1, claim_token="", lease_until=None)


def backoff(attempts: int, *, config: dict | None = None) -> dt.timedelta:
    """Exponential back-off with jitter after the `attempts`-th failure: half the doubled delay fixed,
    half random, so deliverers that failed together do not all come back at the same moment."""
    config = config or outbox_settings()
    delay = min(config["backoff_max_seconds"], config["backoff_seconds"] * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def _may_still_send(message: OutboxMessage, config: dict) -> bool:
    """At least `send_seconds` of the lease left (at most half the lease, so a short lease still sends)."""
    margin = min(config["send_seconds"], config["lease_seconds"] / 2)
    return clock.now() + dt.timedelta(seconds=margin) < message.lease_until
