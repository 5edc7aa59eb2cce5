"""The live workflow a process keeps between steps behaves exactly as one reloaded from the database:
two instances driven with the same steps — one through the cache, one reloaded before every step —
end in the same state (SpiffWorkflow 3.2.0 shares nested data between tasks in memory, so this is
not given). Hypothesis picks the steps."""
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from engine import api
from engine.models import ProcessInstance
from engine.spiff import runtime

from . import samples

pytestmark = pytest.mark.django_db(transaction=True)


def normalised(state: dict) -> dict:
    """The state with task ids replaced by their order in the tree and timestamps left out, so two
    instances that took the same steps compare equal."""
    order, queue = {}, [state["root"]]
    while queue:
        task_id = queue.pop(0)
        if task_id in order:
            continue
        order[task_id] = len(order)
        queue.extend(state["tasks"][task_id]["children"])

    def clean(task):
        return {"spec": task["task_spec"], "state": task["state"], "data": task["data"], "internal": task.get("internal_data"),
                "parent": order.get(task["parent"]), "children": [order[c] for c in task["children"]]}

    return {"data": state["data"], "tasks": sorted((order[k], clean(t)) for k, t in state["tasks"].items() if k in order)}


@pytest.fixture
def nested(users):
    samples.deploy(samples.nested_loop("nested"), users["admin"])
    return users


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(st.text(alphabet="甲乙丙abc", min_size=1, max_size=4), min_size=1, max_size=6))
def test_a_cached_workflow_ends_where_a_reloaded_one_does(nested, rounds):
    cached = api.start_instance(process_key="nested", data={}, actor=nested["worker"]).open_tasks[0].id
    reloaded = api.start_instance(process_key="nested", data={}, actor=nested["worker"]).open_tasks[0].id
    outcomes = {}
    for number, note in enumerate(rounds, start=1):
        data = {"again": number < len(rounds), "note": note}
        outcome = api.complete_task(task_id=cached, data=data, actor=nested["worker"])
        runtime.clear_caches()  # the other instance is loaded from the database before each step
        other = api.complete_task(task_id=reloaded, data=data, actor=nested["worker"])
        runtime.clear_caches()
        outcomes[number] = (outcome.status, other.status)
        if outcome.new_tasks:
            cached, reloaded = outcome.new_tasks[0].id, other.new_tasks[0].id
        a = ProcessInstance.objects.get(pk=outcome.instance_id).state
        b = ProcessInstance.objects.get(pk=other.instance_id).state
        assert normalised(a) == normalised(b), f"after round {number}"
    final = ProcessInstance.objects.get(pk=outcome.instance_id).state
    assert final["data"]["box"] == {"count": len(rounds), "seen": rounds}


def test_a_step_reuses_the_workflow_it_left_behind(nested):
    """With the cache, the second step of an instance reads no state column and deserializes nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    info = api.start_instance(process_key="nested", data={}, actor=nested["worker"])
    outcome = api.complete_task(task_id=info.open_tasks[0].id, data={"again": True, "note": "a"}, actor=nested["worker"])
    with CaptureQueriesContext(connection) as queries:
        api.complete_task(task_id=outcome.new_tasks[0].id, data={"again": False, "note": "b"}, actor=nested["worker"])
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert not any('"engine_processinstance"."state"' in sql for sql in selects), selects


def _spiffworkflows_own_state(workflow) -> dict:
    from engine.spiff import serializer

    theirs = serializer.SERIALIZER.to_dict(workflow)
    assert theirs.pop("spec") and "subprocess_specs" in theirs
    theirs.pop("subprocess_specs")
    return {**theirs, "format": serializer.STATE_FORMAT}


@pytest.mark.parametrize("sample", ["subprocess_loop", "nested_loop"])
def test_the_saved_state_is_spiffworkflows_own_serialization_without_the_spec(users, sample):
    """The step writes the state without asking SpiffWorkflow to convert the spec it then drops
    (serializer.workflow_to_state): what it writes must be exactly what SpiffWorkflow's own converter
    gives, spec aside — with a subprocess running, and with a loop's data."""
    from engine.spiff import serializer

    samples.deploy(getattr(samples, sample)(sample), users["admin"])
    outcome = api.start_instance(process_key=sample, data={}, actor=users["worker"])
    workflow = runtime.peek(ProcessInstance.objects.get(pk=outcome.id))
    ours = serializer.workflow_to_state(workflow)
    assert ours == _spiffworkflows_own_state(workflow)
    assert ours["subprocesses"] or sample != "subprocess_loop"  # the subprocess is there to compare


def test_the_saved_state_of_a_waiting_timer_is_spiffworkflows_own(deployed, users):
    """The same with a boundary timer waiting (the 24-hour response deadline of a report)."""
    from engine.spiff import serializer
    from tests.processes.child_protection.flows import ACTOR_ROLE, FORMS, open_task, start_case

    instance_id = start_case(users)
    api.complete_task(task_id=open_task(instance_id, "Task_Intake"), data=FORMS["Task_Intake"], actor=users[ACTOR_ROLE["Task_Intake"]])
    workflow = runtime.peek(ProcessInstance.objects.get(pk=instance_id))
    assert workflow.event_manager.tasks  # the timer waits
    assert serializer.workflow_to_state(workflow) == _spiffworkflows_own_state(workflow)
