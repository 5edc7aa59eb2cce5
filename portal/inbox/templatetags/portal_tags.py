"""Template helpers: the SLA badge, role and village names."""
from __future__ import annotations

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()
AMBER_BEFORE_HOURS = 6


def _span(seconds: float) -> str:
    """A duration as people say it, rounded to the nearest minute, hour or day-and-hour: a task due
    in seven days reads "7 d" (not "6 d" a second after it was created)."""
    minutes = round(abs(seconds) / 60)
    if minutes < 60:
        return _("%(n)d min") % {"n": max(minutes, 1)}
    hours = round(minutes / 60)
    if hours < 48:
        return _("%(n)d h") % {"n": hours}
    days, rest = divmod(hours, 24)
    if rest == 0:
        return _("%(n)d d") % {"n": days}
    return _("%(d)d d %(h)d h") % {"d": days, "h": rest}


@register.simple_tag
def sla_badge(task):
    """Time left until the task's deadline: green, amber within 6 hours, red once passed — or once
    the engine recorded the breach, whatever this page's clock says (a timer fired with
    `fire-timers --as-of`, a server whose clock is behind). Written here rather than by a template
    of its own: an inbox draws one per row, and rendering a template 25 times was the most of what
    the inbox page cost."""
    if task.status != "open" or task.due_at is None:
        return ""
    left = (task.due_at - timezone.now()).total_seconds()
    if left < 0:
        level, text = "red", _("overdue %(span)s") % {"span": _span(left)}
    elif getattr(task, "sla_breached_at", None) is not None:
        level, text = "red", _("overdue")
    else:
        level = "amber" if left < AMBER_BEFORE_HOURS * 3600 else "green"
        text = _("%(span)s left") % {"span": _span(left)}
    due = dateformat.format(timezone.localtime(task.due_at), "Y-m-d H:i")
    return format_html('<span class="sla sla-{}" title="{} {}" data-sla="{}">{}</span>', level, _("Due"), due, level, text)


@register.filter
def stamp(value) -> str:
    """A moment as the station reads it: "11-30 07:52" within this year, "2025-12-28 10:00" before it
    (or after), so a task or an event from last year never passes for one of this year's."""
    if not value:
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    from engine.clock import today

    return dateformat.format(local, "m-d H:i" if local.year == today().year else "Y-m-d H:i")


@register.filter
def role_name(code: str) -> str:
    from engine.api import group_label

    return group_label(code or "")


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


@register.filter
def number_step(field) -> str:
    """The <input type=number> step for a field's decimal places: 1 for whole numbers, 0.01 for fen."""
    digits = getattr(field, "decimal_digits", None)
    if digits is None:
        return "any"
    return "1" if digits == 0 else "0." + "0" * (digits - 1) + "1"


@register.filter
def input_moment(value, subtype: str = "datetime") -> str:
    """A stored date or instant as a date/time input shows it: instants in the station's time
    (never UTC); what a person typed is shown back as typed."""
    import datetime as dt

    if value in (None, ""):
        return ""
    text = str(value)
    if subtype != "datetime" or len(text) <= 16:
        return text[:16] if subtype == "datetime" else text
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text[:16]
    if timezone.is_naive(moment):
        return moment.strftime("%Y-%m-%dT%H:%M")
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@register.filter
def person(username: str | None) -> str:
    """A username as a display name (one query; for the few names on a page)."""
    if not username:
        return ""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).only("first_name", "last_name", "username").first()
    if user is None:
        return username
    return (user.get_full_name() or user.first_name or username).strip()
