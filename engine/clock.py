"""The engine's clock. Everything that asks "what time is it" for workflow purposes asks here, so a
timer sweep can run "as of" a given instant and tests can move time (time-machine moves it too)."""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt

from django.utils import timezone

_as_of: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("caseflow_as_of", default=None)


def now() -> dt.datetime:
    """The current instant, timezone-aware in UTC."""
    value = _as_of.get()
    return value if value is not None else timezone.now()


def today() -> dt.date:
    """The station's date now (settings.TIME_ZONE, Asia/Shanghai). Not `now().date()`, which is the
    date in UTC: from midnight to 8 in the morning at the station that is still yesterday, and a visit
    recorded at 7 would be "in the future"."""
    return timezone.localtime(now(), timezone.get_default_timezone()).date()


@contextlib.contextmanager
def frozen_at(instant: dt.datetime | None):
    """Within the block, now() answers `instant` (if given)."""
    if instant is None:
        yield
        return
    if timezone.is_naive(instant):
        raise ValueError("as-of time must include a UTC offset")
    token = _as_of.set(instant.astimezone(dt.timezone.utc))
    try:
        yield
    finally:
        _as_of.reset(token)
