"""Reads for administrators about outside messages that did not go out: the `failed` ones, those
still retrying after an error, and those whose deliverer stopped mid-send (a lease that ran out),
newest attempt first. Only administrators may read them (`NotPermitted` for everyone else)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Q
from django.utils.translation import gettext as _

from engine import clock
from engine.errors import NotPermitted
from engine.models import OutboxMessage, OutboxStatus
from engine.selectors.incidents import may_read_incidents

PER_PAGE = 20
MAX_PAGE = 10_000


@dataclass(frozen=True)
class UndeliveredMessage:
    id: int
    key: str
    channel: str
    status: str  # failed, pending (retrying), sending (stuck: its lease ran out)
    instance_id: int | None
    subject: str  # the case number or title of its instance; may be empty
    attempts: int
    last_error: str
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None  # None when nothing more will happen without a retry
    created_at: dt.datetime


@dataclass(frozen=True)
class UndeliveredPage:
    messages: list[UndeliveredMessage]
    page: int
    pages: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def undelivered_condition(now: dt.datetime) -> Q:
    """Failed; pending after at least one failed attempt; sending with a lease that ran out. Not the
    calls of asynchronous service tasks: one that fails for good stops its case, which the incidents
    page lists and retries."""
    return ((Q(status=OutboxStatus.FAILED) | Q(status=OutboxStatus.PENDING, attempts__gt=0)
             | Q(status=OutboxStatus.SENDING, lease_until__lte=now)) & ~Q(channel__startswith="service:"))


def undelivered_messages(viewer, *, page: int = 1, per_page: int = PER_PAGE) -> UndeliveredPage:
    """One page of undelivered messages, newest attempt first; two queries whatever the page."""
    if not may_read_incidents(viewer):
        raise NotPermitted(_("Only an administrator may see the messages that could not be delivered."))
    now = clock.now()
    query = OutboxMessage.objects.filter(undelivered_condition(now))
    total = query.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages, MAX_PAGE)
    rows = list(query.select_related("instance").defer("payload", "instance__state")
                .order_by(F("last_attempt_at").desc(nulls_last=True), "-id")[(page - 1) * per_page:page * per_page])
    return UndeliveredPage([
        UndeliveredMessage(
            id=row.pk, key=row.key, channel=row.channel, status=row.status, instance_id=row.instance_id,
            subject=row.instance.subject if row.instance_id else "", attempts=row.attempts, last_error=row.last_error,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.next_attempt_at if row.status == OutboxStatus.PENDING else (now if row.status == OutboxStatus.SENDING else None),
            created_at=row.created_at)
        for row in rows
    ], page, pages, total)


def undelivered_count() -> int:
    return OutboxMessage.objects.filter(undelivered_condition(clock.now())).count()
