"""Form data generated from a form's own form-js definition, in the dialect engine/forms.py enforces:
valid values for every field type (a walker's steps, property tests), and one invalid value for each
constraint of each field (to check that the page refuses it, next to that field).

Values are kept the way a page holds them: text (numbers and dates as a person types them), True or
False for a checkbox, a list of codes for a checklist, a list of {column: text} rows for a list
field, None for "left empty". Choices are given by the caller — read off the rendered page, or from
the engine's description of the form — because option lists may depend on the user and the case.

Everything random comes from the `rnd` argument (a seeded random.Random, or Hypothesis's
`st.randoms()`), so a run can be repeated. What this module does not understand (a new field type,
a pattern it cannot satisfy, a required upload) raises CannotGenerate: a new diagram asks for help
instead of being skipped."""
from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field as dc_field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

try:  # Python 3.11+
    import re._constants as sre_constants
    import re._parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

from django.utils import timezone

FIELD_TYPES = {"textfield", "textarea", "number", "datetime", "select", "radio", "checklist", "checkbox", "filepicker", "dynamiclist"}
LAYOUT_TYPES = {"text", "separator", "spacer", "group"}
CHOICE_TYPES = {"select", "radio", "checklist"}
DEFAULT_MAX_LENGTH = {"textfield": 200, "textarea": 5000}
LIMIT_WORDS = {"today", "now"}
RELATIVE_LIMIT = re.compile(r"(?:today|now)([+-])([0-9]{1,4})d")  # "today-365d", as engine/forms.py reads it


def _from_clock(ref: str) -> bool:
    return ref in LIMIT_WORDS or RELATIVE_LIMIT.fullmatch(ref) is not None
NOT_OFFERED = "zz_not_offered"
# What people type: mostly Chinese, some Latin letters, digits and punctuation; never a leading or
# trailing space (the server strips those, which would change the length we meant).
TEXT_ALPHABET = ("家访儿童安全社区服务记录计划评估跟进资金项目村民老人学校东山西水报告情况说明已完成需要"
                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789，。、-（）：；\"'<>&/")
TEXT_WORDS = TEXT_ALPHABET + " "


class CannotGenerate(Exception):
    """This form uses something the generator does not know how to fill in: extend formgen.py."""


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    label: str
    required: bool
    component: dict = dc_field(repr=False, compare=False)
    subtype: str = ""
    min: Decimal | None = None
    max: Decimal | None = None
    decimals: int | None = None
    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    columns: tuple = ()

    @property
    def limits(self) -> list[tuple[str, str]]:
        return [(name, ref) for name, ref in (("not_before", self.not_before), ("not_after", self.not_after)) if ref]


def parse_form(form: dict | None) -> list[Field]:
    """The fields of a form (groups flattened, layout skipped), with their constraints."""
    result = []
    for component in (form or {}).get("components", []):
        kind = component.get("type")
        if kind == "group":
            result.extend(parse_form(component))
            continue
        if kind in LAYOUT_TYPES:
            continue
        if kind not in FIELD_TYPES:
            raise CannotGenerate(f"field type {kind!r} ({component.get('key')}) is new to tests/portal/formgen.py")
        rules = component.get("validate") or {}
        props = component.get("properties") or {}
        not_before = props.get("not_before") or ("today" if component.get("disallowPassedDates") else None)
        result.append(Field(
            key=component["key"], kind=kind, label=component.get("label") or component["key"], required=bool(rules.get("required")),
            component=component,
            subtype=component.get("subtype", "datetime") if kind == "datetime" else "",
            min=Decimal(str(rules["min"])) if "min" in rules else None,
            max=Decimal(str(rules["max"])) if "max" in rules else None,
            decimals=component.get("decimalDigits") if kind == "number" else None,
            min_length=int(rules.get("minLength") or 0),
            max_length=rules.get("maxLength", DEFAULT_MAX_LENGTH.get(kind)) if kind in DEFAULT_MAX_LENGTH else None,
            pattern=rules.get("pattern") or None,
            not_before=not_before if kind == "datetime" else None,
            not_after=props.get("not_after") if kind == "datetime" else None,
            columns=tuple(parse_form({"components": component.get("components") or []})) if kind == "dynamiclist" else (),
        ))
    return result


