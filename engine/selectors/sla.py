"""The SLA compliance report: for each process, task, village and month, how many tasks with a
deadline were completed on time, completed late, and are still open past or before their deadline,
and how late the late ones were (median and longest). Supervisors and administrators only; a
supervisor of some villages sees only theirs (`user_villages`), a township-wide one every village.

A task counts in the month its deadline fell in (the station's time zone). Withdrawn tasks (a
cancelled case, an escalation made moot) are left out: nobody could still do them. "How late" is
over the tasks completed late, and for tasks still open past their deadline the time since it
(`as_of`, default now) — both are lateness a supervisor must see. The rows are aggregated in Python
over one indexed query of the chosen months (`month_from`..`month_to`, at most MAX_MONTHS)."""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from engine import clock
from engine.errors import NotPermitted
from engine.models import HumanTask, TaskStatus
from engine.permissions import SUPERVISING_ROLES, user_groups, user_villages

MAX_MONTHS = 24


@dataclass(frozen=True)
class SlaRow:
    process_key: str
    bpmn_id: str
    task_name: str
    village: str
    month: str  # YYYY-MM
    on_time: int
    late: int
    open_overdue: int
    open_in_time: int
    late_median: dt.timedelta | None
    late_max: dt.timedelta | None

    @property
    def total(self) -> int:
        return self.on_time + self.late + self.open_overdue + self.open_in_time

    @property
    def on_time_percent(self) -> int | None:
        """Of the tasks whose fate is known (done, or overdue), the share done on time."""
        decided = self.on_time + self.late + self.open_overdue
        return round(100 * self.on_time / decided) if decided else None


def may_read_sla_report(user) -> bool:
    return user is not None and user.is_authenticated and bool(user_groups(user) & SUPERVISING_ROLES)


def month_start(month: str) -> dt.date:
    """'2026-10' -> 2026-10-01; ValueError for anything else."""
    year, number = month.split("-")
    return dt.date(int(year), int(number), 1)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def sla_report(*, viewer, month_from: str, month_to: str, process_key: str = "", village: str = "", bpmn_id: str = "",
               as_of: dt.datetime | None = None) -> list[SlaRow]:
    """The report's rows for the months month_from..month_to ('YYYY-MM'), newest month first."""
    if not may_read_sla_report(viewer):
        raise NotPermitted("only supervisors and administrators read the SLA report")
    first, last = month_start(month_from), month_start(month_to)
    if last < first:
        first, last = last, first
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise ValueError(f"at most {MAX_MONTHS} months at once")
    zone = timezone.get_default_timezone()
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(next_month(last), dt.time(), tzinfo=zone)
    rows = HumanTask.objects.filter(due_at__gte=start, due_at__lt=end, status__in=[TaskStatus.OPEN, TaskStatus.COMPLETED])
    scope = user_villages(viewer)
    if scope is not None:
        rows = rows.filter(Q(village__in=scope) | Q(village=""))  # township-level tasks are everyone's (in_scope)
    if process_key:
        rows = rows.filter(process_key=process_key)
    if village:
        rows = rows.filter(village=village)
    if bpmn_id:
        rows = rows.filter(bpmn_id=bpmn_id)
    now = as_of or clock.now()
    groups: dict[tuple, dict] = {}
    for key, task, name, place, status, due_at, completed_at in rows.values_list(
            "process_key", "bpmn_id", "name", "village", "status", "due_at", "completed_at").order_by("pk").iterator(chunk_size=2000):
        month = timezone.localtime(due_at, zone).strftime("%Y-%m")
        group = groups.setdefault((key, task, place, month), {"name": name, "on_time": 0, "late": 0, "open_overdue": 0,
                                                             "open_in_time": 0, "lateness": []})
        group["name"] = name  # the latest version's name wins
        if status == TaskStatus.COMPLETED:
            if completed_at <= due_at:
                group["on_time"] += 1
            else:
                group["late"] += 1
                group["lateness"].append(completed_at - due_at)
        elif due_at < now:
            group["open_overdue"] += 1
            group["lateness"].append(now - due_at)
        else:
            group["open_in_time"] += 1
    result = [SlaRow(process_key=key, bpmn_id=task, task_name=g["name"], village=place, month=month, on_time=g["on_time"],
                     late=g["late"], open_overdue=g["open_overdue"], open_in_time=g["open_in_time"],
                     late_median=_median(g["lateness"]), late_max=max(g["lateness"]) if g["lateness"] else None)
              for (key, task, place, month), g in groups.items()]
    result.sort(key=lambda r: (r.month, r.process_key, r.task_name, r.village))
    result.sort(key=lambda r: r.month, reverse=True)
    return result


def _median(values: list[dt.timedelta]) -> dt.timedelta | None:
    if not values:
        return None
    return dt.timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def sla_report_villages(viewer) -> list[str] | None:
    """The villages a viewer may filter on (None: every village)."""
    scope = user_villages(viewer)
    return None if scope is None else sorted(scope)


def on_time_shares(year: int, villages) -> tuple[int | None, dict[int, int], dict[str, int]]:
    """For the station's year: of the tasks with a deadline in `year` whose fate is known (done, or
    open past the deadline), the percentage done on time — over the year, by month of the deadline
    and by village — within `villages` (None: the township). Not a viewer's read: the dashboard
    shows it to the staff who see the year's figures, as counts with no case in them."""
    zone = timezone.get_default_timezone()
    start = dt.datetime(year, 1, 1, tzinfo=zone)
    end = dt.datetime(year + 1, 1, 1, tzinfo=zone)
    rows = HumanTask.objects.filter(due_at__gte=start, due_at__lt=end, status__in=[TaskStatus.OPEN, TaskStatus.COMPLETED])
    if villages is not None:
        rows = rows.filter(village__in=villages)
    now = clock.now()
    tally: dict[tuple[str, object], list[int]] = {}
    for place, status, due_at, completed_at in rows.values_list("village", "status", "due_at", "completed_at").iterator(chunk_size=2000):
        if status == TaskStatus.COMPLETED:
            on_time = completed_at <= due_at
        elif due_at < now:
            on_time = False
        else:
            continue  # still in time: its fate is not known yet
        month = timezone.localtime(due_at, zone).month
        for key in (("year", None), ("month", month), ("village", place)):
            counts = tally.setdefault(key, [0, 0])
            counts[0] += on_time
            counts[1] += 1

    def percent(key) -> int | None:
        done, decided = tally.get(key, (0, 0))
        return round(100 * done / decided) if decided else None

    by_month = {month: percent(("month", month)) for kind, month in tally if kind == "month"}
    by_village = {place: percent(("village", place)) for kind, place in tally if kind == "village" and place}
    return percent(("year", None)), by_month, by_village
