"""Demo time bank: 10 volunteers and 9 elders in the three pilot villages, a month of services run
through the process (with the engine's clock at the time of each), and the ledger they leave —
deposits, redemptions, a gift to a relative, a donation, hours expired, a reversal — with a few
services for the supervisor (a long visit, the same pair every day, an overlap); today, a request
waiting for a volunteer, the demo volunteer's next service, and a service signed in on the phone
for the worker to record. Runs once: it does nothing when a member exists."""
import datetime as dt
import random
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from engine import api, clock
from engine.errors import CaseflowError

from ... import ledger
from ...handlers import put_sign_in_on_the_form
from ...models import ConsentHow, LedgerEntry, Member, MemberStatus, Relative, ServiceSession

# village -> (the worker who registers there, volunteers, elders) as (name, year of birth, household)
PEOPLE = {
    "dongshan": ("worker", [("王桂兰", 1961, "DS-012"), ("李建国", 1958, "DS-027"), ("张秀英", 1964, "DS-033"), ("刘志强", 1990, "DS-041")],
                 [("王老太", 1936, "DS-005"), ("陈大爷", 1939, "DS-018"), ("赵奶奶", 1942, "DS-022")]),
    "xishui": ("worker2", [("杨春花", 1960, "XS-008"), ("黄德明", 1957, "XS-015"), ("周玉梅", 1963, "XS-021")],
               [("吴爷爷", 1935, "XS-002"), ("徐奶奶", 1940, "XS-011"), ("孙大爷", 1938, "XS-019")]),
    "nanling": ("worker2", [("胡小燕", 1966, "NL-004"), ("朱国庆", 1959, "NL-013"), ("高淑珍", 1962, "NL-020")],
                [("林奶奶", 1937, "NL-001"), ("何爷爷", 1941, "NL-009"), ("郭奶奶", 1934, "NL-016")]),
}
ITEMS = ["company", "errands", "cleaning", "meals", "haircut", "repairs", "escort"]


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _held_then(member) -> Decimal:
    """What the member held at the engine's clock. The month's services are all recorded before these
    movements, which are dated back into it: a movement may spend only the hours earned by its date."""
    entries = LedgerEntry.objects.filter(account=ledger.account_of(member), at__lte=clock.now())
    return entries.aggregate(total=Sum("hours"))["total"] or Decimal("0")


