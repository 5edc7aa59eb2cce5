"""The studio's diff and migration pages (/studio/<key>/diff/, /studio/<key>/migrate/), through Django's
test client on the real database: child protection's second escalation lengthened from 48 to 72 hours
and the intake form given a field; the diff lists both and marks them for the diagram; a case waiting
for its response is previewed and moved (its open task kept, the changed timer said to count from the
report); a case whose draft the new form would not take is refused with the task named and stays on its
version; a second submit moves nothing twice. Who may reach the pages is in the access matrix."""
from __future__ import annotations

import copy
import json

import pytest
from django.conf import settings

from engine import api
from engine.models import AuditEvent, HumanTask, ProcessInstance
from tests.engine.test_versions import _forms, case_waiting_for_response, deploy_v2, longer_escalation_and_a_new_intake_field
from tests.processes.child_protection.flows import open_task

pytestmark = pytest.mark.django_db

CP = "child_protection"


@pytest.fixture
def admin(client, users, deployed):
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def admin_zh(client, users, deployed):
    client.force_login(users["admin"])
    return client


def page(response) -> str:
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def _v2(users):
    bpmn, forms = longer_escalation_and_a_new_intake_field()
    return deploy_v2(users, bpmn=bpmn, forms=forms)


def _markers(text: str) -> dict:
    return json.loads(text.split('<script id="diagram-markers" type="application/json">')[1].split("</script>")[0])


def test_the_diff_lists_the_lengthened_timer_and_the_added_intake_field_and_marks_them(admin, users):
    new = _v2(users)
    version_page = page(admin.get(f"/studio/{CP}/v{new.version}/"))
    assert f'href="/studio/{CP}/diff/?from={new.version - 1}&amp;to={new.version}"' in version_page
    assert f'href="/studio/{CP}/migrate/?to={new.version}"' in version_page
    assert 'data-testid="diff"' not in page(admin.get(f"/studio/{CP}/v1/"))  # no previous version to compare with

    text = page(admin.get(f"/studio/{CP}/diff/"))  # defaults: the latest against the one before
    elements = text.split('data-testid="elements"')[1].split("</table>")[0]
    timer = elements.split('data-element="Timer_Response48h"')[1].split("</tr>")[0]
    assert 'data-change="changed"' in timer
    assert "48小时仍未响应" in timer and ">the timer<" in timer
    intake = elements.split('data-element="Task_Intake"')[1].split("</tr>")[0]
    assert "登记强制报告" in intake and ">the form<" in intake
    assert 'data-change="added"' not in elements and 'data-change="removed"' not in elements
    fields = text.split('data-testid="fields"')[1].split("</table>")[0]
    assert 'data-step="Task_Intake"' in fields
    added = fields.split('data-testid="fields-added"')[1].split("</td>")[0]
    assert "学校联系人" in added and "school_contact" in added
    assert _markers(text) == {"cf-added": [], "cf-changed": ["Task_Intake", "Timer_Response48h"]}
    assert f'data-src="/studio/{CP}/v{new.version}/diagram/"' in text
    assert "portal/case-diagram" in text and "diagram-markers" in text and "studio-modeler" not in text

    backwards = page(admin.get(f"/studio/{CP}/diff/?from={new.version}&to=1"))
    assert "school_contact" in backwards.split('data-testid="fields-removed"')[1].split("</td>")[0]
    assert 'data-testid="same"' in page(admin.get(f"/studio/{CP}/diff/?from=1&to=1"))
    for query in ("?from=0&to=1", f"?to={new.version + 1}", "?to=x"):
        assert admin.get(f"/studio/{CP}/diff/{query}").status_code == 404
    assert admin.get("/studio/no_such_process/diff/").status_code == 404


def test_the_diff_in_chinese_says_what_changed_in_words(admin_zh, users):
    _v2(users)
    text = page(admin_zh.get(f"/studio/{CP}/diff/"))
    timer = text.split('data-element="Timer_Response48h"')[1].split("</tr>")[0]
    assert "时限" in timer and "event_definition" not in timer


