"""A household with a child is a minor's file (ADR 0020 addendum), walked in a real browser at 360 and
1280 px as each role that meets it: the supervisor of its village (a holder) gives a reason and reads
it; a worker of the village who holds none of its cases asks, the supervisor approves on the access
requests page, and the worker reads it; the administrator is asked for an approval too; a partner
office gets the usual "not yours". Screenshots go to test-artifacts/screenshots/hh-minors-*.png."""
from __future__ import annotations

from decimal import Decimal

import pytest

from processes.needs_matching.models import Household, Member
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import give_reason, name_people
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {"worker": "社工 李明", "supervisor": "督导 陈刚", "admin": "管理员 王芳", "edu_office": "县教育局 联络员"}


@pytest.fixture
def family(users):
    household = Household.objects.create(code="HH-DS-101", village="dongshan", head_name="赵户主", annual_income=Decimal("9000"))
    Member.objects.create(household=household, name="赵户主", relation="户主", age=41, sex="male")
    Member.objects.create(household=household, name="赵小花", relation="子女", age=9, sex="female", chronic_illness=True)
    make_user("edu_office", "partner_office", villages=None)
    name_people(NAMES)
    return household


def test_household_with_a_child_by_role(sign_in, screenshot, findings, browser_log, family):
    url = f"/households/{family.pk}/"

    supervisor = sign_in("supervisor", PHONE)
    supervisor.goto(url)
    assert f"/records/household/{family.pk}/access/" in supervisor.url
    assert "赵小花" not in supervisor.locator("main").inner_text()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "hh-minors-01-supervisor-reason-360")
    screenshot(supervisor, "hh-minors-01-supervisor-reason-1280", DESKTOP)
    give_reason(supervisor, "督导或质量检查", "季度走访前核对家庭情况")
    assert supervisor.url.endswith(url) and "赵小花" in supervisor.locator("main").inner_text()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "hh-minors-02-supervisor-household-1280")
    screenshot(supervisor, "hh-minors-02-supervisor-household-360", PHONE)

    worker = sign_in("worker", PHONE)
    worker.goto(url)
    assert f"/records/household/{family.pk}/access/" in worker.url
    assert worker.locator("form[data-need]").get_attribute("data-need") == "approval"
    findings.check(worker, "worker")
    give_reason(worker, "顶岗或接手个案", "接手赵家的帮扶前了解情况")
    assert worker.locator('[data-testid="access-status"]').count() == 1  # waiting for a supervisor
    findings.check(worker, "worker")
    screenshot(worker, "hh-minors-03-worker-waiting-360")
    screenshot(worker, "hh-minors-03-worker-waiting-1280", DESKTOP)

    supervisor.goto("/access/requests/")
    row = supervisor.locator(".access-request").first
    assert "HH-DS-101" in row.inner_text() and "赵小花" not in row.inner_text()
    findings.check(supervisor, "supervisor")
    screenshot(supervisor, "hh-minors-04-requests-360")
    with supervisor.expect_navigation():
        row.locator("button.primary").click()
    worker.goto(url)
    assert worker.url.endswith(url) and "赵小花" in worker.locator("main").inner_text()
    findings.check(worker, "worker")
    screenshot(worker, "hh-minors-05-worker-household-1280")
    screenshot(worker, "hh-minors-05-worker-household-360", PHONE)

    admin = sign_in("admin", DESKTOP)
    admin.goto(url)
    assert admin.locator("form[data-need]").get_attribute("data-need") == "approval"
    findings.check(admin, "admin")
    screenshot(admin, "hh-minors-06-admin-ask-1280")
    screenshot(admin, "hh-minors-06-admin-ask-360", PHONE)

    partner = sign_in("edu_office", PHONE)
    response = partner.goto(url)
    assert response.status == 404
    screenshot(partner, "hh-minors-07-partner-404-360")
    assert partner.goto(f"/records/household/{family.pk}/access/").status == 404
    screenshot(partner, "hh-minors-07-partner-404-1280", DESKTOP)

    findings.assert_none()
    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.csp_violations, browser_log.csp_violations
