"""One household through the needs -> resources process in a real browser, each step by the role that owns it:
the worker records two needs on a phone, sees the automatic matching on the plan page and confirms a plan, the
provider's office accepts the referral from its group tab, and the worker follows up and evaluates — then the
case page shows the case completed. No engine call anywhere. Screenshots go to test-artifacts/screenshots/nm-*.png."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import make_user
from processes.needs_matching.models import Household, Member, Need, Referral, Resource

pytestmark = pytest.mark.django_db(transaction=True)

BELOW_LINE = {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元"}
SCHOOL_AGE = [{"fact": "age", "op": "gte", "value": 6}, {"fact": "age", "op": "lte", "value": 18}]
DIAGRAM_READY = '#diagram[data-ready="true"]'


@pytest.fixture
def world(users, deployed):
    """As in tests/processes/needs_matching/test_process.py."""
    household = Household.objects.create(code="HH-DS-001", village="dongshan", head_name="王户主", annual_income=Decimal("20000"))
    Member.objects.create(household=household, name="王户主", relation="户主", age=45, sex="male", disability_certificate=True)
    Member.objects.create(household=household, name="小明", relation="子女", age=12, sex="male", school_enrolled=True)
    edu = Resource.objects.create(name="教育补贴", kind="policy", provider="教育办", provider_group="prov-edu", categories=["education"],
                                  rules=[BELOW_LINE, *SCHOOL_AGE], capacity_left=Decimal("1"), capacity_total=Decimal("10"))
    charity = Resource.objects.create(name="爱心助学金", kind="social", provider="县慈善会", categories=["education"],
                                      rules=[BELOW_LINE], capacity_left=Decimal("5"), capacity_total=Decimal("5"))
    partner = make_user("edu_office", "partner_office", villages=None)
    from django.contrib.auth.models import Group

    partner.groups.add(Group.objects.get_or_create(name="prov-edu")[0])
    return {**users, "household": household, "edu": edu, "charity": charity, "partner": partner}


def task_row(page, tab: str, name: str):
    """The inbox row of the task called `name` in a tab (mine / group), exactly one of it."""
    page.goto(f"/?tab={tab}")
    row = page.locator("li.task").filter(has=page.locator("span.task-name").get_by_text(name, exact=True))
    assert row.count() == 1, (tab, name, page.locator("main").inner_text())
    return row


def open_task(page, tab: str, name: str):
    row = task_row(page, tab, name)
    with page.expect_navigation():
        row.locator("a.task-main").click()
    return on_task(page, name)


def on_task(page, name: str):
    """The page in view is the task page of `name`, with its form."""
    assert re.search(r"/tasks/\d+/$", page.url), page.url
    assert name in page.locator("h1").inner_text(), page.locator("main").inner_text()
    form = page.locator("form.task-form")
    assert form.count() == 1, page.locator("main").inner_text()
    return form


def submit(page, selector: str = "form.task-form button[name=action][value=complete]"):
    """Submit the form in view; the step must be accepted (a success message, no field marked)."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    main = page.locator("main").inner_text()
    assert navigation.value.status == 200, main
    assert page.locator(".field.has-error").count() == 0, main
    assert page.locator(".msg.success").count() == 1, main
    return navigation.value


def test_worker_records_needs_confirms_a_plan_provider_accepts_then_follow_up_and_evaluation(world, sign_in, screenshot, browser_log):
    household = world["household"]

    # 1. The worker starts the assessment on a phone and records two needs.
    worker = sign_in("worker", PHONE)
    worker.goto("/start/")
    with worker.expect_navigation():
        worker.click('a.task-main[href="/start/needs_matching/"]')
    form = worker.locator("form.task-form")
    form.locator("select[name=household]").select_option(str(household.pk))
    form.locator("input[name=visit_date]").fill("2026-11-29")
    submit(worker, "form.task-form button.primary")
    form = on_task(worker, "入户需求评估")
    case_url = worker.locator('.task-head a[href^="/cases/"]').get_attribute("href")
    assert re.fullmatch(r"/cases/\d+/", case_url), case_url
    for row, (category, description, urgency, member) in enumerate([("education", "小明学费困难", "high", "小明"),
                                                                       ("housing", "房屋漏雨", "medium", "")]):
        form.locator(f"select[name=needs-{row}-category]").select_option(category)
        form.locator(f"input[name=needs-{row}-description]").fill(description)
        form.locator(f"select[name=needs-{row}-urgency]").select_option(urgency)
        if member:
            form.locator(f"input[name=needs-{row}-member]").fill(member)
    screenshot(worker, "nm-assessment-360")
    submit(worker)

    # 2. The plan page shows what matching found for each need; the worker confirms one referral.
    form = on_task(worker, "确认服务方案")  # matching ran as a service task; the worker lands on the plan
    summary = worker.locator("[data-testid=case-summary]")
    assert summary.count() == 1, worker.locator("main").inner_text()
    summary_text = summary.inner_text()
    entries = [(dt.inner_text(), dd.inner_text()) for dt, dd in zip(summary.locator("dt").all(), summary.locator("dd").all())]
    assert len(entries) == 2, summary_text
    (education_label, education_value), (housing_label, housing_value) = entries
    assert "教育" in education_label, summary_text
    assert "✔ 爱心助学金" in education_value and "✔ 教育补贴" in education_value, summary_text  # both eligible
    assert "住房" in housing_label and "缺口" in housing_value, summary_text  # no resource for housing: the gap
    form.locator("input[name=plan-0-need_no]").fill("1")
    form.locator("select[name=plan-0-resource]").select_option(label="教育补贴（教育办）")
    form.locator("input[name=plan-0-responsible]").fill("李明")
    form.locator("input[name=plan_total]").fill("0")
    screenshot(worker, "nm-plan-360")
    submit(worker)

    # 3. The provider's office finds the referral in its group tab and accepts it.
    provider = sign_in("edu_office", PHONE)
    form = open_task(provider, "group", "合作单位确认转介")
    form.locator("input[name=response][value=accept]").check()
    form.locator("input[name=expected_start]").fill("2026-12-05")
    screenshot(provider, "nm-provider-360")
    submit(provider)
    assert Referral.objects.get().status == "accepted"

    # 4. Follow-up once, then the evaluation.
    form = open_task(worker, "group", "跟进回访")
    form.locator("input[name=followup_date]").fill("2026-12-20")
    form.locator("textarea[name=observations]").fill("已领取补贴，学习稳定")
    assert not form.locator("input[name=more_followup]").is_checked()
    submit(worker)

    form = open_task(worker, "group", "评估需求满足情况")
    for row, (need_no, result) in enumerate([("1", "met"), ("2", "unmet")]):
        form.locator(f"input[name=outcomes-{row}-need_no]").fill(need_no)
        form.locator(f"select[name=outcomes-{row}-result]").select_option(result)
    form.locator("select[name=monitoring_status]").select_option("watch")
    form.locator("textarea[name=summary]").fill("教育需求已满足，住房需求待新资源")
    submit(worker)

    worker.goto(case_url)
    assert worker.locator("[data-testid=case-status]").inner_text().strip() == "已完成"
    assert worker.locator("section ul.tasks").count() == 0  # no open task left
    screenshot(worker, "nm-case-1280", DESKTOP, ready=DIAGRAM_READY)
    household.refresh_from_db()
    assert household.monitoring_status == "watch"
    assert list(Need.objects.order_by("number").values_list("status", flat=True)) == ["met", "unmet"]

    assert not browser_log.page_errors
    assert not browser_log.failed_static

