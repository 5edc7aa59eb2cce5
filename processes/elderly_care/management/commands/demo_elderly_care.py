"""Demo elders of two villages (东山, 西水: 21 each, mixed tiers), screened and confirmed (one each still
waiting for the supervisor), with the last 30 days of "三个一" visits: most done, a few missed, a few
high readings referred to the village doctor. Everything goes through the process, as the station would
do it: the cycles start 30 days ago on the engine's clock, and the sweep runs at each week's and month's
start up to today, the workers visiting in the days after. Runs once: nothing when an elder exists."""
import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from engine import api, clock, selectors
from engine.errors import AlreadyCompleted

from ...cycle import LOCAL
from ...models import ElderlyPerson

KEY = "elderly_care"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["桂兰", "秀英", "玉珍", "凤英", "德明", "建国", "淑珍", "福贵", "长林", "金花", "树林", "春梅", "秀兰", "国华", "永福", "翠花"]
WORKS_IN = ["广东东莞", "浙江义乌", "福建晋江", "江苏苏州", "上海", "县城", "深圳"]
CONDITIONS = ["高血压", "糖尿病", "慢阻肺", "冠心病", "关节炎", "白内障"]
VILLAGES = (("dongshan", "DS", "worker", "doctor_ds"), ("xishui", "XS", "worker2", "doctor_xs"))
PER_VILLAGE = 21


def _answers(rng, kind):
    base = {"lives_alone": "no", "children_away": "no", "contact_days": rng.choice([2, 3, 7]), "no_carer": "no", "dementia": "no",
            "severe_cardiovascular": "no", "diabetic": rng.choice(["no", "no", "yes"]), "disabled": "no",
            "chronic_count": rng.choice([0, 1]), "self_care_score": rng.choice([75, 85, 95, 100])}
    if kind == "high":
        base.update(rng.choice([{"dementia": "yes"}, {"severe_cardiovascular": "yes"}, {"self_care_score": 35}]))
    elif kind == "key":
        base.update(rng.choice([{"lives_alone": "yes"}, {"children_away": "yes", "contact_days": 14}, {"chronic_count": 2}]))
    return base


def _opened(result, bpmn_id):
    """The task a start or completion opened at that step (the step's own answer, nothing read back)."""
    tasks = result.open_tasks if hasattr(result, "open_tasks") else result.new_tasks
    return next(t for t in tasks if t.bpmn_id == bpmn_id)


