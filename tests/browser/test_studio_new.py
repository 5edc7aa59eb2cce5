"""A new process from a template, in a real browser and the default Chinese UI: the administrator opens
/studio/, follows 新建流程, names the process, picks 申请与审批 and lands in the modeler with the template's
diagram drawn — at 1280 px and on a 360-px phone. The list then shows the draft as not deployed yet.
Screenshots go to test-artifacts/screenshots/studio-new-*.png."""
from __future__ import annotations

import pytest

from portal.studio.models import Draft
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people, process_keys, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# An administrator's pages carry codes: process keys (the example in the key's help too), role codes.
CODES = [process_keys(), r"\b[a-z]+(?:_[a-z]+)+\b", r"\b[0-9a-f]{12,64}\b", r"\b[a-z]{2,}\b(?=\))", r"\((?:worker|supervisor|intake_desk|civil_affairs)\)",
         r"\b(?:worker|supervisor)\b", r"\bBPMN\b", r"\bMB\b"]


def create_from_template(page, key: str, name: str, findings, screenshot, shot: str):
    """From the list, through the new-process page, into the modeler."""
    page.goto("/studio/")
    with page.expect_navigation():
        page.locator('[data-testid="new-process"]').click()
    assert page.url.endswith("/studio/new/")
    assert page.locator("h1").inner_text() == "新建流程"
    findings.check(page, "admin", CODES)
    page.fill("#new-key", key)
    page.fill("#new-name", name)
    page.locator('[data-template="linear_approval"]').click()
    assert page.locator('input[name=template][value=linear_approval]').is_checked()
    screenshot(page, f"studio-new-01-form-{shot}", reload=False)
    with page.expect_navigation():
        page.locator('[data-testid="create"]').click()
    assert page.url.endswith(f"/studio/{key}/edit/"), page.url
    page.wait_for_selector('#modeler[data-ready="true"]')


def assert_template_drawn(page):
    for element in ("StartEvent_Start", "Task_Apply", "Task_Review", "Gateway_Approved", "EndEvent_Approved", "Lane_Worker"):
        assert page.locator(f'#modeler .djs-element[data-element-id="{element}"]').count() == 1, element
    assert page.locator('#modeler .djs-element[data-element-id="Task_Apply"]').is_visible()
    text = page.locator("#modeler").inner_text()
    assert "填写申请" in text and "督导审核" in text and "退回修改" in text
    assert "尚未部署" in page.locator("h1").inner_text()


def test_admin_creates_a_process_from_the_approval_template_and_lands_in_the_modeler(sign_in, screenshot, browser_log, findings,
                                                                                    deployed):
    name_people({"admin": "系统管理员"})
    admin = sign_in("admin", DESKTOP)
    create_from_template(admin, "grant_request", "助学金申请", findings, screenshot, "1280")
    assert_template_drawn(admin)
    assert "助学金申请" in admin.locator("#modeler").inner_text()  # the pool carries the process's name
    admin.click('[data-testid="check"]')
    wait_until(admin, "document.getElementById('studio-status').dataset.kind === 'ok'")
    assert admin.locator("#studio-problems").is_hidden() and admin.locator("#studio-warnings").is_hidden()
    screenshot(admin, "studio-new-02-modeler-1280", reload=False)

    # The list shows it as a draft that is not deployed yet, with Edit and Discard.
    admin.goto("/studio/")
    draft = admin.locator('section[data-draft="grant_request"]')
    assert "草稿——尚未部署" in draft.inner_text() and "助学金申请" in draft.inner_text()
    assert draft.locator('[data-testid="edit-grant_request"]').is_visible()
    assert draft.locator('[data-testid="discard-grant_request"]').is_visible()
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-new-03-list-1280")

    # On a phone: a second process, the same way.
    phone = sign_in("admin", PHONE)
    create_from_template(phone, "grant_request_b", "助学金申请（二）", findings, screenshot, "360")
    assert_template_drawn(phone)
    screenshot(phone, "studio-new-02-modeler-360", reload=False)
    phone.goto("/studio/")
    findings.check(phone, "admin", CODES)
    screenshot(phone, "studio-new-03-list-360")

    # A taken key on the phone: refused next to the field, in Chinese, nothing made.
    phone.goto("/studio/new/")
    phone.fill("#new-key", "grant_request")
    phone.fill("#new-name", "重复")
    with phone.expect_navigation():
        phone.locator('[data-testid="create"]').click()
    assert "已经存在" in phone.locator('[data-field="key"] .error').inner_text()
    findings.check(phone, "admin", CODES)
    screenshot(phone, "studio-new-04-taken-360", reload=False)

    assert sorted(Draft.objects.values_list("key", flat=True)) == ["grant_request", "grant_request_b"]
    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
    findings.assert_none()


@pytest.mark.parametrize("template, elements", [
    ("monthly_visit", ["StartEvent_Start", "Task_Visit", "Task_EndFollowUp", "Timer_Monthly", "Task_NextVisit", "EndEvent_VisitDone",
                       "EndEvent_Closed"]),
    ("empty", ["StartEvent_Start", "EndEvent_Done", "Lane_Start"]),
])
def test_the_other_templates_are_drawn_in_the_modeler(sign_in, screenshot, browser_log, deployed, users, template, elements):
    from portal.studio import drafts, process_templates

    xml, forms = process_templates.instantiate(process_templates.TEMPLATES[template], key=f"t_{template}", name="模板预览")
    drafts.create(key=f"t_{template}", name="模板预览", xml=xml, forms=forms, user=users["admin"])
    admin = sign_in("admin", DESKTOP)
    admin.goto(f"/studio/t_{template}/edit/")
    admin.wait_for_selector('#modeler[data-ready="true"]')
    for element in elements:
        assert admin.locator(f'#modeler .djs-element[data-element-id="{element}"]').is_visible(), element
    admin.click('[data-testid="check"]')
    wait_until(admin, "document.getElementById('studio-status').dataset.kind === 'ok'")
    screenshot(admin, f"studio-new-05-{template}-1280", reload=False)
    assert not browser_log.page_errors, browser_log.page_errors
