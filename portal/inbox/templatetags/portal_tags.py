"""Template helpers: the SLA badge, role and village names."""
from __future__ import annotations

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()
AMBER_BEFORE_HOURS = 6


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return _("%(n)d min") % {"n": minutes}
    hours = minutes // 60
    if hours < 48:
        return _("%(n)d h") % {"n": hours}
    return _("%(n)d d") % {"n": hours // 24}


@register.inclusion_tag("portal/_sla_badge.html")
def sla_badge(task):
    """Time left until the task's deadline: green, amber within 6 hours, red once passed."""
    if task.status != "open" or task.due_at is None:
        return {"show": False}
    left = (task.due_at - timezone.now()).total_seconds()
    if left < 0:
        return {"show": True, "level": "red", "text": _("overdue %(span)s") % {"span": _span(left)}, "due": task.due_at}
    level = "amber" if left < AMBER_BEFORE_HOURS * 3600 else "green"
    return {"show": True, "level": level, "text": _("%(span)s left") % {"span": _span(left)}, "due": task.due_at}


@register.filter
def role_name(code: str) -> str:
    return str(settings.CASEFLOW_ROLES.get(code, code))


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def event_label(kind: str) -> str:
    from engine.api import AUDIT_LABELS

    return str(AUDIT_LABELS.get(kind, kind))


@register.filter
def status_label(code: str) -> str:
    from engine.api import STATUS_LABELS

    return str(STATUS_LABELS.get(code, code))


@register.filter
def rows_for_edit(value, blank: int = 3):
    """The rows entered so far plus a few empty ones to fill in (no script needed on the phone)."""
    rows = [r for r in (value or []) if isinstance(r, dict)]
    return rows + [{}] * max(blank, 1 if not rows else blank)


@register.filter
def money(value) -> str:
    """Yuan with fen and thousands separators, as the township finance office writes them."""
    if value is None or value == "":
        return "—"
    from decimal import Decimal, InvalidOperation

    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)
