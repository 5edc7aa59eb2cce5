"""Demo standing groups (an after-school class at each of the seven village points) and a few
months of sessions: classes with attendance by name, awareness sessions and trainings with counts,
most approved, a few waiting for review or still to be recorded. Runs once: nothing when a session exists."""
import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from engine import api, clock

from ...models import ActivityKind, Roster, RosterMember

POINTS = {"dongshan": "东山村课后课堂", "xishui": "西水村课后课堂", "nanling": "南岭村课后课堂", "beipo": "北坡村课后课堂",
          "zhongxin": "中心社区课后课堂", "hetang": "荷塘村课后课堂", "qingshi": "青石村课后课堂"}
WORKER_OF = {"dongshan": "worker", "zhongxin": "worker", "qingshi": "worker", "xishui": "worker2", "nanling": "worker2",
             "beipo": "worker2", "hetang": "worker2"}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "小明 小红 子涵 欣怡 浩然 雨桐 梓轩 可馨 宇航 思琪 俊杰 佳怡 一诺 晨曦 天佑 若曦".split()


class Command(BaseCommand):
    help = "Create demo groups and sessions of the activities process (only when none exists)."

    def handle(self, *args, **options):
        if api.instances_exist("activities"):
            self.stdout.write("Demo activities: sessions exist already, none added.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=["worker", "worker2", "supervisor"])}
        if len(users) < 3:
            self.stdout.write("Demo activities: demo users missing, none added.")
            return
        rng = random.Random(2026)
        today = clock.today()
        rosters = {}
        for village, name in POINTS.items():
            roster, _created = Roster.objects.get_or_create(village=village, name=name, defaults={"kind": ActivityKind.AFTER_SCHOOL})
            roster.workers.add(users[WORKER_OF[village]])  # the point's worker runs its class (ADR 0041)
            for _ in range(rng.randint(10, 16)):
                RosterMember.objects.create(roster=roster, name=rng.choice(SURNAMES) + rng.choice(GIVEN), minor=True,
                                            guardian_consent=True, joined_on=today - dt.timedelta(days=120))
            rosters[village] = roster
        count = 0
        for weeks_ago in range(12, -1, -1):
            for village in ("dongshan", "xishui", "nanling"):
                held_on = today - dt.timedelta(weeks=weeks_ago, days=rng.randint(0, 4))
                self._session(users, village, ActivityKind.AFTER_SCHOOL, f"{POINTS[village]}第{13 - weeks_ago}次",
                              held_on, rosters[village], rng, review=weeks_ago > 0)
                count += 1
        for months_ago, (kind, title, village) in enumerate([
                (ActivityKind.AWARENESS, "防性侵儿童保护宣传进村", "dongshan"), (ActivityKind.TRAINING, "电商直播技能培训", "zhongxin"),
                (ActivityKind.AWARENESS, "防溺水安全宣传", "xishui"), (ActivityKind.COACHING, "老年协会季度辅导", "beipo")]):
            held_on = today - dt.timedelta(days=30 * months_ago + 3)
            self._session(users, village, kind, title, held_on, None, rng, review=True)
            count += 1
        self.stdout.write(f"Demo activities: {len(rosters)} groups, {count} sessions.")

    def _session(self, users, village, kind, title, held_on, roster, rng, *, review):
        worker = users[WORKER_OF[village]]
        start = api.start_instance(process_key="activities", actor=worker, data={
            "kind": kind, "title": title, "village": village, "place": "村委会活动室", "held_on": held_on.isoformat(),
            "facilitator": worker.get_full_name() or worker.username, "partner": "县妇联" if kind == ActivityKind.AWARENESS else "",
            "roster": str(roster.pk) if roster else ""})
        instance_id = start.instance_id if hasattr(start, "instance_id") else start.id
        if held_on > clock.today():
            return
        task = self._open(instance_id)
        if roster is not None:
            members = [str(pk) for pk in roster.members.filter(active=True).values_list("pk", flat=True)]
            present = [pk for pk in members if rng.random() < 0.85]
            api.complete_task(task_id=task, actor=worker, data={"present": present, "content": "作业辅导、阅读分享", "observations": ""})
        else:
            people = rng.randint(30, 80)
            api.complete_task(task_id=task, actor=worker, data={"participants": people, "children": people // 3,
                                                                "content": "讲座与互动问答", "observations": ""})
        if review:
            api.complete_task(task_id=self._open(instance_id), actor=users["supervisor"], data={"decision": "approve", "comments": ""})

    @staticmethod
    def _open(instance_id: int) -> int:
        return api.get_instance(instance_id=instance_id, viewer=api.SYSTEM, with_history=False).open_tasks[0].id
