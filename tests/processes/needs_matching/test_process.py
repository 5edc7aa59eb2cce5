"""The needs -> resources process end to end: assessment, matching, plan, referral to a provider,
decline and re-match, provider deadlines, capacity, follow-up and evaluation."""
import datetime as dt
import re
from decimal import Decimal

import pytest

from engine import api
from engine.errors import FormInvalid, NotPermitted
from engine.models import HumanTask, OutboxMessage
from processes.needs_matching.models import Household, Member, Need, Referral, Resource
from tests.conftest import make_user
from tests.dates import today

pytestmark = pytest.mark.django_db

BELOW_LINE = {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元"}
SCHOOL_AGE = [{"fact": "age", "op": "gte", "value": 6}, {"fact": "age", "op": "lte", "value": 18}]


@pytest.fixture
def world(users, deployed):
    household = Household.objects.create(code="HH-DS-001", village="dongshan", head_name="王户主", annual_income=Decimal("20000"))
    Member.objects.create(household=household, name="王户主", relation="户主", age=45, sex="male", disability_certificate=True)
    Member.objects.create(household=household, name="小明", relation="子女", age=12, sex="male", school_enrolled=True)
    edu = Resource.objects.create(name="教育补贴", kind="policy", provider="教育办", provider_group="prov-edu", categories=["education"],
                                  rules=[BELOW_LINE, *SCHOOL_AGE], capacity_left=Decimal("1"), capacity_total=Decimal("10"))
    charity = Resource.objects.create(name="爱心助学金", kind="social", provider="县慈善会", categories=["education"],
                                      rules=[BELOW_LINE], capacity_left=Decimal("5"), capacity_total=Decimal("5"))
    partner = make_user("edu_office", "partner_office", villages=None)
    from django.contrib.auth.models import Group

    partner.groups.add(Group.objects.get_or_create(name="prov-edu")[0])
    return {**users, "household": household, "edu": edu, "charity": charity, "partner": partner}


def task(instance_id, bpmn_id):
    return HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status="open").order_by("pk").first()


def do(instance_id, bpmn_id, actor, data):
    return api.complete_task(task_id=task(instance_id, bpmn_id).pk, data=data, actor=actor)


def assess(world, household=None):
    info = api.start_instance(process_key="needs_matching", actor=world["worker"],
                              data={"household": str((household or world["household"]).pk), "visit_date": today()})
    do(info.id, "Task_NeedsAssessment", world["worker"], {"needs": [
        {"category": "education", "description": "小明学费困难", "urgency": "high", "member": "小明"},
        {"category": "housing", "description": "房屋漏雨", "urgency": "medium"}]})
    return info.id


def plan(instance_id, world, resource, amount=None, **extra):
    do(instance_id, "Task_ConfirmPlan", world["worker"], {
        "plan": [{"need_no": 1, "resource": str(resource.pk), "responsible": "李明", "amount": amount}], **extra})


def test_whole_path_with_a_provider_in_the_portal(world):
    instance_id = assess(world)
    education, housing = Need.objects.filter(instance_id=instance_id).order_by("number")
    assert [p["name"] for p in education.proposals if p["eligible"]] == ["爱心助学金", "教育补贴"]  # more capacity left ranks higher
    assert housing.status == "gap"
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="report.gap").count() == 1
    plan(instance_id, world, world["edu"])
    response = task(instance_id, "Task_ProviderResponse")
    assert response.candidate_group == "prov-edu"  # routed to the provider's own users
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=response.pk, data={"response": "accept"}, actor=world["worker"])
    api.complete_task(task_id=response.pk, data={"response": "accept", "expected_start": today(5)}, actor=world["partner"])
    world["edu"].refresh_from_db()
    assert world["edu"].capacity_left == 0
    assert Referral.objects.get().status == "accepted"
    do(instance_id, "Task_FollowUp", world["worker"], {"followup_date": today(), "observations": "已领取补贴", "more_followup": True})
    do(instance_id, "Task_FollowUp", world["worker"], {"followup_date": today(), "observations": "学习稳定"})
    with pytest.raises(FormInvalid) as twice:  # the same need met and unmet
        do(instance_id, "Task_Evaluate", world["worker"], {"outcomes": [{"need_no": 1, "result": "met"}, {"need_no": 1, "result": "unmet"}],
                                                          "monitoring_status": "watch", "summary": "矛盾"})
    assert "outcomes" in twice.value.field_errors
    do(instance_id, "Task_Evaluate", world["worker"], {"outcomes": [{"need_no": 1, "result": "met"}, {"need_no": 2, "result": "unmet"}],
                                                      "monitoring_status": "watch", "summary": "教育需求已满足，住房需求待新资源"})
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"
    world["household"].refresh_from_db()
    assert world["household"].monitoring_status == "watch"
    assert list(Need.objects.filter(instance_id=instance_id).order_by("number").values_list("status", flat=True)) == ["met", "unmet"]


