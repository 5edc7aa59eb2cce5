"""The administrator's incidents page in a real browser, in the default Chinese UI, on a phone (360 px) and
on a desktop (1280 px): three child-protection reports stop at 立即向公安机关报案 because the police platform
is down (the real service operation raises). The administrator finds them through the header link, cancels
one with a reason (an empty reason is stopped by the form, a blank one by the server), and — the platform
back — retries another, which goes on to the police receipt; the third stays listed. Every step is in the
case's audit trail. Screenshots go to test-artifacts/screenshots/incidents-*.png."""
from __future__ import annotations

import pytest

from engine import registry
from engine.models import AuditEvent, HumanTask, ProcessInstance
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people
from tests.processes.child_protection.flows import complete, start_case

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/studio/incidents/"
DOWN = "公安接警平台连接超时"
REASON = "同一儿童已有在办个案，本报告转入原个案合并处理"
# What an administrator reads besides Chinese: the element's id and the engine's technical message.
TECHNICAL = [r"Task_NotifyPolice", r"Service task 'police\.report' failed:"]


def _police_down(ctx, params):
    raise ConnectionError(DOWN)


@pytest.fixture
def failed_cases(deployed, users):
    """Three reports whose police notice failed: the cases stop in error at Task_NotifyPolice."""
    working = registry.service_handler("police.report")
    registry.register_service("police.report", _police_down)
    try:
        ids = []
        for _ in range(3):
            instance_id = start_case(users)
            complete(users, instance_id, "Task_Intake")
            ids.append(instance_id)
    finally:
        registry.register_service("police.report", working)  # the platform is back: the cause is fixed
    for instance_id in ids:
        instance = ProcessInstance.objects.get(pk=instance_id)
        assert (instance.status, instance.error_element) == ("error", "Task_NotifyPolice"), instance.error_message
    return {i: ProcessInstance.objects.get(pk=i).subject for i in ids}


def _card(page, instance_id):
    return page.locator(f'li.incident[data-instance="{instance_id}"]')


def test_admin_cancels_one_failed_case_and_retries_another_on_phone_and_desktop(sign_in, screenshot, browser_log, findings,
                                                                                failed_cases, users):
    name_people({"admin": "系统管理员", "intake": "接待岗 王芳"})
    (cancel_id, retry_id, kept_id) = failed_cases

    # Desktop first: all three in one table-like list, newest first.
    desk = sign_in("admin", DESKTOP)
    desk.click('header a[data-nav="incidents"]')
    desk.wait_for_url(f"**{URL}")
    assert desk.locator("h1").inner_text() == "出错停止的个案"
    shown = [int(x) for x in desk.locator("li.incident[data-instance]").evaluate_all("els => els.map(e => e.dataset.instance)")]
    assert shown == [kept_id, retry_id, cancel_id]
    row = _card(desk, cancel_id)
    for text in (failed_cases[cancel_id], "儿童保护", "立即向公安机关报案", "Task_NotifyPolice", DOWN, "第 1 版"):
        assert text in row.inner_text(), (text, row.inner_text())
    assert desk.locator(".incident-head").is_visible()
    findings.read_page(desk, "admin", TECHNICAL)
    screenshot(desk, "incidents-desktop")

    # The phone: cards, nothing sideways.
    phone = sign_in("admin", PHONE)
    phone.goto(URL)
    assert not phone.locator(".incident-head").is_visible()
    findings.read_page(phone, "admin", TECHNICAL)
    findings.fits_phone(phone, "admin")
    screenshot(phone, "incidents-phone")

    # Cancel with a reason: an empty reason never leaves the phone, a blank one is refused by the server.
    card = _card(phone, cancel_id)
    card.locator("summary").click()
    card.locator("button[data-action=cancel]").click()
    assert phone.url.endswith(URL) and card.locator("textarea").evaluate("e => !e.validity.valid")
    card.locator("textarea").fill("   ")
    with phone.expect_navigation():
        card.locator("button[data-action=cancel]").click()
    assert phone.locator(".msg.error").count() == 1 and "原因" in phone.locator(".msg.error").inner_text()
    assert ProcessInstance.objects.get(pk=cancel_id).status == "error"
    card = _card(phone, cancel_id)
    card.locator("summary").click()
    card.locator("textarea").fill(REASON)
    screenshot(phone, "incidents-phone-cancel-reason", reload=False)
    with phone.expect_navigation():
        card.locator("button[data-action=cancel]").click()
    message = phone.locator(".msg.success").inner_text()
    assert failed_cases[cancel_id] in message and REASON in message, message
    assert _card(phone, cancel_id).count() == 0
    assert ProcessInstance.objects.get(pk=cancel_id).status == "cancelled"
    cancelled = AuditEvent.objects.get(instance_id=cancel_id, kind="cancelled", task__isnull=True)
    assert cancelled.actor == users["admin"] and cancelled.data == {"reason": REASON}
    screenshot(phone, "incidents-phone-cancelled")

    # The platform is back: retry the second; it goes on to the police receipt and leaves the list.
    with phone.expect_navigation():
        _card(phone, retry_id).locator("button[data-action=retry]").click()
    assert "已重试" in phone.locator(".msg.success").inner_text()
    assert _card(phone, retry_id).count() == 0 and _card(phone, kept_id).count() == 1
    assert ProcessInstance.objects.get(pk=retry_id).status == "running"
    assert HumanTask.objects.filter(instance_id=retry_id, bpmn_id="Task_PoliceReceipt", status="open").exists()
    assert AuditEvent.objects.filter(instance_id=retry_id, kind="retried", actor=users["admin"]).count() == 1
    findings.read_page(phone, "admin", TECHNICAL)
    findings.fits_phone(phone, "admin")
    screenshot(phone, "incidents-phone-retried")

    # The retried case's own page tells its story in Chinese. It is a minor's file and the administrator
    # holds none of it: a supervisor's approval first (ADR 0020).
    from tests.minors import approve_access

    approve_access(users["admin"], retry_id, approver=users["supervisor"])
    phone.goto(f"/cases/{retry_id}/")
    assert "已重试" in phone.locator("main").inner_text()

    desk.reload()
    assert desk.locator("li.incident[data-instance]").count() == 1
    screenshot(desk, "incidents-desktop-after")

    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
    findings.assert_none()
