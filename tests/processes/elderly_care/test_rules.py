"""Tier rules and flag thresholds are data: the tier is computed from screening answers by the
rules in force, an administrator's edit is checked and saved as the next version (never changing
the one a screening used), and the next screening uses the new version."""
import pytest
from django.core.exceptions import ValidationError

from processes.elderly_care import rules
from processes.elderly_care.models import RuleSet, Screening

ANSWERS = {"age": 72, "lives_alone": False, "children_away": False, "no_carer": False, "dementia": False,
           "severe_cardiovascular": False, "diabetic": False, "disabled": False, "contact_days": 3, "chronic_count": 0,
           "self_care_score": 95}


@pytest.mark.parametrize("changes, tier", [
    ({}, "general"),
    ({"lives_alone": True}, "key"),
    ({"children_away": True}, "key"),
    ({"chronic_count": 2}, "key"),
    ({"age": 81, "lives_alone": True}, "high"),  # 80+ and alone
    ({"age": 81}, "general"),  # 80+ alone is not enough
    ({"age": 85, "children_away": True}, "high"),
    ({"dementia": True}, "high"),
    ({"severe_cardiovascular": True, "lives_alone": True}, "high"),  # the first tier that matches wins
    ({"self_care_score": 39}, "high"),
    ({"self_care_score": 40}, "general"),
])
def test_the_tier_is_the_first_whose_conditions_match(changes, tier):
    result = rules.compute_tier(rules.DEFAULT_TIER_RULES, {**ANSWERS, **changes})
    assert result.tier == tier
    assert bool(result.reasons) == (tier != "general")


def test_the_tier_says_why_and_how_often_it_is_visited():
    result = rules.compute_tier(rules.DEFAULT_TIER_RULES, {**ANSWERS, "dementia": True})
    assert (result.tier, result.cycle, result.reasons) == ("high", "week", ("失智",))
    assert rules.compute_tier(rules.DEFAULT_TIER_RULES, ANSWERS).cycle == "month"


def test_the_default_rules_are_valid_and_bad_ones_are_named():
    assert rules.tier_rule_problems(rules.DEFAULT_TIER_RULES) == []
    assert rules.flag_rule_problems(rules.DEFAULT_FLAG_RULES) == []
    bad = [{"tier": "high", "label": "高", "cycle": "fortnight", "any": [{"fact": "shoe_size", "op": "gt", "value": 40}]},
           {"tier": "general", "label": "一般", "cycle": "month", "any": [{"fact": "age", "op": "gte", "value": "eighty"}]}]
    problems = rules.tier_rule_problems(bad)
    assert any("cycle" in p for p in problems)
    assert any("shoe_size" in p for p in problems)
    assert any("last tier" in p for p in problems)
    assert any("needs a number" in p for p in problems)
    assert rules.flag_rule_problems([{"flag": "x", "fact": "systolic", "op": "contains", "value": 1}])
    assert rules.tier_rule_problems("high") and rules.tier_rule_problems([])


def test_a_rule_that_never_went_through_validation_is_skipped_not_a_crash():
    broken = [{"tier": "high", "label": "高", "cycle": "week", "any": [{"fact": "age", "op": "gte"}]},
              {"tier": "general", "label": "一般", "cycle": "month", "any": []}]
    assert rules.compute_tier(broken, {**ANSWERS, "age": 99}).tier == "general"


def test_flags_from_a_visits_readings_with_their_thresholds():
    flags = rules.raised_flags(rules.DEFAULT_FLAG_RULES, {"systolic": 160, "glucose": 7.0, "fell": True, "days_since_contact": None})
    assert [f.code for f in flags] == ["high_bp", "fall"]
    assert rules.raised_flags(rules.DEFAULT_FLAG_RULES, {"systolic": 159, "fell": False, "missed_medication": False}) == []


@pytest.mark.django_db
def test_an_edit_is_checked_and_saved_as_the_next_version(users):
    first = RuleSet.objects.filter(kind="tiers").latest("version")
    assert first.version == 1  # the migration's
    with pytest.raises(ValidationError) as refused:
        RuleSet.publish("tiers", [{"tier": "general", "label": "一般", "cycle": "daily", "any": []}], by=users["admin"])
    assert "rules" in refused.value.message_dict
    stricter = [dict(t) for t in rules.DEFAULT_TIER_RULES]
    stricter[1] = {**stricter[1], "any": [*stricter[1]["any"], {"fact": "age", "op": "gte", "value": 75, "label": "75岁以上"}]}
    second = RuleSet.publish("tiers", stricter, note="75岁以上列为重点", by=users["admin"])
    assert second.version == 2 and second.created_by == users["admin"]
    with pytest.raises(ValidationError):
        second.save()  # a version is never changed
    first.refresh_from_db()
    assert first.rules == rules.DEFAULT_TIER_RULES


@pytest.mark.django_db
def test_the_next_screening_uses_the_edited_rules(users, deployed):
    import time_machine

    from tests.processes.elderly_care.flows import SCREEN_GENERAL, elder, local, screen

    stricter = [dict(t) for t in rules.DEFAULT_TIER_RULES]
    stricter[1] = {**stricter[1], "any": [*stricter[1]["any"], {"fact": "age", "op": "gte", "value": 75, "label": "75岁以上"}]}
    with time_machine.travel(local(2026, 11, 10), tick=False):
        before = screen(elder(birth_year=1948), users["worker"], users["supervisor"], SCREEN_GENERAL)
        RuleSet.publish("tiers", stricter, note="75岁以上列为重点", by=users["admin"])
        after = screen(elder(birth_year=1948), users["worker"], users["supervisor"], SCREEN_GENERAL)
    assert [(s.computed_tier, s.rules_version) for s in Screening.objects.filter(instance_id__in=[before, after]).order_by("pk")] == [
        ("general", 1), ("key", 2)]



def test_a_referral_reads_as_words_not_as_values_and_codes():
    """The elder's page showed 漏服药物（True） and the doctor's answer as 'no_issue:'."""
    from django.utils import translation

    from processes.elderly_care.models import Referral

    referral = Referral(flags=[{"code": "missed_meds", "label": "漏服药物", "value": "True"},
                               {"code": "high_bp", "label": "收缩压≥160", "value": "172"}], outcome="monitor: 三天后复测")
    with translation.override("zh-hans"):
        assert referral.flags_text == "漏服药物；收缩压≥160（172）"
        assert referral.outcome_text == "继续观察：三天后复测"
        assert Referral(flags=[], outcome="no_issue").outcome_text == "复查正常"
    with translation.override("en"):
        assert Referral(flags=[], outcome="treated: 已服药").outcome_text == "treated at the village clinic：已服药"
