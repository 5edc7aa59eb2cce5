"""The one module that writes the rows lists and sweeps read: human tasks and timers, projections of
the workflow's state. Every write here is a single statement (or a bulk one), guarded where two
writers could meet; the instance row lock taken by the step (or by the claim) orders them."""
from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.db.models import Case, DateTimeField, Value, When

from engine import compiled
from engine.models import HumanTask, TaskStatus, Timer, TimerStatus


# -- human tasks ---------------------------------------------------------------------------------

def complete(row: HumanTask, *, actor, data: dict, at: dt.datetime) -> bool:
    """Mark an open task completed by `actor` with its cleaned data; False if it was no longer open."""
    return compiled.update(HumanTask, row.pk, {
        "status": TaskStatus.COMPLETED, "completed_by": actor.pk, "completed_at": at, "form_data": data,
        "assignee": row.assignee_id or actor.pk}, where={"status": TaskStatus.OPEN}) == 1


def create(rows: list[HumanTask]) -> list[HumanTask]:
    """New open tasks, in one INSERT (their ids are set on the objects)."""
    compiled.insert(rows, ids=True)
    return rows


def cancel_open(instance, spiff_task_ids, *, at: dt.datetime) -> list[HumanTask]:
    """Withdraw the open tasks behind these SpiffWorkflow tasks; returns the rows withdrawn."""
    rows = list(HumanTask.objects.filter(instance=instance, spiff_task_id__in=list(spiff_task_ids), status=TaskStatus.OPEN))
    if rows:
        HumanTask.objects.filter(pk__in=[r.pk for r in rows]).update(status=TaskStatus.CANCELLED, completed_at=at)
        for row in rows:
            row.status, row.completed_at = TaskStatus.CANCELLED, at
    return rows


def set_assignee(task_id: int, assignee, *, only_if_unassigned: bool = False) -> bool:
    query = HumanTask.objects.filter(pk=task_id, status=TaskStatus.OPEN)
    if only_if_unassigned:
        query = query.filter(assignee__isnull=True)
    return query.update(assignee=assignee) == 1


def reassign(rows: list[HumanTask], assignee) -> None:
    HumanTask.objects.filter(pk__in=[r.pk for r in rows], status=TaskStatus.OPEN).update(assignee=assignee)
    for row in rows:
        row.assignee = assignee


def relabel(instance, labels: dict) -> None:
    """Open tasks whose element a new version renamed or moved: {spiff id: (bpmn id, name, lane)}."""
    for spiff_id, (bpmn_id, name, lane) in labels.items():
        HumanTask.objects.filter(instance=instance, spiff_task_id=spiff_id, status=TaskStatus.OPEN).update(
            bpmn_id=bpmn_id[:128], name=name[:200], lane=lane[:128])


def save_draft(task_id: int, data) -> bool:
    return HumanTask.objects.filter(pk=task_id, status=TaskStatus.OPEN).update(draft_data=data) == 1


def breach(rows: list[HumanTask], *, at: dt.datetime, missed: dt.datetime) -> None:
    """First breach of these open tasks' SLA: the deadline they missed stays their deadline."""
    first = [r for r in rows if r.sla_breached_at is None]
    if not first:
        return
    HumanTask.objects.filter(pk__in=[r.pk for r in first], sla_breached_at__isnull=True).update(
        sla_breached_at=at, due_at=Case(When(due_at__lt=missed, then="due_at"), default=Value(missed), output_field=DateTimeField()))
    for row in first:
        row.sla_breached_at = at
        row.due_at = min(row.due_at, missed) if row.due_at else missed


def set_due(due_by_pk: dict[int, dt.datetime]) -> None:
    """Earlier deadlines for tasks already open (a timer armed after its task): one UPDATE."""
    if due_by_pk:
        HumanTask.objects.filter(pk__in=list(due_by_pk), sla_breached_at__isnull=True).update(
            due_at=Case(*[When(pk=pk, then=Value(due)) for pk, due in due_by_pk.items()], output_field=DateTimeField()))


# -- timers --------------------------------------------------------------------------------------

def create_timers(rows: list[Timer]) -> list[Timer]:
    return Timer.objects.bulk_create(rows) if rows else []


def close_timers(instance, *, fired: set[UUID], cancelled: set[UUID], at: dt.datetime) -> None:
    if fired:
        Timer.objects.filter(instance=instance, spiff_task_id__in=list(fired), status=TimerStatus.WAITING).update(
            status=TimerStatus.FIRED, fired_at=at)
    if cancelled:
        Timer.objects.filter(instance=instance, spiff_task_id__in=list(cancelled), status=TimerStatus.WAITING).update(
            status=TimerStatus.CANCELLED)


def move_timers(instance, due_by_spiff_id: dict[UUID, dt.datetime]) -> None:
    """A waiting timer whose deadline moved (the next cycle of a cycle timer)."""
    for spiff_id, due in due_by_spiff_id.items():
        Timer.objects.filter(instance=instance, spiff_task_id=spiff_id, status=TimerStatus.WAITING).update(due_at=due)
