"""Loops run as long as the process needs; instances survive a restart between any two steps."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import api
from engine.models import ProcessInstance
from engine.spiff import runtime
from tests.processes.child_protection.flows import FORMS, START, complete, open_task, run_whole_case, start_case

from . import samples

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def test_gateway_loop_of_1000_iterations_completes(users):
    """SpiffWorkflow's default look-up depth stalls such a loop after ~333 rounds (engine/spiff/patches.py)."""
    samples.deploy(samples.counting_loop("loop_1000", 1000), users["admin"])
    info = api.start_instance(process_key="loop_1000", data={}, actor=users["worker"])
    assert info.status == "running"
    assert [t.bpmn_id for t in info.open_tasks] == ["Task_A"]
    done = api.complete_task(task_id=info.open_tasks[0].id, data={"note": "x"}, actor=users["worker"])
    assert done.status == "completed"
    state = ProcessInstance.objects.get(pk=info.id).state
    assert state["data"]["n"] == 1000  # every round counted
    assert len(state["tasks"]) < 50 and "Count" in state["caseflow_done"]  # the finished rounds were cut (pruning.py)


def test_user_task_loop_keeps_going(users):
    samples.deploy(samples.user_loop("user_loop"), users["admin"])
    task_id = api.start_instance(process_key="user_loop", data={}, actor=users["worker"]).open_tasks[0].id
    for _ in range(60):
        outcome = api.complete_task(task_id=task_id, data={"again": True}, actor=users["worker"])
        assert outcome.status == "running" and len(outcome.new_tasks) == 1
        task_id = outcome.new_tasks[0].id
    assert api.complete_task(task_id=task_id, data={"again": False}, actor=users["worker"]).status == "completed"


def test_follow_up_loop_of_child_protection(deployed, users):
    instance_id = start_case(users)
    for bpmn_id in ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan"]:
        complete(users, instance_id, bpmn_id)
    complete(users, instance_id, "Task_ApprovePlan", {"plan_decision": "return", "comments": "目标不具体"})
    complete(users, instance_id, "Task_CasePlan")  # returned for revision, then approved
    complete(users, instance_id, "Task_ApprovePlan")
    for _ in range(25):
        complete(users, instance_id, "Task_FollowUp", {**FORMS["Task_FollowUp"], "needs_more_followup": True})
    complete(users, instance_id, "Task_FollowUp")
    assert open_task(instance_id, "Task_Closure")


def test_instance_survives_restart_between_every_step(deployed, users):
    """Before each step, forget everything held in memory; the case goes on from the database alone."""
    instance_id = run_whole_case(users, on_step=lambda _id: runtime.clear_caches())
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"