@dataclass
class Context:
    """What a form is filled in against: the moment, the task's workflow variables, the choices the
    page offers (by field key, "<list>.<column>" for a list's columns) and how many rows each list
    field renders (the most a person can fill in without a script)."""

    now: dt.datetime
    variables: dict = dc_field(default_factory=dict)
    choices: dict = dc_field(default_factory=dict)
    rows: dict = dc_field(default_factory=dict)
    instance_id: int | None = None
    task_id: int | None = None
    actor: object = None

    @property
    def today(self) -> dt.date:
        return timezone.localtime(self.now).date()


def empty(f: Field):
    return {"checkbox": False, "checklist": [], "dynamiclist": []}.get(f.kind)


# -- valid values -------------------------------------------------------------------------------

def valid_data(fields, rnd, ctx: Context, *, force=frozenset(), overlay: dict | None = None, p_optional: float = 0.6,
               prefix: str = "") -> dict:
    """Valid values for every field: required (and `force`d) ones filled, the others at random.
    `overlay` maps keys to fn(rnd, ctx, value, values) -> value: semantic adjustments a process
    needs beyond its form (a budget within the fund's cap, a need number that exists)."""
    by_key = {f.key: f for f in fields}
    values: dict = {}
    for f in _ordered(fields):
        if f.kind == "checkbox":  # ticked a third of the time: loops and exceptions stay the minority
            values[f.key] = True if f.required else rnd.random() < (0.5 if f.key in force else 0.35)
            continue
        if f.required or f.key in force or rnd.random() < p_optional:
            try:
                values[f.key] = valid_value(f, rnd, ctx, by_key, values, prefix=prefix)
            except CannotGenerate:
                if f.required:
                    raise
                values[f.key] = empty(f)  # an optional field nothing fits (a plan row with no resource offered)
        else:
            values[f.key] = empty(f)
    for key, adjust in (overlay or {}).items():
        if key in values:
            values[key] = adjust(rnd, ctx, values[key], values)
    return values


def _ordered(fields):
    """Fields whose date limits name another field come after it."""
    keys = {f.key for f in fields}
    first = [f for f in fields if not any(ref in keys for _n, ref in f.limits)]
    return first + [f for f in fields if f not in first]


def valid_value(f: Field, rnd, ctx: Context, by_key: dict, values: dict, prefix: str = ""):
    kind = f.kind
    if kind in ("textfield", "textarea"):
        return pattern_text(f, rnd) if f.pattern else text(rnd, max(f.min_length, 1), f.max_length or 200, lines=kind == "textarea")
    if kind == "number":
        return number(f, rnd)
    if kind == "datetime":
        value = moment(f, rnd, ctx, by_key, values)
        if value is None and f.required:
            raise CannotGenerate(f"{f.key}: no date satisfies its limits {f.limits} here")
        return value
    if kind in CHOICE_TYPES:
        offered = list(ctx.choices.get(prefix + f.key) or [])
        if not offered:
            if f.required:
                raise CannotGenerate(f"{f.key}: the page offers no options")
            return empty(f)
        if kind == "checklist":
            return rnd.sample(offered, rnd.randint(1, len(offered)))
        return rnd.choice(offered)
    if kind == "dynamiclist":
        return rows(f, rnd, ctx, rnd.randint(1, max(1, ctx.rows.get(prefix + f.key, 3))))
    if kind == "filepicker":
        if f.required:
            raise CannotGenerate(f"{f.key}: a required upload; formgen does not attach files")
        return None
    raise CannotGenerate(f"{f.key}: {kind}")


def rows(f: Field, rnd, ctx: Context, count: int) -> list[dict]:
    result = []
    for _ in range(count):
        row = valid_data(f.columns, rnd, ctx, prefix=f"{f.key}.")
        if all(v in (None, "", [], False) for v in row.values()):  # an empty row is dropped: fill one column
            first = f.columns[0]
            row[first.key] = valid_value(first, rnd, ctx, {c.key: c for c in f.columns}, row, prefix=f"{f.key}.")
        result.append(row)
    return result


