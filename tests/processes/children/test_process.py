"""The children's case process end to end through the facade: intake to closure with a return and a
reopening, the assessment's deadline, a case opened from a child-protection case, and refusals."""
import datetime as dt

import pytest
from django.utils import translation

from engine import api, clock, registry
from engine.errors import FormInvalid
from engine.models import HumanTask, Timer
from engine.station import AccessLog
from processes.children.models import CaseStage, Child, ChildCase, MentalState, ServiceRecord

from .flows import assess, child, close, decide, open_case, plan, serve, task

pytestmark = pytest.mark.django_db


def test_a_case_goes_from_intake_to_closure_through_a_return_and_is_reopened_as_a_new_case(users, deployed):
    worker, supervisor = users["worker"], users["supervisor"]
    first = open_case(worker)
    case = ChildCase.objects.get(instance_id=first)
    assert case.stage == CaseStage.ASSESSMENT and case.child.name == "李小红" and case.village == "dongshan"
    info = api.get_instance(instance_id=first, viewer=api.SYSTEM, with_history=False)
    assert info.subject == case.child.code and "李小红" not in info.subject  # lists never show the name
    assess(first, worker)
    plan(first, worker)
    case.refresh_from_db()
    assert case.stage == CaseStage.SERVICES and [i["goal"] for i in case.interventions] == ["减轻焦虑", "融入同伴"]
    serve(first, worker, "continue")
    serve(first, worker, "close", note="第二次家访")
    close(first, worker)
    assert ChildCase.objects.get(pk=case.pk).stage == CaseStage.CLOSURE
    with pytest.raises(FormInvalid) as refused:  # a return says what is still to do
        decide(first, supervisor, "return")
    assert "comments" in refused.value.field_errors
    decide(first, supervisor, "return", comments="再做一次学校联络")
    assert ChildCase.objects.get(pk=case.pk).stage == CaseStage.SERVICES
    assert task(first, "Task_Service") is not None  # back in the services loop
    serve(first, worker, "close", note="学校联络")
    close(first, worker)
    decide(first, supervisor, "approve")
    case.refresh_from_db()
    assert case.stage == CaseStage.CLOSED and case.closed_on == clock.today()
    assert api.get_instance(instance_id=first, viewer=api.SYSTEM, with_history=False).status == "completed"
    assert ServiceRecord.objects.filter(case=case).count() == 3
    assert MentalState.objects.filter(child=case.child).count() == 1  # the assessment's; services gave none

    # Reopened: a new case of the same child, naming the closed one; the closed one stays as it was.
    second = api.start_instance(process_key="children", actor=worker, data={
        "child_from": "reopen", "reopen_of": str(case.pk), "referral": "family", "concerns": "开学后又出现厌学"}).id
    again = ChildCase.objects.get(instance_id=second)
    assert again.child_id == case.child_id and again.reopened_from_id == case.pk and again.stage == CaseStage.ASSESSMENT
    assert ChildCase.objects.get(pk=case.pk).stage == CaseStage.CLOSED
    summary = dict(api.case_summary(instance_id=second, process_key="children", viewer=api.SYSTEM))
    follows = summary.get("接续已结案个案", summary.get("Follows the closed case"))
    assert f"{case.opened_on:%Y-%m-%d}" in follows and "#" not in follows, summary  # when it was opened, no internal number
    # An open case cannot be opened twice for one child.
    with pytest.raises(FormInvalid) as twice:
        api.start_instance(process_key="children", actor=worker, data={
            "child_from": "archive", "child": str(case.child_id), "referral": "family", "concerns": "重复"})
    assert "child" in twice.value.field_errors


def test_the_assessment_has_a_deadline_and_a_late_one_is_a_recorded_breach(users, deployed):
    instance_id = open_case(users["worker"])
    assessment = task(instance_id, "Task_Assessment")
    assert assessment.due_at is not None
    assert dt.timedelta(days=13) < assessment.due_at - assessment.created_at <= dt.timedelta(days=14, minutes=1)
    api.fire_due_timers(as_of=assessment.due_at + dt.timedelta(minutes=1))
    assessment.refresh_from_db()
    assert assessment.sla_breached_at is not None and assessment.status == "open"  # still to do, now late
    assert Timer.objects.filter(instance_id=instance_id, status="fired").count() == 1
    assess(instance_id, users["worker"])  # and the case goes on
    assert task(instance_id, "Task_CasePlan") is not None


