"""The process studio in a real browser, in the default Chinese UI: the administrator opens /studio/ at
1280 px (and on a phone), a version's page with its diagram, steps and forms, then child protection in
the bpmn-js modeler; the canvas draws the diagram, Check says there are no problems; a broken lane is
marked on the canvas and listed after Check. Screenshots go to test-artifacts/screenshots/studio-*.png."""
from __future__ import annotations

import pytest

from engine import registry
from engine.models import ProcessDefinition
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import name_people, process_keys, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# An administrator's pages carry codes: process keys, element and form ids, checksums, the BPMN format.
# Lanes name their role's code: 社工 (worker).
CODES = [process_keys(), r"\b[a-z]+(?:_[a-z]+)+\b", r"\b(?:Task|StartEvent|Form|Timer)_\w+", r"\b[0-9a-f]{12,64}\b", r"BPMN", r"SHA-256", r"\bMB\b",
         r"\((?:worker|supervisor|intake_desk|civil_affairs)\)", r"\b(?:worker|supervisor)\b"]


def test_admin_lists_versions_opens_one_and_checks_child_protection_in_the_modeler(sign_in, screenshot, browser_log, findings,
                                                                                   deployed):
    name_people({"admin": "系统管理员"})
    admin = sign_in("admin", DESKTOP)

    # The header links the studio; the list shows each process, its version and where new cases start.
    with admin.expect_navigation():
        admin.locator("header nav").get_by_text("流程工作室", exact=True).click()
    assert admin.url.endswith("/studio/")
    processes = admin.locator("section.studio-process")
    assert processes.count() == len(registry.packages())
    child = admin.locator('section[data-process="child_protection"]')
    assert child.locator("h2").inner_text().startswith("儿童保护")
    assert child.locator('[data-testid="latest"]').inner_text() == "新个案从此版本开始"
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-01-list-1280")
    screenshot(admin, "studio-01-list-360", PHONE)
    findings.check(admin, "admin", CODES)
    admin.set_viewport_size(DESKTOP)

    # A version: its diagram in the viewer, its steps and their forms.
    admin.goto("/studio/child_protection/v1/")
    admin.wait_for_selector('#diagram[data-ready="true"]')
    assert admin.locator("#diagram .djs-element[data-element-id=Task_Respond]").count() == 1
    assert admin.locator('tr[data-step="Task_Respond"]').inner_text().count("Form_Task_Respond") == 1
    findings.check(admin, "admin", CODES)
    screenshot(admin, "studio-02-version-1280", ready='#diagram[data-ready="true"]')

    # The modeler on the latest version: the canvas draws the diagram; Check finds no problems.
    admin.goto("/studio/")
    with admin.expect_navigation():
        admin.locator('[data-testid="edit-child_protection"]').click()
    assert admin.url.endswith("/studio/child_protection/edit/")
    admin.wait_for_selector('#modeler[data-ready="true"]')
    task = admin.locator('#modeler .djs-element[data-element-id="Task_Respond"]')
    assert task.is_visible()
    assert "24小时内响应" in admin.locator("#modeler").inner_text()
    assert admin.locator(".djs-palette").is_visible()  # the modeler's tools, not the viewer
    admin.click('[data-testid="check"]')
    status = admin.locator('[data-testid="status"]')
    wait_until(admin, "document.getElementById('studio-status').dataset.kind === 'ok'")
    assert "没有问题，可以部署。" in status.inner_text()
    assert admin.locator("#studio-problems").is_hidden()
    screenshot(admin, "studio-03-modeler-1280", reload=False)

    # An edit that deploy would refuse: the lane's role is removed; Check lists the task and marks it.
    admin.locator('#modeler .djs-element[data-element-id="Lane_CivilAffairs"] > .djs-hit-all').first.dblclick()
    editor = admin.locator(".djs-direct-editing-parent")
    editor.wait_for()
    admin.keyboard.press("Control+A")
    admin.keyboard.type("民政办")
    admin.mouse.click(5, 5)
    admin.click('[data-testid="check"]')
    wait_until(admin, "document.getElementById('studio-status').dataset.kind === 'error'")
    problems = admin.locator('[data-testid="problems"] li')
    assert problems.count() == 1, admin.locator("#studio-problems").inner_text()
    assert problems.first.get_attribute("data-element") == "Task_CivilAffairsEscalation"
    assert "不对应任何已知角色" in problems.first.inner_text()
    assert "cf-problem" in (admin.locator('#modeler .djs-element[data-element-id="Task_CivilAffairsEscalation"]').get_attribute("class") or "")
    screenshot(admin, "studio-04-modeler-problems-1280", reload=False)
    assert ProcessDefinition.objects.filter(key="child_protection").count() == 1  # a check deploys nothing

    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
    findings.assert_none()


def test_check_lists_the_warnings_of_a_camunda_modeler_diagram_apart_from_problems(sign_in, screenshot, browser_log, findings,
                                                                                  deployed):
    """A diagram from Camunda Modeler deploys with warnings (ADR 0015); in the modeler, Check says it
    can be deployed and lists each warning, its element marked, in the warnings list, not as a problem."""
    from pathlib import Path

    from engine import api
    from tests.engine.test_camunda_import import FILE, camunda_forms

    api.deploy_definition(bpmn_xml=FILE.read_bytes(), forms_by_element=camunda_forms())
    admin = sign_in("admin", DESKTOP)
    admin.goto("/studio/camunda_home_visit/edit/")
    admin.wait_for_selector('#modeler[data-ready="true"]')
    assert "入户走访" in admin.locator("#modeler").inner_text()
    admin.click('[data-testid="check"]')
    wait_until(admin, "document.getElementById('studio-status').dataset.kind === 'ok'")
    assert "3" in admin.locator('[data-testid="status"]').inner_text()
    assert admin.locator("#studio-problems").is_hidden()
    warnings = admin.locator('[data-testid="warnings"] li')
    assert warnings.count() == 3, admin.locator("#studio-warnings").inner_text()
    assert sorted(warnings.nth(i).get_attribute("data-element") for i in range(3)) == ["Activity_Remind", "Activity_Review", "Activity_Visit"]
    assert "通用确认表单" in admin.locator("#studio-warnings").inner_text()
    assert "cf-warning" in (admin.locator('#modeler .djs-element[data-element-id="Activity_Review"]').get_attribute("class") or "")
    screenshot(admin, "studio-05-modeler-warnings-1280", reload=False)
    assert Path(FILE).exists()
    assert not browser_log.page_errors, browser_log.page_errors
    findings.assert_none()
