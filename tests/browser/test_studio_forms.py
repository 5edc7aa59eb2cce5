"""The studio's form editor in a real browser, in the default Chinese UI: the administrator opens child
protection's Task_Intake form from the modeler's page, adds a required one-line text field with a
Chinese label through form-js's editor, marks it a phone number to mask, sees it in the 360-px preview (the portal's own page for the
form), saves it, and the draft on the server holds it. Screenshots go to
test-artifacts/screenshots/studio-forms-*.png."""
from __future__ import annotations

import pytest

from tests.browser.conftest import DESKTOP
from tests.browser.steps import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

LABEL = "村联络人电话"


def preview_frame(page):
    return page.frame_locator("#form-preview")


def open_group(page, name: str):
    """Open a group of form-js's properties panel (they start closed)."""
    header = page.locator(f'#form-properties [data-group-id="group-{name}"] .bio-properties-panel-group-header')
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_admin_adds_a_required_field_sees_it_in_the_phone_preview_and_saves_it(sign_in, screenshot, browser_log, deployed):
    from portal.studio.models import Draft

    admin = sign_in("admin", DESKTOP)
    admin.goto("/studio/child_protection/edit/")
    with admin.expect_navigation():
        admin.locator('[data-testid="edit-form-Task_Intake"]').click()
    assert admin.url.endswith("/studio/child_protection/forms/Task_Intake/")
    admin.wait_for_selector('#form-editor[data-ready="true"]')
    frame = preview_frame(admin)
    frame.locator('[data-field="reporter_name"]').wait_for()
    assert "报告人姓名" in frame.locator("main").inner_text()
    assert admin.locator("#form-preview").bounding_box()["width"] == 362  # 360 px inside its border
    screenshot(admin, "studio-forms-01-opened-1280", reload=False)
    # Only the portal's field types are offered, under Chinese names.
    palette = admin.locator(".fjs-palette-field")
    types = {palette.nth(i).get_attribute("data-field-type") for i in range(palette.count())}
    assert "textfield" in types and not types & {"button", "image", "iframe", "table", "html", "expression", "taglist"}
    assert "单行文本" in admin.locator(".fjs-palette").inner_text()

    # A new one-line text field at the end (the palette's keyboard way), labelled in Chinese, required.
    admin.locator('.fjs-palette-field[data-field-type="textfield"]').focus()
    admin.keyboard.press("Enter")
    admin.locator(".fjs-form-container .fjs-element[data-id]").last.click()
    open_group(admin, "general")
    label = admin.locator('#form-properties [data-entry-id="label"]').locator("[contenteditable=true], input").first
    label.click()
    admin.keyboard.press("Control+A")
    admin.keyboard.type(LABEL)
    key = admin.locator("#form-properties #bio-properties-panel-key")
    key.fill("village_contact_phone")
    open_group(admin, "validation")
    admin.locator("#form-properties #bio-properties-panel-required").check()
    admin.locator('[data-caseflow="cf-label-en"]').fill("Village contact phone")
    # A phone number: masked for people outside the case (the select is offered for one-line text only).
    assert "脱敏" in admin.locator('label[for="cf-mask"]').inner_text()
    admin.select_option('[data-caseflow="cf-mask"]', "phone")
    from tests.browser.conftest import SCREENSHOTS

    admin.locator("#form-caseflow").screenshot(path=str(SCREENSHOTS / "studio-forms-02b-mask-1280.png"))

    # The preview shows it, required, as the task page will.
    field = frame.locator('[data-field="village_contact_phone"]')
    field.wait_for()
    wait_until(admin, 
        "() => (document.getElementById('form-preview').contentDocument.querySelector('[data-field=village_contact_phone] label') || {}).textContent"
        f" === '{LABEL} *'")
    assert field.locator(".req").count() == 1
    screenshot(admin, "studio-forms-02-added-1280", reload=False)

    admin.click('[data-testid="save-form"]')
    wait_until(admin, "document.getElementById('form-status').dataset.kind === 'ok'")
    assert "已保存" in admin.locator('[data-testid="status"]').inner_text()
    saved = Draft.objects.get(key="child_protection").forms["Task_Intake"]["components"]
    added = [c for c in saved if c.get("key") == "village_contact_phone"]
    assert len(added) == 1, saved
    assert added[0]["label"] == LABEL and added[0]["validate"]["required"] is True
    assert added[0]["properties"]["label_en"] == "Village contact phone"
    assert added[0]["properties"]["mask"] == "phone"
    screenshot(admin, "studio-forms-03-saved-1280", reload=False)

    # The English preview reads the English label.
    admin.select_option("#preview-lang", "en")
    wait_until(admin, 
        "() => ((document.getElementById('form-preview').contentDocument.querySelector('[data-field=village_contact_phone] label') || {}).textContent || '')"
        ".startsWith('Village contact phone')")

    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