@pytest.mark.parametrize("bad", [
    {"child_from": "new", "child_name": ""},
    {"child_from": "new", "village": "xishui"},  # not the worker's village
    {"child_from": "archive", "child": ""},
    {"child_from": "reopen", "reopen_of": ""},
    {"child_from": "cp_case", "cp_case": ""},
])
def test_an_intake_without_its_child_is_refused_next_to_the_field(users, deployed, bad):
    with pytest.raises(FormInvalid) as refused:
        open_case(users["worker"], **bad)
    field = {"new": "child_name" if "child_name" in bad else "village", "archive": "child", "reopen": "reopen_of", "cp_case": "cp_case"}[bad["child_from"]]
    assert field in refused.value.field_errors
    assert not ChildCase.objects.exists()


def test_another_villages_child_is_not_offered_and_not_accepted(users, deployed):
    theirs = child(village="xishui", name="陈小雨")
    ours = child(village="dongshan", name="王小明")
    offered = dict(registry.option_source("children_archive", users["worker"]))
    assert str(ours.pk) in offered and str(theirs.pk) not in offered
    with pytest.raises(FormInvalid):
        open_case(users["worker"], child_from="archive", child=str(theirs.pk))


def test_a_case_plan_needs_an_intervention_and_a_future_end(users, deployed):
    instance_id = open_case(users["worker"])
    assess(instance_id, users["worker"])
    with pytest.raises(FormInvalid) as empty:
        api.complete_task(task_id=task(instance_id, "Task_CasePlan").pk, actor=users["worker"], data={"interventions": []})
    assert "interventions" in empty.value.field_errors
    past = (clock.today() - dt.timedelta(days=3)).isoformat()
    with pytest.raises(FormInvalid):
        api.complete_task(task_id=task(instance_id, "Task_CasePlan").pk, actor=users["worker"], data={
            "interventions": [{"goal": "x", "provider": "y", "expected_end": past}]})


def test_a_child_protection_case_opens_a_childs_case_with_the_childs_data_and_a_logged_reading(users, deployed):
    from tests.processes.child_protection import flows as cp

    cp_id = cp.start_case(users)
    cp.complete(users, cp_id, "Task_Intake")
    worker = users["worker"]
    # The worker may take up the report's response (it is in the worker's inbox): offered, and read with a reason.
    offered = dict(registry.option_source("children_cp_cases", worker))
    assert str(cp_id) in offered and "小明" not in offered[str(cp_id)]
    instance_id = open_case(worker, child_from="cp_case", cp_case=str(cp_id), referral="child_protection")
    case = ChildCase.objects.get(instance_id=instance_id)
    assert case.cp_instance_id == cp_id and case.child.name == "小明" and case.child.sex == "male"
    from processes.child_protection.models import ChildProtectionCase
    from processes.children.handlers import case_summary

    with translation.override("en"):
        summary = dict(case_summary(instance_id, worker))
    assert summary["Opened from child-protection case"] == ChildProtectionCase.objects.get(instance_id=cp_id).case_no  # not "#<id>"
    assert case.child.birth_date == "2016-05-01" and case.village == "dongshan"
    log = AccessLog.objects.filter(user=worker, instance_id=cp_id, view="children_intake").get()
    assert log.purpose == "casework" and log.reason and log.outcome == "granted"
    # A worker of another village may not see the report: refused at the field, nothing created.
    assert str(cp_id) not in dict(registry.option_source("children_cp_cases", users["worker_xishui"]))
    with pytest.raises(FormInvalid) as refused:
        open_case(users["worker_xishui"], child_from="cp_case", cp_case=str(cp_id), referral="child_protection")
    assert "cp_case" in refused.value.field_errors
    assert Child.objects.count() == 1


def test_the_demo_makes_twelve_children_a_screened_group_and_two_cases_once(users, deployed):
    from django.core.management import call_command

    from processes.children.models import Group, Screening

    call_command("demo_children")
    call_command("demo_children")  # a second run adds nothing
    assert Child.objects.count() == 12 and Group.objects.count() == 1 and Screening.objects.count() == 20
    assert sorted(ChildCase.objects.values_list("stage", flat=True)) == [CaseStage.CLOSURE, CaseStage.SERVICES]
