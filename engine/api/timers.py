"""Firing due timers, and delivering the outbox. Safe to run in any number of processes at once."""
from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import Q

from engine import clock, journal, projections
from engine.errors import CaseflowError
from engine.models import InstanceStatus, ProcessInstance, Timer, TimerStatus
from engine.spiff import runtime
from engine.types import SweepResult

log = logging.getLogger("caseflow.engine")
BATCH = 50  # instances stepped per transaction


def fire_due_timers(*, as_of: dt.datetime | None = None, limit: int | None = None, batch: int = BATCH) -> SweepResult:
    """One sweep: fire every timer due by `as_of` (default now) exactly once.

    Due timers are read through the partial index on waiting rows in deadline order, a page at a
    time with a keyset (so a timer that could not fire is not read again, and the cost per timer
    does not grow with what earlier pages left); their instances are claimed with FOR UPDATE SKIP
    LOCKED (another sweeper's, or a user's step's, are skipped), `batch` to a transaction, loaded
    with their state in the claim and stepped without a savepoint each, their journals written
    together at the end of the batch (engine.journal.batched); should one step fail, the
    batch is rolled back and stepped again with a savepoint per instance. Once locked, the claimed
    instances' due timers are read again (one query per batch), so an instance whose timer another
    sweeper fired and committed while this one waited is not stepped at all; and SpiffWorkflow
    decides from the state loaded under the lock which timers are due, so nothing can fire twice
    even then."""
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
            try:
                locked, stepped, timers = _sweep_batch(candidates, cutoff, batch)
            except Exception:  # noqa: BLE001 - some step failed: nothing of the batch stayed; again, one by one
                log.info("timer sweep: a step failed in a batch; stepping its instances one at a time", exc_info=True)
                locked, stepped, timers, failed = _sweep_batch_carefully(candidates, cutoff, batch)
                conflicts += failed
            seen.update(locked)
            instances += stepped
            fired += timers
    return SweepResult(instances=instances, timers_fired=fired, conflicts=conflicts)


def _claim(candidates: list[int], cutoff: dt.datetime, batch: int, *, with_state: bool) -> tuple[list[int], list]:
    """(the ids locked, the locked rows whose timers are still due) of up to `batch` running instances
    among `candidates`, skipping rows another transaction holds. Once locked, their due timers are
    read again (one query): the page of due timers was read before the locks, and another sweeper
    may have fired those timers and committed in between."""
    claim = ProcessInstance.objects.filter(pk__in=candidates, status=InstanceStatus.RUNNING).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        claim = claim.select_for_update(skip_locked=True)
    # Stepped in this transaction, the rows carry keys for their steps' new task rows (runtime.RESERVED_TASK_KEYS).
    rows = list(runtime.reserving_task_keys(claim)[:batch]) if with_state else list(claim.defer("state")[:batch])
    locked = [row.pk for row in rows]
    still_due = set(Timer.objects.filter(instance_id__in=locked, status=TimerStatus.WAITING, due_at__lte=cutoff)
                    .values_list("instance_id", flat=True))
    return locked, [row for row in rows if row.pk in still_due]


def _sweep_batch(candidates: list[int], cutoff: dt.datetime, batch: int) -> tuple[list[int], int, int]:
    """The fast path: one transaction, the claimed rows loaded with their state in the claim, each
    step written without a savepoint of its own. Any failure rolls the whole batch back (nothing of
    it stays) and raises, for `_sweep_batch_carefully`."""
    stepped = fired = 0
    with transaction.atomic():
        locked, due = _claim(candidates, cutoff, batch, with_state=True)
        open_tasks = projections.open_tasks([row.pk for row in due])  # what their breaches report: one query
        for row in due:
            row.caseflow_open_tasks = open_tasks[row.pk]
        with journal.batched():  # the steps' audit events, notices and outbox rows: a few INSERTs for all
            for row in due:
                step = runtime.run_step(row.pk, None, runtime.fire_timers, locked=row)
                if not step.noop:
                    stepped += 1
                    fired += step.fired
    return locked, stepped, fired


def _sweep_batch_carefully(candidates: list[int], cutoff: dt.datetime, batch: int) -> tuple[list[int], int, int, int]:
    """The same batch, each instance stepped in its own savepoint: a failure undoes only its step
    (which `run_step` turns into the case's visible error where it can), and the sweep goes on."""
    stepped = fired = failed = 0
    with transaction.atomic():
        locked, due = _claim(candidates, cutoff, batch, with_state=False)
        for row in due:
            try:
                step = runtime.run_step(row.pk, None, runtime.fire_timers)
            except CaseflowError as exc:
                failed += 1
                log.info("timer sweep skipped instance %s: %s", row.pk, exc)
                continue
            except Exception:  # one broken instance must not stop the sweep for every other one
                failed += 1
                log.exception("timer sweep failed on instance %s", row.pk)
                continue
            if not step.noop:
                stepped += 1
                fired += step.fired
    return locked, stepped, fired, failed


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