def text(rnd, low: int, high: int, lines: bool = False) -> str:
    """Text as people type it (quotes and angle brackets included); a textarea's may run over lines."""
    roll = rnd.random()
    length = high if roll < 0.12 else low if roll < 0.2 else rnd.randint(low, max(low, min(high, 24)))
    typist = random.Random(rnd.getrandbits(64))  # one draw for the characters: long texts stay cheap under Hypothesis
    chars = [typist.choice(TEXT_WORDS + ("\n" if lines else "")) for _ in range(length)]
    for i in (0, -1):
        if chars and chars[i] in " \n":
            chars[i] = typist.choice(TEXT_ALPHABET)
    return "".join(chars)


def number(f: Field, rnd) -> str:
    digits = f.decimals if f.decimals is not None else rnd.choice([0, 1, 2])
    step = Decimal(1).scaleb(-digits)
    low = f.min if f.min is not None else (f.max - 1000 if f.max is not None else Decimal(-1000))
    high = f.max if f.max is not None else low + 100000
    low = (low / step).to_integral_value(ROUND_CEILING) * step
    high = (high / step).to_integral_value(ROUND_FLOOR) * step
    if low > high:
        raise CannotGenerate(f"{f.key}: no number with {digits} decimals between {f.min} and {f.max}")
    roll = rnd.random()
    if roll < 0.15:
        value = low
    elif roll < 0.25:
        value = high
    else:
        span = int((high - low) / step)
        value = low + rnd.randint(0, min(span, 10 ** (digits + 3))) * step
    return _plain(value.quantize(step) if digits else value.to_integral_value())


def _plain(value: Decimal) -> str:
    text_ = format(value, "f")
    return "0" if text_ in ("-0",) else text_


# -- patterns -----------------------------------------------------------------------------------

_PRINTABLE = [chr(c) for c in range(33, 127)]
_CATEGORY = {
    sre_constants.CATEGORY_DIGIT: "0123456789",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
}
_CATEGORY_NOT = {
    sre_constants.CATEGORY_NOT_DIGIT: "0123456789",
    sre_constants.CATEGORY_NOT_SPACE: " \t\r\n",
    sre_constants.CATEGORY_NOT_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
}


def pattern_text(f: Field, rnd) -> str:
    """A string the field's pattern fully matches, within its lengths, typed without stray spaces."""
    tree = sre_parse.parse(f.pattern)
    low, high = max(f.min_length, 1), f.max_length or 200
    seed = rnd.getrandbits(64)
    for attempt in range(60):  # a fresh typist per attempt: Hypothesis's simplest draws may repeat one miss
        out: list[str] = []
        _emit(tree, random.Random(f"{seed}:{attempt}"), out)
        value = "".join(out)
        if value == value.strip() and low <= len(value) <= high and re.fullmatch(f.pattern, value):
            return value
    raise CannotGenerate(f"{f.key}: cannot produce text matching {f.pattern!r}")


def _emit(tree, rnd, out):  # one branch per regex node
    c = sre_constants
    for op, av in tree:
        if op is c.LITERAL:
            out.append(chr(av))
        elif op is c.NOT_LITERAL:
            out.append(rnd.choice([ch for ch in _PRINTABLE if ord(ch) != av]))
        elif op is c.ANY:
            out.append(rnd.choice(_PRINTABLE))
        elif op is c.IN:
            out.append(rnd.choice(_in_chars(av)))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            high = min(high, low + 8)
            for _ in range(rnd.randint(low, high)):
                _emit(sub, rnd, out)
        elif op is c.SUBPATTERN:
            _emit(av[-1], rnd, out)
        elif op is getattr(c, "ATOMIC_GROUP", None):
            _emit(av, rnd, out)
        elif op is c.BRANCH:
            _emit(rnd.choice(av[1]), rnd, out)
        elif op is c.AT:
            continue
        else:
            raise CannotGenerate(f"regex node {op} is new to tests/portal/formgen.py")


