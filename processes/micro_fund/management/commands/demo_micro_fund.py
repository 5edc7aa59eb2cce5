"""Demo organisations and micro-fund applications at different stages, so the fund page is alive.
Runs once: it does nothing when an application exists."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.utils import timezone
from django.db import transaction

from engine import api, selectors

from ...models import Application, Organisation

ORGANISATIONS = [
    ("东山村老年协会", "old_age", "dongshan", "app_dongshan"),
    ("西水村妇女互助会", "women", "xishui", "app_xishui"),
    ("南岭村乡贤理事会", "worthies", "nanling", "app_nanling"),
    ("北坡村志愿服务队", "volunteers", "beipo", "app_beipo"),
    ("荷塘村老年协会", "old_age", "hetang", None),
]
BUDGET = [{"item": "活动物资", "quantity": "30", "unit_price": "120"}, {"item": "场地布置", "quantity": "1", "unit_price": "1400"}]
APPLICATION = {
    "goals": "丰富村民文化生活，增进邻里互助", "activities": "每月一次主题活动", "schedule": "2026年12月—2027年5月",
    "beneficiaries_count": 300, "beneficiary_group": "all_residents", "budget_lines": BUDGET, "co_funding": "500",
    "contact_person": "负责人", "contact_phone": "13900000000",
}
REVIEW = {"score_need": 8, "score_feasibility": 8, "score_participation": 7, "score_budget": 9, "recommendation": "approve"}


class Command(BaseCommand):
    help = "Create demo organisations and micro-fund applications (only when none exist)."

    @transaction.atomic
    def handle(self, *args, **options):
        if Application.objects.exists():
            self.stdout.write("Demo micro-fund: applications exist already, none added.")
            return
        User = get_user_model()
        users = {u.username: u for u in User.objects.all()}
        orgs = []
        for number, (name, kind, village, username) in enumerate(ORGANISATIONS, start=1):
            org, _ = Organisation.objects.get_or_create(name=name, defaults={"kind": kind, "village": village, "group_name": f"org-demo-{number}"})
            group, _ = Group.objects.get_or_create(name=org.group_name)
            if username and username in users:
                users[username].groups.add(group)
            orgs.append((org, users.get(username)))

        def task(user, instance_id, bpmn_id):
            user._caseflow_groups = None
            return next(t.id for t in selectors.tasks_for_user(user, limit=500) if t.instance_id == instance_id and t.bpmn_id == bpmn_id)

        def step(user, instance_id, bpmn_id, data):
            api.complete_task(task_id=task(user, instance_id, bpmn_id), data=data, actor=user)

        today = timezone.localdate().isoformat()  # forms refuse a payment or a visit in the future
        titles = ["重阳敬老文化节", "妇女手工技能培训", "乡贤议事厅建设", "河道环境整治"]
        stops = ["Task_CheckCompleteness", "Task_Decide", "Task_SiteVisit", "done"]
        for (org, applicant), title, stop in zip(orgs, titles, stops):
            if applicant is None:
                continue
            info = api.start_instance(process_key="micro_fund", actor=applicant, data={
                "organisation": str(org.pk), "title": title, "village": org.village,
                "category": {"old_age": "elderly", "women": "culture", "worthies": "other", "volunteers": "environment"}[org.kind]})
            step(applicant, info.id, "Task_Application", APPLICATION)
            if stop == "Task_CheckCompleteness":
                continue
            worker = users["worker"] if org.village == "dongshan" else users["worker2"]
            step(worker, info.id, "Task_CheckCompleteness", {"completeness": "complete"})
            step(users["supervisor"], info.id, "Task_SelectPanel", {"reviewers": ["reviewer1", "reviewer2", "reviewer3"]})
            for name in ("reviewer1", "reviewer2", "reviewer3"):
                step(users[name], info.id, "Task_Review", REVIEW)
            if stop == "Task_Decide":
                continue
            step(users["supervisor"], info.id, "Task_Decide", {"decision": "approve", "approved_amount": "4800"})
            step(users["finance"], info.id, "Task_Tranche1", {"confirmed": True, "payment_reference": f"ZF-{info.id}", "paid_on": today})
            step(applicant, info.id, "Task_ProgressReport", {"activities_done": "已开展两次活动", "participants": 60})
            if stop == "Task_SiteVisit":
                continue
            step(worker, info.id, "Task_SiteVisit", {"visit_date": today, "findings": "活动开展良好", "finding_result": "ok"})
            step(applicant, info.id, "Task_FinalReport", {"outputs_vs_goals": "目标全部完成", "beneficiaries_reached": 320, "amount_spent": "4600"})
            step(worker, info.id, "Task_WorkerEvaluation", {"score": 90, "conclusion": "excellent"})
            step(users["reviewer1"], info.id, "Task_ReviewerEvaluation", {"score": 86, "conclusion": "good"})
            step(users["finance"], info.id, "Task_FinalTranche", {"final_payment": "release", "payment_reference": f"ZF-{info.id}-2"})
        self.stdout.write("Demo micro-fund: 5 organisations, 4 applications (completeness check, decision, supervision, completed).")