def test_decline_sends_the_need_back_to_matching_without_that_resource(world):
    instance_id = assess(world)
    plan(instance_id, world, world["edu"])
    with pytest.raises(FormInvalid):  # a decline needs a reason
        api.complete_task(task_id=task(instance_id, "Task_ProviderResponse").pk, data={"response": "decline"}, actor=world["partner"])
    api.complete_task(task_id=task(instance_id, "Task_ProviderResponse").pk, data={"response": "decline", "reason": "名额已满"}, actor=world["partner"])
    assert task(instance_id, "Task_ConfirmPlan") is not None  # matched again
    need = Need.objects.get(instance_id=instance_id, number=1)
    assert [p["name"] for p in need.proposals if p["eligible"]] == ["爱心助学金"]
    with pytest.raises(FormInvalid):  # the declined resource is not offered again
        plan(instance_id, world, world["edu"])
    plan(instance_id, world, world["charity"])
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="partner.referral").count() == 1  # no portal users: a message


def test_a_silent_provider_is_reminded_after_5_days_and_may_still_answer(world):
    instance_id = assess(world)
    plan(instance_id, world, world["edu"])
    response = task(instance_id, "Task_ProviderResponse")
    # The office's deadline is the 10 days it has; the reminder on the way is not one.
    assert response.due_at - response.created_at > dt.timedelta(days=9)
    assert api.fire_due_timers(as_of=response.created_at + dt.timedelta(days=4)).timers_fired == 0
    api.fire_due_timers(as_of=response.created_at + dt.timedelta(days=5, hours=1))
    assert task(instance_id, "Task_ProviderResponse").sla_breached_at is None  # reminded, not late
    assert not OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").exists()
    referral = Referral.objects.get()
    assert [m.payload for m in OutboxMessage.objects.filter(instance_id=instance_id, channel="partner.reminder")] == [{"referral": referral.pk}]
    assert task(instance_id, "Task_ProviderResponse").pk == response.pk  # still the office's to answer
    assert referral.status == "sent" and task(instance_id, "Task_ConfirmPlan") is None  # nothing handed back yet
    assert api.fire_due_timers(as_of=response.created_at + dt.timedelta(days=9)).timers_fired == 0  # reminded once
    api.complete_task(task_id=response.pk, data={"response": "accept"}, actor=world["partner"])
    assert Referral.objects.get().status == "accepted"
    assert task(instance_id, "Task_FollowUp") is not None
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="partner.reminder").count() == 1


def test_a_provider_silent_for_10_days_hands_the_need_back_and_may_be_asked_again(client, world):
    instance_id = assess(world)
    plan(instance_id, world, world["edu"])
    response = task(instance_id, "Task_ProviderResponse")
    api.fire_due_timers(as_of=response.created_at + dt.timedelta(days=5, hours=1))
    api.fire_due_timers(as_of=response.created_at + dt.timedelta(days=9, hours=23))
    assert Referral.objects.get().status == "sent" and task(instance_id, "Task_ConfirmPlan") is None  # reminded, still waiting
    assert api.fire_due_timers(as_of=response.created_at + dt.timedelta(days=10, hours=1)).timers_fired == 1
    assert Referral.objects.get().status == "expired"  # no answer in time, not a decline
    response.refresh_from_db()
    assert response.status == "cancelled"
    client.force_login(world["partner"])  # the office's old task says it was withdrawn, not that it was done
    answer = client.get(f"/tasks/{response.pk}/")
    assert answer.status_code == 200, answer.status_code
    page = answer.content.decode()
    assert 'data-testid="task-withdrawn"' in page and "此任务已完成" not in page
    assert task(instance_id, "Task_ConfirmPlan").assignee == world["worker"]  # back to the worker who planned it
    need = Need.objects.get(instance_id=instance_id, number=1)
    assert need.status == "open" and need.declined_resources == []
    assert [p["name"] for p in need.proposals if p["eligible"]] == ["爱心助学金", "教育补贴"]
    summary = dict(api.case_summary(instance_id=instance_id, process_key="needs_matching", viewer=world["worker"]))
    row = next(value for label, value in summary.items() if label.startswith("Need 1"))
    assert "→ 教育补贴（no answer in time）" in row and "✔ 教育补贴" in row and "declined" not in row
    plan(instance_id, world, world["edu"])  # the same office may be asked again
    again = task(instance_id, "Task_ProviderResponse")
    assert again.candidate_group == "prov-edu"
    api.complete_task(task_id=again.pk, data={"response": "accept"}, actor=world["partner"])
    assert list(Referral.objects.order_by("pk").values_list("status", flat=True)) == ["expired", "accepted"]


