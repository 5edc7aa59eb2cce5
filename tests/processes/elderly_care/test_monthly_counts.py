"""A month's "三个一" visits are counted one way on every page: the register's figure, the monthly
report and the station's year figure agree, also for a high-risk elder's week that straddles two
months (Monday 28 September to Sunday 4 October 2026, due Wednesday 30 September before National
Day) with one visit made on each side of the boundary: the week counts in September, where it is due. And a sweep that runs weeks late records each
week it passed over as missed, instead of leaving a silent gap."""
import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from engine import api
from engine.models import HumanTask
from processes.elderly_care.cycle import LOCAL
from processes.elderly_care.handlers import _visits_done
from processes.elderly_care.models import Visit
from tests.processes.elderly_care.flows import SCREEN_HIGH, company, do, elder, health, local, screen

pytestmark = pytest.mark.django_db


def shown(client, user, month: dt.date) -> dict[str, tuple[int, int]]:
    """(done, owed) of `month` as the register shows it (for the month under way) and as the monthly
    report shows it, for `user`."""
    client.force_login(user)
    register = client.get("/elderly/").context["complete"]
    report = client.get(f"/elderly/report/?month={month:%Y-%m}").context["by_village"]
    client.logout()
    return {"register": (register["done"], register["owed"]),
            "report": (sum(r["done"] for r in report), sum(r["owed"] for r in report))}


def test_a_week_straddling_two_months_counts_the_same_on_the_register_the_report_and_the_year(client, users, deployed):
    with time_machine.travel(local(2026, 9, 28, 9), tick=False):
        person = elder()
        instance_id = screen(person, users["worker"], users["supervisor"], SCREEN_HIGH)
    week = Visit.objects.filter(person=person, period_start=dt.date(2026, 9, 28))
    assert set(week.values_list("due_at", flat=True)) == {dt.datetime(2026, 9, 30, 23, 59, 59, tzinfo=LOCAL)}

    with time_machine.travel(local(2026, 9, 29), tick=False):
        do(instance_id, "Task_HealthCheck", users["worker"], health())  # made in September
    with time_machine.travel(local(2026, 9, 30, 20), tick=False):
        for user in (users["supervisor"], users["worker"]):
            assert shown(client, user, dt.date(2026, 9, 1)) == {"register": (1, 3), "report": (1, 3)}

    with time_machine.travel(local(2026, 10, 2), tick=False):
        do(instance_id, "Task_Companionship", users["worker"], company())  # the same week's, made in October
    api.fire_due_timers(as_of=local(2026, 10, 5, 0) + dt.timedelta(minutes=1))  # the next week is planned
    api.fire_due_timers(as_of=local(2026, 10, 7, 0) + dt.timedelta(minutes=1))  # the straddling week's help is missed
    assert sorted(week.values_list("kind", "status")) == [("company", "done"), ("health", "done"), ("help", "missed")]

    with time_machine.travel(local(2026, 10, 9), tick=False):
        # October owes the next week's three visits (due Saturday 10 October, a working day), still
        # open; the straddling week, companionship made on 2 October included, stays September's.
        for user in (users["supervisor"], users["worker"]):
            assert shown(client, user, dt.date(2026, 10, 1)) == {"register": (0, 3), "report": (0, 3)}
        client.force_login(users["supervisor"])
        september = client.get("/elderly/report/?month=2026-09").context["by_village"]
        assert [(r["owed"], r["done"], r["missed"], r["open"]) for r in september] == [(3, 2, 1, 0)]
        year = _visits_done(2026, None)
        assert year.by_month == {9: Decimal("66.7")}  # October's open visits are not due yet


def test_a_sweep_weeks_late_records_each_week_it_passed_over_as_missed(users, deployed):
    with time_machine.travel(local(2026, 11, 10), tick=False):
        person = elder()
        instance_id = screen(person, users["worker"], users["supervisor"], SCREEN_HIGH)
    # The sweeper was stopped from before the week's end until Saturday 5 December.
    late = local(2026, 12, 5, 9)
    api.fire_due_timers(as_of=late)
    api.fire_due_timers(as_of=late)
    statuses = {}
    for start, kind, status in Visit.objects.filter(person=person).values_list("period_start", "kind", "status"):
        statuses.setdefault(start, set()).add((kind, status))
    missed = {("health", "missed"), ("company", "missed"), ("help", "missed")}
    assert statuses == {dt.date(2026, 11, 9): missed, dt.date(2026, 11, 16): missed, dt.date(2026, 11, 23): missed,
                        dt.date(2026, 11, 30): {("health", "open"), ("company", "open"), ("help", "open")}}
    # The week under way is asked for at once, and already overdue (it was due on Friday).
    open_tasks = HumanTask.objects.filter(instance_id=instance_id, status="open")
    assert open_tasks.count() == 3
    assert {t.due_at for t in open_tasks} == {dt.datetime(2026, 12, 4, 23, 59, 59, tzinfo=LOCAL)}
