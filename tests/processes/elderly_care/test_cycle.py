"""The "三个一" cycle on the engine's timers: each period's three visits for every elder and tier,
exactly once however often the sweep runs, across month and week boundaries and a public holiday;
a visit not done escalates at its due moment and is withdrawn (missed) after the grace days; a
major change makes a visit due 24 hours after the change; an abnormal reading makes a referral for
the village doctor and a notice for the supervisor."""
import datetime as dt
from collections import Counter

import pytest
import time_machine

from engine import api
from engine.errors import FormInvalid, NotPermitted
from engine.models import HumanTask, OutboxMessage
from portal.notifications.models import Notification
from processes.elderly_care.cycle import LOCAL
from processes.elderly_care.models import ElderlyPerson, MajorChange, Referral, Visit
from tests.conftest import make_user
from tests.processes.elderly_care.flows import (
    SCREEN_GENERAL, SCREEN_HIGH, SCREEN_KEY, company, daily_help, do, elder, health, local, open_tasks, screen,
)

pytestmark = pytest.mark.django_db
VISITS = {"Task_HealthCheck", "Task_Companionship", "Task_DailyHelp"}


@pytest.fixture
def world(users, deployed):
    return {**users, "doctor": make_user("doctor_ds", "village_doctor"), "doctor_xs": make_user("doctor_xs", "village_doctor", villages=["xishui"])}


def visit_tasks(instance_id):
    return Counter(t.bpmn_id for t in HumanTask.objects.filter(instance_id=instance_id, status="open", bpmn_id__in=VISITS))


def sweep_twice(moment):
    first = api.fire_due_timers(as_of=moment)
    second = api.fire_due_timers(as_of=moment)
    assert second.timers_fired == 0  # the second sweep finds nothing left to do
    return first


def test_a_months_cycle_makes_the_three_visits_once_for_every_tier_across_boundaries(world):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        people = {tier: elder() for tier in ("general", "key", "high")}
        answers = {"general": SCREEN_GENERAL, "key": SCREEN_KEY, "high": SCREEN_HIGH}
        cycles = {tier: screen(p, world["worker"], world["supervisor"], answers[tier]) for tier, p in people.items()}
    assert {tier: ElderlyPerson.objects.get(pk=p.pk).tier for tier, p in people.items()} == {"general": "general", "key": "key", "high": "high"}
    for tier, instance_id in cycles.items():
        assert visit_tasks(instance_id) == {bpmn_id: 1 for bpmn_id in VISITS}, tier
    monthly_due = dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=LOCAL)  # Monday, a working day
    weekly_due = dt.datetime(2026, 11, 13, 23, 59, 59, tzinfo=LOCAL)  # the week's Friday
    assert {t.due_at for t in open_tasks(cycles["key"])} == {monthly_due}
    assert {t.due_at for t in open_tasks(cycles["high"])} == {weekly_due}

    # The high tier's week ends: its next week's three visits, once; the monthly ones are untouched.
    with time_machine.travel(local(2026, 11, 16, 8), tick=False):
        do(cycles["high"], "Task_HealthCheck", world["worker"], health())
        sweep_twice(local(2026, 11, 16, 0) + dt.timedelta(minutes=1))
    assert visit_tasks(cycles["high"]) == {"Task_HealthCheck": 1, "Task_Companionship": 2, "Task_DailyHelp": 2}  # last week's two in grace
    assert visit_tasks(cycles["general"]) == {bpmn_id: 1 for bpmn_id in VISITS}
    # Grace over (two days): last week's two open visits are withdrawn and missed.
    sweep_twice(local(2026, 11, 18, 0) + dt.timedelta(minutes=1))
    assert visit_tasks(cycles["high"]) == {bpmn_id: 1 for bpmn_id in VISITS}
    high = Visit.objects.filter(person=people["high"], period_start=dt.date(2026, 11, 9))
    assert sorted(high.values_list("kind", "status")) == [("company", "missed"), ("health", "done"), ("help", "missed")]

    # Across the month boundary: December's three visits for each monthly elder, once, due 31 December.
    sweep_twice(dt.datetime(2026, 12, 1, 0, 0, 30, tzinfo=LOCAL))
    for tier in ("general", "key"):
        assert visit_tasks(cycles[tier]) == {bpmn_id: 2 for bpmn_id in VISITS}  # November's still in grace
        assert Visit.objects.filter(person=people[tier], period_start=dt.date(2026, 12, 1)).count() == 3
        assert HumanTask.objects.filter(instance_id=cycles[tier], status="open", due_at=dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=LOCAL)).count() == 3
    sweep_twice(dt.datetime(2026, 12, 6, 0, 0, 30, tzinfo=LOCAL))
    for tier in ("general", "key"):
        assert visit_tasks(cycles[tier]) == {bpmn_id: 1 for bpmn_id in VISITS}
        assert Visit.objects.filter(person=people[tier], period_start=dt.date(2026, 11, 1), status="missed").count() == 3
    assert Visit.objects.filter(person=people["general"]).count() == 6  # nothing made twice