class Command(BaseCommand):
    help = "Create demo time-bank members and a month of services and ledger entries (only into an empty time bank)."

    def handle(self, *args, **options):
        if Member.objects.exists():
            self.stdout.write("Demo time bank: members exist already, none added.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=["worker", "worker2", "supervisor"])}
        if len(users) < 3:
            self.stdout.write("Demo time bank: the demo worker, worker2 and supervisor are missing (run seed_demo first).")
            return
        pilot = [v for v in PEOPLE if v in settings.TIME_BANK["pilot_villages"]]
        rng = random.Random(2026)
        today = timezone.localdate()
        with transaction.atomic():
            volunteers, elders = self._members(users, pilot, today)
            linked = self._demo_sign_in(users, volunteers)
        services, held = 0, 0
        for days_ago in range(30, 0, -1):
            day = today - dt.timedelta(days=days_ago)
            for village in pilot:
                if rng.random() < 0.45:
                    continue
                volunteer, elder = rng.choice(volunteers[village]), rng.choice(elders[village])
                start = _local(day, rng.choice([8, 9, 10, 14, 15]), rng.choice([0, 30]))
                length = dt.timedelta(minutes=rng.choice([60, 90, 120, 150, 180]))
                outcome = self._service(users, village, elder, volunteer, start, start + length, rng.choice(ITEMS), "free")
                services, held = services + 1, held + (outcome == "in_review")
        # For the supervisor: a five-hour visit, the same pair five days running, two sessions that overlap.
        ds_v, ds_e = volunteers["dongshan"], elders["dongshan"]
        self._service(users, "dongshan", ds_e[0], ds_v[1], _local(today - dt.timedelta(days=2), 8), _local(today - dt.timedelta(days=2), 13), "escort", "free")
        for days_ago in (6, 5, 4, 3, 2):
            day = today - dt.timedelta(days=days_ago)
            self._service(users, "dongshan", ds_e[2], ds_v[3], _local(day, 16), _local(day, 17), "company", "free")
        day = today - dt.timedelta(days=1)
        self._service(users, "dongshan", ds_e[1], ds_v[2], _local(day, 9), _local(day, 11), "cleaning", "free")
        self._service(users, "dongshan", ds_e[0], ds_v[2], _local(day, 10), _local(day, 12), "meals", "free")
        with transaction.atomic():
            self._movements(users, volunteers, elders, today)
        # An elder pays with the hours a child gave her.
        self._service(users, "dongshan", ds_e[0], ds_v[3], _local(today - dt.timedelta(days=1), 15), _local(today - dt.timedelta(days=1), 16),
                      "haircut", "own")
        # The demo volunteer's next service, today: their page offers "sign in" at the elder's door.
        worker = users[PEOPLE["dongshan"][0]]
        waiting = api.start_instance(process_key="time_bank", actor=worker, data={
            "elder": str(ds_e[1].pk), "item": "errands", "requested_by": "elder", "scheduled_for": today.isoformat(),
            "notes": "到镇卫生院药房代买降压药（硝苯地平缓释片，一盒），顺路带两斤鸡蛋。药钱老人自己出，请保留小票。"}).id
        self._complete(waiting, "Task_Match", worker, {"volunteer": str(ds_v[0].pk),
                                                       "notes": "下午两点前送到老人家里；先到村委会找我拿买药的现金和医保卡复印件。"})
        # Signed in on the phone this morning and not out (a flat battery): the worker records it, the
        # sign-in already on the form.
        arrived = clock.now() - dt.timedelta(minutes=95)
        phone = api.start_instance(process_key="time_bank", actor=worker, data={
            "elder": str(ds_e[2].pk), "item": "cleaning", "requested_by": "proxy",
            "scheduled_for": timezone.localdate(arrived).isoformat(),
            "notes": "女儿在外地打工，打电话来说：屋里好久没打扫，灶台和厨房地面要擦干净，被子拿出去晒。"}).id
        self._complete(phone, "Task_Match", worker, {"volunteer": str(ds_v[1].pk)})
        ServiceSession.objects.filter(instance_id=phone).update(arrived_at=arrived)
        put_sign_in_on_the_form(ServiceSession.objects.get(instance_id=phone))
        # A request waiting for a volunteer: what the family asked for is on the matcher's task.
        api.start_instance(process_key="time_bank", actor=worker, data={
            "elder": str(ds_e[0].pk), "item": "escort", "requested_by": "proxy",
            "scheduled_for": (today + dt.timedelta(days=2)).isoformat(),
            "notes": "儿子来电：母亲周四上午要去县人民医院复查白内障（眼科，8:30前挂号），需要有人陪同坐车、排队、取药。"
                     "老人耳背，说话要大声些。医保卡在床头柜抽屉里。"})
        self.stdout.write(f"Demo time bank: {sum(len(v) for v in volunteers.values())} volunteers, "
                          f"{sum(len(e) for e in elders.values())} elders, {ServiceSession.objects.count()} services, "
                          f"{LedgerEntry.objects.count()} ledger entries, "
                          f"{ServiceSession.objects.filter(status='in_review').count()} waiting for the supervisor"
                          + (f"; the demo user volunteer signs in to {linked}'s passbook." if linked else "."))

    def _demo_sign_in(self, users, volunteers) -> str:
        """The demo user `volunteer` (seed_demo) as the first dongshan volunteer's sign-in, linked as a
        worker links an existing account (the password is the one seed_demo printed, so none to change).
        Its display name is the passbook number, as for every volunteer's sign-in. Returns the number."""
        account = get_user_model().objects.filter(username="volunteer", is_active=True).first()
        if account is None or not volunteers.get("dongshan") or Member.objects.filter(user=account).exists():
            return ""
        member = volunteers["dongshan"][0]
        member.user, member.password_to_change = account, False
        member.login_issued_by, member.login_issued_at = users["worker"], clock.now()
        member.save(update_fields=["user", "password_to_change", "login_issued_by", "login_issued_at"])
        account.first_name = member.number
        account.save(update_fields=["first_name"])
        return member.number

    def _members(self, users, pilot, today):
        volunteers, elders = {}, {}
        registered = _local(today - dt.timedelta(days=40), 10)
        for village in pilot:
            username, people, served = PEOPLE[village]
            volunteers[village] = [self._member(users, username, village, "volunteer", person, registered, today) for person in people]
            elders[village] = [self._member(users, username, village, "elder", person, registered, today) for person in served]
        # One volunteer waits for the supervisor's approval.
        Member.objects.create(village=pilot[0], kind="volunteer", name="马丽娟", birth_year=1965, household="DS-050",
                              training_date=today - dt.timedelta(days=3), training_topic="助老服务与安全（第二期）",
                              identity_checked=True, registered_by=users[PEOPLE[pilot[0]][0]], registered_at=clock.now())
        return volunteers, elders

    def _member(self, users, username, village, kind, person, registered, today):
        name, born, household = person
        return Member.objects.create(
            village=village, kind=kind, name=name, birth_year=born, household=household, identity_checked=True,
            training_date=today - dt.timedelta(days=45) if kind == "volunteer" else None,
            training_topic="助老服务与安全（第一期）" if kind == "volunteer" else "", status=MemberStatus.APPROVED,
            registered_by=users[username], registered_at=registered, decided_by=users["supervisor"],
            decided_at=registered + dt.timedelta(days=1), decision_note="资料齐全")

    def _service(self, users, village, elder, volunteer, signed_in, signed_out, item, paid_with) -> str:
        worker = users[PEOPLE[village][0]]
        try:
            with clock.frozen_at(signed_in - dt.timedelta(hours=20)):
                instance_id = api.start_instance(process_key="time_bank", actor=worker, data={
                    "elder": str(elder.pk), "item": item, "requested_by": "elder"}).id
                self._complete(instance_id, "Task_Match", worker, {"volunteer": str(volunteer.pk)})
            with clock.frozen_at(signed_out + dt.timedelta(minutes=30)):
                self._complete(instance_id, "Task_Service", worker, {
                    "signed_in_at": signed_in.isoformat(), "signed_out_at": signed_out.isoformat(), "done": "按需求完成服务"})
                self._complete(instance_id, "Task_Confirm", worker, {
                    "confirmed": "yes", "confirmed_by": "elder", "method": "signature", "rating": "5", "paid_with": paid_with})
        except CaseflowError as refused:
            self.stdout.write(f"Demo time bank: a service was refused ({refused}).")
            return "refused"
        return ServiceSession.objects.get(instance_id=instance_id).status

    def _complete(self, instance_id, bpmn_id, actor, data):
        from engine import selectors

        task = next(t for t in selectors.tasks_for_user(actor) if t.instance_id == instance_id and t.bpmn_id == bpmn_id)
        api.complete_task(task_id=task.id, data=data, actor=actor)

    def _movements(self, users, volunteers, elders, today):
        worker, supervisor = users["worker"], users["supervisor"]
        child, mother = volunteers["dongshan"][0], elders["dongshan"][0]
        Relative.objects.create(member=child, relative=mother, relation="parent", recorded_by=worker,
                                recorded_at=_local(today - dt.timedelta(days=3), 9))
        with clock.frozen_at(_local(today - dt.timedelta(days=2), 9)):
            if _held_then(child) >= 2:
                ledger.transfer(child, mother, Decimal("2"), actor=worker, note="赠予母亲",
                                consent=ledger.Consent(ConsentHow.SIGNED, _local(today - dt.timedelta(days=2), 8, 40)))
            else:
                ledger.deposit(mother, Decimal("2"), session=None, actor=supervisor, note="互助池调剂（种子时数）")
        donor = volunteers["dongshan"][1]
        with clock.frozen_at(_local(today - dt.timedelta(days=6), 9)):
            if _held_then(donor) >= 1:
                ledger.donate(donor, Decimal("1"), actor=worker, note="捐给独居老人",
                              consent=ledger.Consent(ConsentHow.IN_PERSON, _local(today - dt.timedelta(days=6), 8, 50)))
        with clock.frozen_at(_local(today - dt.timedelta(days=4), 16)):
            mistaken = LedgerEntry.objects.filter(kind="deposit", account__member=volunteers["dongshan"][3],
                                                  at__lte=clock.now()).order_by("pk").first()
            if mistaken is not None and _held_then(volunteers["dongshan"][3]) >= mistaken.hours:
                ledger.reverse(mistaken, actor=supervisor, note="签退时间录错，重新登记")
