"""A few child-protection cases at different steps, so the embedded demo is not empty. Runs once:
it does nothing when any child-protection case exists."""
import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from engine import api, selectors

INTAKE = {
    "reporter_relation": "teacher", "reporter_unit": "东山小学", "child_name": "演示儿童", "sex": "female",
    "situations": ["s6"], "description": "演示数据：儿童长期无人照料。", "perpetrator_relation": "caregiver",
    "present_danger": False,
}


class Command(BaseCommand):
    help = "Create demo child-protection cases (only into an empty database)."

    @transaction.atomic
    def handle(self, *args, **options):
        if api.instances_exist("child_protection"):
            self.stdout.write("Child-protection demo: cases exist already, none added.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=["intake", "worker"])}
        def received(hours_ago: float) -> str:
            return (timezone.localtime() - dt.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")

        # The 24-hour clock runs from when a report was received: the last one arrived 26 hours ago,
        # so its response is overdue and the supervisor already has the escalation.
        for village, hours_ago, go_on in (("dongshan", 0, False), ("dongshan", 0.5, True), ("xishui", 2, True), ("dongshan", 26, True)):
            info = api.start_instance(process_key="child_protection", actor=users["intake"],
                                      data={"village": village, "received_at": received(hours_ago), "channel": "walk_in"})
            if go_on:
                task = next(t for t in selectors.tasks_for_user(users["intake"]) if t.instance_id == info.id and t.bpmn_id == "Task_Intake")
                api.complete_task(task_id=task.id, data=INTAKE, actor=users["intake"])
        self.stdout.write("Demo cases: 4 child-protection reports (one awaiting intake, two awaiting a 24-hour response, "
                          "one overdue and escalated to the supervisor).")
