"""Eligibility rules as data (checked on save, explained on use) and the ranking of resources per need."""
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from processes.needs_matching import matching, rules
from processes.needs_matching.models import Household, Member, Resource

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 29)
BELOW_LINE = {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元"}
SCHOOL_AGE = [{"fact": "age", "op": "gte", "value": 6}, {"fact": "age", "op": "lte", "value": 18},
              {"fact": "school_enrolled", "op": "eq", "value": True}]


def household(income_per_head, *members, **extra):
    h = Household.objects.create(code=f"HH-{Household.objects.count() + 1}", village="dongshan", head_name="户主",
                                 annual_income=Decimal(income_per_head) * max(1, len(members)), **extra)
    for name, age, more in members:
        Member.objects.create(household=h, name=name, relation="子女", age=age, sex="female", **more)
    return Household.objects.prefetch_related("members").get(pk=h.pk)


def resource(name, categories, rule_list, capacity="10", **extra):
    r = Resource(name=name, kind="policy", provider="民政办", categories=categories, rules=rule_list,
                 capacity_left=Decimal(capacity), capacity_total=Decimal("10"), **extra)
    r.full_clean()
    r.save()
    return r


@pytest.mark.parametrize("per_head,eligible", [("11999.99", True), ("12000.00", False), ("12000.01", False), ("0", True)])
def test_income_line_edges(per_head, eligible):
    h = household(per_head, ("小红", 10, {}))
    ok, verdicts = rules.evaluate([BELOW_LINE], h, None)
    assert ok is eligible and verdicts[0].label == "人均年收入低于12000元"


@pytest.mark.parametrize("age,enrolled,eligible", [(5, True, False), (6, True, True), (18, True, True), (19, True, False), (12, False, False)])
def test_school_age_and_enrolment_edges(age, enrolled, eligible):
    h = household("8000", ("小明", age, {"school_enrolled": enrolled}))
    ok, _ = rules.evaluate(SCHOOL_AGE, h, h.members.all()[0])
    assert ok is eligible


def test_member_rules_fail_with_a_reason_when_the_need_names_nobody():
    h = household("8000", ("小明", 12, {"school_enrolled": True}))
    ok, verdicts = rules.evaluate(SCHOOL_AGE, h, None)
    assert not ok and "no household member" in verdicts[0].explanation


def test_disability_residency_and_benefits():
    h = household("9000", ("老李", 66, {"disability_certificate": True}), benefits=["dibao"], resident=False)
    member = h.members.all()[0]
    assert rules.evaluate([{"fact": "disability_certificate", "op": "eq", "value": True}], h, member)[0]
    assert not rules.evaluate([{"fact": "resident", "op": "eq", "value": True}], h, member)[0]
    assert rules.evaluate([{"fact": "benefits", "op": "contains", "value": "dibao"}], h, member)[0]
    assert not rules.evaluate([{"fact": "benefits", "op": "not_contains", "value": "dibao"}], h, member)[0]


@pytest.mark.parametrize("bad,expected", [
    ([{"fact": "__class__", "op": "eq", "value": 1}], "unknown fact"),
    ([{"fact": "age", "op": "contains", "value": 3}], "does not apply"),
    ([{"fact": "age", "op": "lt", "value": "eighteen"}], "needs a number"),
    ([{"fact": "resident", "op": "eq", "value": "yes"}], "true or false"),
    ("per_capita_income < 12000", "must be a list"),
    ([{"fact": "age", "op": "lt", "value": 1}] * 21, "At most"),
])
def test_a_bad_rule_is_refused_on_save_with_a_clear_message(bad, expected):
    with pytest.raises(ValidationError) as excinfo:
        resource("坏规则", ["education"], bad)
    assert expected in " ".join(excinfo.value.message_dict["rules"])
    assert not Resource.objects.exists()


def test_resources_are_ranked_and_explained_and_gaps_found():
    h = household("8000", ("小明", 12, {"school_enrolled": True}))
    main = resource("教育补贴", ["education"], [BELOW_LINE, *SCHOOL_AGE])
    side = resource("爱心助学金", ["psychological", "education"], [BELOW_LINE], capacity="9")
    full = resource("助学名额已满", ["education"], [], capacity="0")
    expired = resource("过期项目", ["education"], [], valid_to=dt.date(2026, 1, 1))
    rich_only = resource("仅限高收入", ["education"], [{"fact": "per_capita_income", "op": "gt", "value": 50000}])
    catalogue = matching.Catalogue(Resource.objects.all(), TODAY)
    result = matching.match_need({"category": "education", "urgency": "high", "member": "小明"}, h, catalogue)
    assert [c.resource.name for c in result.eligible] == ["教育补贴", "爱心助学金"]  # main category first
    reasons = {c.resource.name: [v.explanation for v in c.verdicts if not v.passed] for c in result.candidates}
    assert reasons["助学名额已满"] == ["no capacity left"] and reasons["过期项目"] == ["outside its validity dates"]
    assert reasons["仅限高收入"] == ["is 8000.00"]
    gap = matching.match_need({"category": "housing", "urgency": "low"}, h, catalogue)
    assert gap.is_gap and gap.candidates == []
    assert main and side and full and expired


def test_household_needs_come_most_urgent_first():
    h = household("8000", ("小明", 12, {}))
    catalogue = matching.Catalogue([], TODAY)
    ordered = matching.match_household([{"category": "housing", "urgency": "low"}, {"category": "medical_aid", "urgency": "high"}], h, catalogue)
    assert [m.need["urgency"] for m in ordered] == ["high", "low"]


def test_monitoring_list_uses_the_configured_income_line(settings):
    h = household("11000", ("小明", 12, {}))
    assert h.in_monitoring_list
    settings.NEEDS_MATCHING = {"income_line": "10000"}
    assert not h.in_monitoring_list
