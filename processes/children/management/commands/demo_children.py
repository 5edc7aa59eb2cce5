"""Demo children in difficulty: twelve children of 东山村 with their growth archives (most with the
guardian's consent to group work), a group run by `worker` with five sessions and pre/post screening
scores on an anxiety scale, and two individual cases at different stages (one in services, one
awaiting the supervisor's approval of its closure). Runs once: nothing when a children's case exists."""
import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from engine import api, clock

from ...handlers import new_child
from ...models import Group, GroupMember, GroupSession, MentalState, Scale, Screening

NAMES = ["王小明", "李小红", "张子涵", "刘欣怡", "陈浩然", "杨雨桐", "赵梓轩", "黄可馨", "周宇航", "吴思琪", "徐俊杰", "孙佳怡"]
SCORES = [(31, 22), (28, 24), (26, 27), (33, 25), (24, 18), (29, 20), (27, 27), (35, 28), (22, 19), (30, 31)]  # (pre, post)


class Command(BaseCommand):
    help = "Create demo children, a group with sessions and scores, and two cases (only when no children's case exists)."

    def handle(self, *args, **options):
        if api.instances_exist("children"):
            self.stdout.write("Demo children: cases exist already, none added.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=["worker", "supervisor"])}
        if len(users) < 2:
            self.stdout.write("Demo children: demo users missing, none added.")
            return
        today = clock.today()
        start = today - dt.timedelta(weeks=6)
        scale, _created = Scale.objects.get_or_create(name="儿童焦虑筛查（示例，0–40分）", defaults={
            "items": 20, "min_score": 0, "max_score": 40, "cutoff": 25, "direction": "lower_better",
            "note": "示例量表：分数越低越好，25分及以上需关注。实际使用前请由督导核定。"})
        children = []
        for n, name in enumerate(NAMES):
            consent = n < 10
            kid = new_child(village="dongshan", name=name, sex="male" if n % 2 == 0 else "female",
                            birth_date=dt.date(2013 + n % 5, 1 + n % 12, 10).isoformat(), left_behind=n % 3 != 2,
                            school="东山小学", grade=f"{3 + n % 4}年级", guardian_name=f"{name[0]}奶奶", guardian_relation="祖母",
                            family_support="父母在外务工，由祖母照料", consent_group=consent, consent_photo=consent and n % 2 == 0,
                            consent_date=start - dt.timedelta(days=7) if consent else None)
            MentalState.objects.create(child=kid, recorded_on=start - dt.timedelta(days=5), note="上课少发言，与同学交往紧张")
            children.append(kid)
        group = Group.objects.create(village="dongshan", name="阳光同伴小组", goal="缓解焦虑、学习与同伴交往", facilitator="东山社工", scale=scale)
        group.workers.add(users["worker"])  # worker runs it: sees its members by name and scores
        members = children[:10]
        for kid in members:
            GroupMember.objects.create(group=group, child=kid, joined_on=start)
        for number, topic in enumerate(["破冰与小组约定", "认识情绪", "放松练习", "学会交朋友", "回顾与告别"], start=1):
            session = GroupSession.objects.create(group=group, number=number, held_on=start + dt.timedelta(weeks=number - 1),
                                                  content=topic, observations="大部分组员积极参与", recorded_by=users["worker"])
            session.present.set([k.pk for i, k in enumerate(members) if (i + number) % 7])
        for kid, (pre, post) in zip(members, SCORES):
            Screening.objects.create(group=group, child=kid, scale=scale, phase="pre", score=pre, screened_on=start)
            Screening.objects.create(group=group, child=kid, scale=scale, phase="post", score=post, screened_on=start + dt.timedelta(weeks=4))
        worker, supervisor = users["worker"], users["supervisor"]
        in_services = self._case(worker, children[10], "学校反映上课发呆、作业常不交")
        self._do(in_services, "Task_Assessment", worker, {"needs": ["psychological", "education"], "risk_level": "medium",
                                                          "mental_state": "情绪低落，想念外出务工的父母", "summary": "亲子分离带来的情绪困扰，需个别辅导与学业支持"})
        self._do(in_services, "Task_CasePlan", worker, {"interventions": [
            {"goal": "每两周与父母视频一次", "provider": "驻站社工", "expected_end": (today + dt.timedelta(days=60)).isoformat()},
            {"goal": "课后作业辅导", "provider": "东山课后课堂", "expected_end": (today + dt.timedelta(days=90)).isoformat()}]})
        self._do(in_services, "Task_Service", worker, {"held_on": today.isoformat(), "kind": "home_visit",
                                                       "note": "家访，与祖母商定作业时间", "next_step": "continue"})
        closing = self._case(worker, children[11], "与同学冲突后不愿上学")
        self._do(closing, "Task_Assessment", worker, {"needs": ["social"], "risk_level": "low", "mental_state": "紧张、回避", "summary": "同伴冲突"})
        self._do(closing, "Task_CasePlan", worker, {"interventions": [
            {"goal": "恢复正常上学", "provider": "班主任", "expected_end": (today + dt.timedelta(days=30)).isoformat()}]})
        self._do(closing, "Task_Service", worker, {"held_on": today.isoformat(), "kind": "school", "note": "与班主任沟通，安排同伴支持",
                                                   "next_step": "close"})
        self._do(closing, "Task_Closure", worker, {"outcome": "goals_met", "summary": "已恢复上学，与同学关系改善"})
        visits = self._joint_visit(worker, children[10], today)
        self.stdout.write(f"Demo children: {len(children)} archives, 1 group with 5 sessions, 2 cases, {visits} joint home visit asked "
                          f"(supervisor: {supervisor.username}).")

    @staticmethod
    def _joint_visit(worker, kid, today) -> int:
        """The partner offices' demo accounts join their office's group; the worker asks the women's
        federation to visit the child of the case in services (a task in women_office's inbox)."""
        from django.contrib.auth.models import Group as UserGroup

        for username, group in (("edu_office", "prov-edu"), ("women_office", "prov-women")):
            user = get_user_model().objects.filter(username=username).first()
            if user is not None:
                user.groups.add(UserGroup.objects.get_or_create(name=group)[0])
        if not get_user_model().objects.filter(username="women_office").exists():
            return 0
        api.start_instance(process_key="children_joint_visit", actor=worker, data={
            "child": str(kid.pk), "office": "prov-women", "planned_on": (today + dt.timedelta(days=3)).isoformat(),
            "purpose": "父母在外务工，孩子情绪低落；请妇联儿童主任一同家访，了解祖母照料情况，商量周末去儿童之家。"})
        return 1

    @staticmethod
    def _case(worker, kid, concerns) -> int:
        return api.start_instance(process_key="children", actor=worker, data={
            "child_from": "archive", "child": str(kid.pk), "referral": "school", "concerns": concerns}).id

    @staticmethod
    def _do(instance_id, bpmn_id, actor, data):
        task = next(t for t in api.get_instance(instance_id=instance_id, viewer=api.SYSTEM, with_history=False).open_tasks if t.bpmn_id == bpmn_id)
        api.complete_task(task_id=task.id, actor=actor, data=data)
