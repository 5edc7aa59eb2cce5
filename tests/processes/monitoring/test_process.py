"""The monitoring cycle on the engine's timers and a warning's chain: the monthly update checked
against the rules in its hook, the verification visit, the supervisor's decision, and a confirmed
warning feeding needs matching — once per household."""
import datetime as dt

import pytest
import time_machine

from engine import api, clock
from engine.errors import FormInvalid
from engine.models import ProcessInstance
from processes.monitoring.models import MonitoredHousehold, MonthlyUpdate, Warning
from tests.processes.monitoring.flows import do, enrol, household, local, open_tasks, update

pytestmark = pytest.mark.django_db


def sweep(moment):
    first = api.fire_due_timers(as_of=moment)
    assert api.fire_due_timers(as_of=moment).timers_fired == 0  # a second sweep finds nothing
    return first


def test_a_month_of_updates_then_a_drop_raises_a_warning_that_leads_into_matching(users, deployed):
    worker, supervisor = users["worker"], users["supervisor"]
    with time_machine.travel(local(2026, 10, 12), tick=False):
        h = household()
        case = enrol(h, worker)
        assert [t.bpmn_id for t in open_tasks(case)] == ["Task_MonthlyUpdate"]
        outcome = do(case, "Task_MonthlyUpdate", worker, update(wages="3500"))  # 14,000 a year per person: the baseline, above every line
    assert MonthlyUpdate.objects.get(household__household_id=h.pk, month=dt.date(2026, 10, 1)).status == "done"
    assert not Warning.objects.exists()
    assert outcome.status == "running"

    with time_machine.travel(local(2026, 11, 1, 0), tick=False):
        sweep(local(2026, 11, 1, 0) + dt.timedelta(minutes=1))  # October ends: November's update opens, once
    assert len(open_tasks(case, "Task_MonthlyUpdate")) == 1
    with time_machine.travel(local(2026, 11, 9), tick=False):
        do(case, "Task_MonthlyUpdate", worker, update(wages="800", events=["hospitalised"]))
    warning = Warning.objects.get()
    assert {r["code"] for r in warning.reasons} == {"income_drop", "below_standard", "below_edge", "below_line", "hospitalised"}
    assert warning.update.band == "below_standard"
    assert [t.bpmn_id for t in open_tasks(case, "Task_Verify")] == ["Task_Verify"]
    with time_machine.travel(local(2026, 11, 10), tick=False):
        do(case, "Task_Verify", worker, {"visited_on": "2026-11-10", "situation": "as_reported", "findings": "户主住院，务工收入中断"})
        assert open_tasks(case, "Task_Decide")[0].candidate_group == "supervisor"
        do(case, "Task_Decide", supervisor, {"decision": "confirm", "decision_note": ""})
    warning.refresh_from_db()
    assert warning.status == "confirmed" and not warning.linked_existing and warning.referral_problem == ""
    needs_case = ProcessInstance.objects.get(pk=warning.needs_instance_id)
    assert needs_case.process_key == "needs_matching" and needs_case.status == "running"
    assert needs_case.subject.startswith(h.code)
    assert open_tasks(needs_case.pk, "Task_NeedsAssessment")[0].village == "dongshan"
    # the monitoring cycle goes on beside the warning's chain
    assert ProcessInstance.objects.get(pk=case).status == "running"


def test_a_confirmed_warning_links_to_the_households_open_needs_case_instead_of_starting_another(users, deployed):
    worker, supervisor = users["worker"], users["supervisor"]
    h = household()
    already = api.start_instance(process_key="needs_matching", actor=worker, data={"household": str(h.pk), "visit_date": clock.today().isoformat()})
    case = enrol(h, worker)
    do(case, "Task_MonthlyUpdate", worker, update(events=["job_loss"]))
    do(case, "Task_Verify", worker, {"visited_on": clock.today().isoformat(), "situation": "as_reported", "findings": "失业"})
    before = ProcessInstance.objects.filter(process_key="needs_matching").count()
    do(case, "Task_Decide", supervisor, {"decision": "confirm"})
    warning = Warning.objects.get()
    assert warning.needs_instance_id == already.id and warning.linked_existing
    assert ProcessInstance.objects.filter(process_key="needs_matching").count() == before  # no second chain of aid


def test_dismissing_a_warning_needs_a_reason_and_starts_nothing(users, deployed):
    worker, supervisor = users["worker"], users["supervisor"]
    h = household()
    case = enrol(h, worker)
    do(case, "Task_MonthlyUpdate", worker, update(events=["disaster"]))
    do(case, "Task_Verify", worker, {"visited_on": clock.today().isoformat(), "situation": "not_as_reported", "findings": "未受灾"})
    with pytest.raises(FormInvalid) as refused:
        do(case, "Task_Decide", supervisor, {"decision": "dismiss", "decision_note": " "})
    assert "decision_note" in refused.value.field_errors
    do(case, "Task_Decide", supervisor, {"decision": "dismiss", "decision_note": "核实未受灾"})
    assert Warning.objects.get().status == "dismissed"
    assert not ProcessInstance.objects.filter(process_key="needs_matching").exists()


def test_a_household_is_enrolled_once_and_only_by_a_worker_of_its_village(users, deployed):
    h = household()
    enrol(h, users["worker"])
    with pytest.raises(FormInvalid) as twice:
        enrol(h, users["worker2"])
    assert "household" in twice.value.field_errors
    other = household()
    with pytest.raises(FormInvalid) as elsewhere:
        enrol(other, users["worker_xishui"])
    assert "household" in elsewhere.value.field_errors
    assert MonitoredHousehold.objects.count() == 1


def test_an_update_not_made_is_withdrawn_after_the_grace_days_and_counted_missed(users, deployed):
    with time_machine.travel(local(2026, 10, 12), tick=False):
        case = enrol(household(), users["worker"])
    sweep(local(2026, 11, 1, 0) + dt.timedelta(minutes=1))
    assert len(open_tasks(case, "Task_MonthlyUpdate")) == 2  # October's in its grace days, November's
    sweep(local(2026, 11, 6, 0) + dt.timedelta(minutes=1))
    assert len(open_tasks(case, "Task_MonthlyUpdate")) == 1
    assert dict(MonthlyUpdate.objects.values_list("month", "status")) == {dt.date(2026, 10, 1): "missed", dt.date(2026, 11, 1): "open"}


def test_an_update_dated_before_its_month_is_refused_next_to_the_date(users, deployed):
    with time_machine.travel(local(2026, 10, 12), tick=False):
        case = enrol(household(), users["worker"])
        with pytest.raises(FormInvalid) as refused:
            do(case, "Task_MonthlyUpdate", users["worker"], update(visited_on="2026-09-30"))
    assert list(refused.value.field_errors) == ["visited_on"]


def test_the_demo_spans_the_year_and_one_warning_led_to_a_matching_case(users, deployed):
    from django.core.management import call_command

    for _n in range(5):
        household()
    with time_machine.travel(local(2026, 11, 20), tick=False):
        call_command("demo_monitoring")
    assert MonitoredHousehold.objects.count() == 5
    assert MonthlyUpdate.objects.filter(status="done").count() == 5 * 11
    confirmed = Warning.objects.filter(status="confirmed")
    assert confirmed.count() >= 1 and ProcessInstance.objects.filter(pk__in=confirmed.values("needs_instance_id"), process_key="needs_matching").exists()
