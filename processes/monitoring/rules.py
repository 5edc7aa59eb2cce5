"""Warning rules as data an administrator edits (a new version each time, the old ones kept:
`RuleSet`), checked on save and explained on use — nothing is evaluated as code.

Three kinds of rule, each with a code and a label:

    {"code": "income_drop", "kind": "income_drop", "percent": 30, "label": "收入较上次下降超过30%"}
    {"code": "below_standard", "kind": "below", "basis": "standard", "multiple": 1, "crossing": true, "label": "..."}
    {"code": "hospitalised", "kind": "event", "event": "hospitalised", "label": "住院或重大疾病"}

`income_drop` compares the month's household income with the previous update's. `below` compares
the per-capita income a year with a multiple of the line (`basis: line`, 12,000 yuan) or of the local
minimum-living standard (`basis: standard`, its monthly amount times twelve); with `crossing` it
warns only in the month the household falls below, not every month it stays there (a household's
first update is its baseline: nothing to fall from). `event` warns
when the update records that event."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

KINDS = ("income_drop", "below", "event")
BASES = ("line", "standard")
EVENTS = ("hospitalised", "breadwinner", "schooling", "disaster", "job_loss")
MAX_RULES = 30
CODE_MAX = 32
LABEL_MAX = 60

DEFAULT_RULES = [
    {"code": "income_drop", "kind": "income_drop", "percent": 30, "label": "家庭收入较上次下降超过30%"},
    {"code": "below_standard", "kind": "below", "basis": "standard", "multiple": 1, "crossing": True, "label": "人均收入低于低保标准"},
    {"code": "below_edge", "kind": "below", "basis": "standard", "multiple": 1.5, "crossing": True, "label": "人均收入低于低保标准1.5倍"},
    {"code": "below_line", "kind": "below", "basis": "line", "multiple": 1, "crossing": True, "label": "人均收入低于12000元监测线"},
    {"code": "hospitalised", "kind": "event", "event": "hospitalised", "label": "住院或重大疾病"},
    {"code": "breadwinner", "kind": "event", "event": "breadwinner", "label": "主要劳动力死亡或残疾"},
    {"code": "schooling", "kind": "event", "event": "schooling", "label": "子女升入高中或大学"},
    {"code": "disaster", "kind": "event", "event": "disaster", "label": "遭受灾害"},
    {"code": "job_loss", "kind": "event", "event": "job_loss", "label": "失业"},
]


@dataclass(frozen=True)
class Facts:
    """What one update says, with the previous update for comparison (None: the first)."""

    income: Decimal  # the household's income in the month
    per_capita: Decimal  # a year, per person
    events: tuple[str, ...]
    previous_income: Decimal | None = None
    previous_per_capita: Decimal | None = None


@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    value: str


def _number(value, *, positive: bool = True) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or (positive and number <= 0):
        return None
    return number


def rule_problems(rules: Any) -> list[str]:
    """What is wrong with a rule list, as sentences for the administrator (empty: fine)."""
    if not isinstance(rules, list):
        return [_("The warning rules must be a list.")]
    if len(rules) > MAX_RULES:
        return [_("At most %(max)d rules.") % {"max": MAX_RULES}]
    problems, seen = [], set()
    for number, rule in enumerate(rules, start=1):
        where = _("Rule %(n)d") % {"n": number}
        if not isinstance(rule, dict):
            problems.append(_("%(where)s is not a rule.") % {"where": where})
            continue
        code, label, kind = rule.get("code"), rule.get("label"), rule.get("kind")
        if not isinstance(code, str) or not code.isidentifier() or len(code) > CODE_MAX:
            problems.append(_("%(where)s needs a code of letters, digits and underscores.") % {"where": where})
        elif code in seen:
            problems.append(_("%(where)s: the code '%(code)s' is used twice.") % {"where": where, "code": code})
        seen.add(code)
        if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX:
            problems.append(_("%(where)s needs a label of at most %(max)d characters.") % {"where": where, "max": LABEL_MAX})
        if kind not in KINDS:
            problems.append(_("%(where)s: unknown kind '%(kind)s'; use one of %(kinds)s.") % {
                "where": where, "kind": kind, "kinds": ", ".join(KINDS)})
            continue
        if kind == "income_drop":
            percent = _number(rule.get("percent"))
            if percent is None or percent >= 100:
                problems.append(_("%(where)s: the percent must be a number above 0 and below 100.") % {"where": where})
        elif kind == "below":
            if rule.get("basis") not in BASES:
                problems.append(_("%(where)s: the basis must be 'line' or 'standard'.") % {"where": where})
            multiple = _number(rule.get("multiple"))
            if multiple is None or multiple > 10:
                problems.append(_("%(where)s: the multiple must be a number above 0 and at most 10.") % {"where": where})
            if not isinstance(rule.get("crossing", False), bool):
                problems.append(_("%(where)s: 'crossing' must be true or false.") % {"where": where})
        elif rule.get("event") not in EVENTS:
            problems.append(_("%(where)s: unknown event '%(event)s'; use one of %(events)s.") % {
                "where": where, "event": rule.get("event"), "events": ", ".join(EVENTS)})
    return problems


def threshold(rule: dict, *, line: Decimal, standard_monthly: Decimal) -> Decimal:
    base = line if rule["basis"] == "line" else standard_monthly * 12
    return (base * Decimal(str(rule["multiple"]))).quantize(Decimal("0.01"))


def warnings_for(rules: list[dict], facts: Facts, *, line: Decimal, standard_monthly: Decimal) -> list[Reason]:
    """The rules that hold for this update; a rule that never went through validation is skipped, never crashes."""
    reasons = []
    for rule in rules:
        if rule_problems([rule]):
            continue
        kind, label = rule["kind"], rule["label"]
        if kind == "income_drop":
            before = facts.previous_income
            if before and before > 0:
                drop = (before - facts.income) * 100 / before
                if drop > Decimal(str(rule["percent"])):
                    reasons.append(Reason(rule["code"], label, f"-{drop.quantize(Decimal('0.1'))}%"))
        elif kind == "below":
            limit = threshold(rule, line=line, standard_monthly=standard_monthly)
            if facts.per_capita < limit:
                was_above = facts.previous_per_capita is not None and facts.previous_per_capita >= limit
                if not rule.get("crossing") or was_above:
                    reasons.append(Reason(rule["code"], label, f"{facts.per_capita} < {limit}"))
        elif rule["event"] in facts.events:
            reasons.append(Reason(rule["code"], label, ""))
    return reasons


def band(per_capita: Decimal, *, line: Decimal, standard_monthly: Decimal) -> str:
    """The lowest band the per-capita income falls in (Band's codes)."""
    standard = standard_monthly * 12
    if per_capita < standard:
        return "below_standard"
    if per_capita < standard * Decimal("1.5"):
        return "below_edge"
    if per_capita < line:
        return "below_line"
    return "above"
