"""Working days: weekends, public holidays and adjusted working days (调休) from chinese-calendar, the
station's own days over them, a year the package does not know named loudly; timers that count
working days get their deadline from it. Dates around National Day 2026: 25-27 Sept is the
Mid-autumn holiday, 1-7 Oct National Day, Saturday 10 Oct a working day (调休)."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import checks

from engine import api, business_calendar
from engine.business_calendar import CalendarDay, add_working_days, is_working_day, working_days_between
from engine.errors import DefinitionInvalid
from engine.models import HumanTask

from . import samples

pytestmark = pytest.mark.django_db
CST = ZoneInfo("Asia/Shanghai")
D = dt.date


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CST)


def test_holidays_weekends_and_an_adjusted_saturday():
    assert is_working_day(D(2026, 9, 30))           # Wednesday
    assert not is_working_day(D(2026, 10, 1))       # National Day
    assert not is_working_day(D(2026, 10, 5))       # a Monday inside the holiday
    assert is_working_day(D(2026, 10, 10))          # Saturday, worked in exchange (调休)
    assert not is_working_day(D(2026, 10, 11))      # Sunday
    assert not is_working_day(D(2026, 9, 25))       # Friday, Mid-autumn


def test_three_working_days_from_the_eve_of_national_day_end_on_the_adjusted_saturday():
    # 30 Sept 10:00 -> 8 Oct (1), 9 Oct (2), Saturday 10 Oct (3), same time of day.
    assert add_working_days(at(2026, 9, 30, 10, 0), 3) == at(2026, 10, 10, 10, 0)
    assert add_working_days(at(2026, 9, 30, 10, 0), 4) == at(2026, 10, 12, 10, 0)
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 12)) == 4


def test_the_stations_own_days_win_over_the_package():
    CalendarDay.objects.create(date=D(2026, 10, 9), is_working_day=False, note="村里庙会")
    CalendarDay.objects.create(date=D(2026, 10, 11), is_working_day=True, note="集中办公")
    assert not is_working_day(D(2026, 10, 9)) and is_working_day(D(2026, 10, 11))
    # 8 Oct (1), 10 Oct (2), 11 Oct (3)
    assert add_working_days(at(2026, 9, 30, 10, 0), 3) == at(2026, 10, 11, 10, 0)


def test_an_unknown_year_is_named_never_guessed_silently():
    business_calendar.package_knows.cache_clear()
    assert business_calendar.package_knows(2026)
    assert not business_calendar.package_knows(2027)  # chinese-calendar 1.11.0 raises NotImplementedError for it
    assert business_calendar.unknown_years(D(2026, 6, 1)) == []
    assert business_calendar.unknown_years(D(2026, 12, 1)) == [2027]  # within 60 days of it
    with time_machine.travel(at(2026, 12, 1, 9, 0), tick=False):
        warnings = [m for m in checks.run_checks() if m.id == "caseflow.W002"]
    assert len(warnings) == 1 and "2027" in warnings[0].msg
    with time_machine.travel(at(2026, 6, 1, 9, 0), tick=False):
        assert not [m for m in checks.run_checks() if m.id == "caseflow.W002"]


def test_counting_across_the_year_boundary_into_an_unknown_year():
    """30 Dec 2026 + 3 working days: 31 Dec (known), then 2027 by Monday to Friday — 1 Jan counts
    unless the station enters it; entered as a rest day, the deadline moves a day."""
    assert add_working_days(at(2026, 12, 30, 9, 0), 3) == at(2027, 1, 4, 9, 0)
    CalendarDay.objects.create(date=D(2027, 1, 1), is_working_day=False, note="元旦")
    assert add_working_days(at(2026, 12, 30, 9, 0), 3) == at(2027, 1, 5, 9, 0)


def working_days_timer(key: str, duration: str = '"P3D"', value: str = "working_days"):
    xml, forms = samples.boundary_timer(key, duration)
    xml = xml.replace('attachedToRef="Task_B">', 'attachedToRef="Task_B"><bpmn:extensionElements><spiffworkflow:properties>'
                      f'<spiffworkflow:property name="calendar" value="{value}"/></spiffworkflow:properties></bpmn:extensionElements>')
    return xml, forms


def test_a_timer_counting_working_days_is_due_on_the_adjusted_saturday(users):
    samples.deploy(working_days_timer("wd_timer"), users["admin"])
    with time_machine.travel(at(2026, 9, 30, 10, 0), tick=False):
        instance_id = api.start_instance(process_key="wd_timer", data={**samples.START, "reported_on": "2026-09-30"},
                                         actor=users["intake"]).id
        api.complete_task(task_id=HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_A").pk, data=samples.RECORD,
                          actor=users["intake"])
    task = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_B")
    assert task.due_at == at(2026, 10, 10, 10, 0)  # not 3 Oct: the holiday does not count, the 调休 Saturday does
    assert api.fire_due_timers(as_of=at(2026, 10, 10, 9, 59)).timers_fired == 0
    assert api.fire_due_timers(as_of=at(2026, 10, 10, 10, 1)).timers_fired == 1
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Escalate").count() == 1


def test_a_plain_duration_timer_still_counts_calendar_time(users):
    samples.deploy(samples.boundary_timer("wall_timer", '"P3D"'), users["admin"])
    with time_machine.travel(at(2026, 9, 30, 10, 0), tick=False):
        instance_id = api.start_instance(process_key="wall_timer", data={**samples.START, "reported_on": "2026-09-30"},
                                         actor=users["intake"]).id
        api.complete_task(task_id=HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_A").pk, data=samples.RECORD,
                          actor=users["intake"])
    assert HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_B").due_at == at(2026, 10, 3, 10, 0)


@pytest.mark.parametrize("duration, value, words", [
    ('"PT24H"', "working_days", "whole days"),
    ('"P1M"', "working_days", "whole days"),
    ('"P3D"', "lunar", "can only be"),
])
def test_deploy_refuses_a_working_days_timer_it_cannot_count(users, duration, value, words):
    with pytest.raises(DefinitionInvalid) as refused:
        samples.deploy(working_days_timer("wd_bad", duration, value), users["admin"])
    assert any(p.element_id == "Timer_B" and words in str(p) for p in refused.value.problems)


def test_deploy_warns_on_a_working_days_timer_while_a_coming_year_is_unknown(users):
    with time_machine.travel(at(2026, 12, 1, 9, 0), tick=False):
        info = samples.deploy(working_days_timer("wd_warn"), users["admin"])
    assert any(w.element_id == "Timer_B" and "2027" in str(w) for w in info.warnings)
