"""Each warning rule on planted facts, the bands against the line and the standard, the rules
checked on save (a bad rule refused with its number), and versions never edited."""
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from processes.monitoring import rules
from processes.monitoring.models import RuleSet

LINE, STANDARD = Decimal("12000"), Decimal("750")  # the standard a month: 9,000 a year, 1.5x = 13,500


def fired(facts, rule_list=rules.DEFAULT_RULES):
    return {r.code for r in rules.warnings_for(rule_list, facts, line=LINE, standard_monthly=STANDARD)}


def facts(per_capita, income="1000", events=(), previous_income=None, previous_per_capita=None):
    return rules.Facts(income=Decimal(income), per_capita=Decimal(per_capita), events=tuple(events),
                       previous_income=None if previous_income is None else Decimal(previous_income),
                       previous_per_capita=None if previous_per_capita is None else Decimal(previous_per_capita))


def test_income_drop_over_the_percent_against_the_previous_update_warns():
    assert fired(facts("20000", income="690", previous_income="1000", previous_per_capita="20000")) == {"income_drop"}
    assert fired(facts("20000", income="700", previous_income="1000", previous_per_capita="20000")) == set()  # exactly 30 %: not over
    assert fired(facts("20000", income="0", previous_income="0", previous_per_capita="20000")) == set()  # nothing to fall from


@pytest.mark.parametrize("per_capita, expected", [
    ("8999.99", {"below_standard", "below_edge", "below_line"}),
    ("9000", {"below_edge", "below_line"}),
    ("11999", {"below_edge", "below_line"}),  # 1.5 x the standard (13,500) lies above the line here
    ("12000", {"below_edge"}),
    ("13500", set()),
])
def test_falling_below_the_line_or_a_multiple_of_the_standard_warns_once(per_capita, expected):
    assert fired(facts(per_capita, previous_per_capita="14000")) == expected
    assert fired(facts(per_capita, previous_per_capita="5000")) == set()  # already below last month: no new warning
    assert fired(facts(per_capita)) == set()  # the first update is the baseline


def test_a_rule_without_crossing_warns_every_month_below():
    rule = [{"code": "poor", "kind": "below", "basis": "standard", "multiple": 1, "crossing": False, "label": "低于低保标准"}]
    assert fired(facts("5000"), rule) == {"poor"} and fired(facts("5000", previous_per_capita="5000"), rule) == {"poor"}


@pytest.mark.parametrize("event", rules.EVENTS)
def test_each_event_warns(event):
    assert fired(facts("20000", events=[event], previous_per_capita="20000")) == {event}


def test_bands():
    band = lambda v: rules.band(Decimal(v), line=LINE, standard_monthly=STANDARD)  # noqa: E731
    assert [band(v) for v in ("100", "9000", "13499", "13500")] == ["below_standard", "below_edge", "below_edge", "above"]
    high_standard = rules.band(Decimal("11000"), line=LINE, standard_monthly=Decimal("500"))  # 6,000 a year, 1.5 x = 9,000
    assert high_standard == "below_line"


@pytest.mark.parametrize("bad, says", [
    ("nope", "must be a list"),
    ([{"code": "x", "kind": "income_drop", "percent": 120, "label": "x"}], "Rule 1: the percent"),
    ([{"code": "x", "kind": "below", "basis": "moon", "multiple": 1, "label": "x"}], "basis"),
    ([{"code": "x", "kind": "below", "basis": "line", "multiple": "=1+1", "label": "x"}], "multiple"),
    ([{"code": "x", "kind": "event", "event": "party", "label": "x"}], "unknown event"),
    ([{"code": "x", "kind": "event", "event": "disaster", "label": "x"}, {"code": "x", "kind": "event", "event": "job_loss", "label": "y"}],
     "used twice"),
    ([{"code": "bad code", "kind": "event", "event": "disaster", "label": "x"}], "needs a code"),
    ([{"code": "x", "kind": "eval", "label": "x"}], "unknown kind"),
])
def test_bad_rules_are_refused_with_what_is_wrong(bad, says):
    problems = rules.rule_problems(bad)
    assert problems and any(says in p for p in problems), problems
    assert rules.warnings_for(bad if isinstance(bad, list) else [], facts("1", events=rules.EVENTS), line=LINE, standard_monthly=STANDARD) \
        == [] or bad[0]["kind"] == "event" and bad[0]["event"] == "disaster"  # never crashes on a rule that skipped validation


@pytest.mark.django_db
def test_rules_are_versioned_and_a_version_never_changes(users):
    first = RuleSet.objects.get(version=1)
    assert first.rules == rules.DEFAULT_RULES  # from the data migration
    new = RuleSet.publish(rules.DEFAULT_RULES[:2], note="只看收入", by=users["admin"])
    assert new.version == 2
    with pytest.raises(ValidationError):
        RuleSet.publish([{"code": "x", "kind": "event", "event": "party", "label": "x"}], by=users["admin"])
    assert RuleSet.objects.count() == 2
    new.note = "改"
    with pytest.raises(ValidationError):
        new.save()
