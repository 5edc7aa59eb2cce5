"""The studio's test run in a real browser, in the default Chinese UI (ADR 0016): the administrator opens
child protection's draft, follows 试运行, starts the run with the start form, records the intake, sees
that the police were only logged, moves the clock forward 1 hour and then 24 hours, and finds the
supervisor's escalation open — at 1280 px and on a 360 px phone. Not a case, task or audit row is
made. Screenshots go to test-artifacts/screenshots/testrun-*.png."""
from __future__ import annotations

import pytest

from engine.models import AuditEvent, HumanTask, ProcessInstance
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people, submit
from tests.browser.test_studio import CODES
from tests.dates import local_minutes_ago

pytestmark = pytest.mark.django_db(transaction=True)

# The log names service operations (police.report) and the stub result's JSON.
LOG_CODES = [r"\b[a-z_]+\.[a-z_]+\b", *CODES, r"\btest_run\b", r"\btrue\b", r"\bopen_case\b", r"\brecord_intake\b"]


def _counts():
    return ProcessInstance.objects.count(), HumanTask.objects.count(), AuditEvent.objects.exclude(kind="deployed").count()


def _run_to_the_escalation(admin, screenshot, prefix: str, viewport):
    admin.goto("/studio/child_protection/edit/")
    with admin.expect_navigation():
        admin.click('[data-testid="test-run"]')
    assert admin.url.endswith("/studio/child_protection/test/")
    form = admin.locator('[data-testid="start"] form')
    form.locator("select[name=village]").select_option(label="东山村")
    form.locator("input[name=received_at]").fill(local_minutes_ago(20))
    form.locator("select[name=channel]").select_option(label="电话")
    screenshot(admin, f"{prefix}-01-start", viewport, reload=False)
    with admin.expect_navigation():
        admin.click('[data-testid="start-run"]')
    tasks = admin.locator('[data-testid="tasks"] li')
    assert tasks.count() == 1 and "接待岗" in tasks.first.inner_text()

    with admin.expect_navigation():
        tasks.first.locator("a").click()
    assert "接待岗" in admin.locator('[data-testid="role"]').inner_text()
    form = admin.locator('[data-testid="task-form"]')
    form.locator("input[name=child_name]").fill("小明")
    form.locator("input[name=sex][value=female]").check()
    form.locator("input[name=situations][value=s4]").check()
    form.locator("textarea[name=description]").fill("学生身上多处淤青。")
    form.locator("input[name=present_danger]").check()
    screenshot(admin, f"{prefix}-02-intake", viewport, reload=False)
    submit(admin, '[data-testid="complete"]')

    log = admin.locator('[data-testid="log"]')
    assert "police.report" in log.inner_text() and "本应调用服务" in log.inner_text()
    assert admin.locator('[data-testid="tasks"] li[data-task="Task_Respond"]').count() == 1
    admin.fill("#testrun-amount", "1")  # the report arrived 20 minutes ago: 1 hour in, nothing is late yet
    with admin.expect_navigation():
        admin.click('[data-testid="jump-custom"]')
    assert admin.locator('[data-testid="tasks"] li[data-task="Task_SupervisorEscalation"]').count() == 0
    with admin.expect_navigation():
        admin.click('[data-testid="jump-24"]')
    escalation = admin.locator('[data-testid="tasks"] li[data-task="Task_SupervisorEscalation"]')
    assert escalation.count() == 1 and "督导" in escalation.inner_text()
    assert "计时器“24小时未响应”已触发" in log.inner_text()
    admin.wait_for_selector('#diagram[data-ready="true"]')
    assert "cf-active" in (admin.locator('#diagram .djs-element[data-element-id="Task_SupervisorEscalation"]').get_attribute("class") or "")
    screenshot(admin, f"{prefix}-03-escalation", viewport, ready='#diagram[data-ready="true"]', reload=False)


def test_admin_test_runs_child_protection_to_the_supervisor_escalation(sign_in, screenshot, browser_log, findings, deployed):
    name_people({"admin": "系统管理员"})
    before = _counts()
    admin = sign_in("admin", DESKTOP)
    _run_to_the_escalation(admin, screenshot, "testrun-1280", DESKTOP)
    findings.check(admin, "admin", LOG_CODES)

    with admin.expect_navigation():
        admin.click('[data-testid="restart"]')
    assert admin.locator('[data-testid="start-run"]').count() == 1
    admin.set_viewport_size(PHONE)
    _run_to_the_escalation(admin, screenshot, "testrun-360", PHONE)
    findings.check(admin, "admin", LOG_CODES)

    assert _counts() == before
    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
    findings.assert_none()
