"""What is looked at before a service's hours are deposited: the caps of the written rules (per
visit, per day) and the anomaly checks (the same pair every day, overlapping sessions of one
volunteer, a volunteer serving their own household). Any of them sends the service to the
supervisor; none of them refuses it by itself, since a long day can be honest."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .ledger import hours
from .models import ServiceSession, SessionStatus

# Code -> what the supervisor reads (codes are stored on the session).
REASONS = {
    "visit_cap": _("more hours than one visit may count"),
    "day_cap": _("more hours in one day than a volunteer may count"),
    "same_pair": _("the same volunteer and elder almost every day"),
    "overlap": _("overlaps another session of the same volunteer"),
    "own_household": _("the volunteer serves their own household"),
}
FLAGS = ("same_pair", "overlap", "own_household")  # anomalies (listed for the supervisor), the rest are caps
# Sessions that no longer count: their hours were never, or will never be, credited.
NOT_COUNTED = (SessionStatus.CANCELLED, SessionStatus.NOT_CONFIRMED, SessionStatus.REFUSED)


def served_hours(signed_in_at: dt.datetime, signed_out_at: dt.datetime) -> Decimal:
    return hours(Decimal((signed_out_at - signed_in_at).total_seconds()) / Decimal(3600))


def _same_household(session: ServiceSession) -> bool:
    volunteer, elder = session.volunteer, session.elder
    mine, theirs = volunteer.household.strip().casefold(), elder.household.strip().casefold()
    return volunteer.pk == elder.pk or bool(mine and mine == theirs)


def _others(session: ServiceSession):
    return (ServiceSession.objects.filter(volunteer_id=session.volunteer_id, signed_in_at__isnull=False, signed_out_at__isnull=False)
            .exclude(pk=session.pk).exclude(status__in=NOT_COUNTED))


def anomalies(session: ServiceSession) -> list[str]:
    rules = settings.TIME_BANK
    found = []
    window = int(rules["same_pair_window_days"])
    day = timezone.localtime(session.signed_in_at).date()
    since = session.signed_in_at - dt.timedelta(days=window)
    days = {timezone.localtime(moment).date() for moment in _others(session).filter(
        elder_id=session.elder_id, signed_in_at__gt=since, signed_in_at__lte=session.signed_in_at).values_list("signed_in_at", flat=True)}
    if len(days | {day}) >= int(rules["same_pair_days"]):
        found.append("same_pair")
    if _others(session).filter(signed_in_at__lt=session.signed_out_at, signed_out_at__gt=session.signed_in_at).exists():
        found.append("overlap")
    if _same_household(session):
        found.append("own_household")
    return found


def caps_passed(session: ServiceSession) -> list[str]:
    rules = settings.TIME_BANK
    passed = []
    if session.hours > hours(rules["visit_cap_hours"]):
        passed.append("visit_cap")
    day = timezone.localtime(session.signed_in_at).date()
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    that_day = sum((h for h in _others(session).filter(signed_in_at__gte=start, signed_in_at__lt=start + dt.timedelta(days=1))
                    .values_list("hours", flat=True) if h is not None), Decimal("0"))
    if that_day + session.hours > hours(rules["day_cap_hours"]):
        passed.append("day_cap")
    return passed


def review_reasons(session: ServiceSession) -> list[str]:
    """The caps passed and anomalies found, in a stable order; empty: deposit without review."""
    return caps_passed(session) + anomalies(session)
