"""The station's working days, for SLA timers that count them (`calendar = working_days`).

A day is a working day by, in this order: the station's own entry for that date (`CalendarDay`, which
an administrator edits in the portal: a village festival, a day the township works); else the
`chinese-calendar` package (weekends, public holidays and the adjusted working days, 调休, as the
State Council publishes them each year); else, for a year the package does not know yet, Monday to
Friday. That last case is a guess, so it is never silent: `unknown_years()` names the years in
reach that the package lacks, and a system check (`caseflow.W002`), a banner for administrators and a
deploy warning on each working-days timer say so until the package is updated. Holidays are published in November for the next year: update the pinned
`chinese-calendar` then.

Deadlines are counted in the station's time zone (settings.TIME_ZONE): n working days after a moment
is the same time of day on the n-th working day after that moment's date.
"""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import chinese_calendar
import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

WORKING_DAYS = "working_days"  # the timer property `calendar`'s one value
HORIZON = dt.timedelta(days=60)  # how far ahead a missing year is worth a warning
MAX_DAYS = 366  # the most working days a timer may count


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class CalendarDay(models.Model):
    """The station's own entry for one date, over the package's answer: whether it is a working day."""

    date = models.DateField(unique=True)
    is_working_day = models.BooleanField()
    note = models.CharField(max_length=200, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "engine"
        db_table = "engine_calendarday"
        ordering = ["date"]

    def __str__(self):
        return f"{self.date} {'working' if self.is_working_day else 'rest'}"


@functools.lru_cache(maxsize=64)
def package_knows(year: int) -> bool:
    """Whether chinese-calendar has that year's holidays (it raises NotImplementedError otherwise)."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def unknown_years(today: dt.date | None = None) -> list[int]:
    """The years from today to HORIZON ahead that the package does not know."""
    today = today or local_today()
    return [year for year in range(today.year, (today + HORIZON).year + 1) if not package_knows(year)]


def local_today() -> dt.date:
    from engine import clock

    return clock.now().astimezone(station_zone()).date()


def station_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def overrides(start: dt.date, end: dt.date) -> dict[dt.date, bool]:
    """The station's entries from start to end (inclusive): {date: is working day}."""
    return dict(CalendarDay.objects.filter(date__range=(start, end)).values_list("date", "is_working_day"))


def is_working_day(day: dt.date, local: dict[dt.date, bool] | None = None) -> bool:
    """Whether `day` is a working day (local entries, then the package, then Monday to Friday)."""
    local = overrides(day, day) if local is None else local
    if day in local:
        return local[day]
    if package_knows(day.year):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """The same time of day as `start` (in the station's zone) on the `days`-th working day after
    start's date; in UTC. `days` is 1..MAX_DAYS."""
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"a timer counts 1 to {MAX_DAYS} working days, not {days}")
    zone = station_zone()
    local_start = start.astimezone(zone)
    day = local_start.date()
    local = overrides(day, day + dt.timedelta(days=days * 3 + 60))
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day, local):
            counted += 1
    return dt.datetime.combine(day, local_start.time().replace(tzinfo=None), tzinfo=zone).astimezone(dt.timezone.utc)


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end` (0 if end is not after start)."""
    local = overrides(start, end)
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += is_working_day(day, local)
    return count


UNKNOWN_YEAR_TEXT = _("The holiday calendar does not know %(years)s yet: working-day deadlines in that year count Monday to "
                      "Friday plus the station's own days. Update the chinese-calendar package (the State Council publishes "
                      "the holidays in November), or enter the year's holidays and adjusted working days on the calendar page.")


def unknown_year_message(years: list[int]) -> str:
    return str(UNKNOWN_YEAR_TEXT) % {"years": ", ".join(str(y) for y in years)}