def test_two_referrals_of_one_need_both_declined_keep_both_resources_out(world):
    instance_id = assess(world)
    do(instance_id, "Task_ConfirmPlan", world["worker"], {"plan": [
        {"need_no": 1, "resource": str(world["edu"].pk)}, {"need_no": 1, "resource": str(world["charity"].pk)}]})
    api.complete_task(task_id=task(instance_id, "Task_ProviderResponse").pk, data={"response": "decline", "reason": "名额已满"},
                      actor=world["partner"])
    # The charity has no portal users: the case's worker records its answer.
    do(instance_id, "Task_ProviderResponse", world["worker"], {"response": "decline", "reason": "本年度资金已用完"})
    need = Need.objects.get(instance_id=instance_id, number=1)
    assert sorted(need.declined_resources) == sorted([world["edu"].pk, world["charity"].pk])
    assert not [p for p in need.proposals if p["eligible"]] and need.status == "gap"


def test_capacity_decreases_and_never_goes_below_zero(world):
    neighbour = Household.objects.create(code="HH-DS-002", village="dongshan", head_name="李户主", annual_income=Decimal("8000"))
    Member.objects.create(household=neighbour, name="小明", relation="子女", age=10, sex="male", school_enrolled=True)
    first, second = assess(world), assess(world, neighbour)
    for instance_id in (first, second):
        plan(instance_id, world, world["edu"])
    api.complete_task(task_id=task(first, "Task_ProviderResponse").pk, data={"response": "accept"}, actor=world["partner"])
    with pytest.raises(FormInvalid) as excinfo:
        api.complete_task(task_id=task(second, "Task_ProviderResponse").pk, data={"response": "accept"}, actor=world["partner"])
    assert "capacity" in str(excinfo.value.field_errors["response"][0])
    world["edu"].refresh_from_db()
    assert world["edu"].capacity_left == 0


def test_an_ineligible_resource_is_refused_in_the_plan(world):
    adults = Resource.objects.create(name="就业培训", kind="policy", provider="人社", categories=["education"],
                                     rules=[{"fact": "age", "op": "gte", "value": 18}], capacity_left=Decimal("3"), capacity_total=Decimal("3"))
    instance_id = assess(world)
    with pytest.raises(FormInvalid) as excinfo:  # not offered in the plan's list, and refused if sent anyway
        plan(instance_id, world, adults)
    assert "plan" in excinfo.value.field_errors


def test_a_plan_is_returned_only_with_a_reason_and_comes_back_filled_in(client, world):
    grant = Resource.objects.create(name="助学救助金", kind="policy", provider="民政办", categories=["education"], rules=[BELOW_LINE],
                                    capacity_unit="yuan", capacity_left=Decimal("80000"), capacity_total=Decimal("80000"))
    instance_id = assess(world)
    plan(instance_id, world, grant, amount="3000", gaps_noted="住房暂无资源")
    for empty in ({}, {"comments": ""}, {"comments": "  \n "}):
        with pytest.raises(FormInvalid) as excinfo:
            do(instance_id, "Task_ApprovePlan", world["supervisor"], {"decision": "return", **empty})
        assert list(excinfo.value.field_errors) == ["comments"]
    assert task(instance_id, "Task_ConfirmPlan") is None
    do(instance_id, "Task_ApprovePlan", world["supervisor"], {"decision": "return", "comments": "请说明资金用途"})
    returned = task(instance_id, "Task_ConfirmPlan")
    notice = api.return_notice(task_id=returned.pk, viewer=world["worker"])
    assert [(f.key, f.value) for f in notice.fields] == [("comments", "请说明资金用途")]
    before = api.previous_submission(task_id=returned.pk, viewer=world["worker"])
    assert before["gaps_noted"] == "住房暂无资源"
    assert [(row["need_no"], row["resource"], Decimal(str(row["amount"])), row["responsible"]) for row in before["plan"]] == [
        ("1", str(grant.pk), Decimal("3000"), "李明")]
    client.force_login(world["worker"])
    page = client.get(f"/tasks/{returned.pk}/").content.decode()
    form = page.split('data-testid="returned"', 1)[1]  # the reason on top, then the plan as it was returned
    assert "请说明资金用途" in form and re.search(rf'<option value="{grant.pk}"[^>]*selected', form), form


