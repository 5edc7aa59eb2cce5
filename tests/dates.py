"""Dates for test data relative to the moment the tests run: forms refuse dates in the future (a
visit not yet made, a payment not yet paid) and in the past where that cannot be true, so fixed
calendar dates would make the suite fail on the day they pass."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone


def today(days: int = 0) -> str:
    """The station's date (Asia/Shanghai) `days` from today, as a date field takes it."""
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def local_minutes_ago(minutes: int) -> str:
    """A date-time field's value (the station's local time, to the minute) `minutes` ago."""
    return (timezone.localtime() - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")
