"""Warnings before a deadline: a human task with a deadline warns its holder when a share of its SLA
has passed (by default 50 % and 80 %), once per task and share, however many sweepers run.

The SLA of a task runs from when the task opened (`HumanTask.created_at`) to its deadline (`due_at`,
the earliest of its boundary timers). The sweep reads open, not yet breached tasks with a deadline
through a partial index in deadline order, a page at a time with a keyset (`due_at`, id); the
database leaves out the tasks not yet at the smallest share in use and those warned at the largest,
so only tasks with a warning due, or nearly, reach Python (one more query a page for the warnings
already given). A warning is the row `SlaWarning(task,
percent)`, whose unique pair is what makes it happen once: inserted in its own transaction with
the audit event `sla_warning` (shown on the case's timeline; the portal's listener turns it into an
in-portal notice for the holder) and an `sla.warning` outbox message, so a second sweeper that meets
the same pair waits for the first to commit, finds the row and writes nothing.

The shares are the setting `CASEFLOW_SLA_WARNINGS` (percents, e.g. [50, 80]); a process may have its
own as `CASEFLOW_SLA_WARNINGS_<PROCESS KEY IN CAPITALS>` (its ProcessApp's `settings_defaults`, or the
project's settings). An empty list turns warnings off for that process."""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Exists, OuterRef
from django.db.models.expressions import RawSQL

from engine import clock, journal, registry
from engine.models import AuditKind, HumanTask, ProcessInstance, SlaWarning, TaskStatus

log = logging.getLogger("caseflow.engine")
PAGE = 500  # open tasks read per query
DEFAULT_PERCENTS = (50, 80)


def warning_percents(process_key: str) -> tuple[int, ...]:
    """The shares of the SLA (percents, ascending, each 1..99) at which a task of this process warns
    ("" : the default)."""
    value = getattr(settings, f"CASEFLOW_SLA_WARNINGS_{process_key.upper()}", None) if process_key else None
    if value is None:
        value = getattr(settings, "CASEFLOW_SLA_WARNINGS", DEFAULT_PERCENTS)
    return tuple(sorted({int(p) for p in value if 0 < int(p) < 100}))


def warn_at(created_at: dt.datetime, due_at: dt.datetime, percent: int) -> dt.datetime:
    """The moment `percent` of the time from `created_at` to `due_at` has passed."""
    return created_at + (due_at - created_at) * percent / 100


def warn_before_deadlines(*, as_of: dt.datetime | None = None, page: int = PAGE) -> int:
    """One sweep as of `as_of` (default now): every warning that has come due and was not given yet.
    Returns how many warnings this call gave (a warning another sweeper gave is not counted)."""
    given = 0
    percents_by_process: dict[str, tuple[int, ...]] = {}
    after: tuple[dt.datetime, int] | None = None
    with clock.frozen_at(as_of):
        now = clock.now()
        shares = _shares_in_use()
        while shares is not None:
            rows = _open_page(now, after, page, shares)
            if not rows:
                break
            after = (rows[-1].due_at, rows[-1].pk)
            done = set(SlaWarning.objects.filter(task_id__in=[r.pk for r in rows]).values_list("task_id", "percent"))
            for row in rows:
                percents = percents_by_process.setdefault(row.process_key, warning_percents(row.process_key))
                due = [p for p in percents if (row.pk, p) not in done and warn_at(row.created_at, row.due_at, p) <= now]
                if due:
                    given += _warn(row, due, now)
            if len(rows) < page:
                break
    return given


def _shares_in_use() -> tuple[int, int] | None:
    """(the smallest, the largest) share any process warns at, or None if no process warns."""
    shares = set(warning_percents(""))  # the default, for processes without their own
    for key in registry.packages():
        shares |= set(warning_percents(key))
    return (min(shares), max(shares)) if shares else None


def _zone_reached(share: int, now: dt.datetime) -> RawSQL:
    """SQL: `share` percent of the task's time (created_at to due_at) has passed by `now`, so that
    the tasks far from any warning never leave the database."""
    if connection.vendor == "postgresql":
        return RawSQL("engine_humantask.created_at + (engine_humantask.due_at - engine_humantask.created_at) * %s <= %s",
                      (share / 100, now), output_field=BooleanField())
    return RawSQL("julianday(engine_humantask.created_at) + (julianday(engine_humantask.due_at) - julianday(engine_humantask.created_at))"
                  " * %s <= julianday(%s)", (share / 100, now.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")),
                  output_field=BooleanField())


def _open_page(now: dt.datetime, after, page: int, shares: tuple[int, int]) -> list[HumanTask]:
    """Open, not yet breached tasks whose deadline is still ahead, in (due_at, id) order after `after`
    (the partial index `open_task_due_warning`), left out in SQL: those not yet at the smallest
    share in use, and those already warned at the largest."""
    query = HumanTask.objects.filter(status=TaskStatus.OPEN, due_at__isnull=False, sla_breached_at__isnull=True, due_at__gt=now)
    query = query.filter(_zone_reached(shares[0], now)).filter(~Exists(SlaWarning.objects.filter(task_id=OuterRef("pk"), percent__gte=shares[1])))
    if after is not None:
        due_at, pk = after
        query = query.filter(due_at__gte=due_at).exclude(due_at=due_at, pk__lte=pk)
    return list(query.order_by("due_at", "pk").select_related("assignee").only(
        "pk", "instance_id", "process_key", "bpmn_id", "name", "candidate_group", "village", "assignee__username", "created_at",
        "due_at", "sla_breached_at", "named")[:page])


def _warn(row: HumanTask, percents: list[int], now: dt.datetime) -> int:
    """Give the warnings `percents` of one task, each in its own transaction; returns how many were new.
    Passed shares that were missed (no sweep ran for a while) are each given once, oldest first."""
    instance = ProcessInstance.objects.defer("state").get(pk=row.instance_id)
    given = 0
    for percent in percents:
        try:
            with transaction.atomic():
                _, created = SlaWarning.objects.get_or_create(task_id=row.pk, percent=percent,
                                                             defaults={"due_at": row.due_at, "warned_at": now})
                if not created:
                    continue  # another sweeper gave it
                holder = row.assignee.get_username() if row.assignee_id else None
                notes = journal.Journal(instance, None)
                notes.audit(AuditKind.SLA_WARNING, {"task": row.name, "percent": percent, "due_at": row.due_at.isoformat(),
                                                    "assignee": holder, "candidate_group": row.candidate_group},
                            bpmn_id=row.bpmn_id, task=row)
                notes.enqueue(f"{instance.pk}:{row.pk}:sla_warning_{percent}", "sla.warning", {
                    "instance": instance.pk, "process": instance.process_key, "task": row.name, "percent": percent,
                    "due_at": row.due_at.isoformat(), "assignee": holder, "candidate_group": row.candidate_group,
                    "village": instance.village,
                })
                notes.flush()
                given += 1
        except IntegrityError:  # the pair was inserted by a sweeper that committed while this one waited
            log.info("sla warning %s%% of task %s already given", percent, row.pk)
    return given
