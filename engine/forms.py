"""Task forms: form-js schemas stored next to each diagram, checked on deploy and enforced on the
server for every submission, whatever the client did.

The schema is form-js's own (so the browser form editor reads and writes it unchanged), including
form-js's `decimalDigits` on number fields (0: whole numbers only) and `disallowPassedDates` on
date fields. Caseflow also reads a few string properties on a component:
- `label_en`: the English label;
- `process_variable` ("true"): the value is copied into the workflow's data, for gateway conditions
  and timers — nothing else is;
- `sensitive` ("true"): personal data, marked on the pages;
- `mask` ("id_number" or "phone"): the value is shown masked (4401**********1234, 138****5678) on
  every page, in the history and in the command line to anyone who is not one of the case's holders
  (those who may hold its tasks, supervisors of its village); exports mask it by the same rule
  (`mask_value`, `masked_data`);
- `visible_to` ("intake_desk,supervisor"): only these roles read the value once submitted (the
  reporter's identity); everyone else sees the rest of the form without it, on every page, in the
  history and in the command line's JSON;
- `options_source`: choices from the registry (villages, my organisations, the household's members);
- `not_before` / `not_after` on date and time fields: "today" (or "now"), so many days from it
  ("now-30d": a report received at most 30 days ago, which stops a mistyped year), another field
  of the same form, or a workflow variable such as the report's `received_at`;
- `shown_on_return` ("true"): when the case comes back to an earlier step (a return loop), this
  field of the returning step is shown on top of the returned form.
And on the form itself: `visible_to` (the whole form, e.g. reviewers' scores) and `sealed` ("true":
a multi-instance task's submissions stay hidden from everyone but their author until the last
instance is done — a review panel's scores).

Field keys are lowercase identifiers; the portal names its own controls with a leading underscore,
which no key can have, and the few names a page cannot give up (Django's CSRF field, Python
keywords, the sandbox's function names) are refused on deploy."""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import keyword
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
from django.utils import timezone
from django.utils.translation import get_language, gettext as _

from engine import clock, registry
from engine.errors import FormInvalid

FIELD_TYPES = {"textfield", "textarea", "number", "datetime", "select", "radio", "checklist", "checkbox", "filepicker", "dynamiclist"}
ROW_FIELD_TYPES = {"textfield", "number", "datetime", "select"}  # what a dynamiclist row may hold
MAX_ROWS = 50
MAX_FILES = 10
MAX_DECIMAL_DIGITS = 6
_ATTACHMENT_TOKEN = re.compile(r"[0-9a-f]{32}")
LAYOUT_TYPES = {"text", "separator", "spacer", "group"}
# Names a field may not take: the page's CSRF field, and words that would break a condition naming
# the field (Python keywords, the sandbox's functions and constants).
RESERVED_KEYS = frozenset({"csrfmiddlewaretoken", "true", "false", "null", "none"} | set(keyword.kwlist) | set(keyword.softkwlist)
                          | {"len", "min", "max", "abs", "round", "sum", "any", "all", "sorted", "int", "float", "str", "bool",
                             "list", "dict"})
DATE_LIMIT_WORDS = {"today", "now"}
RELATIVE_LIMIT = re.compile(r"(?:today|now)([+-])([0-9]{1,4})d")  # "now-30d": 30 days before the present
EARLY_CLOCK_SKEW = dt.timedelta(minutes=5)  # a phone whose clock runs a little ahead is not "in the future"

FORM_SCHEMA = {
    "type": "object",
    "required": ["components"],
    "properties": {
        "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        "components": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"enum": sorted(FIELD_TYPES | LAYOUT_TYPES)},
                    "key": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"},
                    "label": {"type": "string", "maxLength": 200},
                    "subtype": {"enum": ["date", "time", "datetime"]},
                    "decimalDigits": {"type": "integer", "minimum": 0, "maximum": MAX_DECIMAL_DIGITS},
                    "disallowPassedDates": {"type": "boolean"},
                    "validate": {
                        "type": "object",
                        "properties": {
                            "required": {"type": "boolean"},
                            "min": {"type": "number"}, "max": {"type": "number"},
                            "minLength": {"type": "integer", "minimum": 0},
                            "maxLength": {"type": "integer", "minimum": 1},
                            "pattern": {"type": "string", "maxLength": 200},
                        },
                    },
                    "values": {
                        "type": "array",
                        "items": {"type": "object", "required": ["value", "label"], "properties": {"value": {"type": "string"}}},
                    },
                    "properties": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        }
    },
}
DEFAULT_MAX_LENGTH = {"textfield": 200, "textarea": 5000}