def _cli(db_url, *args, check=True):
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "cli-test", "CASEFLOW_NOTIFIER_BACKEND": "integrations.notifications.backends.LogNotifier"}
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_each_step_in_a_fresh_process_through_the_cli(tmp_path):
    """A real restart: every command below is a new Python process reading the same database file."""
    db = f"sqlite:///{tmp_path / 'restart.sqlite3'}"
    _cli(db, "migrate", "-v0")
    _cli(db, "seed_demo")
    _cli(db, "caseflow", "deploy-bundled", "--user", "admin")
    started = json.loads(_cli(db, "caseflow", "start", "child_protection", "--user", "intake", "--data", json.dumps(START), "--json").stdout)
    instance_id = started["id"]
    actors = {"intake": "intake", "worker": "worker", "supervisor": "supervisor"}
    from tests.processes.child_protection.flows import ACTOR_ROLE

    # The inbox through the CLI once; then each step's answer names the tasks it opened (a process
    # start each is what this test pays for, so none is spent on listing again).
    listed = json.loads(_cli(db, "caseflow", "tasks", "--user", "intake", "--json").stdout)
    open_ids = {t["bpmn_id"]: t["id"] for t in listed if t["instance_id"] == instance_id}
    for bpmn_id in ["Task_Intake", "Task_Respond", "Task_PoliceReceipt", "Task_Assessment", "Task_CasePlan",
                    "Task_ApprovePlan", "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]:
        user = actors[ACTOR_ROLE[bpmn_id]]
        outcome = json.loads(_cli(db, "caseflow", "complete", str(open_ids.pop(bpmn_id)), "--user", user, "--json",
                                  "--data", json.dumps(FORMS[bpmn_id])).stdout)
        open_ids.update({t["bpmn_id"]: t["id"] for t in outcome["new_tasks"]})
    # A child's file: the supervisor who approved its closure reads it with a purpose and a reason (ADR 0020).
    shown = json.loads(_cli(db, "caseflow", "show", str(instance_id), "--user", "supervisor", "--json",
                            "--purpose", "supervision", "--reason", "结案后复核").stdout)
    assert shown["status"] == "completed"

    # Errors are sentences on stderr (in the station's language) with a non-zero exit, never a traceback.
    bad = _cli(db, "caseflow", "complete", "1", "--user", "worker", "--data", "{not json", check=False)
    assert bad.returncode != 0 and "JSON" in bad.stderr and "Traceback" not in bad.stderr
    done = _cli(db, "caseflow", "complete", "1", "--user", "intake", "--data", "{}", check=False)
    assert done.returncode != 0 and "此任务已结束" in done.stderr and "Traceback" not in done.stderr
    missing = _cli(db, "caseflow", "show", "424242", "--user", "admin", check=False)
    assert missing.returncode != 0 and "424242" in missing.stderr and "Traceback" not in missing.stderr


def test_data_set_in_an_early_step_survives_reloads_between_steps(users):
    """Task data is stored as deltas against the parent task; restoring must go parents first even
    though PostgreSQL's jsonb does not keep the order the state was written in."""
    body = """
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:scriptTask id="Set" name="set"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing><bpmn:script>x = 41</bpmn:script></bpmn:scriptTask>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="Task_B" name="B"><bpmn:incoming>F3</bpmn:incoming><bpmn:outgoing>F4</bpmn:outgoing></bpmn:userTask>
<bpmn:scriptTask id="Use" name="use"><bpmn:incoming>F4</bpmn:incoming><bpmn:outgoing>F5</bpmn:outgoing><bpmn:script>y = x + 1</bpmn:script></bpmn:scriptTask>
<bpmn:userTask id="Task_C" name="C"><bpmn:incoming>F5</bpmn:incoming><bpmn:outgoing>F6</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F6</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Set"/>
<bpmn:sequenceFlow id="F2" sourceRef="Set" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_A" targetRef="Task_B"/>
<bpmn:sequenceFlow id="F4" sourceRef="Task_B" targetRef="Use"/>
<bpmn:sequenceFlow id="F5" sourceRef="Use" targetRef="Task_C"/>
<bpmn:sequenceFlow id="F6" sourceRef="Task_C" targetRef="EndEvent_1"/>
"""
    forms = {t: samples.form() for t in ("Task_A", "Task_B", "Task_C")}
    samples.deploy((samples.process("delta_data", body, ["Set", "Task_A", "Task_B", "Use", "Task_C", "EndEvent_1"]), forms), users["admin"])
    info = api.start_instance(process_key="delta_data", data={}, actor=users["worker"])
    for _ in range(2):
        runtime.clear_caches()  # a new process: nothing of the instance held in memory
        task_id = (info.open_tasks if hasattr(info, "open_tasks") else info.new_tasks)[0].id
        info = api.complete_task(task_id=task_id, data={"note": "n"}, actor=users["worker"])
    info = api.get_instance(instance_id=info.instance_id, viewer=api.SYSTEM)
    assert info.status == "running", info.error_message
    assert [t.bpmn_id for t in info.open_tasks] == ["Task_C"]


def test_a_long_user_loop_keeps_a_small_state_and_the_same_answers(users):
    """Round 300 of a loop stores what round 30 stores: finished rounds are cut from the state, and
    the data the rounds built up is all still there after a reload."""
    samples.deploy(samples.nested_loop("long_loop"), users["admin"])
    task_id = api.start_instance(process_key="long_loop", data={}, actor=users["worker"]).open_tasks[0].id
    sizes = {}
    for round_number in range(1, 301):
        outcome = api.complete_task(task_id=task_id, data={"again": True, "note": "x"}, actor=users["worker"])
        task_id = outcome.new_tasks[0].id
        if round_number in (30, 300):
            sizes[round_number] = len(json.dumps(ProcessInstance.objects.get(pk=outcome.instance_id).state))
    assert sizes[300] < sizes[30] * 1.5, sizes
    runtime.clear_caches()  # and a process that reloads it carries on
    done = api.complete_task(task_id=task_id, data={"again": False, "note": "end"}, actor=users["worker"])
    assert done.status == "completed"
    final = ProcessInstance.objects.get(pk=outcome.instance_id).state
    assert final["data"]["box"]["count"] == 301


def test_finished_subprocesses_of_a_loop_are_cut_from_the_state(users):
    """Each round of a loop through an embedded subprocess leaves a finished subprocess behind in
    SpiffWorkflow; after 200 rounds the stored state holds the running one and a few, not 200."""
    samples.deploy(samples.subprocess_loop("sub_loop"), users["admin"])
    info = api.start_instance(process_key="sub_loop", data={}, actor=users["worker"])
    task_id = info.open_tasks[0].id
    for _ in range(200):
        outcome = api.complete_task(task_id=task_id, data={"again": True}, actor=users["worker"])
        assert [t.bpmn_id for t in outcome.new_tasks] == ["Task_A"]
        task_id = outcome.new_tasks[0].id
    state = ProcessInstance.objects.get(pk=outcome.instance_id).state
    assert len(state["subprocesses"]) < 60, len(state["subprocesses"])
    assert len(state["tasks"]) < 200, len(state["tasks"])
    runtime.clear_caches()
    done = api.complete_task(task_id=task_id, data={"again": False}, actor=users["worker"])
    assert done.status == "completed"
