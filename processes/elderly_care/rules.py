"""Tier rules and risk-flag thresholds as data an administrator edits (a new version each time, the
old ones kept: `RuleSet`), checked on save and explained on use — nothing is evaluated as code.

Tier rules: an ordered list of tiers; the first whose conditions match (any of them) is the
person's tier, and the last tier has no conditions (everyone else). Each tier says how often the
three visits come round: every month, or every week.

    [{"tier": "high", "label": "高风险", "cycle": "week",
      "any": [{"fact": "age", "op": "gte", "value": 80, "label": "80岁以上"}, ...]},
     {"tier": "key", "label": "重点", "cycle": "month", "any": [...]},
     {"tier": "general", "label": "一般", "cycle": "month", "any": []}]

Flag thresholds: each a condition over what a visit recorded; any that holds raises its flag, and
a raised flag sends a referral to the village doctor and a notice to the supervisor.

    [{"flag": "high_bp", "fact": "systolic", "op": "gte", "value": 160, "label": "收缩压≥160"}, ...]
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

TIER_CODES = ("high", "key", "general")
CYCLES = ("month", "week")
MAX_CONDITIONS = 20

# What screening answers a tier condition may read, with their type.
SCREENING_FACTS = {
    "age": "number",
    "lives_alone": "bool",
    "children_away": "bool",  # left behind: every child works away
    "dementia": "bool",
    "severe_cardiovascular": "bool",
    "disabled": "bool",
    "diabetic": "bool",
    "chronic_count": "number",
    "self_care_score": "number",  # 0 (fully dependent) .. 100 (independent), Barthel-like
    "no_carer": "bool",
    "contact_days": "number",  # days between contacts with children
}
# What a visit may record that a flag threshold reads.
VISIT_FACTS = {
    "systolic": "number",
    "diastolic": "number",
    "glucose": "number",
    "days_since_contact": "number",
    "fell": "bool",
    "missed_medication": "bool",
    "self_care_score": "number",
}
OPS = {"number": {"lt", "lte", "gt", "gte", "eq", "ne"}, "bool": {"eq"}}

DEFAULT_TIER_RULES = [
    {"tier": "high", "label": "高风险", "cycle": "week", "any": [
        {"fact": "age", "op": "gte", "value": 80, "label": "80岁以上", "and": [{"fact": "lives_alone", "op": "eq", "value": True}]},
        {"fact": "age", "op": "gte", "value": 80, "label": "80岁以上且子女均在外", "and": [{"fact": "children_away", "op": "eq", "value": True}]},
        {"fact": "dementia", "op": "eq", "value": True, "label": "失智"},
        {"fact": "severe_cardiovascular", "op": "eq", "value": True, "label": "严重心脑血管疾病"},
        {"fact": "self_care_score", "op": "lt", "value": 40, "label": "生活自理能力差（<40分）"},
    ]},
    {"tier": "key", "label": "重点", "cycle": "month", "any": [
        {"fact": "lives_alone", "op": "eq", "value": True, "label": "独居"},
        {"fact": "children_away", "op": "eq", "value": True, "label": "子女均在外务工"},
        {"fact": "chronic_count", "op": "gte", "value": 2, "label": "两种以上慢性病"},
        {"fact": "disabled", "op": "eq", "value": True, "label": "残疾"},
        {"fact": "no_carer", "op": "eq", "value": True, "label": "无照料人"},
    ]},
    {"tier": "general", "label": "一般", "cycle": "month", "any": []},
]
DEFAULT_FLAG_RULES = [
    {"flag": "high_bp", "fact": "systolic", "op": "gte", "value": 160, "label": "收缩压≥160 mmHg"},
    {"flag": "high_glucose", "fact": "glucose", "op": "gte", "value": 13.9, "label": "血糖≥13.9 mmol/L"},
    {"flag": "no_contact", "fact": "days_since_contact", "op": "gte", "value": 30, "label": "30天未与子女联系"},
    {"flag": "fall", "fact": "fell", "op": "eq", "value": True, "label": "跌倒"},
    {"flag": "missed_medication", "fact": "missed_medication", "op": "eq", "value": True, "label": "漏服药物"},
]


@dataclass(frozen=True)
class TierResult:
    tier: str
    label: str
    cycle: str
    reasons: tuple[str, ...]  # the labels of the conditions that matched


@dataclass(frozen=True)
class Flag:
    code: str
    label: str
    value: Any


def _condition_problems(where: str, condition: Any, facts: dict[str, str]) -> list[str]:
    if not isinstance(condition, dict):
        return [_("%(where)s is not a condition.") % {"where": where}]
    fact, op, value = condition.get("fact"), condition.get("op"), condition.get("value")
    if fact not in facts:
        return [_("%(where)s: unknown fact '%(fact)s'; use one of %(facts)s.") % {
            "where": where, "fact": fact, "facts": ", ".join(sorted(facts))}]
    kind = facts[fact]
    if op not in OPS[kind]:
        return [_("%(where)s: '%(op)s' does not apply to %(fact)s; use %(ops)s.") % {
            "where": where, "op": op, "fact": fact, "ops": ", ".join(sorted(OPS[kind]))}]
    if kind == "number":
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            Decimal(str(value))
        except (InvalidOperation, ValueError):
            return [_("%(where)s: %(fact)s needs a number, not '%(value)s'.") % {"where": where, "fact": fact, "value": value}]
    elif not isinstance(value, bool):
        return [_("%(where)s: %(fact)s needs true or false.") % {"where": where, "fact": fact}]
    problems = []
    extra = condition.get("and", [])
    if not isinstance(extra, list):
        return [_("%(where)s: 'and' must be a list of conditions.") % {"where": where}]
    for number, inner in enumerate(extra, start=1):
        if isinstance(inner, dict) and inner.get("and"):
            problems.append(_("%(where)s: a condition inside 'and' cannot have its own 'and'.") % {"where": where})
            continue
        problems += _condition_problems(f"{where}.{number}", inner, facts)
    return problems


def tier_rule_problems(rules: Any) -> list[str]:
    """What is wrong with a tier rule list, as sentences for the administrator (empty: fine)."""
    if not isinstance(rules, list) or not rules:
        return [_("Tier rules must be a non-empty list of tiers.")]
    problems, seen = [], set()
    for number, tier in enumerate(rules, start=1):
        if not isinstance(tier, dict):
            problems.append(_("Tier %(n)d is not a tier.") % {"n": number})
            continue
        code = tier.get("tier")
        if code not in TIER_CODES:
            problems.append(_("Tier %(n)d: unknown tier '%(tier)s'; use one of %(tiers)s.") % {
                "n": number, "tier": code, "tiers": ", ".join(TIER_CODES)})
        elif code in seen:
            problems.append(_("Tier %(n)d: '%(tier)s' is listed twice.") % {"n": number, "tier": code})
        seen.add(code)
        if tier.get("cycle") not in CYCLES:
            problems.append(_("Tier %(n)d: the cycle must be 'month' or 'week'.") % {"n": number})
        if not isinstance(tier.get("label"), str) or not tier.get("label").strip():
            problems.append(_("Tier %(n)d needs a label.") % {"n": number})
        conditions = tier.get("any", [])
        if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
            problems.append(_("Tier %(n)d: 'any' must be a list of at most %(max)d conditions.") % {"n": number, "max": MAX_CONDITIONS})
            continue
        if number == len(rules) and conditions:
            problems.append(_("The last tier is everyone else: it must have no conditions."))
        if number < len(rules) and not conditions:
            problems.append(_("Tier %(n)d has no conditions: only the last tier may be everyone else.") % {"n": number})
        for inner, condition in enumerate(conditions, start=1):
            problems += _condition_problems(_("Tier %(n)d, condition %(m)d") % {"n": number, "m": inner}, condition, SCREENING_FACTS)
    return problems


def flag_rule_problems(rules: Any) -> list[str]:
    if not isinstance(rules, list):
        return [_("Flag thresholds must be a list.")]
    problems, seen = [], set()
    for number, rule in enumerate(rules, start=1):
        where = _("Threshold %(n)d") % {"n": number}
        if not isinstance(rule, dict) or not isinstance(rule.get("flag"), str) or not rule.get("flag"):
            problems.append(_("%(where)s needs a flag code.") % {"where": where})
            continue
        if rule["flag"] in seen:
            problems.append(_("%(where)s: the flag '%(flag)s' is listed twice.") % {"where": where, "flag": rule["flag"]})
        seen.add(rule["flag"])
        if rule.get("and"):
            problems.append(_("%(where)s: thresholds take a single condition.") % {"where": where})
        problems += _condition_problems(where, rule, VISIT_FACTS)
    return problems


def _holds(condition: dict, facts: dict) -> bool:
    actual = facts.get(condition["fact"])
    if actual is None or actual == "":
        return False
    op, value = condition["op"], condition["value"]
    if isinstance(value, bool):
        held = bool(actual) == value
    else:
        try:
            actual, value = Decimal(str(actual)), Decimal(str(value))
        except (InvalidOperation, ValueError):
            return False
        held = {"lt": actual < value, "lte": actual <= value, "gt": actual > value, "gte": actual >= value,
                "eq": actual == value, "ne": actual != value}[op]
    return held and all(_holds(inner, facts) for inner in condition.get("and", []))


def compute_tier(rules: list[dict], answers: dict) -> TierResult:
    """The first tier whose conditions match; rules that never went through validation are skipped,
    never crash, and the last tier is everyone else."""
    for tier in rules[:-1]:
        matched = [c.get("label") or f"{c['fact']} {c['op']} {c['value']}" for c in tier.get("any", [])
                   if not _condition_problems("", c, SCREENING_FACTS) and _holds(c, answers)]
        if matched:
            return TierResult(tier["tier"], tier["label"], tier["cycle"], tuple(matched))
    last = rules[-1]
    return TierResult(last["tier"], last["label"], last["cycle"], ())


def raised_flags(rules: list[dict], facts: dict) -> list[Flag]:
    return [Flag(rule["flag"], rule.get("label") or rule["flag"], facts.get(rule["fact"]))
            for rule in rules if not _condition_problems("", rule, VISIT_FACTS) and _holds(rule, facts)]


def cycle_of(rules: list[dict], tier: str) -> str:
    for entry in rules:
        if entry.get("tier") == tier:
            return entry.get("cycle", "month")
    return "month"


def tier_label(rules: list[dict], tier: str) -> str:
    for entry in rules:
        if entry.get("tier") == tier:
            return entry.get("label") or tier
    return tier