def test_a_month_ending_on_a_public_holiday_is_due_the_working_day_before(world):
    # September 2023: the 29th (Friday) is the Mid-Autumn Festival and the 30th a holiday; the visits are
    # due at the end of Thursday the 28th. The week of 2 October is National Day, with Saturday 7 and
    # Sunday 8 October made working days: a high-tier week is due on that Sunday.
    with time_machine.travel(dt.datetime(2023, 9, 5, 10, tzinfo=LOCAL), tick=False):
        monthly, weekly = elder(), elder()
        month_case = screen(monthly, world["worker"], world["supervisor"])
        week_case = screen(weekly, world["worker"], world["supervisor"], SCREEN_HIGH)
    assert {t.due_at for t in open_tasks(month_case)} == {dt.datetime(2023, 9, 28, 23, 59, 59, tzinfo=LOCAL)}
    api.fire_due_timers(as_of=dt.datetime(2023, 9, 28, 23, 59, 59, 500000, tzinfo=LOCAL))
    assert HumanTask.objects.filter(instance_id=month_case, status="open", sla_breached_at__isnull=False).count() == 3
    sweep_twice(dt.datetime(2023, 10, 2, 0, 1, tzinfo=LOCAL))
    golden_week = HumanTask.objects.filter(instance_id=week_case, status="open", created_at__gte=dt.datetime(2023, 10, 1, tzinfo=LOCAL))
    assert {t.due_at for t in golden_week} == {dt.datetime(2023, 10, 8, 23, 59, 59, tzinfo=LOCAL)}
    assert golden_week.count() == 3


def test_a_missed_visit_escalates_at_its_due_moment_like_any_sla(world):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        instance_id = screen(elder(), world["worker"], world["supervisor"])
    api.fire_due_timers(as_of=dt.datetime(2026, 11, 30, 12, tzinfo=LOCAL))
    assert not HumanTask.objects.filter(instance_id=instance_id, sla_breached_at__isnull=False).exists()
    api.fire_due_timers(as_of=dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=LOCAL) - dt.timedelta(milliseconds=200))
    breached = HumanTask.objects.filter(instance_id=instance_id, status="open", sla_breached_at__isnull=False)
    assert set(breached.values_list("bpmn_id", flat=True)) == VISITS
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").count() == 3
    assert Notification.objects.filter(user=world["supervisor"], instance_id=instance_id, kind="breached").count() == 3


