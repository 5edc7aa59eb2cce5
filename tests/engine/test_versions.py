"""Versions side by side and moving a running case to another version (engine/api/versions.py).

The scenario an administrator meets: child protection's second escalation is lengthened from 48 to
72 hours and the intake form gains a field; a case already waiting for its response moves to the
new version — its open task, holder and deadlines where they should be — and completes there.
A case whose saved draft the new form would not take, or whose open task would change role, is
refused with the element named; only administrators may look or move."""
import copy
import datetime as dt
from pathlib import Path

import pytest

from engine import api
from engine.errors import InvalidState, NotPermitted
from engine.models import AuditEvent, HumanTask, ProcessInstance, Timer
from tests.processes.child_protection.flows import FORMS, complete, open_task, start_case

ROOT = Path(__file__).resolve().parents[2]
BPMN = (ROOT / "processes" / "bpmn" / "child_protection.bpmn").read_text(encoding="utf-8")
pytestmark = pytest.mark.django_db


def _forms():
    return api.read_forms_dir(ROOT / "processes" / "child_protection" / "forms")


def deploy_v2(users, *, bpmn=BPMN, forms=None):
    return api.deploy_definition(bpmn_xml=bpmn, forms_by_element=forms or _forms(), actor=users["admin"])


def longer_escalation_and_a_new_intake_field():
    forms = _forms()
    forms["Task_Intake"] = copy.deepcopy(forms["Task_Intake"])
    forms["Task_Intake"]["components"].append({"type": "textfield", "key": "school_contact", "label": "学校联系人"})
    return BPMN.replace('"PT48H"', '"PT72H"'), forms


def case_waiting_for_response(users) -> int:
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    complete(users, instance_id, "Task_PoliceReceipt")
    return instance_id


def test_the_diff_names_the_changed_timer_and_the_added_field(deployed, users):
    bpmn, forms = longer_escalation_and_a_new_intake_field()
    new = deploy_v2(users, bpmn=bpmn, forms=forms)
    diff = api.diff_versions(key="child_protection", old_version=new.version - 1, new_version=new.version, actor=users["admin"])
    assert [c.element_id for c in diff.changed] == ["Task_Intake", "Timer_Response48h"]
    assert "form" in diff.changed[0].attributes and diff.changed[1].attributes != ["form"]
    assert diff.fields_added == [("Task_Intake", "school_contact")] and not diff.fields_removed and not diff.added and not diff.removed


def test_the_form_editors_row_layout_is_no_field_change(deployed, users):
    """form-js's editor stamps every component it loads with `layout: {"row": "Row_<random>"}`; the
    portal ignores layout, so a form saved from the studio after adding one field has one field added,
    not every field of the form changed."""
    bpmn, forms = longer_escalation_and_a_new_intake_field()
    for n, component in enumerate(forms["Task_Intake"]["components"]):
        component["layout"] = {"row": f"Row_{n:07d}"}
    new = deploy_v2(users, bpmn=bpmn, forms=forms)
    diff = api.diff_versions(key="child_protection", old_version=new.version - 1, new_version=new.version, actor=users["admin"])
    assert diff.fields_added == [("Task_Intake", "school_contact")]
    assert diff.fields_changed == [] and diff.fields_removed == []


def test_a_waiting_case_moves_keeps_its_task_and_counts_the_longer_timer_from_the_report(deployed, users):
    instance_id = case_waiting_for_response(users)
    task_id = open_task(instance_id, "Task_Respond")
    api.save_draft(task_id=task_id, data={"actions_taken": "已电话联系"}, actor=users["worker"])
    timers = {t.bpmn_id: t.due_at for t in Timer.objects.filter(instance_id=instance_id, status="waiting")}
    assert set(timers) == {"Timer_Response24h", "Timer_Response48h"}
    bpmn, forms = longer_escalation_and_a_new_intake_field()
    new = deploy_v2(users, bpmn=bpmn, forms=forms)

    preview = api.preview_migration(instance_id=instance_id, to_version=new.version, actor=users["admin"])
    assert preview.safe, preview.problems
    landed = {l.old_element: l for l in preview.landings}
    assert landed["Task_Respond"].new_element == "Task_Respond" and landed["Task_Respond"].state == "ready"
    assert landed["Timer_Response48h"].rearmed and not landed["Timer_Response24h"].rearmed

    api.migrate_instance(instance_id=instance_id, to_version=new.version, actor=users["admin"])
    instance = ProcessInstance.objects.get(pk=instance_id)
    assert instance.definition_id == new.id
    row = HumanTask.objects.get(pk=task_id)
    assert row.status == "open" and row.draft_data == {"actions_taken": "已电话联系"}  # same row, draft kept
    after = {t.bpmn_id: t.due_at for t in Timer.objects.filter(instance_id=instance_id, status="waiting")}
    assert after["Timer_Response24h"] == timers["Timer_Response24h"]  # unchanged: its clock is not restarted
    assert after["Timer_Response48h"] - timers["Timer_Response48h"] == dt.timedelta(hours=24)  # 72 h from receipt
    event = AuditEvent.objects.get(instance_id=instance_id, kind="migrated")
    assert event.data == {"from_version": new.version - 1, "to_version": new.version} and event.actor == users["admin"]

    for bpmn_id in ["Task_Respond", "Task_Assessment", "Task_CasePlan", "Task_ApprovePlan", "Task_FollowUp", "Task_Closure",
                    "Task_ApproveClosure"]:
        complete(users, instance_id, bpmn_id)
    assert ProcessInstance.objects.get(pk=instance_id).status == "completed"


