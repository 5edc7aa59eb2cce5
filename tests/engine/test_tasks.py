"""Task rules through the facade: who may act, what data is accepted, and what happens on failure."""
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from engine import api, forms, registry, selectors
from engine.errors import AlreadyCompleted, FormInvalid, InvalidState, NotFound, NotPermitted
from engine.models import AuditEvent, HumanTask, ProcessInstance
from processes.child_protection.models import ChildProtectionCase
from tests.processes.child_protection.flows import FORMS, START, complete, open_task, start_case

from . import samples

pytestmark = pytest.mark.django_db(transaction=True)


# -- permissions ---------------------------------------------------------------------------------

def test_only_the_start_lane_role_may_start(deployed, users):
    with pytest.raises(NotPermitted):
        api.start_instance(process_key="child_protection", data=START, actor=users["worker"])
    with pytest.raises(NotPermitted):
        api.start_instance(process_key="child_protection", data=START, actor=None)
    assert ProcessInstance.objects.count() == 0


def test_task_cannot_be_completed_by_a_user_outside_its_lane_group(deployed, users):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    for outsider in ("worker", "supervisor", "outsider", "civil"):
        with pytest.raises(NotPermitted):
            api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users[outsider])
    assert HumanTask.objects.get(pk=task_id).status == "open"
    assert not AuditEvent.objects.filter(kind="completed").exists()


def test_claimed_task_belongs_to_its_holder(deployed, users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    respond = open_task(instance_id, "Task_Respond")
    api.claim_task(task_id=respond, actor=users["worker"])
    with pytest.raises(InvalidState):
        api.claim_task(task_id=respond, actor=users["worker2"])
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=respond, data=FORMS["Task_Respond"], actor=users["worker2"])
    assert [t.id for t in selectors.tasks_for_user(users["worker2"])] == []
    assert respond in [t.id for t in selectors.tasks_for_user(users["worker"])]
    api.release_task(task_id=respond, actor=users["worker"])
    assert respond in [t.id for t in selectors.tasks_for_user(users["worker2"])]


def test_only_supervisors_assign_and_only_to_the_right_role(deployed, users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    respond = open_task(instance_id, "Task_Respond")
    with pytest.raises(NotPermitted):
        api.assign_task(task_id=respond, assignee_username="worker2", reason="x", actor=users["worker"])
    with pytest.raises(InvalidState):
        api.assign_task(task_id=respond, assignee_username="intake", reason="wrong role", actor=users["supervisor"])
    with pytest.raises(InvalidState):
        api.assign_task(task_id=respond, assignee_username="worker2", reason="  ", actor=users["supervisor"])
    info = api.assign_task(task_id=respond, assignee_username="worker2", reason="就近", actor=users["supervisor"])
    assert info.assignee == "worker2"


def test_task_of_another_role_is_not_found_for_a_user(deployed, users):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    assert selectors.task_for_user(users["intake"], task_id).id == task_id
    with pytest.raises(NotFound):
        selectors.task_for_user(users["worker"], task_id)
    with pytest.raises(NotFound):
        selectors.task_for_user(users["worker"], 999999)


# -- form validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("change,field", [
    ({"description": ""}, "description"),
    ({"sex": "unknown"}, "sex"),
    ({"situations": ["s4", "s99"]}, "situations"),
    ({"dob": "2016-13-45"}, "dob"),
    ({"reporter_phone": "x" * 500}, "reporter_phone"),
    ({"smuggled_field": "1"}, "smuggled_field"),
    ({"present_danger": "maybe"}, "present_danger"),
])
def test_invalid_form_data_is_refused_with_field_errors_and_task_stays_open(deployed, users, change, field):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    revision = ProcessInstance.objects.get(pk=instance_id).revision
    with pytest.raises(FormInvalid) as excinfo:
        api.complete_task(task_id=task_id, data={**FORMS["Task_Intake"], **change}, actor=users["intake"])
    assert field in excinfo.value.field_errors
    assert HumanTask.objects.get(pk=task_id).status == "open"
    assert ProcessInstance.objects.get(pk=instance_id).revision == revision
    assert ChildProtectionCase.objects.get(instance_id=instance_id).child == {}


def test_start_form_is_validated(deployed, users):
    with pytest.raises(FormInvalid) as excinfo:
        api.start_instance(process_key="child_protection", data={"village": "atlantis", "channel": "phone"}, actor=users["intake"])
    assert set(excinfo.value.field_errors) == {"village", "received_at"}