def test_an_abnormal_reading_makes_a_referral_for_the_village_doctor_and_a_notice(world):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        person = elder()
        instance_id = screen(person, world["worker"], world["supervisor"])
        do(instance_id, "Task_Companionship", world["worker"], company())
        do(instance_id, "Task_DailyHelp", world["worker"], daily_help())
        assert not open_tasks(instance_id, "Task_Referral")
        do(instance_id, "Task_HealthCheck", world["worker"], health(systolic=172))
        referral_task = open_tasks(instance_id, "Task_Referral")[0]
        assert referral_task.candidate_group == "village_doctor" and referral_task.village == "dongshan"
        assert open_tasks(instance_id, "Task_FlagNotice")[0].candidate_group == "supervisor"
        referral = Referral.objects.get(person=person)
        assert [f["code"] for f in referral.flags] == ["high_bp"]
        # Only the doctor of the elder's village may take it.
        with pytest.raises(NotPermitted):
            api.complete_task(task_id=referral_task.pk, actor=world["doctor_xs"],
                              data={"followed_up_on": "2026-11-10", "referral_outcome": "treated"})
        api.complete_task(task_id=referral_task.pk, actor=world["doctor"],
                          data={"followed_up_on": "2026-11-10", "referral_outcome": "treated", "doctor_note": "调整用药"})
    referral.refresh_from_db()
    assert referral.status == "done"


def test_no_contact_for_30_days_and_a_fall_are_flags_too(world):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        person = elder()
        instance_id = screen(person, world["worker"], world["supervisor"])
        do(instance_id, "Task_Companionship", world["worker"], company(days_since_contact=30))
        do(instance_id, "Task_DailyHelp", world["worker"], daily_help(fell="yes"))
    assert sorted(f["code"] for r in Referral.objects.filter(person=person) for f in r.flags) == ["fall", "no_contact"]
    assert len(open_tasks(instance_id, "Task_Referral")) == 2


def test_a_major_change_makes_a_visit_due_24_hours_after_it(world):
    with time_machine.travel(local(2026, 11, 10, 9), tick=False):
        person = elder()
        fell_at = local(2026, 11, 9, 20)
        info = api.start_instance(process_key="elderly_care", actor=world["worker"], data={
            "purpose": "change", "person": person.person_key, "change_kind": "fall", "happened_at": "2026-11-09T20:00",
            "details": "夜里起床摔倒"})
        urgent = open_tasks(info.id, "Task_UrgentVisit")[0]
        assert urgent.due_at == fell_at + dt.timedelta(hours=24)
        assert MajorChange.objects.get(instance_id=info.id).kind == "fall"
        with pytest.raises(FormInvalid) as refused:
            api.start_instance(process_key="elderly_care", actor=world["worker"], data={"purpose": "change", "person": person.person_key})
        assert set(refused.value.field_errors) == {"change_kind", "happened_at"}
    api.fire_due_timers(as_of=fell_at + dt.timedelta(hours=24, seconds=1))
    urgent.refresh_from_db()
    assert urgent.status == "open" and urgent.sla_breached_at is not None


def test_a_worker_of_another_village_cannot_open_a_case_for_the_elder(world):
    person = elder()
    with pytest.raises(FormInvalid):
        api.start_instance(process_key="elderly_care", actor=world["worker_xishui"], data={"purpose": "screening", "person": person.person_key})


def test_glucose_is_required_at_a_diabetic_elders_health_check(world):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        instance_id = screen(elder(), world["worker"], world["supervisor"], {**SCREEN_GENERAL, "diabetic": "yes"})
        with pytest.raises(FormInvalid) as refused:
            do(instance_id, "Task_HealthCheck", world["worker"], health())
        assert "glucose" in refused.value.field_errors
        do(instance_id, "Task_HealthCheck", world["worker"], health(glucose=7.2))


def test_an_elder_who_leaves_the_programme_ends_the_cycle(world):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        person = elder()
        instance_id = screen(person, world["worker"], world["supervisor"])
    ElderlyPerson.objects.filter(pk=person.pk).update(active=False)
    api.fire_due_timers(as_of=dt.datetime(2026, 12, 6, 0, 1, tzinfo=LOCAL))
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"
    assert ElderlyPerson.objects.get(pk=person.pk).cycle_instance_id is None
