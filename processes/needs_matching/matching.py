"""For each need, the resources that serve its category, checked against their rules, ranked by fit
and capacity left, each with the reasons it is or is not eligible. A need with no eligible resource
is a gap. Pure functions over objects already loaded: the catalogue is read once per run and
indexed by category, so matching a household costs its needs × the resources of their categories."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from . import rules

URGENCY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Candidate:
    resource: object
    eligible: bool
    score: Decimal
    verdicts: tuple[rules.Verdict, ...]


@dataclass
class NeedMatch:
    need: dict
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def eligible(self) -> list[Candidate]:
        return [c for c in self.candidates if c.eligible]

    @property
    def is_gap(self) -> bool:
        return not self.eligible


class Catalogue:
    """The given resources (inactive and out-of-date ones are kept, and explained as ineligible),
    indexed by the need categories they serve."""

    def __init__(self, resources, today: dt.date):
        self.today = today
        self.by_category: dict[str, list] = defaultdict(list)
        for resource in resources:
            for category in dict.fromkeys(resource.categories):
                self.by_category[category].append(resource)

    def candidates(self, category: str) -> list:
        return self.by_category.get(category, [])


def _member(household, name: str | None):
    if not name:
        return None
    return next((m for m in household.members.all() if m.name == name), None)


def _score(resource, category: str) -> Decimal:
    """Fit (the category is the resource's main one) plus the share of capacity left."""
    fit = Decimal("1.0") if resource.categories and resource.categories[0] == category else Decimal("0.7")
    share = (resource.capacity_left / resource.capacity_total) if resource.capacity_total else Decimal("0")
    return (fit + Decimal("0.3") * share).quantize(Decimal("0.001"))


def match_need(need: dict, household, catalogue: Catalogue) -> NeedMatch:
    """need: {"category", "description", "urgency", "member"} as entered in the assessment."""
    result = NeedMatch(need)
    member = _member(household, need.get("member"))
    for resource in catalogue.candidates(need["category"]):
        ok, verdicts = rules.evaluate(resource.rules, household, member)
        extra = []
        if not resource.active or (resource.valid_to and resource.valid_to < catalogue.today) or (
                resource.valid_from and resource.valid_from > catalogue.today):
            extra.append(rules.Verdict(_("valid now"), False, reason=_("outside its validity dates")))
        if resource.capacity_left <= 0:
            extra.append(rules.Verdict(_("capacity left"), False, reason=_("no capacity left")))
        eligible = ok and not extra
        result.candidates.append(Candidate(resource, eligible, _score(resource, need["category"]), tuple(verdicts + extra)))
    result.candidates.sort(key=lambda c: (not c.eligible, -c.score, c.resource.name))
    return result


def match_household(needs: list[dict], household, catalogue: Catalogue) -> list[NeedMatch]:
    """All needs of a household, most urgent first."""
    ordered = sorted(needs, key=lambda n: URGENCY_ORDER.get(n.get("urgency"), 3))
    return [match_need(need, household, catalogue) for need in ordered]
