"""What an operator watches: open and overdue tasks, timers due and how late the oldest is, the
outbox, instances in error. Read by the portal's /readyz and /metrics; no viewer, because these are
counts, never a case's content. Each number is one indexed query."""
from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Min

from engine import clock
from engine.models import HumanTask, InstanceStatus, OutboxMessage, OutboxStatus, ProcessInstance, TaskStatus, Timer, TimerStatus
from engine.types import OperationalNumbers


def sweep_lag_seconds(now: dt.datetime | None = None) -> float:
    """How long the oldest waiting timer has been past due (0 when none is): the sweep's lag. A
    healthy installation keeps it below the beat interval plus one sweep."""
    now = now or clock.now()
    oldest = Timer.objects.filter(status=TimerStatus.WAITING, due_at__lte=now).aggregate(oldest=Min("due_at"))["oldest"]
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def operational_numbers(now: dt.datetime | None = None) -> OperationalNumbers:
    now = now or clock.now()
    open_tasks = HumanTask.objects.filter(status=TaskStatus.OPEN)
    outbox = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
    oldest_pending = outbox.aggregate(oldest=Min("created_at"))["oldest"]
    return OperationalNumbers(
        open_tasks=open_tasks.count(),
        overdue_tasks=open_tasks.filter(due_at__lt=now).count(),
        timers_due=Timer.objects.filter(status=TimerStatus.WAITING, due_at__lte=now).count(),
        sweep_lag_seconds=sweep_lag_seconds(now),
        outbox_backlog=outbox.count(),
        outbox_oldest_seconds=max(0.0, (now - oldest_pending).total_seconds()) if oldest_pending else 0.0,
        outbox_failed=OutboxMessage.objects.filter(status=OutboxStatus.FAILED).count(),
        instances_in_error=ProcessInstance.objects.filter(status=InstanceStatus.ERROR).count(),
    )


def database_problem() -> str | None:
    """None when the database answers a trivial query, else why not (for /readyz)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", and says which
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
    return None