class Command(BaseCommand):
    help = "Create demo elders of two villages, screened, with a month of visits (only when there are none)."

    def handle(self, *args, **options):
        if ElderlyPerson.objects.exists():
            self.stdout.write("elderly care demo: elders exist, nothing done")
            return
        users = {u.username: u for u in get_user_model().objects.filter(
            username__in=["worker", "worker2", "supervisor", "doctor_ds", "doctor_xs"])}
        if len(users) < 5:
            raise CommandError("run seed_demo first (the workers, the supervisor and the village doctors)")
        rng = random.Random(2026)
        now = clock.now()
        local_today = now.astimezone(LOCAL).date()
        started = dt.datetime.combine(local_today - dt.timedelta(days=30), dt.time(9), LOCAL)
        cycles = []
        with clock.frozen_at(started):
            for village, prefix, worker_name, _doctor in VILLAGES:
                worker = users[worker_name]
                for number in range(1, PER_VILLAGE + 1):
                    kind = "high" if number % 6 == 0 else "key" if number % 3 == 0 else "general"
                    person = ElderlyPerson.objects.create(
                        code=f"EC-{prefix}-{number:03d}", village=village, household_code=f"HH-{prefix}-{number:03d}" if number % 4 else "",
                        birth_year=rng.randint(1930, 1960), sex=rng.choice(["female", "male"]),
                        name=rng.choice(SURNAMES) + rng.choice(GIVEN), phone=f"139{rng.randint(10000000, 99999999)}",
                        living=rng.choice(["alone", "spouse", "grandchildren", "spouse"]) if kind != "general" else "spouse",
                        children=[{"name": rng.choice(SURNAMES) + "某", "relation": rng.choice(["儿子", "女儿"]), "works_in": rng.choice(WORKS_IN)}
                                  for _ in range(rng.randint(1, 3))],
                        contact_frequency=rng.choice(["每周视频", "每月电话", "逢年过节回家"]),
                        emergency_contact=f"邻居 {rng.choice(SURNAMES)}某 138{rng.randint(10000000, 99999999)}",
                        carers=rng.choice([["老伴"], ["邻居"], [], ["孙女"]]),
                        chronic_conditions=rng.sample(CONDITIONS, rng.randint(0, 2)), medication=rng.choice(["", "硝苯地平 每日一次", "二甲双胍 每日两次"]),
                        doctor_file=f"{prefix}-WS-{rng.randint(1000, 9999)}", groups_joined=rng.choice([[], ["老年协会"], ["广场舞队"]]))
                    info = api.start_instance(process_key=KEY, actor=worker, data={"purpose": "screening", "person": person.person_key})
                    screened = api.complete_task(task_id=_opened(info, "Task_Screening").id, actor=worker,
                                                 data={"visited_on": started.date().isoformat(), **_answers(rng, kind)})
                    if number == PER_VILLAGE:  # one screening waits for the supervisor
                        continue
                    api.complete_task(task_id=_opened(screened, "Task_ConfirmTier").id, actor=users["supervisor"],
                                      data={"confirmed_tier": ElderlyPerson.objects.get(pk=person.pk).screenings.latest("pk").computed_tier,
                                            "tier_decision": "confirm"})
                    cycles.append((info.id, worker, village))
        # Then the weeks and months up to today, as the sweeper would have seen them: at each period's
        # start the timers fire, and the workers visit in the days after.
        moments = sorted({started.date() + dt.timedelta(days=n) for n in range((local_today - started.date()).days + 1)
                          if (started.date() + dt.timedelta(days=n)).weekday() == 0 or (started.date() + dt.timedelta(days=n)).day == 1})
        for day in [started.date(), *moments]:
            api.fire_due_timers(as_of=dt.datetime.combine(day, dt.time(0, 5), LOCAL))
            visit_day = day if day == started.date() else min(day + dt.timedelta(days=2), local_today)
            with clock.frozen_at(min(dt.datetime.combine(visit_day, dt.time(15)), now.astimezone(LOCAL).replace(tzinfo=None)).replace(tzinfo=LOCAL)):
                open_now = self._open_tasks(users)
                for instance_id, worker, _village in cycles:
                    self._visits(rng, open_now.get(instance_id, {}), worker, users, visit_day, done_share=0.5)
        api.fire_due_timers(as_of=now)
        self.stdout.write(f"elderly care demo: {ElderlyPerson.objects.count()} elders, {len(cycles)} monthly cycles")

    @staticmethod
    def _open_tasks(users) -> dict:
        """Every open task of the demo's people, by case and step (one read per person)."""
        found: dict = {}
        for username in ("worker", "worker2", "supervisor", "doctor_ds", "doctor_xs"):
            for task in selectors.tasks_for_user(users[username], limit=5000):
                if task.process_key == KEY:
                    found.setdefault(task.instance_id, {}).setdefault(task.bpmn_id, {})[task.id] = task
        return {case: {step: sorted(tasks.values(), key=lambda t: t.id)[0] for step, tasks in steps.items()} for case, steps in found.items()}

    def _visits(self, rng, open_tasks, worker, users, day, *, done_share):
        """A worker's visits of one case (and the flag's notice and referral), each with some chance. A
        step may fire timers due by then and withdraw a task read before it: that one is skipped."""
        try:
            self._visits_of_case(rng, open_tasks, worker, users, day, done_share=done_share)
        except AlreadyCompleted:
            pass

    def _visits_of_case(self, rng, open_tasks, worker, users, day, *, done_share):
        today = day.isoformat()
        forms = {
            "Task_HealthCheck": lambda: {"visited_on": today, "doctor": "村医", "systolic": rng.choice([128, 136, 142, 150, 132, 138, 126, 144, 148, 168]),
                                         "diastolic": rng.choice([78, 84, 90, 96]), "glucose": rng.choice([5.6, 6.8, 7.4, 9.1]),
                                         "fell": "no", "missed_medication": rng.choice(["no"] * 19 + ["yes"]), "self_care_score": 80},
            "Task_Companionship": lambda: {"visited_on": today, "mood": rng.choice(["good", "fair", "low"]),
                                           "video_minutes": rng.choice([0, 10, 20, 35]), "days_since_contact": rng.choice([2, 5, 9, 3, 4, 6, 7, 8, 10, 31])},
            "Task_DailyHelp": lambda: {"visited_on": today, "help_types": rng.sample(["cleaning", "shopping", "meals", "medicine"], 2),
                                       "help_minutes": rng.choice([30, 45, 60, 90]), "fell": "no"},
        }
        for bpmn_id, data in forms.items():
            task = open_tasks.get(bpmn_id)
            weekly = task is not None and (task.due_at - task.created_at) < dt.timedelta(days=8)
            if task is not None and rng.random() < (0.85 if weekly else done_share):
                api.complete_task(task_id=task.id, actor=worker, data=data())
        notice = open_tasks.get("Task_FlagNotice")
        if notice is not None and rng.random() < 0.5:
            api.complete_task(task_id=notice.id, actor=users["supervisor"], data={"acknowledged": True, "supervisor_note": "已电话联系家属"})
        referral = open_tasks.get("Task_Referral")
        if referral is not None and rng.random() < 0.6:
            doctor = users["doctor_ds" if referral.village == "dongshan" else "doctor_xs"]
            api.complete_task(task_id=referral.id, actor=doctor, data={"followed_up_on": today, "referral_outcome": rng.choice(["treated", "monitor", "no_issue"]),
                                                                         "doctor_note": "已上门复查，调整用药"})
