"""What happens to accounts that the audit trail must keep (ADR 0018 addendum): an administrator's
reset of someone's second factor is an append-only audit event (no case), with who did it to whom."""
from __future__ import annotations

from engine import clock
from engine.errors import NotPermitted
from engine.models import AuditEvent, AuditKind


def record_second_factor_reset(*, actor, username: str, devices: int) -> None:
    """`actor`: the administrator in the Django admin, or None for `manage.py reset_2fa` on the server."""
    if actor is not None and not getattr(actor, "is_active", False):
        raise NotPermitted("Only an active administrator resets a second factor.")
    AuditEvent.objects.create(kind=AuditKind.SECOND_FACTOR_RESET, actor=actor, at=clock.now(),
                              actor_name=actor.get_username() if actor is not None else "manage.py",
                              data={"user": username, "devices": devices})


def second_factor_resets(*, username: str) -> list[dict]:
    """The resets of one account's second factor, oldest first: when, by whom, how many devices."""
    rows = AuditEvent.objects.filter(kind=AuditKind.SECOND_FACTOR_RESET, instance__isnull=True).order_by("at", "pk")
    return [{"at": r.at, "by": r.actor_name, "devices": r.data.get("devices", 0)} for r in rows if r.data.get("user") == username]