def _in_chars(items) -> list[str]:
    c = sre_constants
    negate = bool(items) and items[0][0] is c.NEGATE
    chosen: set[str] = set()
    for op, av in items:
        if op is c.LITERAL:
            chosen.add(chr(av))
        elif op is c.RANGE:
            low, high = av
            span = range(low, high + 1)
            chosen.update(chr(x) for x in (span if len(span) <= 300 else list(span)[:300]))
        elif op is c.CATEGORY:
            if av in _CATEGORY:
                chosen.update(_CATEGORY[av])
            else:
                chosen.update(ch for ch in _PRINTABLE if ch not in _CATEGORY_NOT[av])
    if negate:
        return [ch for ch in _PRINTABLE if ch not in chosen]
    return sorted(chosen)


# -- dates and times ----------------------------------------------------------------------------

def parse_moment(value):
    """A page's or a variable's date ("2026-11-29") or moment (ISO, naive = the station's time)."""
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment_ = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment_ if timezone.is_aware(moment_) else timezone.make_aware(moment_)


def _resolve(ref: str, by_key: dict, values: dict, ctx: Context):
    if ref in LIMIT_WORDS:
        return ctx.now
    relative = RELATIVE_LIMIT.fullmatch(ref)
    if relative:
        return ctx.now + dt.timedelta(days=int(relative.group(2)) * (1 if relative.group(1) == "+" else -1))
    if ref in by_key:
        return parse_moment(values.get(ref))
    return parse_moment(ctx.variables.get(ref))


def _local_minute(moment_: dt.datetime, up: bool) -> dt.datetime:
    local = timezone.localtime(moment_).replace(tzinfo=None)
    floor = local.replace(second=0, microsecond=0)
    return floor + dt.timedelta(minutes=1) if up and floor != local else floor


def window(f: Field, ctx: Context, by_key: dict, values: dict, skip: str | None = None):
    """The (low, high) a value of this date field may take, a little inside its limits: dates for
    date fields, naive local minutes for date-time fields. `skip` leaves one limit out."""
    low = high = None
    for limit, ref in f.limits:
        if limit == skip:
            continue
        bound = _resolve(ref, by_key, values, ctx)
        if bound is None:
            continue
        before = limit == "not_before"
        if f.subtype == "date":
            b = timezone.localtime(bound).date() if isinstance(bound, dt.datetime) else bound
        elif isinstance(bound, dt.datetime):
            margin = dt.timedelta(minutes=1 if _from_clock(ref) else 0)
            b = _local_minute(bound + margin if before else bound - margin, up=before)
        else:  # a date bounds a moment by its whole day
            b = dt.datetime.combine(bound, dt.time(0, 0) if before else dt.time(23, 59))
        if before:
            low = b if low is None else max(low, b)
        else:
            high = b if high is None else min(high, b)
    if f.subtype == "date":
        today = ctx.today
        low = low if low is not None else min(high or today, today) - dt.timedelta(days=1000)
        high = high if high is not None else max(low, today) + dt.timedelta(days=365)
    else:
        now = _local_minute(ctx.now, up=False)
        low = low if low is not None else min(high or now, now) - dt.timedelta(days=4)
        high = high if high is not None else max(low, now) + dt.timedelta(days=4)
    return low, high


