"""Eligibility rules as data: each resource carries a list of conditions an admin edits, checked on
save and explained on use. A rule names a known fact about the household or the member concerned,
an operator that fits the fact's type, and a value — no code, nothing evaluated.

    {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元"}
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from django.utils.translation import gettext as _

# fact -> (type, where it comes from: household h, member m (None when the need names nobody)); the
# income facts and the size they are shared by come from the newest income recorded (Household.income)
FACTS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "per_capita_income": ("number", lambda h, m: h.per_capita_income),
    "annual_income": ("number", lambda h, m: h.income.annual_income),
    "medical_expenses": ("number", lambda h, m: h.medical_expenses),
    "schooling_expenses": ("number", lambda h, m: h.schooling_expenses),
    "resident": ("bool", lambda h, m: h.resident),
    "benefits": ("list", lambda h, m: h.benefits),
    "risk_flags": ("list", lambda h, m: h.risk_flags),
    "household_size": ("number", lambda h, m: h.income.size),
    "age": ("number", lambda h, m: None if m is None else m.age),
    "disability_certificate": ("bool", lambda h, m: None if m is None else m.disability_certificate),
    "chronic_illness": ("bool", lambda h, m: None if m is None else m.chronic_illness),
    "school_enrolled": ("bool", lambda h, m: None if m is None else m.school_enrolled),
    "employed": ("bool", lambda h, m: None if m is None else m.employed),
}
OPS = {
    "number": {"lt", "lte", "gt", "gte", "eq", "ne"},
    "bool": {"eq"},
    "list": {"contains", "not_contains"},
}
MAX_RULES = 20


@dataclass(frozen=True)
class Verdict:
    label: str
    passed: bool
    actual: Any = None
    reason: str = ""

    @property
    def explanation(self) -> str:
        """Why, for the worker reading it (worded only when shown: matching checks many rules)."""
        return self.reason or _("is %(actual)s") % {"actual": _display(self.actual)}


def rule_problems(rules: Any) -> list[str]:
    """What is wrong with a resource's rule list, as sentences for the admin (empty: fine)."""
    if not isinstance(rules, list):
        return [_("Rules must be a list.")]
    if len(rules) > MAX_RULES:
        return [_("At most %(n)d rules per resource.") % {"n": MAX_RULES}]
    problems = []
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            problems.append(_("Rule %(n)d is not a rule.") % {"n": number})
            continue
        fact, op, value = rule.get("fact"), rule.get("op"), rule.get("value")
        if fact not in FACTS:
            problems.append(_("Rule %(n)d: unknown fact '%(fact)s'; use one of %(facts)s.") % {
                "n": number, "fact": fact, "facts": ", ".join(sorted(FACTS))})
            continue
        kind = FACTS[fact][0]
        if op not in OPS[kind]:
            problems.append(_("Rule %(n)d: '%(op)s' does not apply to %(fact)s; use %(ops)s.") % {
                "n": number, "op": op, "fact": fact, "ops": ", ".join(sorted(OPS[kind]))})
            continue
        if kind == "number":
            try:
                if isinstance(value, bool):
                    raise InvalidOperation
                Decimal(str(value))
            except (InvalidOperation, ValueError):
                problems.append(_("Rule %(n)d: %(fact)s needs a number, not '%(value)s'.") % {"n": number, "fact": fact, "value": value})
        elif kind == "bool" and not isinstance(value, bool):
            problems.append(_("Rule %(n)d: %(fact)s needs true or false.") % {"n": number, "fact": fact})
        elif kind == "list" and not (isinstance(value, str) and value):
            problems.append(_("Rule %(n)d: %(fact)s needs a word to look for.") % {"n": number, "fact": fact})
    return problems


def check(rule: dict, household, member) -> Verdict:
    if rule_problems([rule]):  # a rule that never went through validation fails, it never crashes
        return Verdict(str(rule)[:60], False, reason=_("invalid rule; an administrator must correct it"))
    fact, op, value = rule["fact"], rule["op"], rule["value"]
    kind, read = FACTS[fact]
    label = rule.get("label") or f"{fact} {op} {value}"
    actual = read(household, member)
    if actual is None:
        return Verdict(label, False, reason=_("not known for this need (no household member named)"))
    if kind == "number":
        actual, value = Decimal(str(actual)), Decimal(str(value))
        passed = {"lt": actual < value, "lte": actual <= value, "gt": actual > value, "gte": actual >= value,
                  "eq": actual == value, "ne": actual != value}[op]
    elif kind == "bool":
        passed = bool(actual) == value
    else:
        passed = (value in (actual if isinstance(actual, list) else [])) == (op == "contains")
    return Verdict(label, passed, actual=actual)


def _display(value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return "、".join(value) or "—"
    return str(value)


def evaluate(rules: list[dict], household, member) -> tuple[bool, list[Verdict]]:
    """All rules must pass; every verdict is returned so a worker sees why, either way."""
    verdicts = [check(rule, household, member) for rule in rules]
    return all(v.passed for v in verdicts), verdicts
