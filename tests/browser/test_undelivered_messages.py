"""The administrator's undelivered-messages page in a real browser, in the default Chinese UI, on a phone
(360 px) and on a desktop (1280 px): the police platform is down, so a child-protection report's police
and civil-affairs notices fail until their last attempt. The administrator reaches them from the
incidents page's tab, reads channel, case, attempts, error and next attempt, and — the platform back —
retries one, which is sent at once and leaves the list; a worker gets 403. Screenshots go to
test-artifacts/screenshots/undelivered-*.png."""
from __future__ import annotations

import pytest

from engine import api
from engine.models import AuditEvent, OutboxMessage
from integrations.notifications.backends import LocmemNotifier
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people
from tests.processes.child_protection.flows import complete, start_case

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/studio/incidents/messages/"
DOWN = "公安接警平台连接超时"
TECHNICAL = [r"partner\.police", r"partner\.civil_affairs", r"ConnectionError:"]


class PoliceDown:
    def send(self, *, channel, payload, key, done=()):
        raise ConnectionError(DOWN)


@pytest.fixture
def failed_notices(settings, deployed, users):
    settings.CASEFLOW_NOTIFIER_BACKEND = "tests.browser.test_undelivered_messages.PoliceDown"
    settings.CASEFLOW_OUTBOX = {"max_attempts": 1}
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")  # queues both notices; the after-commit delivery fails for good
    api.deliver_outbox()
    messages = {m.channel: m for m in OutboxMessage.objects.filter(instance_id=instance_id)}
    assert {m.status for m in messages.values()} == {"failed"}, messages
    settings.CASEFLOW_NOTIFIER_BACKEND = "integrations.notifications.backends.LocmemNotifier"  # the platform is back
    return instance_id, messages


def test_admin_sees_undelivered_notices_and_retries_one_on_phone_and_desktop(sign_in, screenshot, browser_log, findings,
                                                                            failed_notices, users):
    name_people({"admin": "系统管理员", "worker": "社工 李明"})
    instance_id, messages = failed_notices
    police = messages["partner.police"]

    desk = sign_in("admin", DESKTOP)
    desk.click('header a[data-nav="incidents"]')
    desk.click(f'.inc-tabs a[href="{URL}"]')
    desk.wait_for_url(f"**{URL}")
    assert desk.locator("h1").inner_text() == "未能送达的消息"
    row = desk.locator(f'li.incident[data-message="{police.pk}"]')
    for text in ("儿童保护：需向公安报告", "partner.police", "已放弃发送", DOWN, "无——等待管理员重试"):
        assert text in row.inner_text(), (text, row.inner_text())
    assert row.locator(f'a[href="/cases/{instance_id}/"]').count() == 1
    assert desk.locator(".incident-head").is_visible()
    findings.read_page(desk, "admin", TECHNICAL)
    screenshot(desk, "undelivered-desktop")

    phone = sign_in("admin", PHONE)
    phone.goto(URL)
    assert not phone.locator(".incident-head").is_visible()
    findings.read_page(phone, "admin", TECHNICAL)
    findings.fits_phone(phone, "admin")
    screenshot(phone, "undelivered-phone")

    with phone.expect_navigation():
        phone.locator(f'li.incident[data-message="{police.pk}"] button[data-action=retry-message]').click()
    assert "已重新排队" in phone.locator(".msg.success").inner_text()
    assert phone.locator(f'li.incident[data-message="{police.pk}"]').count() == 0
    assert phone.locator("li.incident[data-message]").count() == 1  # the civil-affairs notice is still waiting
    police.refresh_from_db()
    assert police.status == "sent" and [m["key"] for m in LocmemNotifier.sent] == [police.key]
    assert AuditEvent.objects.filter(instance_id=instance_id, kind="message_retried", actor=users["admin"]).count() == 1
    findings.fits_phone(phone, "admin")
    screenshot(phone, "undelivered-phone-retried")

    worker = sign_in("worker", PHONE)
    response = worker.goto(URL)
    assert response.status == 403
    screenshot(worker, "undelivered-phone-worker-refused")

    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
    findings.assert_none()
