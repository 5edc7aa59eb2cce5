"""The child-protection key flow in a real browser, in the default Chinese UI: the intake desk reports on
a phone, a worker of the village claims and answers the 24-hour response, the case page draws its
diagram, and a worker of another village sees nothing of it. Screenshots go to test-artifacts/."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.browser.conftest import DESKTOP, PHONE
from tests.processes.child_protection.flows import complete, open_task, start_case

pytestmark = pytest.mark.django_db(transaction=True)

CHILD = "林小禾"  # a name found nowhere else in the portal, so its absence from a page means something
RESPOND = "24小时内响应"
DIAGRAM_READY = '#diagram[data-ready="true"]'


def local_minute(delta: dt.timedelta = dt.timedelta()) -> str:
    """A value for <input type=datetime-local>, in the station's time zone."""
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def submit(page, selector='button[name=action][value=complete]'):
    """Click a submit button and return the response of the page it leads to (after redirects)."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value


def group_row(page, name: str):
    page.goto("/?tab=group")
    return page.locator("li.task").filter(has=page.locator("span.task-name", has_text=name))


def test_report_response_and_village_scope_on_a_phone(sign_in, screenshot, browser_log, deployed):
    # 1. The intake desk reports a case on a phone and fills the intake form.
    intake = sign_in("intake", PHONE)
    assert intake.locator("html").get_attribute("lang") == "zh-hans"
    intake.goto("/start/")
    with intake.expect_navigation():
        intake.click('a.task-main[href="/start/child_protection/"]')
    form = intake.locator("form.task-form")
    form.locator("select[name=village]").select_option("dongshan")
    form.locator("input[name=received_at]").fill(local_minute(-dt.timedelta(minutes=30)))
    form.locator("select[name=channel]").select_option("phone")
    response = submit(intake, "form.task-form button.primary")
    assert response.status == 200 and re.search(r"/tasks/\d+/$", intake.url), intake.url
    assert "登记强制报告" in intake.locator("h1").inner_text()

    form = intake.locator("form.task-form")
    form.locator("input[name=child_name]").fill(CHILD)
    form.locator("input[name=sex][value=female]").check()
    form.locator("input[name=situations][value=s4]").check()
    form.locator("textarea[name=description]").fill("学生身上多处淤青，自述被家人殴打。")
    form.locator("select[name=perpetrator_relation]").select_option("caregiver")
    form.locator("input[name=present_danger]").check()
    response = submit(intake)
    assert response.status == 200
    assert intake.locator(".msg.success").count() == 1, intake.locator("main").inner_text()
    assert intake.locator(".field.has-error").count() == 0

    # 2. A worker of the village sees the 24-hour response among the group's tasks, on time.
    worker = sign_in("worker", PHONE)
    row = group_row(worker, RESPOND)
    assert row.count() == 1
    badge = row.locator('span.sla[data-sla="green"]')
    assert badge.count() == 1
    assert re.fullmatch(r"剩余 \d+ 小时", badge.inner_text().strip()), badge.inner_text()
    screenshot(worker, "inbox-group-360")
    screenshot(worker, "inbox-group-1280", DESKTOP)
    worker.set_viewport_size(PHONE)

    row = group_row(worker, RESPOND)
    with worker.expect_navigation():
        row.locator("form button").click()
    task_url = worker.url
    assert re.search(r"/tasks/\d+/$", task_url), task_url
    assert RESPOND in worker.locator("h1").inner_text()
    assert worker.locator(".msg.success").inner_text().strip() == "已认领任务。"
    case_url = worker.locator('.task-head a[href^="/cases/"]').get_attribute("href")

    form = worker.locator("form.task-form")
    form.locator("select[name=response_type]").select_option("home_visit")
    form.locator("input[name=responded_at]").fill(local_minute())
    form.locator("input[name=child_seen]").check()
    form.locator("select[name=immediate_safety]").select_option("safe_with_plan")
    form.locator("textarea[name=actions_taken]").fill("入户走访，与祖母制定安全计划。")
    response = submit(worker)
    assert response.status == 200 and worker.locator(".field.has-error").count() == 0
    assert worker.locator(".msg.success").count() == 1

    worker.goto(case_url)
    worker.wait_for_selector(DIAGRAM_READY, state="attached")
    assert worker.locator('#diagram [data-element-id="Task_Respond"].cf-done').count() == 1
    assert worker.locator('#diagram [data-element-id="Task_PoliceReceipt"].cf-active').count() == 1
    screenshot(worker, "case-360", ready=DIAGRAM_READY)
    screenshot(worker, "case-1280", DESKTOP, ready=DIAGRAM_READY)
    for asset in ["/static/portal/portal.css", "/static/vendor/htmx.min.js", "/static/vendor/diagram-js.css",
                  "/static/vendor/bpmn-viewer.production.min.js", "/static/portal/case-diagram.js"]:
        assert browser_log.static.get(asset) in (200, 304), (asset, browser_log.static)  # 304: served before, still valid

    # 3. A worker of another village gets the not-found page for both, with nothing of the child in it.
    outsider = sign_in("worker_xishui", PHONE)
    for url in [task_url, case_url, case_url + "diagram/"]:
        response = outsider.goto(url)
        assert response.status == 404, (url, response.status)
        assert CHILD not in outsider.content()
    assert outsider.locator("h1").inner_text().strip() == "未找到"
    screenshot(outsider, "not-found-360")

    assert not browser_log.page_errors
    assert not browser_log.failed_static


def test_response_with_required_fields_empty_shows_errors_and_stays_open(sign_in, screenshot, browser_log, users, deployed):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    task_id = open_task(instance_id, "Task_Respond")

    worker = sign_in("worker", PHONE)
    row = group_row(worker, RESPOND)
    with worker.expect_navigation():
        row.locator("form button").click()
    assert worker.url.endswith(f"/tasks/{task_id}/")

    response = submit(worker)
    assert response.status == 400
    assert worker.locator(".msg.error").inner_text().strip() == "请修改下方标出的字段。"
    for key in ["response_type", "responded_at", "immediate_safety", "actions_taken"]:
        errors = worker.locator(f'.field.has-error[data-field="{key}"] .error')
        assert errors.count() >= 1, key
        assert errors.first.inner_text().strip(), key
    for key in ["child_seen", "emergency_placement_requested"]:
        assert worker.locator(f'.field[data-field="{key}"].has-error').count() == 0, key
    screenshot(worker, "response-errors-360")

    worker.goto("/?tab=mine")
    assert worker.locator(f'li.task a.task-main[href="/tasks/{task_id}/"]').count() == 1
    assert not browser_log.page_errors
