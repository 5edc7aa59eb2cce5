"""The one module that writes the rows lists and sweeps read: human tasks and timers, projections of
the workflow's state. Every write here is a single statement (or a bulk one), guarded where two
writers could meet; the instance row lock taken by the step (or by the claim) orders them."""
from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Case, DateTimeField, Value, When

from engine import compiled
from engine.models import HumanTask, TaskStatus, Timer, TimerStatus


# -- human tasks ---------------------------------------------------------------------------------

def complete(row: HumanTask, *, actor, data: dict, at: dt.datetime, journal=None) -> bool:
    """Mark an open task completed by `actor` with its cleaned data; False if it was no longer open.

    With the step's `journal`, the UPDATE is made with the step's save and True is answered: the
    caller read the row open under the instance's lock (and the save's revision guard stops a
    writer that got past it, where there are no row locks)."""
    values = {"status": TaskStatus.COMPLETED, "completed_by": actor.pk, "completed_at": at, "form_data": data,
              "assignee": row.assignee_id or actor.pk}
    if journal is not None:
        journal.later(*compiled.update_statement(HumanTask, row.pk, values, where={"status": TaskStatus.OPEN}))
        return True
    return compiled.update(HumanTask, row.pk, values, where={"status": TaskStatus.OPEN}) == 1


def create(rows: list[HumanTask], *, keys: list[int] | None = None, journal=None) -> list[HumanTask]:
    """New open tasks, in one INSERT (their ids are set on the objects). With `keys` taken from the
    table's sequence and the step's `journal`, the rows get those keys now and are inserted with the
    step's save."""
    if keys is not None and journal is not None:
        for row, key in zip(rows, keys, strict=True):
            row.pk = key
        journal.later_rows(rows)
        return rows
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


def breach_open(instance_id: int, spiff_task_ids: list[UUID], *, at: dt.datetime, missed: dt.datetime,
                known: dict[UUID, HumanTask] | None = None, journal=None) -> list[HumanTask]:
    """The open tasks behind these SpiffWorkflow tasks, whose SLA a timer has just breached: on a
    first breach, `at` is recorded and the deadline they missed stays their deadline. One UPDATE that
    returns the rows it touched (key, name, role, holder and the holder's username), so the step
    escalates them without reading them first. The rows come back with `assignee_username` set.

    `known`: the instance's open task rows as `open_tasks` read them under the instance's lock (a
    timer sweep reads them for its whole batch); with the step's `journal`, the UPDATE is then made
    with the step's save and the rows are taken from `known`. The caller must not write these rows
    again in the same save."""
    if not spiff_task_ids:
        return []
    connection = connections["default"]
    ops, field = connection.ops, HumanTask._meta.get_field("spiff_task_id")
    users = get_user_model()._meta.db_table
    sql = (f"UPDATE engine_humantask SET "
           f"due_at = CASE WHEN sla_breached_at IS NULL AND (due_at IS NULL OR due_at >= %s) THEN %s ELSE due_at END, "
           f"sla_breached_at = COALESCE(sla_breached_at, %s) "
           f"WHERE instance_id = %s AND status = %s AND spiff_task_id IN ({', '.join(['%s'] * len(spiff_task_ids))})")
    when, breached = ops.adapt_datetimefield_value(missed), ops.adapt_datetimefield_value(at)
    params = [when, when, breached, instance_id, TaskStatus.OPEN.value,
              *[field.get_db_prep_value(value, connection) for value in spiff_task_ids]]
    if known is not None and journal is not None:
        hosts = [known[spiff_id] for spiff_id in spiff_task_ids if spiff_id in known]
        if hosts:
            journal.later(sql, params)
        return hosts
    sql += (f" RETURNING id, spiff_task_id, name, candidate_group, assignee_id, "
            f"(SELECT {ops.quote_name('username')} FROM {ops.quote_name(users)} WHERE {ops.quote_name(users)}.id = engine_humantask.assignee_id)")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_open_row(instance_id, *row) for row in rows]


def open_tasks(instance_ids: list[int]) -> dict[int, dict[UUID, HumanTask]]:
    """The open task rows of these instances, with what a breach reports of them (`breach_open`):
    {instance id: {SpiffWorkflow task id: row}}. One query; the caller holds the instances' locks."""
    found: dict[int, dict[UUID, HumanTask]] = {instance_id: {} for instance_id in instance_ids}
    rows = (HumanTask.objects.filter(instance_id__in=instance_ids, status=TaskStatus.OPEN)
            .values_list("instance_id", "id", "spiff_task_id", "name", "candidate_group", "assignee_id", "assignee__username"))
    for instance_id, *row in rows:
        task = _open_row(instance_id, *row)
        found[instance_id][task.spiff_task_id] = task
    return found


def _open_row(instance_id: int, pk: int, spiff_id, name: str, group: str, assignee_id: int | None, username: str | None) -> HumanTask:
    row = HumanTask(pk=pk, instance_id=instance_id, spiff_task_id=UUID(str(spiff_id)), name=name, candidate_group=group,
                    assignee_id=assignee_id, status=TaskStatus.OPEN)
    row.assignee_username = username
    return row


def set_due(due_by_pk: dict[int, dt.datetime]) -> None:
    """Earlier deadlines for tasks already open (a timer armed after its task): one UPDATE."""
    if due_by_pk:
        HumanTask.objects.filter(pk__in=list(due_by_pk), sla_breached_at__isnull=True).update(
            due_at=Case(*[When(pk=pk, then=Value(due)) for pk, due in due_by_pk.items()], output_field=DateTimeField()))


# -- timers --------------------------------------------------------------------------------------

def create_timers(rows: list[Timer], *, journal=None) -> list[Timer]:
    """Rows for timers a step reached; with the step's `journal`, written with its save (their keys
    are read by nobody)."""
    if journal is not None:
        journal.later_rows(rows)
        return rows
    return Timer.objects.bulk_create(rows) if rows else []


def close_timers(instance, *, fired: set[UUID], cancelled: set[UUID], at: dt.datetime, journal=None) -> None:
    """Waiting timers that fired or were cancelled: one UPDATE (a sweep's hot path, so written as the
    statement rather than built by the ORM each time); with the step's `journal`, made with its save."""
    if not fired and not cancelled:
        return
    connection = connections["default"]
    field = Timer._meta.get_field("spiff_task_id")
    ids = [*fired, *cancelled]
    sql = (f"UPDATE engine_timer SET status = CASE WHEN spiff_task_id IN ({', '.join(['%s'] * len(fired)) or 'NULL'}) THEN %s ELSE %s END, "
           f"fired_at = CASE WHEN spiff_task_id IN ({', '.join(['%s'] * len(fired)) or 'NULL'}) THEN %s ELSE fired_at END "
           f"WHERE instance_id = %s AND status = %s AND spiff_task_id IN ({', '.join(['%s'] * len(ids))})")
    prep = [field.get_db_prep_value(value, connection) for value in fired]
    when = connection.ops.adapt_datetimefield_value(at)
    params = [*prep, TimerStatus.FIRED.value, TimerStatus.CANCELLED.value, *prep, when, instance.pk, TimerStatus.WAITING.value,
              *[field.get_db_prep_value(value, connection) for value in ids]]
    if journal is not None:
        journal.later(sql, params)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def move_timers(instance, due_by_spiff_id: dict[UUID, dt.datetime]) -> None:
    """A waiting timer whose deadline moved (the next cycle of a cycle timer)."""
    for spiff_id, due in due_by_spiff_id.items():
        Timer.objects.filter(instance=instance, spiff_task_id=spiff_id, status=TimerStatus.WAITING).update(due_at=due)
