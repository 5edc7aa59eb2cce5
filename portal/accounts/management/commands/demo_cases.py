"""A few child-protection cases at different steps, so the embedded demo is not empty. Runs once:
it does nothing when any instance exists."""
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
        if api.instances_exist():
            self.stdout.write("Demo cases: instances exist already, none added.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=["intake", "worker"])}
        now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
        for village, go_on in (("dongshan", False), ("dongshan", True), ("xishui", True)):
            info = api.start_instance(process_key="child_protection", actor=users["intake"],
                                      data={"village": village, "received_at": now, "channel": "walk_in"})
            if go_on:
                task = next(t for t in selectors.tasks_for_user(users["intake"]) if t.instance_id == info.id)
                api.complete_task(task_id=task.id, data=INTAKE, actor=users["intake"])
        self.stdout.write("Demo cases: 3 child-protection reports (one awaiting intake, two awaiting a 24-hour response).")
