"""The matching judges the income the station knows now: a monthly monitoring visit's income (a
month's income times 12, the size counted on that visit) replaces the one entered when the household
was registered, on the rules, the household's page, its list and the gap report; the latest month wins."""
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings

from processes.needs_matching import matching
from processes.needs_matching.models import Household, Resource
from tests.processes.monitoring.flows import do, enrol, household, local, update

pytestmark = pytest.mark.django_db
BELOW_LINE = {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元"}
SCHOOL = {"category": "education", "description": "学费", "urgency": "medium", "member": None}


@pytest.fixture
def registered(users, deployed):
    """Registered years ago at 15,927 a person (47,781 for three): above the line."""
    home = household(size=3)
    Household.objects.filter(pk=home.pk).update(annual_income=Decimal("47781"))
    Resource.objects.create(name="助学救助金", kind="policy", provider="民政办", categories=["education"], rules=[BELOW_LINE],
                            capacity_left=10, capacity_total=10)
    return Household.objects.get(pk=home.pk)


def eligible(home) -> bool:
    home = Household.objects.prefetch_related("members").get(pk=home.pk)
    catalogue = matching.Catalogue(list(Resource.objects.all()), local(2026, 11, 20).date())
    return bool(matching.match_household([SCHOOL], home, catalogue)[0].eligible)


def listed_in_gap_report(client) -> str | None:
    """The gap report's count of Dongshan's households on the list, None when it has no row."""
    report = client.get("/resources/gaps/").content.decode()
    row = report.split('<tr data-village="dongshan">', 1)
    return row[1].split("<td>")[2].split("</td>")[0] if len(row) == 2 else None


def test_a_monitoring_visit_that_finds_the_income_below_the_line_makes_the_household_eligible(users, registered, client):
    assert not eligible(registered)
    client.force_login(users["supervisor"])
    assert listed_in_gap_report(client) is None
    with time_machine.travel(local(2026, 10, 12), tick=False):
        case = enrol(registered, users["worker"])
        do(case, "Task_MonthlyUpdate", users["worker"], update(wages="1762.50", size=3))  # 7,050 a person a year

    assert eligible(registered)
    home = Household.objects.get(pk=registered.pk)
    assert home.per_capita_income == Decimal("7050.00") and home.income.annual_income == Decimal("21150.00")

    assert listed_in_gap_report(client) == "1"  # on the monitoring list now: counted
    client.force_login(users["worker"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    listed = client.get("/households/?village=dongshan").content.decode()
    assert "7,050.00" in listed and "15,927.00" not in listed
    page = client.get(f"/households/{registered.pk}/").content.decode()
    assert "7,050.00" in page.split('data-testid="per-capita"')[1][:40]
    source = page.split('data-testid="income-source"')[1].split("</dd>")[0]
    assert "Low-income monitoring visit" in source and "2026-10-12" in source and "47,781.00" in source


def test_the_latest_month_is_judged_and_the_page_says_whose_figure_it_is(users, registered, client):
    with time_machine.travel(local(2026, 10, 12), tick=False):
        case = enrol(registered, users["worker"])
        do(case, "Task_MonthlyUpdate", users["worker"], update(wages="1762.50", size=3, visited_on="2026-10-12"))
    from engine import api

    with time_machine.travel(local(2026, 11, 1, 1), tick=False):
        api.fire_due_timers(as_of=local(2026, 11, 1, 1))  # October ends: November's update opens
    with time_machine.travel(local(2026, 11, 9), tick=False):
        do(case, "Task_MonthlyUpdate", users["worker"], update(wages="4000", size=2, visited_on="2026-11-09"))  # 24,000 a person

    assert not eligible(registered)
    assert Household.objects.get(pk=registered.pk).income.size == 2
