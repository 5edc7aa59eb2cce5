"""Comparing versions and moving running cases, in a real browser in the default Chinese UI: the
administrator opens the new version of child protection (its escalation lengthened to 72 hours, the
intake form given a field), compares it with the previous one — the changed timer and intake task
coloured on the diagram — then chooses a case waiting for its response, previews where it lands, and
moves it; a case whose draft the new form would not take cannot be moved. At 1280 px, and the migration
page at 360 px. Screenshots go to test-artifacts/screenshots/studio-migrate-*.png."""
from __future__ import annotations

import copy

import pytest

from engine import api
from engine.models import ProcessInstance
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people
from tests.browser.test_studio import CODES as STUDIO_CODES
from tests.engine.test_versions import case_waiting_for_response, deploy_v2, longer_escalation_and_a_new_intake_field
from tests.processes.child_protection.flows import open_task

pytestmark = pytest.mark.django_db(transaction=True)

# The studio's codes, and the ids of unnamed elements (a parallel join: its kind is said in words beside it).
CODES = [*STUDIO_CODES, r"\bGateway_\w+"]


def test_admin_compares_versions_previews_and_moves_a_case(sign_in, screenshot, browser_log, findings, deployed, users):
    name_people({"admin": "系统管理员"})
    waiting = case_waiting_for_response(users)
    misfit = case_waiting_for_response(users)
    api.save_draft(task_id=open_task(misfit, "Task_Respond"), data={"actions_taken": "入户", "child_seen": True}, actor=users["worker"])
    bpmn, forms = longer_escalation_and_a_new_intake_field()
    forms["Task_Respond"] = copy.deepcopy(forms["Task_Respond"])
    forms["Task_Respond"]["components"] = [c for c in forms["Task_Respond"]["components"] if c.get("key") != "actions_taken"]
    new = deploy_v2(users, bpmn=bpmn, forms=forms)
    admin = sign_in("admin", DESKTOP)

    # The new version's page links the comparison; the diff colours the changed elements.
    admin.goto(f"/studio/child_protection/v{new.version}/")
    with admin.expect_navigation():
        admin.click('[data-testid="diff"]')
    admin.wait_for_selector('#diagram[data-ready="true"]')
    timer = admin.locator('#diagram .djs-element[data-element-id="Timer_Response48h"]')
    assert "cf-changed" in (timer.get_attribute("class") or "")
    assert "cf-changed" in (admin.locator('#diagram .djs-element[data-element-id="Task_Intake"]').get_attribute("class") or "")
    assert "cf-changed" in (admin.locator('#diagram .djs-element[data-element-id="Task_Respond"]').get_attribute("class") or "")  # its form
    assert "cf-changed" not in (admin.locator('#diagram .djs-element[data-element-id="Task_Assessment"]').get_attribute("class") or "")
    assert "时限" in admin.locator('tr[data-element="Timer_Response48h"] [data-testid="what"]').inner_text()
    assert "学校联系人" in admin.locator('tr[data-step="Task_Intake"] [data-testid="fields-added"]').inner_text()
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-migrate-01-diff-1280", ready='#diagram[data-ready="true"]')

    # Choose the waiting case and the misfit; preview.
    with admin.expect_navigation():
        admin.click('[data-testid="to-migrate"]')
    assert admin.locator(f'li[data-instance="{waiting}"]').count() == 1
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-migrate-02-choose-360", PHONE)
    findings.check(admin, "admin", CODES)
    admin.set_viewport_size(DESKTOP)
    admin.check(f"#case-{waiting}")
    admin.check(f"#case-{misfit}")
    with admin.expect_navigation():
        admin.click('[data-testid="preview-button"]')
    ok = admin.locator(f'article[data-instance="{waiting}"]')
    assert ok.locator('[data-testid="verdict"]').inner_text() == "可以迁移"
    assert "接报时间" in ok.locator('tr[data-element="Timer_Response48h"] [data-testid="note"]').inner_text()
    refused = admin.locator(f'article[data-instance="{misfit}"]')
    assert refused.locator('[data-testid="verdict"]').inner_text() == "不能迁移"
    assert "actions_taken" in refused.locator('[data-testid="problems"] li[data-element="Task_Respond"]').inner_text()
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-migrate-03-preview-1280", reload=False)
    screenshot(admin, "studio-migrate-03-preview-360", PHONE, reload=False)
    findings.check(admin, "admin", CODES)
    admin.set_viewport_size(DESKTOP)

    # Move: the safe case moves; the misfit stays on its version.
    with admin.expect_navigation():
        admin.click('[data-testid="move"]')
    assert admin.locator(f'[data-testid="moved"] li[data-instance="{waiting}"]').count() == 1
    assert admin.locator(f'li[data-instance="{misfit}"] input[type=checkbox]').count() == 1  # still listed
    assert ProcessInstance.objects.get(pk=waiting).definition_id == new.id
    assert ProcessInstance.objects.get(pk=misfit).definition.version == new.version - 1
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-migrate-04-moved-1280", reload=False)

    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
    findings.assert_none()