def test_an_admin_previews_and_moves_a_waiting_case_and_a_draft_misfit_stays(admin, users):
    waiting = case_waiting_for_response(users)
    task_id = open_task(waiting, "Task_Respond")
    misfit = case_waiting_for_response(users)
    api.save_draft(task_id=open_task(misfit, "Task_Respond"), data={"actions_taken": "入户", "child_seen": True}, actor=users["worker"])
    bpmn, forms = longer_escalation_and_a_new_intake_field()
    forms["Task_Respond"] = copy.deepcopy(forms["Task_Respond"])
    forms["Task_Respond"]["components"] = [c for c in forms["Task_Respond"]["components"] if c.get("key") != "actions_taken"]
    new = deploy_v2(users, bpmn=bpmn, forms=forms)
    old_version = new.version - 1

    listing = page(admin.get(f"/studio/{CP}/migrate/?to={new.version}"))
    for instance_id in (waiting, misfit):
        item = listing.split(f'<li data-instance="{instance_id}">')[1].split("</li>")[0]
        assert f"v{old_version}" in item and "24小时内响应" in item and ProcessInstance.objects.get(pk=instance_id).subject in item
    assert 'data-testid="preview"' not in listing

    text = page(admin.get(f"/studio/{CP}/migrate/?to={new.version}&case={waiting}&case={misfit}"))
    preview = text.split('data-testid="preview"')[1]
    ok = preview.split(f'data-instance="{waiting}"')[1].split("</article>")[0]
    assert "can move" in ok and "cannot move" not in ok
    timer = ok.split('data-element="Timer_Response48h"')[1].split("</tr>")[0]
    assert 'class="rearmed"' in timer and "counted from the case&#x27;s “Received at”" in timer
    assert "keeps its deadline" in ok.split('data-element="Timer_Response24h"')[1].split("</tr>")[0]
    assert "24小时内响应" in ok.split('data-element="Task_Respond"')[1].split("</tr>")[0]
    refused = preview.split(f'data-instance="{misfit}"')[1].split("</article>")[0]
    assert "cannot move" in refused
    problem = refused.split('data-testid="problems"')[1].split("</ul>")[0]
    assert 'data-element="Task_Respond"' in problem and "actions_taken" in problem and "24小时内响应" in problem
    form = preview.split('data-testid="move-form"')[1].split("</form>")[0]
    assert f'name="case" value="{waiting}"' in form and f'name="case" value="{misfit}"' not in form and "csrfmiddlewaretoken" in form

    # Move: the safe one; the misfit, posted anyway, is refused naming the task.
    result = page(admin.post(f"/studio/{CP}/migrate/", {"to": new.version, "case": [waiting, misfit]}))
    moved = result.split('data-testid="moved"')[1].split("</div>")[0]
    assert f'data-instance="{waiting}"' in moved and f'data-instance="{misfit}"' not in moved
    not_moved = result.split('data-testid="refused"')[1].split("</div>")[0]
    assert f'data-instance="{misfit}"' in not_moved and "Task_Respond" in not_moved
    assert ProcessInstance.objects.get(pk=waiting).definition_id == new.id
    assert ProcessInstance.objects.get(pk=misfit).definition.version == old_version
    assert HumanTask.objects.get(pk=task_id).status == "open"  # the same open task
    listing = page(admin.get(f"/studio/{CP}/migrate/?to={new.version}"))
    assert f'<li data-instance="{misfit}">' in listing and f'<li data-instance="{waiting}">' not in listing

    # A second submit (a double click, a reload) moves nothing twice and says why.
    again = page(admin.post(f"/studio/{CP}/migrate/", {"to": new.version, "case": [waiting]}))
    assert f"already runs on version {new.version}" in again.split('data-testid="refused"')[1]
    assert 'data-testid="moved"' not in again
    assert AuditEvent.objects.filter(instance_id=waiting, kind="migrated").count() == 1
    assert not AuditEvent.objects.filter(instance_id=misfit, kind="migrated").exists()


def test_a_case_that_changed_since_the_preview_is_refused_at_move_time(admin, users):
    instance_id = case_waiting_for_response(users)
    forms = _forms()
    forms["Task_Respond"] = copy.deepcopy(forms["Task_Respond"])
    forms["Task_Respond"]["components"] = [c for c in forms["Task_Respond"]["components"] if c.get("key") != "actions_taken"]
    new = deploy_v2(users, forms=forms)
    text = page(admin.get(f"/studio/{CP}/migrate/?to={new.version}&case={instance_id}"))
    assert f'name="case" value="{instance_id}"' in text.split('data-testid="move-form"')[1]  # safe when previewed
    api.save_draft(task_id=open_task(instance_id, "Task_Respond"), data={"actions_taken": "入户"}, actor=users["worker"])
    result = page(admin.post(f"/studio/{CP}/migrate/", {"to": new.version, "case": [instance_id]}))
    refused = result.split('data-testid="refused"')[1].split("</div>")[0]
    assert "Task_Respond" in refused and "changed in between" in refused
    assert ProcessInstance.objects.get(pk=instance_id).definition.version == new.version - 1


def test_the_migration_page_without_cases_and_with_a_foreign_or_bad_id(admin, users):
    new = deploy_v2(users, bpmn=longer_escalation_and_a_new_intake_field()[0])
    assert 'data-testid="no-cases"' in page(admin.get(f"/studio/{CP}/migrate/"))
    text = page(admin.get(f"/studio/{CP}/migrate/?to={new.version}&case=999999&case=abc"))
    assert "There is no such case." in text and 'data-testid="move-form"' not in text
    assert admin.get(f"/studio/{CP}/migrate/?to={new.version + 1}").status_code == 404
    assert admin.put(f"/studio/{CP}/migrate/").status_code == 405
