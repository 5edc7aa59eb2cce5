"""Needs matching as its users met it in a field trial: a referral for a provider without an account
never reaches every partner office, money capacity drops by the money referred, one household has one
open case at a time, and the provider is told what is being referred."""
import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from engine import api, selectors
from engine.errors import FormInvalid
from engine.models import HumanTask
from portal.notifications.models import Notification
from processes.needs_matching.models import Household, Member, Referral, Resource
from tests.conftest import is_postgres, make_user
from tests.dates import today

pytestmark = pytest.mark.django_db
BELOW_LINE = {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元"}


@pytest.fixture
def world(users, deployed):
    household = Household.objects.create(code="HH-DS-001", village="dongshan", head_name="王户主", annual_income=Decimal("16000"))
    Member.objects.create(household=household, name="王户主", relation="户主", age=45, sex="male")
    Member.objects.create(household=household, name="小明", relation="子女", age=12, sex="male", school_enrolled=True)
    offline = Resource.objects.create(name="爱心助学金", kind="social", provider="县慈善会", categories=["education"],
                                      rules=[BELOW_LINE], capacity_left=Decimal("5"), capacity_total=Decimal("5"))
    money = Resource.objects.create(name="医疗救助", kind="policy", provider="县医保局", provider_group="prov-med", categories=["medical_aid"],
                                    rules=[BELOW_LINE], capacity_unit="yuan", capacity_left=Decimal("80000"), capacity_total=Decimal("80000"))
    offices = {}
    for username, group in (("med_office", "prov-med"), ("edu_office", "prov-edu")):
        offices[username] = make_user(username, "partner_office", villages=None)
        offices[username].groups.add(Group.objects.get_or_create(name=group)[0])
    return {**users, **offices, "household": household, "offline": offline, "money": money}


def start(world, household=None):
    return api.start_instance(process_key="needs_matching", actor=world["worker"],
                              data={"household": str((household or world["household"]).pk), "visit_date": today()}).id


def assess_and_plan(world, category, resource, amount=None):
    instance_id = start(world)
    task = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_NeedsAssessment", status="open")
    api.complete_task(task_id=task.pk, actor=world["worker"], data={"needs": [
        {"category": category, "description": "需要帮助", "urgency": "high", "member": "小明"}]})
    plan = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_ConfirmPlan", status="open")
    api.complete_task(task_id=plan.pk, actor=world["worker"], data={"plan": [{"need_no": 1, "resource": str(resource.pk), "amount": amount}]})
    approval = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_ApprovePlan", status="open").first()
    if approval is not None:  # over 2,000 yuan: the supervisor approves first
        api.complete_task(task_id=approval.pk, actor=world["supervisor"], data={"decision": "approve"})
    return instance_id


def provider_task(instance_id):
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_ProviderResponse", status="open")


# 11 ---------------------------------------------------------------------------------------------
def test_a_provider_without_an_account_gets_a_message_and_the_worker_records_the_answer(client, world):
    instance_id = assess_and_plan(world, "education", world["offline"])
    task = provider_task(instance_id)
    assert task.candidate_group == "worker"  # never the whole partner_office role
    for office in ("med_office", "edu_office"):
        assert selectors.tasks_for_user(world[office]) == []
        assert not Notification.objects.filter(user=world[office]).exists()
        client.force_login(world[office])
        assert client.get(f"/tasks/{task.pk}/").status_code == 404
    client.force_login(world["worker"])
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "县慈善会" in page and "爱心助学金" in page  # who to contact, what was referred
    api.complete_task(task_id=task.pk, data={"response": "accept"}, actor=world["worker"])
    assert Referral.objects.get().status == "accepted"


# 12 ---------------------------------------------------------------------------------------------
def test_capacity_in_yuan_drops_by_the_amount_referred(world):
    instance_id = assess_and_plan(world, "medical_aid", world["money"], amount="3000")
    api.complete_task(task_id=provider_task(instance_id).pk, data={"response": "accept"}, actor=world["med_office"])
    world["money"].refresh_from_db()
    assert world["money"].capacity_left == Decimal("77000.00")


def test_a_money_referral_needs_an_amount_within_what_is_left(world):
    with pytest.raises(FormInvalid):
        assess_and_plan(world, "medical_aid", world["money"])
    world["money"].capacity_left = Decimal("2000")
    world["money"].save()
    household2 = Household.objects.create(code="HH-DS-002", village="dongshan", head_name="李户主", annual_income=Decimal("5000"))
    Member.objects.create(household=household2, name="小明", relation="子女", age=8, sex="male")
    instance_id = start(world, household2)
    api.complete_task(task_id=HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_NeedsAssessment").pk, actor=world["worker"],
                      data={"needs": [{"category": "medical_aid", "description": "住院", "urgency": "high", "member": "小明"}]})
    plan = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_ConfirmPlan", status="open")
    with pytest.raises(FormInvalid) as refused:
        api.complete_task(task_id=plan.pk, actor=world["worker"], data={"plan": [{"need_no": 1, "resource": str(world["money"].pk), "amount": "3000"}]})
    assert "2,000.00" in refused.value.field_errors["plan"][0]


# 13 ---------------------------------------------------------------------------------------------
def test_one_household_has_one_open_case_and_each_case_its_own_number(world):
    first = start(world)
    with pytest.raises(FormInvalid) as refused:
        start(world)
    assert "household" in refused.value.field_errors
    api.cancel_instance(instance_id=first, actor=world["supervisor"], reason="重复登记")
    second = start(world)
    subjects = {api.get_instance(instance_id=i, viewer=api.SYSTEM).subject for i in (first, second)}
    assert subjects == {"HH-DS-001-1", "HH-DS-001-2"}


@pytest.mark.django_db(transaction=True)  # threads: each worker has its own connection and sees only committed rows
@pytest.mark.postgres
def test_two_workers_starting_a_case_for_one_household_at_once_get_one_case(world):
    barrier, outcomes = threading.Barrier(2), []

    def begin():
        try:
            barrier.wait()
            outcomes.append(start(world))
        except FormInvalid as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=begin) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert is_postgres() and sorted(type(o).__name__ for o in outcomes) == ["FormInvalid", "int"]


# 14 ---------------------------------------------------------------------------------------------
def test_the_provider_is_shown_which_resource_is_referred_and_nothing_else(client, world):
    instance_id = assess_and_plan(world, "medical_aid", world["money"], amount="3000")
    task = provider_task(instance_id)
    client.force_login(world["med_office"])
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "医疗救助" in page and "3,000.00" in page
    assert "16000" not in page and "16,000" not in page  # the household's income stays with the station
    client.force_login(world["edu_office"])
    assert client.get(f"/tasks/{task.pk}/").status_code == 404
