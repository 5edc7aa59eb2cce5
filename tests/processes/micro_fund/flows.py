"""Form data and a driver for the micro-fund process, shared by its tests, the browser test and the demo."""
from __future__ import annotations

from django.contrib.auth.models import Group

from engine import api
from engine.models import HumanTask
from tests.dates import today

BUDGET = [{"item": "清扫工具", "quantity": "20", "unit_price": "150"}, {"item": "宣传展板", "quantity": "4", "unit_price": "500"}]  # 5,000.00
FORMS = {
    "Task_Application": {
        "goals": "清理村内三处垃圾堆放点，建立每周志愿清扫制度", "activities": "动员会；每周六清扫；评比", "schedule": "2026年12月—2027年3月",
        "beneficiaries_count": 600, "beneficiary_group": "all_residents", "budget_lines": BUDGET, "co_funding": "1000",
        "contact_person": "王大爷", "contact_phone": "13900000001",
    },
    "Task_CheckCompleteness": {"completeness": "complete"},
    "Task_Review": {"score_need": 8, "score_feasibility": 7, "score_participation": 9, "score_budget": 8, "recommendation": "approve"},
    "Task_Decide": {"decision": "approve", "approved_amount": "4500"},
    "Task_Tranche1": {"confirmed": True, "payment_reference": "ZF-2026-001", "paid_on": today()},
    "Task_ProgressReport": {"activities_done": "完成两次清扫", "participants": 45, "spent_so_far": "2000"},
    "Task_SiteVisit": {"visit_date": today(), "attendance": 40, "findings": "活动有序开展", "finding_result": "ok"},
    "Task_FinalReport": {"outputs_vs_goals": "三处堆放点已清理", "beneficiaries_reached": 620, "amount_spent": "4200"},
    "Task_WorkerEvaluation": {"score": 88, "conclusion": "good"},
    "Task_ReviewerEvaluation": {"score": 85, "conclusion": "good"},
    "Task_FinalTranche": {"final_payment": "release", "payment_reference": "ZF-2026-009"},
}


def make_organisation(name="东山村老年协会", village="dongshan", kind="old_age"):
    from processes.micro_fund.models import Organisation

    org = Organisation.objects.create(name=name, kind=kind, village=village, group_name=f"org-{Organisation.objects.count() + 1}")
    Group.objects.get_or_create(name=org.group_name)
    return org


def join(user, org):
    user.groups.add(Group.objects.get(name=org.group_name))
    user._caseflow_groups = None
    return user


def open_task(instance_id: int, bpmn_id: str, assignee: str | None = None) -> int:
    rows = HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status="open")
    if assignee:
        rows = rows.filter(assignee__username=assignee)
    return rows.order_by("pk").first().pk


def complete(instance_id, bpmn_id, actor, data=None, assignee=None):
    return api.complete_task(task_id=open_task(instance_id, bpmn_id, assignee), data=FORMS[bpmn_id] if data is None else data, actor=actor)


def apply(applicant, org, title="垃圾分类与环境整治", village="dongshan", category="environment") -> int:
    info = api.start_instance(process_key="micro_fund", actor=applicant,
                              data={"organisation": str(org.pk), "title": title, "village": village, "category": category})
    complete(info.id, "Task_Application", applicant)
    return info.id


def to_decision(people, instance_id, panel=("r1", "r2", "r3")):
    complete(instance_id, "Task_CheckCompleteness", people["worker"])
    complete(instance_id, "Task_SelectPanel", people["supervisor"], {"reviewers": list(panel)})
    for name in panel:
        complete(instance_id, "Task_Review", people[name], assignee=name)


def run_to_completion(people, org, decision=None) -> int:
    instance_id = apply(people["applicant"], org)
    to_decision(people, instance_id)
    complete(instance_id, "Task_Decide", people["supervisor"], decision)
    complete(instance_id, "Task_Tranche1", people["finance"])
    complete(instance_id, "Task_ProgressReport", people["applicant"])
    complete(instance_id, "Task_SiteVisit", people["worker"])
    complete(instance_id, "Task_FinalReport", people["applicant"])
    complete(instance_id, "Task_WorkerEvaluation", people["worker"])
    complete(instance_id, "Task_ReviewerEvaluation", people["r1"])
    complete(instance_id, "Task_FinalTranche", people["finance"])
    return instance_id
