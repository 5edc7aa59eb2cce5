"""When a period of "三个一" visits starts, when its visits are due and when it ends — in the
township's local time, with China's public holidays from the `chinese-calendar` package.

A period is a calendar month (a week, Monday to Sunday, for the high tier). Its visits are due at
the end of its last working day: a month that ends on a weekend or a public holiday (30 April before
May Day, 30 September before National Day, a Saturday) is due the working day before, and a
weekend that is a working day by the holiday rules (调休) counts as working. A period without a
working day (the National Day week) is due at its last moment. The period ends at midnight that
starts the next one, when the next period's visits are made; a visit still not done is withdrawn
(and counted missed) a few days later (GRACE). The engine's timers fire at these moments (ADR 0025).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar

LOCAL = ZoneInfo("Asia/Shanghai")
URGENT_HOURS = 24
# How long a visit not done by its period's end stays open before it is withdrawn and counted missed:
# the due timer has escalated it to the supervisors, who may still get it done early next period.
GRACE = {"month": dt.timedelta(days=5), "week": dt.timedelta(days=2)}


@dataclass(frozen=True)
class Period:
    start: dt.date  # first day
    end: dt.date  # first day of the next period
    due_at: dt.datetime  # aware: the visits are due by then
    cycle: str

    @property
    def starts_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(0), LOCAL)

    @property
    def ends_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time(0), LOCAL)

    @property
    def withdraw_at(self) -> dt.datetime:
        return self.ends_at + GRACE.get(self.cycle, GRACE["month"])


def is_working_day(day: dt.date) -> bool:
    """China's working days; a year the package does not know yet counts Monday to Friday."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def _bounds(day: dt.date, cycle: str) -> tuple[dt.date, dt.date]:
    if cycle == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def due_at(start: dt.date, end: dt.date) -> dt.datetime:
    day = end - dt.timedelta(days=1)
    while day >= start and not is_working_day(day):
        day -= dt.timedelta(days=1)
    if day < start:
        return dt.datetime.combine(end, dt.time(0), LOCAL) - dt.timedelta(seconds=1)
    return dt.datetime.combine(day, dt.time(23, 59, 59), LOCAL)


def period_containing(moment: dt.datetime, cycle: str) -> Period:
    """The period in which `moment` falls (local date)."""
    start, end = _bounds(moment.astimezone(LOCAL).date(), cycle)
    return Period(start, end, due_at(start, end), cycle)


def next_period(after: Period, cycle: str) -> Period:
    """The period that starts when `after` ends (the tier's cycle may have changed in between)."""
    start, end = _bounds(after.end, cycle)
    return Period(start, end, due_at(start, end), cycle)
