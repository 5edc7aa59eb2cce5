"""The station's year on a supervisor's phone and desk (360 and 1280 px): the figures against the
targets, the way to the records behind a number, and an administrator setting a target.
Screenshots go to test-artifacts/screenshots/year-*.png."""
from __future__ import annotations

import datetime as dt

import pytest

from engine import clock
from portal.dashboard.models import YearTarget
from processes.activities.models import Activity
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def year_so_far(users, deployed):
    name_people({"supervisor": "督导 陈刚", "admin": "系统管理员"})
    year = clock.today().year
    for n, (kind, village, month, people) in enumerate([("awareness", "dongshan", 3, 40), ("awareness", "xishui", 5, 55),
                                                        ("training", "xishui", 4, 22), ("training", "dongshan", 9, 30)]):
        Activity.objects.create(instance_id=10_000 + n, kind=kind, title=f"活动{n}", village=village, place="村委会", facilitator="李明",
                                held_on=dt.date(year, month, 12), participants=people, status="approved")
    YearTarget.objects.create(year=year, figure="activities.awareness_sessions", target=12)
    return year


def test_the_year_against_its_targets_and_the_records_behind_a_number(year_so_far, sign_in, screenshot, findings):
    supervisor = sign_in("supervisor", PHONE)
    supervisor.goto("/year/")
    card = supervisor.locator('[data-figure="activities.awareness_sessions"]')
    assert card.locator("[data-testid=actual]").inner_text() == "2"
    assert card.locator("[data-testid=target]").inner_text() == "12"
    assert "17%" in card.locator("[data-testid=share]").inner_text()  # 2 of 12
    assert supervisor.locator('[data-figure="activities.training_people"] [data-testid=actual]').inner_text() == "52"
    findings.check(supervisor, "supervisor", allowed=[r"PDF"])
    screenshot(supervisor, "year-01-supervisor-360")
    screenshot(supervisor, "year-02-supervisor-1280", viewport=DESKTOP)
    findings.check(supervisor, "supervisor", allowed=[r"PDF"])
    with supervisor.expect_navigation():
        card.get_by_role("link").click()
    listed = supervisor.locator("[data-testid=activities] li")
    assert listed.count() == 2 and "儿童保护宣传" in listed.first.inner_text()
    assert supervisor.locator('a[href="/year/targets/?year=%d"]' % year_so_far).count() == 0  # not theirs to edit

    admin = sign_in("admin", PHONE)
    admin.goto(f"/year/targets/?year={year_so_far}")
    admin.fill('input[name="activities.trainings"]', "-3")
    with admin.expect_navigation():
        admin.click("button.primary")
    assert admin.locator(".field.has-error").count() == 1
    assert admin.locator('input[name="activities.trainings"]').input_value() == "-3"  # kept as typed
    admin.fill('input[name="activities.trainings"]', "6")
    findings.check(admin, "admin", allowed=[r"chinese-calendar"])
    screenshot(admin, "year-03-targets-360", reload=False)
    with admin.expect_navigation():
        admin.click("button.primary")
    assert admin.locator(".msg.success").count() == 1
    admin.goto(f"/year/?year={year_so_far}")
    assert admin.locator('[data-figure="activities.trainings"] [data-testid=target]').inner_text() == "6"
    findings.assert_none()
