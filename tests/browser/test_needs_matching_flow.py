"""One household through the needs -> resources process in a real browser, each step by the role that owns it:
the worker records two needs on a phone, sees the automatic matching on the plan page and confirms a plan, the
provider's office accepts the referral from its group tab, and the worker follows up and evaluates — then the
case page shows the case completed. No engine call anywhere. Screenshots go to test-artifacts/screenshots/nm-*.png."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import submit, task_row
from tests.processes.needs_matching.test_process import world  # noqa: F401 - the same household, resources and provider
from processes.needs_matching.models import Need, Referral

pytestmark = pytest.mark.django_db(transaction=True)

DIAGRAM_READY = '#diagram[data-ready="true"]'


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

