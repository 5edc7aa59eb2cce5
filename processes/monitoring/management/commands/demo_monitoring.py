"""Demo low-income monitoring over this year: five households of dongshan enrolled in January, each
month's update made on the 10th with the engine's clock at that day and the month-end timers fired
by the engine's sweep; one household's income falls in June with a hospitalisation — the warning is
verified, confirmed and feeds a needs-matching case. Runs once: nothing when a monitoring case exists."""
import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from engine import api, clock, registry

from ... import household_link
from ...cycle import LOCAL
from ...models import MonthlyUpdate

KEY = "monitoring"
WAGES = ["2600", "1900", "3100", "1500", "2300"]
SIZES = [3, 4, 3, 2, 5]


class Command(BaseCommand):
    help = "Create demo low-income monitoring over this year (only when no monitoring case exists)."

    def handle(self, *args, **options):
        if api.instances_exist(KEY):
            self.stdout.write("Demo monitoring: cases exist already, none added.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=["worker", "supervisor"])}
        if len(users) < 2:
            self.stdout.write("Demo monitoring: demo users missing, none added.")
            return
        worker, supervisor = users["worker"], users["supervisor"]
        if not household_link.choices(worker) and registry.option_source("households") is not None:
            call_command("demo_needs_matching")  # the households monitored are needs matching's
        choices = [value for value, _label in household_link.choices(worker)][:5]
        if not choices:
            self.stdout.write("Demo monitoring: no needs-matching households, none added.")
            return
        now = clock.now().astimezone(LOCAL)
        months = [dt.date(now.year, m, 1) for m in range(1, now.month + 1)]
        cases = {}
        for month in months:
            moment = min(dt.datetime.combine(month.replace(day=10), dt.time(10), LOCAL), now)
            with clock.frozen_at(moment):
                for number, household in enumerate(choices):
                    if household not in cases:
                        cases[household] = api.start_instance(process_key=KEY, actor=worker, data={
                            "household": household, "category": ["edge", "dibao", "rigid", "relapse", "edge"][number],
                            "since": moment.date().isoformat(), "head_id_number": f"44010019{70 + number}0101{1000 + number}"}).id
                    self._update(cases[household], worker, supervisor, number, month, moment)
            if month != months[-1]:
                api.fire_due_timers(as_of=dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time(0, 1), LOCAL))
        self.stdout.write(f"Demo monitoring: {len(cases)} households, {MonthlyUpdate.objects.filter(status='done').count()} monthly updates.")

    def _update(self, instance_id, worker, supervisor, number, month, moment):
        from engine import selectors

        tasks = [t for t in selectors.tasks_for_user(worker, limit=1000) if t.instance_id == instance_id and t.bpmn_id == "Task_MonthlyUpdate"]
        if not tasks:
            return
        falls = number == 0 and month.month == 6
        wages = Decimal("600") if falls else Decimal(WAGES[number]) + (month.month % 3) * 50
        api.complete_task(task_id=tasks[-1].id, actor=worker, data={
            "visited_on": moment.date().isoformat(), "size": SIZES[number], "income_wages": str(wages), "income_farming": "300",
            "income_pensions": "0" if number else "200", "income_transfers": "150", "income_other": "0",
            "spending_medical": "2400" if falls else "80", "spending_education": "200" if number == 2 else "0", "spending_housing": "0",
            "events": ["hospitalised"] if falls else [], "note": "户主住院，停工" if falls else ""})
        if falls:
            self._warning_chain(instance_id, worker, supervisor, moment)

    def _warning_chain(self, instance_id, worker, supervisor, moment):
        from engine import selectors

        verify = [t for t in selectors.tasks_for_user(worker, limit=1000) if t.instance_id == instance_id and t.bpmn_id == "Task_Verify"]
        if not verify:
            return
        api.complete_task(task_id=verify[0].id, actor=worker, data={
            "visited_on": moment.date().isoformat(), "situation": "as_reported",
            "findings": "户主因病住院，务工收入中断，医疗支出大"})
        decide = [t for t in selectors.tasks_for_user(supervisor, limit=1000) if t.instance_id == instance_id and t.bpmn_id == "Task_Decide"]
        if decide:
            api.complete_task(task_id=decide[0].id, actor=supervisor, data={"decision": "confirm", "decision_note": "确认，转入需求对接"})