def test_only_process_variables_enter_the_workflow(deployed, users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    state = str(ProcessInstance.objects.get(pk=instance_id).state)
    assert "present_danger" in state
    assert "小明" not in state and "张老师" not in state  # personal data stays in our own rows


@hsettings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["child_name", "sex", "dob", "situations", "description", "present_danger", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                                 st.lists(st.text(max_size=5), max_size=4), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))))
def test_form_cleaning_never_fails_other_than_with_field_errors(data):
    form = {"components": [
        {"type": "textfield", "key": "child_name", "validate": {"required": True}},
        {"type": "select", "key": "sex", "values": [{"value": "male", "label": "男"}]},
        {"type": "datetime", "key": "dob", "subtype": "date"},
        {"type": "checklist", "key": "situations", "values": [{"value": "s1", "label": "1"}]},
        {"type": "textarea", "key": "description"},
        {"type": "checkbox", "key": "present_danger"},
    ]}
    try:
        cleaned = forms.clean_form_data(form, data)
    except FormInvalid as exc:
        assert exc.field_errors
    else:
        assert set(cleaned) <= {c["key"] for c in form["components"]}


# -- failures are visible ------------------------------------------------------------------------

def test_failing_service_task_puts_instance_in_error_with_message(users):
    def broken(ctx, params):
        raise ConnectionError("partner office unreachable")

    registry.register_service("test.broken", broken)
    samples.deploy(samples.service("svc_broken", "test.broken"), users["admin"])
    worker = users["worker"]
    info = api.start_instance(process_key="svc_broken", data={}, actor=worker)
    assert info.status == "error"
    assert "partner office unreachable" in info.error_message and info.error_element == "Service_1"
    assert [e.kind for e in api.get_instance(instance_id=info.id).history][-1] == "error"

    registry.register_service("test.broken", lambda ctx, params: {"ok": True})
    with pytest.raises(NotPermitted):
        api.retry_instance(instance_id=info.id, actor=worker)
    retried = api.retry_instance(instance_id=info.id, actor=users["admin"])
    assert retried.status == "running" and [t.bpmn_id for t in retried.open_tasks] == ["Task_A"]


def test_completed_task_answers_already_completed(deployed, users):
    instance_id = start_case(users)
    task_id = open_task(instance_id, "Task_Intake")
    api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"])
    with pytest.raises(AlreadyCompleted, match="intake"):
        api.complete_task(task_id=task_id, data=FORMS["Task_Intake"], actor=users["intake"])


def test_cancelled_instance_withdraws_open_tasks_and_timers(deployed, users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    with pytest.raises(NotPermitted):
        api.cancel_instance(instance_id=instance_id, actor=users["worker"], reason="dup")
    info = api.cancel_instance(instance_id=instance_id, actor=users["supervisor"], reason="重复报告")
    assert info.status == "cancelled" and info.open_tasks == []
    assert set(HumanTask.objects.filter(instance_id=instance_id).values_list("status", flat=True)) == {"completed", "cancelled"}
    assert api.fire_due_timers(as_of=info.started_at.replace(year=2030)).timers_fired == 0


def test_absurd_numbers_are_refused_quickly():
    form = {"components": [{"type": "number", "key": "amount"}]}
    for value in ["1e50000000", "9" * 40, "NaN", "Infinity"]:
        with pytest.raises(FormInvalid):
            forms.clean_form_data(form, {"amount": value})
    assert forms.clean_form_data(form, {"amount": "12.50"}) == {"amount": "12.50"}


def test_instance_in_error_can_be_cancelled_by_a_supervisor(users):
    registry.register_service("test.down", lambda ctx, params: (_ for _ in ()).throw(ConnectionError("down")))
    samples.deploy(samples.service("svc_down", "test.down"), users["admin"])
    info = api.start_instance(process_key="svc_down", data={}, actor=users["worker"])
    assert info.status == "error"
    assert api.cancel_instance(instance_id=info.id, actor=users["supervisor"], reason="服务停用").status == "cancelled"


def test_cancelling_a_case_closes_its_record(deployed, users):
    instance_id = start_case(users)
    api.cancel_instance(instance_id=instance_id, actor=users["supervisor"], reason="重复报告")
    assert ChildProtectionCase.objects.get(instance_id=instance_id).status == "cancelled"


def test_worker_of_another_village_cannot_see_or_do_the_task(deployed, users):
    instance_id = start_case(users)  # a dongshan case
    complete(users, instance_id, "Task_Intake")
    respond = open_task(instance_id, "Task_Respond")
    other = users["worker_xishui"]
    assert respond not in [t.id for t in selectors.tasks_for_user(other)]
    with pytest.raises(NotFound):
        selectors.task_for_user(other, respond)
    with pytest.raises(NotFound):
        selectors.instance_for_user(other, instance_id)
    with pytest.raises(NotPermitted):
        api.claim_task(task_id=respond, actor=other)
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=respond, data=FORMS["Task_Respond"], actor=other)
    with pytest.raises(FormInvalid):  # nor start a case for a village they do not work in
        api.start_instance(process_key="child_protection", data={**START, "village": "xishui"}, actor=users["intake"])