def test_big_or_sensitive_plans_need_the_supervisor(world):
    grant = Resource.objects.create(name="助学救助金", kind="policy", provider="民政办", categories=["education"], rules=[BELOW_LINE],
                                    capacity_unit="yuan", capacity_left=Decimal("80000"), capacity_total=Decimal("80000"))
    instance_id = assess(world)
    plan(instance_id, world, grant, amount="3000")
    do(instance_id, "Task_ApprovePlan", world["supervisor"], {"decision": "return", "comments": "请说明资金用途"})
    plan(instance_id, world, grant, amount="1500", sensitive_need=True)
    do(instance_id, "Task_ApprovePlan", world["supervisor"], {"decision": "approve"})
    assert task(instance_id, "Task_ProviderResponse") is not None


def test_a_household_whose_needs_are_all_gaps_still_goes_on_to_follow_up(world):
    info = api.start_instance(process_key="needs_matching", actor=world["worker"],
                              data={"household": str(world["household"].pk), "visit_date": today()})
    do(info.id, "Task_NeedsAssessment", world["worker"], {"needs": [{"category": "housing", "description": "房屋漏雨", "urgency": "high"}]})
    summary = dict(api.case_summary(instance_id=info.id, process_key="needs_matching", viewer=world["worker"]))
    assert any("Gap" in value for value in summary.values())
    do(info.id, "Task_ConfirmPlan", world["worker"], {"plan": [], "gaps_noted": "需联系住房改造项目"})
    assert task(info.id, "Task_FollowUp") is not None


def test_a_declined_resource_is_named_once_in_the_summary(world):
    instance_id = assess(world)
    plan(instance_id, world, world["edu"])
    api.complete_task(task_id=task(instance_id, "Task_ProviderResponse").pk, data={"response": "decline", "reason": "名额已满"},
                      actor=world["partner"])
    summary = dict(api.case_summary(instance_id=instance_id, process_key="needs_matching", viewer=world["worker"]))
    row = next(value for label, value in summary.items() if label.startswith("Need 1"))
    assert row.count("教育补贴") == 1 and "→ 教育补贴（declined）" in row and "✔ 爱心助学金" in row


def test_the_plans_resource_list_says_what_is_left_not_who_left(world):
    from django.utils import translation

    from processes.needs_matching.handlers import case_resources

    instance_id = assess(world)
    with translation.override("zh-hans"):
        labels = dict(case_resources(world["worker"], {"needs_case": instance_id}))
    assert labels[str(world["edu"].pk)] == "教育补贴（教育办，剩余 1 个名额）"


def test_the_plan_page_shows_each_need_with_its_resources_and_reasons(world):
    instance_id = assess(world)
    lines = api.case_summary(instance_id=instance_id, process_key="needs_matching", viewer=world["worker"])
    text = " ".join(f"{label} {value}" for label, value in lines)
    assert "✔ 爱心助学金" in text and "✔ 教育补贴" in text and "Gap" in text


def test_household_page_lists_needs_with_status_and_referrals(client, world):
    instance_id = assess(world)
    plan(instance_id, world, world["edu"])
    client.force_login(world["worker"])
    url = f"/households/{world['household'].pk}/"
    from tests.minors import give_record_reason

    give_record_reason(client, "household", world["household"].pk, next_url=url)  # a child lives there: a holder gives a reason
    page = client.get(url).content.decode()
    assert 'data-testid="household-needs"' in page and "小明学费困难" in page and "教育补贴" in page
    assert f"/cases/{instance_id}/" in page


def test_gaps_report_counts_resources_by_use_per_village_and_category(client, world):
    instance_id = assess(world)
    plan(instance_id, world, world["edu"])
    api.complete_task(task_id=task(instance_id, "Task_ProviderResponse").pk, data={"response": "accept"}, actor=world["partner"])
    client.force_login(world["supervisor"])
    page = client.get("/resources/gaps/").content.decode()
    use = page.split('data-testid="use"', 1)[1].split("</table>", 1)[0]
    assert "教育补贴" in use and "东山村" in use and "<td>1</td>" in use


def test_a_fractional_need_number_is_a_field_error_not_a_crash(world):
    instance_id = assess(world)
    with pytest.raises(FormInvalid) as excinfo:
        do(instance_id, "Task_ConfirmPlan", world["worker"], {"plan": [{"need_no": "1.5", "resource": str(world["edu"].pk)}]})
    assert "Row 1" in excinfo.value.field_errors["plan"][0]  # the need is chosen from the case's needs: 1.5 is none of them
