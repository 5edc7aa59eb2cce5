"""Task rules through the facade, on the engine's sample diagrams: who may act, what data is
accepted, and what happens on failure."""
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from engine import api, forms, registry, selectors
from engine.errors import AlreadyCompleted, FormInvalid, InvalidState, NotFound, NotPermitted
from engine.models import AuditEvent, HumanTask, ProcessInstance, Timer

from . import samples
from .samples import RECORD, START

pytestmark = pytest.mark.django_db


def open_task(instance_id: int, bpmn_id: str) -> int:
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id=bpmn_id, status="open").pk


@pytest.fixture
def desk(users):
    """The two-lane sample: the intake desk starts a case of a village and records it (Task_A), a
    worker of the village responds (Task_B). Yields a starter; `desk.hooked` lists the data the
    process's hook on Task_A received."""
    samples.deploy(samples.two_lanes("two_lanes"), users["admin"])
    hooked = []
    registry.on_task_completed("two_lanes", "Task_A")(lambda ctx, data: hooked.append(data))

    def start(data=None) -> int:
        return api.start_instance(process_key="two_lanes", data=data or START, actor=users["intake"]).id

    start.hooked = hooked
    yield start
    registry._task_hooks.pop(("two_lanes", "Task_A"), None)


def recorded(users, start) -> tuple[int, int]:
    """A case whose record is done: (instance id, the worker's open Task_B)."""
    instance_id = start()
    api.complete_task(task_id=open_task(instance_id, "Task_A"), data=RECORD, actor=users["intake"])
    return instance_id, open_task(instance_id, "Task_B")


# -- permissions ---------------------------------------------------------------------------------

def test_only_the_start_lane_role_may_start(desk, users):
    with pytest.raises(NotPermitted):
        api.start_instance(process_key="two_lanes", data=START, actor=users["worker"])
    with pytest.raises(NotPermitted):
        api.start_instance(process_key="two_lanes", data=START, actor=None)
    assert ProcessInstance.objects.count() == 0


def test_task_cannot_be_completed_by_a_user_outside_its_lane_group(desk, users):
    instance_id = desk()
    task_id = open_task(instance_id, "Task_A")
    for outsider in ("worker", "supervisor", "outsider", "civil"):
        with pytest.raises(NotPermitted):
            api.complete_task(task_id=task_id, data=RECORD, actor=users[outsider])
    assert HumanTask.objects.get(pk=task_id).status == "open"
    assert not AuditEvent.objects.filter(kind="completed").exists()


def test_claimed_task_belongs_to_its_holder(desk, users):
    _instance_id, task_b = recorded(users, desk)
    api.claim_task(task_id=task_b, actor=users["worker"])
    with pytest.raises(InvalidState):
        api.claim_task(task_id=task_b, actor=users["worker2"])
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=task_b, data={"note": "x"}, actor=users["worker2"])
    assert [t.id for t in selectors.tasks_for_user(users["worker2"])] == []
    assert task_b in [t.id for t in selectors.tasks_for_user(users["worker"])]
    api.release_task(task_id=task_b, actor=users["worker"])
    assert task_b in [t.id for t in selectors.tasks_for_user(users["worker2"])]


def test_only_supervisors_assign_and_only_to_the_right_role(desk, users):
    _instance_id, task_b = recorded(users, desk)
    with pytest.raises(NotPermitted):
        api.assign_task(task_id=task_b, assignee_username="worker2", reason="x", actor=users["worker"])
    with pytest.raises(InvalidState):
        api.assign_task(task_id=task_b, assignee_username="intake", reason="wrong role", actor=users["supervisor"])
    with pytest.raises(InvalidState):
        api.assign_task(task_id=task_b, assignee_username="worker2", reason="  ", actor=users["supervisor"])
    info = api.assign_task(task_id=task_b, assignee_username="worker2", reason="就近", actor=users["supervisor"])
    assert info.assignee == "worker2"


def test_task_of_another_role_is_not_found_for_a_user(desk, users):
    instance_id = desk()
    task_id = open_task(instance_id, "Task_A")
    assert selectors.task_for_user(users["intake"], task_id).id == task_id
    with pytest.raises(NotFound):
        selectors.task_for_user(users["worker"], task_id)
    with pytest.raises(NotFound):
        selectors.task_for_user(users["worker"], 999999)