def test_a_draft_the_new_form_no_longer_takes_is_refused_naming_the_task(deployed, users):
    instance_id = case_waiting_for_response(users)
    api.save_draft(task_id=open_task(instance_id, "Task_Respond"), data={"actions_taken": "入户", "child_seen": True},
                   actor=users["worker"])
    forms = _forms()
    forms["Task_Respond"] = copy.deepcopy(forms["Task_Respond"])
    forms["Task_Respond"]["components"] = [c for c in forms["Task_Respond"]["components"] if c.get("key") != "actions_taken"]
    new = deploy_v2(users, forms=forms)
    preview = api.preview_migration(instance_id=instance_id, to_version=new.version, actor=users["admin"])
    assert [element for element, _why in preview.problems] == ["Task_Respond"]
    assert "actions_taken" in preview.problems[0][1]
    before = ProcessInstance.objects.get(pk=instance_id)
    with pytest.raises(InvalidState, match="Task_Respond"):
        api.migrate_instance(instance_id=instance_id, to_version=new.version, actor=users["admin"])
    after = ProcessInstance.objects.get(pk=instance_id)
    assert (after.definition_id, after.revision) == (before.definition_id, before.revision)
    assert not AuditEvent.objects.filter(instance_id=instance_id, kind="migrated").exists()


def test_an_open_task_that_would_change_role_is_refused(deployed, users):
    instance_id = case_waiting_for_response(users)
    moved = BPMN.replace("<bpmn:flowNodeRef>Task_Respond</bpmn:flowNodeRef>", "", 1)
    assert moved != BPMN
    # Put the response into the supervisor's lane instead of the worker's.
    lane_end = moved.index("<bpmn:flowNodeRef>Task_SupervisorEscalation</bpmn:flowNodeRef>")
    moved = moved[:lane_end] + "<bpmn:flowNodeRef>Task_Respond</bpmn:flowNodeRef>" + moved[lane_end:]
    new = deploy_v2(users, bpmn=moved)
    preview = api.preview_migration(instance_id=instance_id, to_version=new.version, actor=users["admin"])
    assert preview.problems and preview.problems[0][0] == "Task_Respond" and "supervisor" in preview.problems[0][1]


@pytest.mark.parametrize("role", ["worker", "supervisor", "intake", "civil", "outsider"])
def test_only_administrators_compare_or_move(deployed, users, role):
    instance_id = case_waiting_for_response(users)
    new = deploy_v2(users, bpmn=BPMN.replace('"PT48H"', '"PT72H"'))
    for call in (lambda: api.preview_migration(instance_id=instance_id, to_version=new.version, actor=users[role]),
                 lambda: api.migrate_instance(instance_id=instance_id, to_version=new.version, actor=users[role]),
                 lambda: api.diff_versions(key="child_protection", old_version=1, new_version=new.version, actor=users[role])):
        with pytest.raises(NotPermitted):
            call()
    assert ProcessInstance.objects.get(pk=instance_id).definition_id != new.id


def test_a_finished_case_or_the_same_version_is_refused(deployed, users):
    instance_id = case_waiting_for_response(users)
    current = ProcessInstance.objects.get(pk=instance_id).definition.version
    with pytest.raises(InvalidState, match="already runs"):
        api.preview_migration(instance_id=instance_id, to_version=current, actor=users["admin"])
    new = deploy_v2(users, bpmn=BPMN.replace('"PT48H"', '"PT72H"'))
    api.cancel_instance(instance_id=instance_id, actor=users["supervisor"], reason="重复报告")
    with pytest.raises(InvalidState):
        api.migrate_instance(instance_id=instance_id, to_version=new.version, actor=users["admin"])

