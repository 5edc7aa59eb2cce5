"""The station's working-day calendar, as administrators read and edit it (engine/business_calendar.py
counts with it). Every change is kept in the row's history (pghistory, with the request's user) and
names who made it last."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar
from django.db import transaction
from django.utils.translation import gettext as _

from engine import business_calendar
from engine.business_calendar import CalendarDay
from engine.errors import NotPermitted
from engine.permissions import user_groups

NOTE_MAX_LENGTH = 200


@dataclass(frozen=True)
class CalendarEntry:
    """A day that is not what its weekday says: from the package (a holiday, an adjusted working day)
    or the station's own entry (which wins)."""

    date: dt.date
    is_working_day: bool
    note: str
    station: bool  # the station's own entry, editable
    changed_by: str = ""


def may_edit_calendar(user) -> bool:
    return user is not None and user.is_authenticated and "admin" in user_groups(user)


def _require_admin(actor) -> None:
    if not may_edit_calendar(actor):
        raise NotPermitted(_("Only an administrator edits the working-day calendar."))


def calendar_year(year: int, *, viewer) -> list[CalendarEntry]:
    """The year's special days in date order: the package's holidays on weekdays and worked
    weekend days, then the station's entries over them. Empty from the package for a year it does
    not know (`unknown_calendar_years` says so)."""
    _require_admin(viewer)
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days: dict[dt.date, CalendarEntry] = {}
    if business_calendar.package_knows(year):
        day = first
        while day <= last:
            working = chinese_calendar.is_workday(day)
            if working != (day.weekday() < 5):
                _holiday, name = chinese_calendar.get_holiday_detail(day)
                days[day] = CalendarEntry(day, working, _holiday_name(name, working), station=False)
            day += dt.timedelta(days=1)
    for row in CalendarDay.objects.filter(date__range=(first, last)).select_related("changed_by"):
        days[row.date] = CalendarEntry(row.date, row.is_working_day, row.note, station=True,
                                       changed_by=row.changed_by.get_username() if row.changed_by else "")
    return [days[d] for d in sorted(days)]


def _holiday_name(name: str | None, working: bool) -> str:
    names = {"New Year's Day": _("New Year's Day"), "Spring Festival": _("Spring Festival"), "Tomb-sweeping Day": _("Tomb-sweeping Day"),
             "Labour Day": _("Labour Day"), "Dragon Boat Festival": _("Dragon Boat Festival"),
             "Mid-autumn Festival": _("Mid-autumn Festival"), "National Day": _("National Day")}
    label = str(names.get(name or "", name or ""))
    if working:
        return _("adjusted working day (%(holiday)s)") % {"holiday": label} if label else _("adjusted working day")
    return label


def set_calendar_day(*, date: dt.date, is_working_day: bool, note: str, actor) -> CalendarEntry:
    """The station's entry for `date` (made or changed)."""
    _require_admin(actor)
    note = (note or "").strip()[:NOTE_MAX_LENGTH]
    with transaction.atomic():
        row, _created = CalendarDay.objects.update_or_create(date=date, defaults={
            "is_working_day": is_working_day, "note": note, "changed_by": actor})
    return CalendarEntry(row.date, row.is_working_day, row.note, station=True, changed_by=actor.get_username())


def remove_calendar_day(*, date: dt.date, actor) -> bool:
    """Drop the station's entry for `date` (the package decides again); False if there was none."""
    _require_admin(actor)
    deleted, _ = CalendarDay.objects.filter(date=date).delete()
    return bool(deleted)


def calendar_year_known(year: int) -> bool:
    """Whether the holiday package has that year's public holidays and adjusted working days."""
    return business_calendar.package_knows(year)


def unknown_calendar_years() -> list[int]:
    """The years within reach that the holiday package does not know (see business_calendar)."""
    return business_calendar.unknown_years()


def unknown_calendar_message(years: list[int]) -> str:
    return business_calendar.unknown_year_message(years)
