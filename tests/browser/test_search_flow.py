"""Finding a person from the header on a worker's phone (360 px) and at a desk (1280 px): 查找, a
name typed, the elder and the household found, the elder's page opened; a child in a household is
found only as the household. Screenshots go to test-artifacts/screenshots/search-*.png."""
from __future__ import annotations

from decimal import Decimal

import pytest

from processes.needs_matching.models import Household, Member
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import give_reason, name_people
from tests.processes.elderly_care.flows import elder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(users, deployed):
    name_people({"worker": "社工 李明", "supervisor": "督导 陈刚"})
    household = Household.objects.create(code="HH-DS-401", village="dongshan", head_name="王秀英", annual_income=Decimal("8000"))
    Member.objects.create(household=household, name="王秀英", relation="户主", age=78, sex="female")
    Member.objects.create(household=household, name="王小明", relation="孙子", age=8, sex="male", school_enrolled=True)
    elder(village="dongshan", name="王秀英", household_code="HH-DS-401", phone="13712345678")
    elder(village="xishui", name="王西村", phone="13700005678")
    return household


def test_a_worker_finds_an_elder_and_her_household_from_the_header(people, sign_in, screenshot, findings):
    worker = sign_in("worker", PHONE)
    worker.goto("/")
    with worker.expect_navigation():
        worker.locator("header nav").get_by_text("查找", exact=True).click()
    worker.fill("#q", "王")
    with worker.expect_navigation():
        worker.get_by_role("button", name="查找").click()
    hits = worker.locator('[data-testid="hits"] li')
    text = worker.locator('[data-testid="hits"]').inner_text()
    assert "HH-DS-401" in text and "王秀英" in text and "王西村" not in text  # xishui is not this worker's
    assert hits.count() == 2
    findings.check(worker, "worker", allowed=[r"HH-DS-\d+", r"EC-[A-Z]{2}-\d+"])
    screenshot(worker, "search-01-found-360", reload=False)
    screenshot(worker, "search-02-found-1280", viewport=DESKTOP)
    worker.set_viewport_size(PHONE)

    worker.fill("#q", "小明")  # the grandson: the household is the hit, his name is not shown
    with worker.expect_navigation():
        worker.get_by_role("button", name="查找").click()
    text = worker.locator('[data-testid="hits"]').inner_text()
    assert "HH-DS-401" in text and "未满18岁" in text and "王小明" not in text
    screenshot(worker, "search-03-child-360", reload=False)

    worker.fill("#q", "5678")  # the last digits of a phone
    with worker.expect_navigation():
        worker.get_by_role("button", name="查找").click()
    with worker.expect_navigation():
        worker.locator('[data-testid="hits"] a').first.click()
    assert "/elderly/" in worker.url and "王秀英" in worker.locator("main").inner_text()
    findings.check(worker, "worker", allowed=[r"HH-DS-\d+", r"EC-[A-Z]{2}-\d+"])
    findings.assert_none()


def test_the_supervisor_finds_the_household_and_sees_what_the_station_holds_about_its_people(people, sign_in, screenshot, findings):
    """The household has a child: the supervisor (a holder) gives a reason first; the page then shows
    the elder of the household from elderly care beside its members."""
    supervisor = sign_in("supervisor", PHONE)
    supervisor.goto("/search/?q=HH-DS-401")
    with supervisor.expect_navigation():
        supervisor.locator('[data-testid="hits"] a[href^="/households/"]').click()
    give_reason(supervisor, "督导或质量检查", "核对家庭在各项工作中的记录")
    facets = supervisor.locator('[data-testid="household-facets"]')
    assert "老人关爱" in facets.inner_text() and "王秀英" in facets.inner_text()
    findings.check(supervisor, "supervisor", allowed=[r"HH-DS-\d+", r"EC-[A-Z]{2}-\d+"])
    screenshot(supervisor, "search-04-household-facets-360", reload=False)
    screenshot(supervisor, "search-05-household-facets-1280", viewport=DESKTOP)
    findings.assert_none()
