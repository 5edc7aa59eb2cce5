"""Delivery of outside effects queued in the outbox. A step writes the message in its own
transaction; delivery happens after commit, row by row, each claimed with FOR UPDATE SKIP LOCKED
so two deliverers never send one message at once. A crash between sending and marking it sent
re-sends it once more: the message key goes with it as the idempotency key for the receiver."""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string

from engine import clock
from engine.models import OutboxMessage, OutboxStatus

log = logging.getLogger("caseflow.outbox")
MAX_ATTEMPTS = 8


def notifier():
    """The backend named by settings.CASEFLOW_NOTIFIER_BACKEND (like EMAIL_BACKEND)."""
    return import_string(settings.CASEFLOW_NOTIFIER_BACKEND)()


def deliver_pending(*, limit: int = 100) -> int:
    backend = notifier()
    sent = 0
    for _ in range(limit):
        with transaction.atomic():
            query = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=clock.now()).order_by("next_attempt_at", "pk")
            if connection.features.has_select_for_update_skip_locked:
                query = query.select_for_update(skip_locked=True)
            message = query.first()
            if message is None:
                break
            message.attempts += 1
            try:
                receipt = backend.send(channel=message.channel, payload=message.payload, key=message.key)
            except Exception as exc:  # a provider failure must not lose the message: retry with backoff
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = OutboxStatus.FAILED
                    log.error("outbox message %s failed for good: %s", message.key, message.last_error)
                else:
                    message.next_attempt_at = clock.now() + dt.timedelta(seconds=30 * 2 ** message.attempts)
                message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
                continue
            message.status = OutboxStatus.SENT
            message.sent_at = clock.now()
            message.receipt = str(receipt or "")[:255]
            message.save(update_fields=["attempts", "status", "sent_at", "receipt"])
            sent += 1
    return sent
