"""Task forms: form-js schemas stored next to each diagram, checked on deploy and enforced on the
server for every submission, whatever the client did.

The schema is form-js's own (so the browser form editor reads and writes it unchanged); Caseflow
reads a few string properties on a component: `label_en` (English label), `process_variable`
("true": the value is copied into the workflow's data, for gateway conditions — nothing else is),
`sensitive` ("true": personal data), `options_source` (choices from the registry, e.g. villages)."""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
from django.utils import timezone
from django.utils.translation import get_language, gettext as _

from engine import registry
from engine.errors import FormInvalid

FIELD_TYPES = {"textfield", "textarea", "number", "datetime", "select", "radio", "checklist", "checkbox", "filepicker", "dynamiclist"}
ROW_FIELD_TYPES = {"textfield", "number", "datetime", "select"}  # what a dynamiclist row may hold
MAX_ROWS = 50
MAX_FILES = 10
_ATTACHMENT_TOKEN = re.compile(r"[0-9a-f]{32}")
LAYOUT_TYPES = {"text", "separator", "spacer", "group"}

FORM_SCHEMA = {
    "type": "object",
    "required": ["components"],
    "properties": {
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
        seen.add(key)
        if component["type"] in {"select", "radio", "checklist"}:
            source = (component.get("properties") or {}).get("options_source")
            if not component.get("values") and not source:
                problems.append(_("Field '%(key)s' has no options.") % {"key": key})
        pattern = (component.get("validate") or {}).get("pattern")
        if pattern:
            try:
                re.compile(pattern)
            except re.error:
                problems.append(_("Field '%(key)s' has an invalid pattern.") % {"key": key})
    return problems


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


def describe_form(form: dict | None, user=None) -> list[FieldSpec]:
    with acting_as(user):
        return _describe(form)


def _describe(form: dict | None) -> list[FieldSpec]:
    result = []
    for c in fields_of(form or {}):
        rules = c.get("validate") or {}
        props = c.get("properties") or {}
        result.append(FieldSpec(
            key=c["key"], kind=c["type"], subtype=c.get("subtype", "datetime") if c["type"] == "datetime" else "",
            label=field_label(c), required=bool(rules.get("required")),
            choices=field_choices(c) if c["type"] in {"select", "radio", "checklist"} else [],
            min=rules.get("min"), max=rules.get("max"),
            max_length=rules.get("maxLength", DEFAULT_MAX_LENGTH.get(c["type"])), sensitive=props.get("sensitive") == "true",
            columns=tuple(_describe({"components": c.get("components") or []})) if c["type"] == "dynamiclist" else (),
        ))
    return result


def field_label(component: dict) -> str:
    props = component.get("properties") or {}
    if (get_language() or "zh-hans").startswith("en") and props.get("label_en"):
        return props["label_en"]
    return component.get("label") or component.get("key", "")


_acting_user: contextvars.ContextVar = contextvars.ContextVar("caseflow_form_user", default=None)


@contextlib.contextmanager
def acting_as(user):
    """Within the block, option sources that depend on the user (e.g. my organisations) see `user`."""
    token = _acting_user.set(user)
    try:
        yield
    finally:
        _acting_user.reset(token)


def field_choices(component: dict) -> list[tuple[str, str]]:
    source = (component.get("properties") or {}).get("options_source")
    if source:
        return registry.option_source(source, _acting_user.get()) or []
    english = (get_language() or "zh-hans").startswith("en")
    return [(v["value"], (v.get("label_en") if english and v.get("label_en") else v["label"])) for v in component.get("values", [])]


def display_value(component: dict, value) -> str:
    """A stored value as a person reads it (option labels, 是/否, dates in local time)."""
    if value is None or value == "" or value == []:
        return "—"
    kind = component["type"]
    if kind == "checkbox":
        return _("Yes") if value else _("No")
    if kind in {"select", "radio", "checklist"}:
        labels = dict(field_choices(component))
        values = value if isinstance(value, list) else [value]
        return "、".join(str(labels.get(v, v)) for v in values)
    if kind == "datetime" and component.get("subtype", "datetime") == "datetime":
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            return str(value)
    if kind == "filepicker":
        return _("%(n)d file(s)") % {"n": len(value) if isinstance(value, list) else 1}
    if kind == "dynamiclist":
        columns = {c["key"]: c for c in component.get("components") or []}
        return "；".join("，".join(f"{field_label(columns[k])} {display_value(columns[k], v)}" for k, v in row.items() if k in columns)
                         for row in value if isinstance(row, dict))
    return str(value)


def visible_to(form: dict, groups: set[str] | None) -> bool:
    """Whether people with these roles may read what was submitted on this form (None: no limit)."""
    allowed = {g.strip() for g in str((form.get("properties") or {}).get("visible_to", "")).split(",") if g.strip()}
    return groups is None or not allowed or bool(groups & (allowed | {"admin"}))


def process_variables(form: dict) -> set[str]:
    return {c["key"] for c in fields_of(form) if (c.get("properties") or {}).get("process_variable") == "true"}


_TRUE = {True, "true", "on", "1", "yes", 1}
_FALSE = {False, "false", "off", "0", "no", "", 0, None}


def clean_form_data(form: dict | None, data: Any) -> dict:
    """Validate and normalise submitted data against a form; raise FormInvalid with field errors."""
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
        if isinstance(raw, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite() or number.adjusted() > 15:
            raise ValueError(_("Enter a number."))
        if "min" in rules and number < Decimal(str(rules["min"])):
            raise ValueError(_("Must be at least %(n)s.") % {"n": rules["min"]})
        if "max" in rules and number > Decimal(str(rules["max"])):
            raise ValueError(_("Must be at most %(n)s.") % {"n": rules["max"]})
        return int(number) if number == number.to_integral_value() else str(number)

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
        allowed = {value for value, _label in field_choices(component)}
        if str(raw) not in allowed:
            raise ValueError(_("Choose one of the listed options."))
        return str(raw)

    if kind == "checklist":
        values = raw if isinstance(raw, list) else [v for v in str(raw).split(",") if v]
        allowed = {value for value, _label in field_choices(component)}
        if any(str(v) not in allowed for v in values):
            raise ValueError(_("Choose only from the listed options."))
        return sorted({str(v) for v in values})

    raise ValueError(_("Unsupported field type."))


def _clean_rows(component: dict, raw) -> list[dict]:
    """A dynamiclist: a list of rows, each cleaned against the row's own fields; empty rows dropped."""
    if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
        raise ValueError(_("Enter the rows of the list."))
    rows = [row for row in raw if any(v not in (None, "", []) for v in row.values())]
    if len(rows) > MAX_ROWS:
        raise ValueError(_("At most %(n)d rows.") % {"n": MAX_ROWS})
    if not rows and (component.get("validate") or {}).get("required"):
        raise ValueError(_("Add at least one row."))
    form = {"components": component.get("components") or []}
    cleaned, problems = [], []
    for number, row in enumerate(rows, start=1):
        try:
            cleaned.append(clean_form_data(form, row))
        except FormInvalid as exc:
            for key, messages in exc.field_errors.items():
                problems.extend(_("Row %(n)d, %(field)s: %(error)s") % {"n": number, "field": key, "error": m} for m in messages)
    if problems:
        raise ValueError("; ".join(problems))
    return cleaned
