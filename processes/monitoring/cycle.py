"""The monitoring month in the township's local time: a household's update is due by the end of the
month it describes and withdrawn (counted missed) a few grace days into the next, when that month's
update is already open beside it. The engine's timers fire at these moments (ADR 0025's pattern)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings

LOCAL = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Month:
    start: dt.date  # its first day

    @property
    def end(self) -> dt.date:
        return (self.start + dt.timedelta(days=32)).replace(day=1)

    @property
    def ends_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time(0), LOCAL)

    @property
    def due_at(self) -> dt.datetime:
        return self.ends_at - dt.timedelta(seconds=1)

    @property
    def withdraw_at(self) -> dt.datetime:
        return self.ends_at + dt.timedelta(days=int(settings.MONITORING.get("grace_days", 5)))

    def next(self) -> "Month":
        return Month(self.end)


def month_containing(moment: dt.datetime) -> Month:
    return Month(moment.astimezone(LOCAL).date().replace(day=1))