def check_form_definition(form: Any) -> list[str]:
    """Problems with a form definition, as messages (empty when it is fine)."""
    problems = []
    try:
        jsonschema.validate(form, FORM_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return [_("Form is malformed at %(where)s: %(error)s") % {"where": where or "/", "error": exc.message}]
    seen = set()
    for component in fields_of(form):
        if component.get("type") == "dynamiclist":
            rows = component.get("components") or []
            if not rows or any(c.get("type") not in ROW_FIELD_TYPES or not c.get("key") for c in rows):
                problems.append(_("List '%(key)s' needs columns of type textfield, number, datetime or select, each with a key.") % {"key": component.get("key")})
            problems.extend(check_form_definition({"components": rows}) if rows and all(c.get("type") in ROW_FIELD_TYPES for c in rows) else [])
        key = component.get("key")
        if not key:
            problems.append(_("A %(type)s field has no key.") % {"type": component["type"]})
            continue
        if key in seen:
            problems.append(_("Field key '%(key)s' is used twice.") % {"key": key})
        if key in RESERVED_KEYS:
            problems.append(_("Field key '%(key)s' is reserved (the page or the expression language uses it); choose another.") % {"key": key})
        seen.add(key)
        props = component.get("properties") or {}
        if component["type"] in {"select", "radio", "checklist"}:
            source = props.get("options_source")
            if not component.get("values") and not source:
                problems.append(_("Field '%(key)s' has no options.") % {"key": key})
            elif source and source not in registry.option_source_names():
                problems.append(_("Field '%(key)s' takes its options from '%(source)s', which no process provides.") % {
                    "key": key, "source": str(source)[:40]})
        pattern = (component.get("validate") or {}).get("pattern")
        if pattern:
            try:
                re.compile(pattern)
            except re.error:
                problems.append(_("Field '%(key)s' has an invalid pattern.") % {"key": key})
        for limit in ("not_before", "not_after"):
            value = props.get(limit)
            if value is None:
                continue
            if component["type"] != "datetime":
                problems.append(_("Field '%(key)s': %(limit)s only applies to date and time fields.") % {"key": key, "limit": limit})
            elif value == key or not (value in DATE_LIMIT_WORDS or RELATIVE_LIMIT.fullmatch(value)
                                      or re.fullmatch(r"[a-z][a-z0-9_]{0,63}", value)):
                problems.append(_("Field '%(key)s': %(limit)s must be 'today', 'today-30d', another field or a workflow variable, not '%(value)s'.") % {
                    "key": key, "limit": limit, "value": value[:40]})
        if props.get("mask") is not None and props.get("mask") not in MASKS:
            problems.append(_("Field '%(key)s': mask must be 'id_number' or 'phone', not '%(value)s'.") % {
                "key": key, "value": str(props.get("mask"))[:40]})
        if "decimalDigits" in component and component["type"] != "number":
            problems.append(_("Field '%(key)s': decimal places only apply to number fields.") % {"key": key})
    return problems


KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_COMPONENTS = 300  # a form of a township's step has tens of fields; this is far beyond any of them


def form_problems(form: Any) -> list[tuple[str | None, str | None, str]]:
    """What the studio's form editor must hear before a save, as (field key, field id, message): every
    field's own problems named by the field — a type the portal cannot show, a key that is missing,
    malformed, used twice, reserved, or that begins with "_" (the page's own controls) — then, when
    every field is sound, the deploy checks (`check_form_definition`) on the whole form."""
    if not isinstance(form, dict) or not isinstance(form.get("components"), list):
        return [(None, None, _("The form must be an object with a list of components."))]
    problems: list[tuple[str | None, str | None, str]] = []
    seen: set[str] = set()
    count = 0

    def walk(components, where):
        nonlocal count
        for component in components:
            count += 1
            if count > MAX_COMPONENTS:
                problems.append((None, None, _("The form has more than %(n)d fields.") % {"n": MAX_COMPONENTS}))
                return
            if not isinstance(component, dict):
                problems.append((None, None, _("A component of the form is not an object.")))
                continue
            problems.extend(_component_problems(component, seen, where))
            kind = component.get("type")
            if kind in {"group", "dynamiclist"} and isinstance(component.get("components"), list):
                walk(component["components"], "rows" if kind == "dynamiclist" else where)

    walk(form["components"], "form")
    if problems:
        return problems
    return [(None, None, message) for message in check_form_definition(form)]


def _named(component: dict) -> str:
    """How a message names a field: its label and its key, as the admin typed them (shown as text)."""
    label, key = str(component.get("label") or "")[:60], str(component.get("key") or "")[:64]
    if label and key:
        return f"“{label}” ({key})"
    return f"“{label}”" if label else (key or str(component.get("type") or "?")[:30])


def _component_problems(component: dict, seen: set[str], where: str) -> list[tuple[str | None, str | None, str]]:
    kind, key, field_id = component.get("type"), component.get("key"), component.get("id")
    field_id = field_id if isinstance(field_id, str) else None
    shown_key = key if isinstance(key, str) else None
    if kind not in FIELD_TYPES | LAYOUT_TYPES:
        return [(shown_key, field_id, _("Field %(field)s is of type “%(type)s”, which the portal cannot show; use another type.") % {
            "field": _named(component), "type": str(kind)[:30]})]
    if kind not in FIELD_TYPES:
        return []
    if not isinstance(key, str) or not key:
        return [(None, field_id, _("Field %(field)s has no key.") % {"field": _named(component)})]
    if key.startswith("_"):
        return [(key, field_id, _("Field %(field)s: a key may not begin with “_”, which the page keeps for its own controls.") % {
            "field": _named(component)})]
    if not KEY_PATTERN.fullmatch(key):
        return [(key, field_id, _("Field %(field)s: a key is a lowercase letter followed by lowercase letters, digits or “_” (at most 64).") % {
            "field": _named(component)})]
    if key in RESERVED_KEYS:
        return [(key, field_id, _("Field %(field)s: the key “%(key)s” is reserved (the page or the expression language uses it); choose another.") % {
            "field": _named(component), "key": key})]
    if where == "form" and key in seen:
        return [(key, field_id, _("Field %(field)s: the key “%(key)s” is used by another field; keys must be unique.") % {
            "field": _named(component), "key": key})]
    if where == "form":
        seen.add(key)
    return []


GENERIC_FORM_PROPERTY = "caseflow_generic"


def generic_confirm_form() -> dict:
    """The form a user task without one runs with (a diagram from Camunda Modeler, ADR 0015): a
    read-only note and one box to tick. Both languages are in the form itself, so what is stored does
    not depend on who deployed it. Marked `caseflow_generic`, so a later version is never given it as
    if the admin had supplied it (`forms_carried_over`) and deploy warns again."""
    note, note_en = "此步骤没有表单：请阅读个案后确认。", "This step has no form: read the case, then confirm."
    return {
        "type": "default", "schemaVersion": 16, "id": "caseflow_generic_confirm",
        "properties": {GENERIC_FORM_PROPERTY: "true"},
        "components": [
            {"type": "text", "text": note, "properties": {"text_en": note_en}},
            {"type": "checkbox", "key": "confirmed", "label": "我已阅读个案，确认完成此步骤",
             "validate": {"required": True},
             "properties": {"label_en": "I have read the case and confirm this step is done", "help": note, "help_en": note_en}},
        ],
    }


def is_generic(form: dict | None) -> bool:
    return bool(form) and (form.get("properties") or {}).get(GENERIC_FORM_PROPERTY) == "true"


def fields_of(form: dict) -> list[dict]:
    result = []
    for component in form.get("components", []):
        if component.get("type") == "group":
            result.extend(fields_of(component))
        elif component.get("type") in FIELD_TYPES:
            result.append(component)
    return result


@dataclass(frozen=True)
class FieldSpec:
    """One form field as a page needs it (labels already in the active language)."""

    key: str
    kind: str
    subtype: str
    label: str
    required: bool
    choices: list[tuple[str, str]]
    min: float | None
    max: float | None
    max_length: int | None
    sensitive: bool
    columns: tuple = ()  # the row fields of a dynamiclist
    decimal_digits: int | None = None  # number fields: places after the point (0: whole numbers)
    min_date: str = ""  # date fields: the earliest allowed value as the page's input takes it, if known
    max_date: str = ""
    help: str = ""
    # filepicker fields: the page also offers a signature drawn on the screen, sent as a PNG file
    signature: bool = False


def describe_form(form: dict | None, user=None, variables: dict | None = None) -> list[FieldSpec]:
    with acting_as(user, variables):
        return _describe(form)


def _describe(form: dict | None) -> list[FieldSpec]:
    result = []
    for c in fields_of(form or {}):
        rules = c.get("validate") or {}
        props = c.get("properties") or {}
        min_date = max_date = ""
        if c["type"] == "datetime":
            min_date, max_date = _input_bound(c, "not_before"), _input_bound(c, "not_after")
            if c.get("disallowPassedDates") and not min_date:
                min_date = _input_bound({**c, "properties": {"not_before": "today"}}, "not_before")
        result.append(FieldSpec(
            key=c["key"], kind=c["type"], subtype=c.get("subtype", "datetime") if c["type"] == "datetime" else "",
            label=field_label(c), required=bool(rules.get("required")),
            choices=field_choices(c) if c["type"] in {"select", "radio", "checklist"} else [],
            min=rules.get("min"), max=rules.get("max"),
            max_length=rules.get("maxLength", DEFAULT_MAX_LENGTH.get(c["type"])), sensitive=props.get("sensitive") == "true",
            columns=tuple(_describe({"components": c.get("components") or []})) if c["type"] == "dynamiclist" else (),
            decimal_digits=c.get("decimalDigits") if c["type"] == "number" else None,
            min_date=min_date, max_date=max_date, help=_help_text(c),
            signature=c["type"] == "filepicker" and props.get("signature") == "true",
        ))
    return result


def _input_bound(component: dict, limit: str) -> str:
    """A date limit as an <input> min/max value, when it does not depend on another field."""
    bound = _resolve_limit(component, limit, {})
    if bound is None:
        return ""
    subtype = component.get("subtype", "datetime")
    if subtype == "date":
        return bound.isoformat() if isinstance(bound, dt.date) and not isinstance(bound, dt.datetime) else timezone.localtime(bound).date().isoformat()
    if subtype == "datetime":
        when = bound if isinstance(bound, dt.datetime) else dt.datetime.combine(bound, dt.time(23, 59) if limit == "not_after" else dt.time(0, 0))
        if limit == "not_after" and (component.get("properties") or {}).get(limit) in DATE_LIMIT_WORDS:
            when += EARLY_CLOCK_SKEW
        return timezone.localtime(when if timezone.is_aware(when) else timezone.make_aware(when)).strftime("%Y-%m-%dT%H:%M")
    return ""


def _help_text(component: dict) -> str:
    props = component.get("properties") or {}
    english = (get_language() or "zh-hans").startswith("en")
    return (props.get("help_en") if english and props.get("help_en") else props.get("help")) or component.get("description") or ""


def field_label(component: dict) -> str:
    props = component.get("properties") or {}
    if (get_language() or "zh-hans").startswith("en") and props.get("label_en"):
        return props["label_en"]
    return component.get("label") or component.get("key", "")


@dataclass(frozen=True)
class _FormContext:
    user: Any = None
    variables: dict | None = None


_context: contextvars.ContextVar = contextvars.ContextVar("caseflow_form_context", default=_FormContext())


@contextlib.contextmanager
def acting_as(user, variables: dict | None = None):
    """Within the block, option sources and limits see `user` and the task's workflow `variables`
    (e.g. the organisations I belong to; the members of this case's household; the report's
    received_at that the police report cannot precede)."""
    token = _context.set(_FormContext(user, dict(variables or {})))
    try:
        yield
    finally:
        _context.reset(token)


def _chosen_labels(component: dict, values: list) -> dict[str, str]:
    """{value: label} of the `values` that are options of the field for this form's user: asked of
    the option source's check when it has one (only the chosen values are looked at), else read
    from the whole list."""
    source = (component.get("properties") or {}).get("options_source")
    if source:
        context = _context.get()
        checked = registry.option_check(source, context.user, values)
        if checked is not None:
            return checked
    wanted = {str(v) for v in values}
    return {value: label for value, label in field_choices(component) if value in wanted}


def field_choices(component: dict) -> list[tuple[str, str]]:
    source = (component.get("properties") or {}).get("options_source")
    if source:
        context = _context.get()
        return registry.option_source(source, context.user, context.variables or {}) or []
    english = (get_language() or "zh-hans").startswith("en")
    return [(v["value"], (v.get("label_en") if english and v.get("label_en") else v["label"])) for v in component.get("values", [])]


# mask kind -> (characters kept at the start, at the end): 4401**********1234, 138****5678
MASKS = {"id_number": (4, 4), "phone": (3, 4)}


def mask_value(kind: str, value) -> str:
    """An ID or phone number as a non-holder sees it: the middle replaced by as many asterisks
    (a value too short to keep both ends is all asterisks)."""
    text = "" if value is None else str(value)
    head, tail = MASKS.get(kind, (0, 0))
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[len(text) - tail:]


def mask_of(component: dict) -> str | None:
    kind = (component.get("properties") or {}).get("mask")
    return kind if kind in MASKS else None


def masked_data(form: dict | None, data: dict | None) -> dict | None:
    """`data` with the values of masked fields (and masked list columns) masked."""
    if not isinstance(data, dict):
        return data
    result = dict(data)
    for component in fields_of(form or {}):
        key = component.get("key")
        if key not in result or result[key] in (None, ""):
            continue
        kind = mask_of(component)
        if kind:
            result[key] = mask_value(kind, result[key])
        elif component["type"] == "dynamiclist" and isinstance(result[key], list):
            columns = {c["key"]: mask_of(c) for c in component.get("components") or [] if c.get("key") and mask_of(c)}
            if columns:
                result[key] = [{k: (mask_value(columns[k], v) if k in columns and v not in (None, "") else v) for k, v in row.items()}
                               if isinstance(row, dict) else row for row in result[key]]
    return result


def display_value(component: dict, value) -> str:
    """A stored value as a person reads it (option labels, 是/否, dates in local time)."""
    if value is None or value == "" or value == []:
        return "—"
    kind = component["type"]
    if kind == "checkbox":
        return _("Yes") if value else _("No")
    if kind in {"select", "radio", "checklist"}:
        values = value if isinstance(value, list) else [value]
        labels = _chosen_labels(component, values)
        context = _context.get()
        if context.variables and any(str(v) not in labels for v in values):
            # What the case's list offers now may have moved on (a reviewer who already scored is no
            # longer offered): a past choice is still named by the list without the case.
            with acting_as(context.user, {}):
                labels = {**_chosen_labels(component, values), **labels}
        return "、".join(str(labels.get(str(v), labels.get(v, v))) for v in values)
    if kind == "datetime" and component.get("subtype", "datetime") == "datetime":
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            return str(value)
    if kind == "number" and (component.get("properties") or {}).get("money") == "true":
        try:
            return f"{Decimal(str(value)):,.2f}"
        except (InvalidOperation, ValueError):
            return str(value)
    if kind == "filepicker":
        return _("%(n)d file(s)") % {"n": len(value) if isinstance(value, list) else 1}
    if kind == "dynamiclist":
        columns = {c["key"]: c for c in component.get("components") or []}
        return "；".join("，".join(f"{field_label(columns[k])} {display_value(columns[k], v)}" for k, v in row.items() if k in columns)
                         for row in value if isinstance(row, dict))
    return str(value)


def _roles(value) -> set[str]:
    return {g.strip() for g in str(value or "").split(",") if g.strip()}


def visible_to(form: dict, groups: set[str] | None) -> bool:
    """Whether people with these roles may read what was submitted on this form (None: no limit)."""
    allowed = _roles((form.get("properties") or {}).get("visible_to"))
    return groups is None or not allowed or bool(groups & (allowed | {"admin"}))


def field_visible_to(component: dict, groups: set[str] | None) -> bool:
    """Whether these roles may read this field's value. Unlike a whole form, a field restricted
    to named roles (the reporter's identity) is not opened to administrators either."""
    allowed = _roles((component.get("properties") or {}).get("visible_to"))
    return groups is None or not allowed or bool(groups & allowed)


def hidden_keys(form: dict | None, groups: set[str] | None) -> set[str]:
    """Keys of the fields these roles may not read."""
    return {c["key"] for c in fields_of(form or {}) if not field_visible_to(c, groups)}


def redact(form: dict | None, data: dict | None, groups: set[str] | None) -> dict:
    """`data` without the fields these roles may not read (None: everything)."""
    if not isinstance(data, dict):
        return data
    hidden = hidden_keys(form, groups)
    return {k: v for k, v in data.items() if k not in hidden}


def sealed(form: dict | None) -> bool:
    return str(((form or {}).get("properties") or {}).get("sealed", "")).lower() == "true"


def process_variables(form: dict) -> set[str]:
    return {c["key"] for c in fields_of(form) if (c.get("properties") or {}).get("process_variable") == "true"}


def return_fields(form: dict | None) -> list[dict]:
    """Fields of a returning step (e.g. the reasons for a return) shown on top of the returned form."""
    return [c for c in fields_of(form or {}) if (c.get("properties") or {}).get("shown_on_return") == "true"]


_TRUE = {True, "true", "on", "1", "yes", 1}
_FALSE = {False, "false", "off", "0", "no", "", 0, None}


def clean_form_data(form: dict | None, data: Any) -> dict:
    """Validate and normalise submitted data against a form; raise FormInvalid with field errors.

    Date limits that name another field are checked against that field's cleaned value, and those
    that name a workflow variable against the variables given to `acting_as`."""
    if form is None:
        if data:
            raise FormInvalid({"__all__": [_("This step takes no data.")]})
        return {}
    if not isinstance(data, dict):
        raise FormInvalid({"__all__": [_("Form data must be an object of field values.")]})
    fields = {c["key"]: c for c in fields_of(form)}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key in data:
        if key not in fields:
            errors.setdefault(key, []).append(_("Unknown field."))
    for key, component in fields.items():
        try:
            value = _clean_value(component, data.get(key))
        except ValueError as exc:
            errors.setdefault(key, []).append(str(exc))
            continue
        if value is not None:
            cleaned[key] = value
    # A moment that breaks its own limits is no bound for another field: the error stays next to the
    # field that is wrong (a sign-in in the future is the mistake, not the sign-out after it).
    dated = [key for key, component in fields.items() if key in cleaned and component["type"] == "datetime"]
    dated.sort(key=lambda key: any(_limit_reference(fields[key], limit) in fields for limit in ("not_before", "not_after")))
    bounds = dict(cleaned)
    for key in dated:
        try:
            _check_date_limits(fields[key], cleaned[key], bounds, fields)
        except ValueError as exc:
            errors.setdefault(key, []).append(str(exc))
            bounds.pop(key)
    if errors:
        raise FormInvalid(errors)
    return cleaned


def _clean_value(component: dict, raw: Any):  # noqa: C901 - one branch per field type
    kind = component["type"]
    rules = component.get("validate") or {}
    required = bool(rules.get("required"))
    if isinstance(raw, str):
        raw = raw.strip()
    empty = raw is None or raw == "" or raw == []

    if kind == "dynamiclist" and (raw is None or raw == "" or raw == []):
        if required:
            raise ValueError(_("Add at least one row."))
        return []

    if kind == "checkbox":
        if isinstance(raw, (list, dict, float)):
            raise ValueError(_("Enter yes or no."))
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            if required:
                raise ValueError(_("This box must be ticked."))
            return False
        raise ValueError(_("Enter yes or no."))

    if empty:
        if required:
            raise ValueError(_("This field is required."))
        return [] if kind == "checklist" else None

    if kind in {"textfield", "textarea"}:
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise ValueError(_("Enter text."))
        value = str(raw)
        max_length = rules.get("maxLength", DEFAULT_MAX_LENGTH[kind])
        if len(value) > max_length:
            raise ValueError(_("At most %(n)d characters.") % {"n": max_length})
        if rules.get("minLength") and len(value) < rules["minLength"]:
            raise ValueError(_("At least %(n)d characters.") % {"n": rules["minLength"]})
        if rules.get("pattern") and not re.fullmatch(rules["pattern"], value):
            raise ValueError(_("The format is not valid."))
        return value

    if kind == "number":
        return _clean_number(component, rules, raw)

    if kind == "datetime":
        subtype = component.get("subtype", "datetime")
        text = str(raw)
        try:
            if subtype == "date":
                return dt.date.fromisoformat(text).isoformat()
            if subtype == "time":
                return dt.time.fromisoformat(text).isoformat(timespec="minutes")
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(_("Enter a valid date/time, e.g. 2026-11-29 or 2026-11-29T14:30.")) from None
        if timezone.is_naive(value):
            value = timezone.make_aware(value)  # the station's time zone (Asia/Shanghai)
        return value.astimezone(dt.timezone.utc).isoformat()

    if kind == "dynamiclist":
        return _clean_rows(component, raw)

    if kind == "filepicker":
        # The portal stores uploads first and submits their tokens; the files never enter the engine.
        values = raw if isinstance(raw, list) else [raw]
        if len(values) > MAX_FILES or not all(isinstance(v, str) and _ATTACHMENT_TOKEN.fullmatch(v) for v in values):
            raise ValueError(_("Attach at most %(n)d files.") % {"n": MAX_FILES})
        return values

    if isinstance(raw, dict) or (isinstance(raw, list) and kind != "checklist"):
        raise ValueError(_("Enter a single value."))

    if kind in {"select", "radio"}:
        allowed = _chosen_labels(component, [raw])
        if str(raw) not in allowed:
            raise ValueError(_("Choose one of the listed options."))
        return str(raw)

    if kind == "checklist":
        values = raw if isinstance(raw, list) else [v for v in str(raw).split(",") if v]
        allowed = _chosen_labels(component, values)
        if any(str(v) not in allowed for v in values):
            raise ValueError(_("Choose only from the listed options."))
        return sorted({str(v) for v in values})

    raise ValueError(_("Unsupported field type."))


def _clean_number(component: dict, rules: dict, raw):
    if isinstance(raw, bool) or isinstance(raw, (list, dict)):
        raise ValueError(_("Enter a number."))
    try:
        number = Decimal(str(raw).replace(",", "").replace("，", ""))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite() or number.adjusted() > 15:
        raise ValueError(_("Enter a number."))
    digits = component.get("decimalDigits")
    if digits is not None and number != number.quantize(Decimal(1).scaleb(-digits), rounding="ROUND_DOWN"):
        if digits == 0:
            raise ValueError(_("Enter a whole number."))
        raise ValueError(_("At most %(n)d digits after the decimal point.") % {"n": digits})
    if "min" in rules and number < Decimal(str(rules["min"])):
        raise ValueError(_("Must be at least %(n)s.") % {"n": rules["min"]})
    if "max" in rules and number > Decimal(str(rules["max"])):
        raise ValueError(_("Must be at most %(n)s.") % {"n": rules["max"]})
    return int(number) if number == number.to_integral_value() else format(number, "f")


def _parse_moment(value) -> dt.date | dt.datetime | None:
    """A stored date ('2026-11-29') or instant (ISO with offset) from a form or the workflow's data."""
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _limit_reference(component: dict, limit: str) -> str | None:
    reference = (component.get("properties") or {}).get(limit)
    if reference is None and limit == "not_before" and component.get("disallowPassedDates"):
        return "today"
    return reference


def _resolve_limit(component: dict, limit: str, cleaned: dict, fields: dict | None = None):
    """The bound a date limit names, as a date or an aware datetime, or None when it is unknown
    (the other field left empty, the variable not set yet)."""
    reference = _limit_reference(component, limit)
    if reference is None:
        return None
    if reference in DATE_LIMIT_WORDS:
        return clock.now()
    days = _relative_days(reference)
    if days is not None:
        return clock.now() + dt.timedelta(days=days)
    if fields is not None and reference in fields:
        return _parse_moment(cleaned.get(reference))
    return _parse_moment((_context.get().variables or {}).get(reference))


def _relative_days(reference) -> int | None:
    match = RELATIVE_LIMIT.fullmatch(reference) if isinstance(reference, str) else None
    return None if match is None else int(match.group(2)) * (1 if match.group(1) == "+" else -1)


def _as_date(moment) -> dt.date:
    return timezone.localtime(moment).date() if isinstance(moment, dt.datetime) else moment


def _shown(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if isinstance(moment, dt.datetime) else moment.isoformat()


def _check_date_limits(component: dict, value: str, cleaned: dict, fields: dict) -> None:
    subtype = component.get("subtype", "datetime")
    if subtype == "time":
        return
    moment = _parse_moment(value)
    if moment is None:
        return
    for limit in ("not_before", "not_after"):
        bound = _resolve_limit(component, limit, cleaned, fields)
        if bound is None:
            continue
        reference = _limit_reference(component, limit)
        relative_to_now = reference in DATE_LIMIT_WORDS
        if subtype == "date" or not isinstance(bound, dt.datetime):
            left, right = _as_date(moment), _as_date(bound)
        else:
            left, right = moment, bound
            if relative_to_now:
                right = bound + EARLY_CLOCK_SKEW if limit == "not_after" else bound - EARLY_CLOCK_SKEW
        broken = left < right if limit == "not_before" else left > right
        if not broken:
            continue
        days = _relative_days(reference)
        if days is not None:
            if limit == "not_before" and days < 0:
                raise ValueError(_("Cannot be more than %(n)d days ago; check the year and the month.") % {"n": -days})
            if limit == "not_after" and days > 0:
                raise ValueError(_("Cannot be more than %(n)d days ahead; check the year and the month.") % {"n": days})
            raise ValueError((_("Cannot be earlier than %(when)s.") if limit == "not_before" else _("Cannot be later than %(when)s."))
                             % {"when": _shown(bound)})
        if relative_to_now:
            if subtype == "date":
                raise ValueError(_("Cannot be before today.") if limit == "not_before" else _("Cannot be after today."))
            raise ValueError(_("Cannot be in the past.") if limit == "not_before" else _("Cannot be in the future."))
        label = field_label(fields[reference]) if reference in fields else _variable_label(reference)
        message = (_("Cannot be earlier than %(field)s (%(when)s).") if limit == "not_before"
                   else _("Cannot be later than %(field)s (%(when)s)."))
        raise ValueError(message % {"field": label, "when": _shown(bound)})


def _variable_label(name: str) -> str:
    """The label of a workflow variable a limit names, from the form field it came from."""
    variables = _context.get().variables or {}
    labels = variables.get("__labels__") or (variable_labels(variables["__forms__"]) if variables.get("__forms__") else {})
    return labels.get(name, name)


def variable_labels(forms_by_element: dict) -> dict[str, str]:
    """Labels of the process-variable fields of every form of a definition, by key (for messages
    about a limit that names an earlier step's field)."""
    labels = {}
    for form in (forms_by_element or {}).values():
        for component in fields_of(form or {}):
            if (component.get("properties") or {}).get("process_variable") == "true":
                labels.setdefault(component["key"], field_label(component))
    return labels


def _clean_rows(component: dict, raw) -> list[dict]:
    """A dynamiclist: a list of rows, each cleaned against the row's own fields; empty rows dropped."""
    if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
        raise ValueError(_("Enter the rows of the list."))
    rows = [row for row in raw if any(v not in (None, "", []) for v in row.values())]
    if len(rows) > MAX_ROWS:
        raise ValueError(_("At most %(n)d rows.") % {"n": MAX_ROWS})
    if not rows and (component.get("validate") or {}).get("required"):
        raise ValueError(_("Add at least one row."))
    columns = component.get("components") or []
    form = {"components": columns}
    labels = {c["key"]: field_label(c) for c in columns if c.get("key")}
    cleaned, problems = [], []
    for number, row in enumerate(rows, start=1):
        try:
            cleaned.append(clean_form_data(form, row))
        except FormInvalid as exc:
            for key, messages in exc.field_errors.items():
                problems.extend(_("Row %(n)d, %(field)s: %(error)s") % {"n": number, "field": labels.get(key, key), "error": m}
                                for m in messages)
    if problems:
        raise ValueError("; ".join(problems))
    return cleaned
