"""Form data for each child-protection step, and a driver that walks a case through the engine's
public API — shared by the tests and the benchmark."""
from __future__ import annotations

from engine import api
from engine.models import HumanTask
from tests.dates import local_minutes_ago, today

# The report arrived 20 minutes before the desk typed it in; its 24-hour clock starts at arrival.
START = {"village": "dongshan", "received_at": local_minutes_ago(20), "channel": "phone"}
FORMS = {
    "Task_Intake": {
        "reporter_name": "张老师", "reporter_unit": "东山小学", "reporter_relation": "teacher", "reporter_phone": "13800000000",
        "child_name": "小明", "sex": "male", "dob": "2016-05-01", "situations": ["s4"],
        "description": "学生身上多处淤青，自述被家人殴打。", "perpetrator_relation": "caregiver", "present_danger": True,
    },
    "Task_PoliceReceipt": {"police_station": "东山派出所", "police_reported_at": local_minutes_ago(10), "police_receipt_no": "JJ-2026-1129-01"},
    "Task_Respond": {"response_type": "home_visit", "responded_at": local_minutes_ago(1), "child_seen": True,
                     "immediate_safety": "safe_with_plan", "actions_taken": "入户走访，与祖母制定安全计划。"},
    "Task_Assessment": {"risk_level": "high", "domains_assessed": ["safety", "family"]},
    "Task_CasePlan": {"goals": "确保儿童安全", "interventions": "每周家访；联系学校心理老师"},
    "Task_ApprovePlan": {"plan_decision": "approve"},
    "Task_FollowUp": {"followup_date": today(), "observations": "情况稳定", "needs_more_followup": False},
    "Task_Closure": {"closure_reason": "risk_removed", "summary": "风险解除", "police_feedback": "已立案并训诫"},
    "Task_ApproveClosure": {"closure_decision": "approve"},
}
ACTOR_ROLE = {
    "Task_Intake": "intake", "Task_PoliceReceipt": "intake", "Task_Respond": "worker", "Task_Assessment": "worker",
    "Task_CasePlan": "worker", "Task_ApprovePlan": "supervisor", "Task_FollowUp": "worker", "Task_Closure": "worker",
    "Task_ApproveClosure": "supervisor", "Task_SupervisorEscalation": "supervisor", "Task_CivilAffairsEscalation": "civil",
}


def open_task(instance_id: int, bpmn_id: str) -> int:
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id=bpmn_id, status="open").pk


def start_case(users, data=None) -> int:
    return api.start_instance(process_key="child_protection", data=data or START, actor=users["intake"]).id


def complete(users, instance_id: int, bpmn_id: str, data=None, actor=None):
    return api.complete_task(task_id=open_task(instance_id, bpmn_id), data=data if data is not None else FORMS[bpmn_id],
                             actor=actor or users[ACTOR_ROLE[bpmn_id]])


def run_whole_case(users, on_step=None) -> int:
    """Start a case and complete every step in order; `on_step(instance_id)` runs between steps."""
    instance_id = start_case(users)
    for bpmn_id in ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan",
                    "Task_ApprovePlan", "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]:
        if on_step:
            on_step(instance_id)
        complete(users, instance_id, bpmn_id)
    return instance_id
