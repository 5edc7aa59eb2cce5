"""Firing due timers, and delivering the outbox. Safe to run in any number of processes at once."""
from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import Q

from engine import clock
from engine.errors import CaseflowError
from engine.models import InstanceStatus, ProcessInstance, Timer, TimerStatus
from engine.spiff import runtime
from engine.types import SweepResult

log = logging.getLogger("caseflow.engine")
BATCH = 50  # instances stepped (each in its own savepoint) per transaction


def fire_due_timers(*, as_of: dt.datetime | None = None, limit: int | None = None, batch: int = BATCH) -> SweepResult:
    """One sweep: fire every timer due by `as_of` (default now) exactly once.

    Due timers are read through the partial index on waiting rows in deadline order, a page at a
    time with a keyset (so a timer that could not fire is not read again, and the cost per timer
    does not grow with what earlier pages left); their instances are claimed with FOR UPDATE SKIP
    LOCKED (another sweeper's, or a user's step's, are skipped) and stepped, each in a savepoint,
    `batch` to a transaction. Once locked, the claimed instances' due timers are read again (one
    query per batch), so an instance whose timer another sweeper fired and committed while this
    one waited is not stepped at all; and SpiffWorkflow decides from the state loaded under the
    lock which timers are due, so nothing can fire twice even then."""
    instances = fired = conflicts = 0
    seen: set[int] = set()
    after: tuple[dt.datetime, int] | None = None
    with clock.frozen_at(as_of):
        cutoff = clock.now()
        while limit is None or instances + conflicts < limit:
            page = _due_page(cutoff, after, batch * 2)
            if not page:
                break
            after = page[-1][:2]
            candidates = list(dict.fromkeys(instance_id for _due, _pk, instance_id in page if instance_id not in seen))
            if not candidates:
                continue
            with transaction.atomic():
                claim = ProcessInstance.objects.filter(pk__in=candidates, status=InstanceStatus.RUNNING).order_by("pk")
                if connection.features.has_select_for_update_skip_locked:
                    claim = claim.select_for_update(skip_locked=True)
                locked = list(claim.values_list("pk", flat=True)[:batch])
                # Read again now that the rows are ours: the page above was read before the locks,
                # and another sweeper may have fired those timers and committed in between.
                still_due = set(Timer.objects.filter(instance_id__in=locked, status=TimerStatus.WAITING, due_at__lte=cutoff)
                                .values_list("instance_id", flat=True))
                seen.update(locked)
                for instance_id in (i for i in locked if i in still_due):
                    try:  # run_step's own atomic block is this instance's savepoint: a failure undoes only its step
                        step = runtime.run_step(instance_id, None, runtime.fire_timers)
                    except CaseflowError as exc:
                        conflicts += 1
                        log.info("timer sweep skipped instance %s: %s", instance_id, exc)
                        continue
                    except Exception:  # one broken instance must not stop the sweep for every other one
                        conflicts += 1
                        log.exception("timer sweep failed on instance %s", instance_id)
                        continue
                    if not step.noop:
                        instances += 1
                        fired += step.fired
    return SweepResult(instances=instances, timers_fired=fired, conflicts=conflicts)


def _due_page(cutoff: dt.datetime, after: tuple[dt.datetime, int] | None, size: int) -> list[tuple]:
    """(due_at, timer id, instance id) of the next `size` waiting timers due by `cutoff`, in deadline order."""
    due = Timer.objects.filter(status=TimerStatus.WAITING, due_at__lte=cutoff)
    if after is not None:
        due = due.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], pk__gt=after[1]))
    return list(due.order_by("due_at", "pk").values_list("due_at", "pk", "instance_id")[:size])


def deliver_outbox(*, limit: int = 100) -> int:
    """Send pending outside effects (after the steps that queued them committed)."""
    from engine import outbox

    return outbox.deliver_pending(limit=limit)
