"""Engine guarantees as the child-protection process relies on them: its case record follows the
instance, its case numbers are unique however reports arrive, and the personal data of a report
stays in its own rows. (The guarantees themselves are proved on sample diagrams in tests/engine/.)"""

import pytest

from engine import api
from engine.errors import FormInvalid
from engine.models import HumanTask, ProcessInstance
from processes.child_protection.models import ChildProtectionCase
from tests.threads import race

from .flows import FORMS, complete, open_task, start_case

pytestmark = pytest.mark.django_db


def test_cancelling_a_case_closes_its_record(deployed, users):
    instance_id = start_case(users)
    api.cancel_instance(instance_id=instance_id, actor=users["supervisor"], reason="重复报告")
    assert ChildProtectionCase.objects.get(instance_id=instance_id).status == "cancelled"


@pytest.mark.django_db(transaction=True)  # threads: each has its own connection and sees only committed rows
@pytest.mark.postgres
def test_reports_started_at_the_same_moment_all_get_a_case_number(deployed, users):
    outcomes = race(4, lambda i: start_case(users))
    assert [kind for kind, _ in outcomes] == ["ok"] * 4, outcomes
    assert ChildProtectionCase.objects.values("case_no").distinct().count() == 4


@pytest.mark.parametrize("change,field", [({"description": ""}, "description"), ({"sex": "unknown"}, "sex")])
def test_a_refused_intake_leaves_the_case_record_untouched(deployed, users, change, field):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    with pytest.raises(FormInvalid) as excinfo:
        api.complete_task(task_id=task_id, data={**FORMS["Task_Intake"], **change}, actor=users["intake"])
    assert field in excinfo.value.field_errors
    assert HumanTask.objects.get(pk=task_id).status == "open"
    assert ChildProtectionCase.objects.get(instance_id=instance_id).child == {}


def test_the_childs_and_reporters_names_stay_out_of_the_workflow(deployed, users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    state = str(ProcessInstance.objects.get(pk=instance_id).state)
    assert "present_danger" in state
    assert "小明" not in state and "张老师" not in state  # personal data stays in the case record
    case = ChildProtectionCase.objects.get(instance_id=instance_id)
    assert case.child["child_name"] == "小明" and case.reporter["reporter_name"] == "张老师"
