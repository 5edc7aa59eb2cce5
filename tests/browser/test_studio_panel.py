"""The studio modeler's Caseflow properties panel in a real browser, in the default Chinese UI: the
administrator opens child protection, selects Task_Respond, changes its 24-hour timer to 48 hours in
plain words, builds a condition on a gateway flow, and the auto-saved draft holds the new ISO literal
and condition; palette and panel speak Chinese; at 360 px the panel sits under the canvas.
Screenshots: test-artifacts/screenshots/studio-panel-*.png."""
from __future__ import annotations

import pytest
from lxml import etree

from portal.studio.models import Draft
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.steps import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}


def _select(page, element_id: str):
    """Click an element on the canvas (a connection at the middle of its line) and wait for its panel."""
    point = page.evaluate("""(id) => {
      const hit = document.querySelector(`#modeler .djs-element[data-element-id="${id}"] .djs-hit`);
      if (hit.tagName !== "polyline" && hit.tagName !== "path") { const r = hit.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }
      const p = hit.getPointAtLength(hit.getTotalLength() / 2).matrixTransform(hit.getScreenCTM());
      return [p.x, p.y];
    }""", element_id)
    page.mouse.click(*point)
    wait_until(page, f"(document.getElementById('bio-properties-panel-cf-id') || {{}}).value === '{element_id}'")


def _saved(page, before: int) -> int:
    """Wait for the auto-save after a change; the draft revision it saved."""
    wait_until(page, f"Number(document.getElementById('modeler').dataset.checked || 0) > {before}")
    return int(page.locator("#modeler").get_attribute("data-checked"))


def test_panel_changes_a_timer_in_plain_words_and_builds_a_condition(sign_in, screenshot, browser_log, findings, deployed):
    admin = sign_in("admin", DESKTOP)
    admin.goto("/studio/child_protection/edit/")
    admin.wait_for_selector('#modeler[data-ready="true"]')
    revision = _saved(admin, 0)

    # The palette and the panel speak Chinese.
    assert admin.locator('.djs-palette [data-action="create.start-event"]').get_attribute("aria-label") == "创建开始事件"
    assert admin.locator('.djs-palette [data-action="create.task"]').get_attribute("aria-label") == "创建任务"

    _select(admin, "Task_Respond")
    panel = admin.locator("#studio-properties")
    text = panel.inner_text()
    for label in ("基本信息", "表单", "时限（SLA）", "派单", "编辑表单", "用户任务"):
        assert label in text, (label, text)
    assert panel.locator('[data-testid="edit-form"]').get_attribute("href") == "/studio/child_protection/forms/Task_Respond/"
    assert "24 小时" in text and "PT24H" in text

    # 24 hours -> 48 hours, in plain words.
    amount = panel.locator("#bio-properties-panel-cf-sla-Timer_Response24h-n")
    amount.fill("48")
    amount.press("Tab")
    revision = _saved(admin, revision)
    assert "48 小时（写作 PT48H）" in panel.inner_text()
    screenshot(admin, "studio-panel-01-task-1280", reload=False)

    # A condition built from a form field on the plan approval's "return" flow.
    _select(admin, "Flow_Plan_Returned")
    assert "条件" in panel.inner_text()
    assert panel.locator("#bio-properties-panel-cf-cond-field").input_value() == "plan_decision"
    panel.locator("#bio-properties-panel-cf-cond-op").select_option("in")
    revision = _saved(admin, revision)
    screenshot(admin, "studio-panel-02-condition-1280", reload=False)
    wait_until(admin, "document.getElementById('studio-status').dataset.kind === 'ok'")

    draft = Draft.objects.get(key="child_protection")
    root = etree.fromstring(draft.bpmn_xml.encode())
    timer = root.find(".//bpmn:boundaryEvent[@id='Timer_Response24h']/bpmn:timerEventDefinition/bpmn:timeDuration", NS)
    assert timer.text == '"PT48H"'
    other = root.find(".//bpmn:boundaryEvent[@id='Timer_Response48h']/bpmn:timerEventDefinition/bpmn:timeDuration", NS)
    assert other.text == '"PT48H"'
    condition = root.find(".//bpmn:sequenceFlow[@id='Flow_Plan_Returned']/bpmn:conditionExpression", NS)
    assert condition.text == 'plan_decision in ["return"]'

    # On a phone the panel is under the canvas.
    admin.set_viewport_size(PHONE)
    admin.reload()
    admin.wait_for_selector('#modeler[data-ready="true"]')
    _select(admin, "Task_Respond")
    canvas_box = admin.locator("#modeler").bounding_box()
    panel_box = admin.locator(".studio-panel").bounding_box()
    assert panel_box["y"] >= canvas_box["y"] + canvas_box["height"] - 1
    assert panel_box["width"] <= PHONE["width"]
    assert "48 小时" in panel.inner_text()
    screenshot(admin, "studio-panel-03-task-360", reload=False)

    assert not browser_log.page_errors, browser_log.page_errors
    assert not browser_log.failed_static, browser_log.failed_static