def moment(f: Field, rnd, ctx: Context, by_key: dict, values: dict):
    if f.subtype == "time":
        return f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}"
    low, high = window(f, ctx, by_key, values)
    if low > high:
        return None
    roll = rnd.random()
    if f.subtype == "date":
        span = (high - low).days
        pick = low if roll < 0.2 else high if roll < 0.4 else low + dt.timedelta(days=rnd.randint(0, span))
        return pick.isoformat()
    span = int((high - low).total_seconds() // 60)
    pick = low if roll < 0.2 else high if roll < 0.4 else low + dt.timedelta(minutes=rnd.randint(0, span))
    return pick.strftime("%Y-%m-%dT%H:%M")


def _fits(f: Field, value: str, ctx: Context, by_key: dict, values: dict, skip: str | None) -> bool:
    low, high = window(f, ctx, by_key, values, skip=skip)
    parsed = parse_moment(value)
    if f.subtype == "date":
        return low <= parsed <= high
    return low <= timezone.localtime(parsed).replace(tzinfo=None) <= high


def _shift(f: Field, bound, later: bool, step: dt.timedelta = dt.timedelta(hours=1)) -> str:
    """A value just past a bound: the next (or previous) day for a date field; `step` later (or
    earlier) for a date-time field bounded by a moment; midday of the next (or previous) day for a
    date-time field bounded by a date."""
    sign = 1 if later else -1
    if f.subtype == "date":
        day = timezone.localtime(bound).date() if isinstance(bound, dt.datetime) else bound
        return (day + dt.timedelta(days=sign)).isoformat()
    if isinstance(bound, dt.datetime):
        local = timezone.localtime(bound).replace(tzinfo=None, second=0, microsecond=0)
        return (local + sign * step).strftime("%Y-%m-%dT%H:%M")
    return dt.datetime.combine(bound + dt.timedelta(days=sign), dt.time(12, 0)).strftime("%Y-%m-%dT%H:%M")


# -- invalid values -----------------------------------------------------------------------------

@dataclass
class Case:
    """One invalid submission: `values` is a whole form's values with one constraint broken."""

    key: str  # the field whose error the page must show
    target: str  # the control broken: the key, or "<list>[0].<column>"
    constraint: str
    values: dict
    raw: tuple[str, str] | None = None  # a control posted as is (an option the page does not offer)

    def __str__(self):
        shown = self.raw[1] if self.raw else _short(_get(self.values, self.target))
        return f"{self.target} {self.constraint}: {shown!r}"


def _short(value):
    return value[:20] + f"…({len(value)} chars)" if isinstance(value, str) and len(value) > 40 else value


def _get(values, target):
    if "[" in target:
        key, rest = target.split("[", 1)
        col = rest.split(".", 1)[1]
        return values[key][0].get(col)
    return values.get(target)


def invalid_values(f: Field, rnd, ctx: Context, by_key: dict, values: dict, prefix: str = "") -> list[tuple[str, object, dict, bool]]:
    """(constraint, invalid value, other fields to change, posted raw?) for each constraint of `f`."""
    cases: list[tuple[str, object, dict, bool]] = []
    kind = f.kind
    if f.required and kind != "filepicker":
        cases.append(("required", empty(f), {}, False))
    if kind in ("textfield", "textarea"):
        if f.max_length:
            cases.append((f"maxLength={f.max_length}", "字" * (f.max_length + 1), {}, False))
        if f.min_length > 1:
            cases.append((f"minLength={f.min_length}", "字" * (f.min_length - 1), {}, False))
        if f.pattern:
            low, high = max(f.min_length, 1), f.max_length or 200
            for candidate in ("x", "!", "abc", "0", "a-b", "字字字字字字字字", "1" * 30):
                if low <= len(candidate) <= high and not re.fullmatch(f.pattern, candidate):
                    cases.append(("pattern", candidate, {}, False))
                    break
    elif kind == "number":
        cases.append(("a number", "十二", {}, False))
        digits = f.decimals
        if f.min is not None:
            cases.append((f"min={f.min}", _plain(f.min - 1), {}, False))
        if f.max is not None:
            cases.append((f"max={f.max}", _plain(f.max + 1), {}, False))
        if digits is not None:
            base = f.min if f.min is not None else Decimal(0)
            base = (base / Decimal(1).scaleb(-digits)).to_integral_value(ROUND_CEILING) * Decimal(1).scaleb(-digits)
            tooprecise = base + (Decimal("0.5") if digits == 0 else Decimal(1).scaleb(-(digits + 1)))
            if f.max is None or tooprecise <= f.max:
                cases.append((f"decimalDigits={digits}", _plain(tooprecise), {}, False))
    elif kind == "datetime" and f.subtype in ("date", "datetime"):
        cases.append(("a date", "2026-02-30" if f.subtype == "date" else "2026-02-30T25:61", {}, False))
        cases.extend(_limit_cases(f, rnd, ctx, by_key, values))
    elif kind in CHOICE_TYPES:
        cases.append(("an option not offered", [NOT_OFFERED] if kind == "checklist" else NOT_OFFERED, {}, True))
    return cases


def _limit_cases(f: Field, rnd, ctx, by_key, values):
    cases = []
    for limit, ref in f.limits:
        later = limit == "not_after"
        extra: dict = {}
        candidates = []
        if _from_clock(ref):  # a day past today, now, or so many days from them (well beyond the clock-skew allowance)
            candidates.append((_shift(f, _resolve(ref, by_key, values, ctx), later, step=dt.timedelta(days=1)), {}))
        elif ref in by_key:
            other = by_key[ref]
            tries = [values.get(ref)] + [moment(other, rnd, ctx, by_key, values) for _ in range(6)]
            for other_value in tries:
                if other_value:
                    bound = parse_moment(other_value)
                    candidates.append((_shift(f, bound, later), {ref: other_value}))
        else:
            bound = parse_moment(ctx.variables.get(ref))
            if bound is not None:
                candidates.append((_shift(f, bound, later), {}))
        for value, extra in candidates:
            merged = {**values, **extra}
            if _fits(f, value, ctx, by_key, merged, skip=limit) and not _fits(f, value, ctx, by_key, merged, skip=None):
                cases.append((f"{limit}={ref}", value, extra, False))
                break
    return cases


def invalid_cases(fields, base: dict, rnd, ctx: Context) -> list[Case]:
    """One Case per constraint of every field (and of every column of a list field, in its first row)."""
    by_key = {f.key: f for f in fields}
    cases = []
    for f in fields:
        for constraint, value, extra, raw in invalid_values(f, rnd, ctx, by_key, base):
            values = {**base, **extra, f.key: value}
            cases.append(Case(f.key, f.key, constraint, values, (f.key, NOT_OFFERED) if raw else None))
        if f.kind != "dynamiclist":
            continue
        columns = {c.key: c for c in f.columns}
        first = dict((base.get(f.key) or rows(f, rnd, ctx, 1))[0])
        for c in f.columns:
            for constraint, value, extra, raw in invalid_values(c, rnd, ctx, columns, first, prefix=f"{f.key}."):
                row = {**first, **extra, c.key: value}
                if all(v in (None, "", []) for k, v in row.items()):
                    continue  # an empty row is dropped, not refused: nothing to test
                if constraint == "required" and all(v in (None, "", []) for k, v in row.items() if k != c.key):
                    continue
                values = {**base, f.key: [row]}
                cases.append(Case(f.key, f"{f.key}[0].{c.key}", constraint, values,
                                  (f"{f.key}-0-{c.key}", NOT_OFFERED) if raw else None))
    return cases


# -- how a page and the engine take the values ----------------------------------------------------

def page_values(fields, values: dict, ctx: Context) -> dict:
    """Control name -> value to type in (None: leave empty/unselected), list rows spread over the
    page's row inputs (<key>-<row>-<column>). Uploads are left alone."""
    result = {}
    for f in fields:
        value = values.get(f.key)
        if f.kind == "filepicker":
            continue
        if f.kind == "dynamiclist":
            given = value or []
            count = ctx.rows.get(f.key, 3)
            if len(given) > count:
                raise CannotGenerate(f"{f.key}: {len(given)} rows, the page renders {count}")
            for n in range(count):
                for c in f.columns:
                    result[f"{f.key}-{n}-{c.key}"] = given[n].get(c.key) if n < len(given) else None
        elif f.kind == "checkbox":
            result[f.key] = bool(value)
        elif f.kind == "checklist":
            result[f.key] = list(value or [])
        else:
            result[f.key] = value
    return result


def api_data(fields, values: dict) -> dict:
    """The same values as the engine's facade takes them (what a page would collect)."""
    data = {}
    for f in fields:
        value = values.get(f.key)
        if f.kind == "filepicker":
            continue
        if f.kind == "dynamiclist":
            data[f.key] = [{c.key: ("" if row.get(c.key) is None else row.get(c.key)) for c in f.columns} for row in (value or [])]
        elif f.kind == "checkbox":
            data[f.key] = bool(value)
        elif f.kind == "checklist":
            data[f.key] = list(value or [])
        else:
            data[f.key] = "" if value is None else value
    return data