def test_worker_of_another_village_cannot_see_or_do_the_task(desk, users):
    instance_id, task_b = recorded(users, desk)  # a dongshan case
    assert task_b in [t.id for t in selectors.tasks_for_user(users["worker"])]  # a dongshan worker sees it
    other = users["worker_xishui"]
    assert task_b not in [t.id for t in selectors.tasks_for_user(other)]
    with pytest.raises(NotFound):
        selectors.task_for_user(other, task_b)
    with pytest.raises(NotFound):
        selectors.instance_for_user(other, instance_id)
    with pytest.raises(NotPermitted):
        api.claim_task(task_id=task_b, actor=other)
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=task_b, data={"note": "x"}, actor=other)
    with pytest.raises(FormInvalid):  # nor start a case for a village they do not work in
        api.start_instance(process_key="two_lanes", data={**START, "village": "xishui"}, actor=users["intake"])


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
def test_invalid_form_data_is_refused_with_field_errors_and_task_stays_open(desk, users, change, field):
    instance_id = desk()
    task_id = open_task(instance_id, "Task_A")
    revision = ProcessInstance.objects.get(pk=instance_id).revision
    with pytest.raises(FormInvalid) as excinfo:
        api.complete_task(task_id=task_id, data={**RECORD, **change}, actor=users["intake"])
    assert field in excinfo.value.field_errors
    assert HumanTask.objects.get(pk=task_id).status == "open"
    assert ProcessInstance.objects.get(pk=instance_id).revision == revision
    assert desk.hooked == []  # the process's own records never saw the refused data


def test_start_form_is_validated(desk, users):
    with pytest.raises(FormInvalid) as excinfo:
        api.start_instance(process_key="two_lanes", data={"village": "atlantis", "channel": "phone"}, actor=users["intake"])
    assert set(excinfo.value.field_errors) == {"village", "reported_on"}


def test_only_process_variables_enter_the_workflow(desk, users):
    instance_id, _task_b = recorded(users, desk)
    state = str(ProcessInstance.objects.get(pk=instance_id).state)
    assert "present_danger" in state
    assert "小明" not in state and "张老师" not in state  # personal data stays in our own rows
    assert desk.hooked and desk.hooked[0]["child_name"] == "小明"  # ... which the process's hooks receive


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


def test_absurd_numbers_are_refused_quickly():
    form = {"components": [{"type": "number", "key": "amount"}]}
    for value in ["1e50000000", "9" * 40, "NaN", "Infinity"]:
        with pytest.raises(FormInvalid):
            forms.clean_form_data(form, {"amount": value})
    assert forms.clean_form_data(form, {"amount": "12.50"}) == {"amount": "12.50"}


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
    assert [e.kind for e in api.get_instance(instance_id=info.id, viewer=api.SYSTEM).history][-1] == "error"

    registry.register_service("test.broken", lambda ctx, params: {"ok": True})
    with pytest.raises(NotPermitted):
        api.retry_instance(instance_id=info.id, actor=worker)
    retried = api.retry_instance(instance_id=info.id, actor=users["admin"])
    assert retried.status == "running" and [t.bpmn_id for t in retried.open_tasks] == ["Task_A"]


def test_completed_task_answers_already_completed(desk, users):
    instance_id = desk()
    task_id = open_task(instance_id, "Task_A")
    api.complete_task(task_id=task_id, data=RECORD, actor=users["intake"])
    with pytest.raises(AlreadyCompleted, match="intake"):
        api.complete_task(task_id=task_id, data=RECORD, actor=users["intake"])


def test_cancelled_instance_withdraws_open_tasks_and_timers(users):
    samples.deploy(samples.boundary_timer("late_reply", '"PT24H"'), users["admin"])
    instance_id = api.start_instance(process_key="late_reply", data=START, actor=users["intake"]).id
    api.complete_task(task_id=open_task(instance_id, "Task_A"), data=RECORD, actor=users["intake"])
    assert Timer.objects.filter(instance_id=instance_id, status="waiting").exists()  # Task_B's deadline is set
    with pytest.raises(NotPermitted):
        api.cancel_instance(instance_id=instance_id, actor=users["worker"], reason="dup")
    info = api.cancel_instance(instance_id=instance_id, actor=users["supervisor"], reason="重复报告")
    assert info.status == "cancelled" and info.open_tasks == []
    assert set(HumanTask.objects.filter(instance_id=instance_id).values_list("status", flat=True)) == {"completed", "cancelled"}
    assert set(Timer.objects.filter(instance_id=instance_id).values_list("status", flat=True)) == {"cancelled"}
    assert api.fire_due_timers(as_of=info.started_at.replace(year=2030)).timers_fired == 0


def test_instance_in_error_can_be_cancelled_by_a_supervisor(users):
    registry.register_service("test.down", lambda ctx, params: (_ for _ in ()).throw(ConnectionError("down")))
    samples.deploy(samples.service("svc_down", "test.down"), users["admin"])
    info = api.start_instance(process_key="svc_down", data={}, actor=users["worker"])
    assert info.status == "error"
    assert api.cancel_instance(instance_id=info.id, actor=users["supervisor"], reason="服务停用").status == "cancelled"
