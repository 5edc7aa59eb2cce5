"""What the modeler's Caseflow properties panel needs from the server, in the admin's language.

The panel (portal/studio/js/caseflow-properties.js) shows only what the engine reads from a diagram
(engine/spiff/parser.py): a lane's role, a user task's form, routing properties and SLA timers, a
timer's ISO-8601 literal and the moment its clock starts from, a gateway flow's condition, a service
task's operation. It writes nothing the server would not check again on save (docs/adr/0013)."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import get_language, gettext as _

from engine import registry

from .modeler_i18n import catalogue

# The plain-words timer units and the ISO-8601 literal each writes ({n} is the number). The panel
# reads a literal back with the same table; tests/portal/test_studio_panel.py deploys each and fires
# it. Calendar time only: the engine has no business calendar yet (working days, 调休: ADR 0009).
TIMER_UNITS = [
    # (unit, duration literal, cycle literal or None when a repeat in that unit would drift)
    ("minutes", "PT{n}M", "R/PT{n}M"),
    ("hours", "PT{n}H", "R/PT{n}H"),
    ("days", "P{n}D", "R/P{n}D"),
    ("weeks", "P{n}W", "R/P{n}W"),
    # SpiffWorkflow turns a month into the first month's number of days and repeats that: a
    # "every month" cycle would not stay on the same day, so months are offered for durations only.
    ("months", "P{n}M", None),
]


def timer_literal(kind: str, n: int, unit: str, start: str = "") -> str:
    """The literal the panel writes for "n units" (duration) or "every n units from start" (cycle)."""
    duration, cycle = next((d, c) for u, d, c in TIMER_UNITS if u == unit)
    if kind == "cycle":
        literal = cycle.replace("{n}", str(n))
        return literal.replace("R/", f"R/{start}/", 1) if start else literal
    return duration.replace("{n}", str(n))


def _unit_labels() -> dict[str, str]:
    return {"minutes": _("minutes"), "hours": _("hours"), "days": _("days"), "weeks": _("weeks"), "months": _("months")}


def _english() -> bool:
    return (get_language() or "zh-hans").startswith("en")


def _label(component: dict) -> str:
    props = component.get("properties") or {}
    if _english() and props.get("label_en"):
        return str(props["label_en"])
    return str(component.get("label") or component.get("key") or "")


def _options(component: dict) -> list[dict]:
    english = _english()
    return [{"value": v.get("value"), "label": str((v.get("label_en") if english and v.get("label_en") else v.get("label")) or v.get("value"))}
            for v in component.get("values") or [] if isinstance(v, dict)]


def _fields(form) -> list[dict]:
    """The form's input fields (inside groups too), each as the panel lists it; none for a
    malformed form (the server check reports that on its element)."""
    components = form.get("components") if isinstance(form, dict) else None
    result = []
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        if component.get("type") == "group":
            result.extend(_fields(component))
        elif isinstance(component.get("key"), str) and component.get("type") not in ("text", "separator", "spacer"):
            result.append({"key": component["key"], "label": _label(component), "type": component.get("type"),
                           "options": _options(component),
                           "processVariable": (component.get("properties") or {}).get("process_variable") == "true"})
    return result


def panel_config(draft) -> dict:
    """The part of the edit page's config the properties panel and the translated modeler read."""
    roles = registry.roles()
    return {
        "roles": sorted(({"code": code, "label": str(label)} for code, label in roles.items()), key=lambda r: r["code"]),
        "services": sorted(registry.service_names()),
        "fields": {element: _fields(form) for element, form in (draft.forms or {}).items()},
        "formUrl": reverse("studio") + f"{draft.key}/forms/{{element}}/",
        "timerUnits": [{"unit": u, "duration": d, "cycle": c, "label": _unit_labels()[u]} for u, d, c in TIMER_UNITS],
        "translations": catalogue(),
    }
