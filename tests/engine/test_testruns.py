"""Test runs of a draft (engine.api.testruns, ADR 0016): the draft's workflow runs in memory with sample
data and a clock of its own. Services are only logged, hooks do not run, timers fire when the run's
clock is moved, and not a row of a real case changes — instances, tasks, timers, audit, outbox,
notifications, case records."""
import datetime as dt
import time

import pytest

from engine import api, registry
from engine.errors import DefinitionInvalid, FormInvalid, InvalidState, NotPermitted
from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessDefinition, ProcessInstance, Timer
from portal.notifications.models import Notification
from processes.child_protection.models import ChildProtectionCase
from tests.engine import samples
from tests.engine.test_camunda_import import FILE as CAMUNDA_FILE
from tests.engine.test_camunda_import import camunda_forms
from tests.processes.child_protection import flows as cp

pytestmark = pytest.mark.django_db

TABLES = (ProcessInstance, HumanTask, Timer, AuditEvent, OutboxMessage, Notification, ChildProtectionCase, ProcessDefinition)


def _counts() -> dict:
    return {model.__name__: model.objects.count() for model in TABLES}


def _child_protection() -> tuple[str, dict]:
    package = registry.packages()["child_protection"]
    return package.bpmn_path.read_text(encoding="utf-8"), api.read_forms_dir(package.forms_dir)


class Run:
    """A test run driven like the studio drives it: the state handed back and forth."""

    def __init__(self, xml, forms, admin):
        self.xml, self.forms, self.admin, self.state = xml, forms, admin, None

    def start(self, data, **kwargs):
        self.state = api.start_sandbox_run(bpmn_xml=self.xml, forms_by_element=self.forms, data=data, actor=self.admin, **kwargs)
        return self.state

    def task(self, bpmn_id):
        return next(t for t in self.state.tasks if t.bpmn_id == bpmn_id)

    def complete(self, bpmn_id, data):
        self.state = api.complete_sandbox_task(bpmn_xml=self.xml, forms_by_element=self.forms, stored=self.state.stored,
                                               task_id=self.task(bpmn_id).id, data=data, actor=self.admin)
        return self.state

    def jump(self, hours):
        self.state = api.advance_sandbox_clock(bpmn_xml=self.xml, forms_by_element=self.forms, stored=self.state.stored, hours=hours,
                                               actor=self.admin)
        return self.state

    def kinds(self, kind):
        return [e for e in self.state.log if e.kind == kind]


@pytest.fixture
def cp_run(users):
    xml, forms = _child_protection()
    return Run(xml, forms, users["admin"])


def test_child_protection_runs_to_both_escalations_and_touches_nothing_real(cp_run, users, sent):
    before = _counts()
    now = dt.datetime.now(dt.timezone.utc)
    state = cp_run.start(cp.START, now=now)
    assert state.status == "running" and state.clock == now
    assert [(t.bpmn_id, t.role) for t in state.tasks] == [("Task_Intake", "intake_desk")]
    assert cp_run.kinds("hooks")[0].details["hooks"] == ["open_case"]  # named, not run

    state = cp_run.complete("Task_Intake", cp.FORMS["Task_Intake"])
    services = cp_run.kinds("service")
    assert [(e.element, e.details["operation"]) for e in services] == [
        ("Task_NotifyPolice", "police.report"), ("Task_NotifyCivilAffairs", "civil_affairs.notify")]  # present_danger: both
    assert services[0].details["result"] == {"test_run": True}
    assert {t.bpmn_id for t in state.tasks} == {"Task_PoliceReceipt", "Task_Respond"}
    assert [t.element for t in state.timers] == ["Timer_Response24h", "Timer_Response48h"]
    # Only process variables entered the workflow: present_danger did, the child's name did not.
    respond = cp_run.task("Task_Respond")
    assert respond.variables.get("present_danger") is True and "child_name" not in respond.variables
    assert "Task_Intake" in state.completed and "Task_Respond" in state.active

    state = cp_run.jump(25)
    assert [e.element for e in cp_run.kinds("timer")] == ["Timer_Response24h"]
    assert state.clock == now + dt.timedelta(hours=25)
    escalation = cp_run.task("Task_SupervisorEscalation")
    assert escalation.role == "supervisor"
    assert "Task_CivilAffairsEscalation" not in {t.bpmn_id for t in state.tasks}

    state = cp_run.jump(24)  # 49 hours in all
    assert [e.element for e in cp_run.kinds("timer")] == ["Timer_Response24h", "Timer_Response48h"]
    assert cp_run.task("Task_CivilAffairsEscalation").role == "civil_affairs"

    # The response done: both escalations are withdrawn, as in a real case.
    state = cp_run.complete("Task_Respond", cp.FORMS["Task_Respond"])
    assert {t.bpmn_id for t in state.tasks} == {"Task_PoliceReceipt"}
    assert {e.element for e in cp_run.kinds("withdrawn")} == {"Task_SupervisorEscalation", "Task_CivilAffairsEscalation"}

    assert _counts() == before and sent == []


def test_a_run_goes_on_to_its_end(cp_run):
    cp_run.start(cp.START)
    intake = {**cp.FORMS["Task_Intake"], "present_danger": False}
    cp_run.complete("Task_Intake", intake)
    assert [e.details["operation"] for e in cp_run.kinds("service")] == ["police.report"]  # no danger: civil affairs is not told
    for bpmn_id in ("Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan", "Task_ApprovePlan", "Task_FollowUp",
                    "Task_Closure", "Task_ApproveClosure"):
        cp_run.complete(bpmn_id, cp.FORMS[bpmn_id])
    assert cp_run.state.status == "completed" and cp_run.state.tasks == () and cp_run.kinds("ended")
    with pytest.raises(InvalidState):
        cp_run.jump(1)


def test_sample_data_is_cleaned_as_a_real_completion(cp_run):
    cp_run.start(cp.START)
    with pytest.raises(FormInvalid) as excinfo:
        cp_run.complete("Task_Intake", {**cp.FORMS["Task_Intake"], "child_name": "", "description": "x" * 5000, "sneaky": 1})
    assert {"child_name", "description", "sneaky"} <= set(excinfo.value.field_errors)
    with pytest.raises(FormInvalid) as excinfo:  # the start form too: a report cannot arrive in the future
        cp_run.start({**cp.START, "received_at": "2999-01-01T09:00"})
    assert "received_at" in excinfo.value.field_errors


def test_the_start_form_refuses_what_a_real_start_refuses(cp_run):
    with pytest.raises(FormInvalid) as excinfo:
        cp_run.start({"village": "<script>", "channel": "phone"})
    assert {"village", "received_at"} <= set(excinfo.value.field_errors)


def test_a_draft_that_would_not_deploy_is_refused_with_its_elements_named(users):
    xml, forms = samples.gateway("tr_bad", "__import__('os')")
    with pytest.raises(DefinitionInvalid) as excinfo:
        api.prepare_sandbox_run(bpmn_xml=xml, forms_by_element=forms, actor=users["admin"])
    assert any(p.element_id for p in excinfo.value.problems)


def test_only_an_administrator_test_runs(users):
    xml, forms = _child_protection()
    for name in ("supervisor", "worker"):
        with pytest.raises(NotPermitted):
            api.start_sandbox_run(bpmn_xml=xml, forms_by_element=forms, data=cp.START, actor=users[name])
    with pytest.raises(NotPermitted):
        api.prepare_sandbox_run(bpmn_xml=xml, forms_by_element=forms, actor=None)


@pytest.mark.parametrize("condition", ["len('ab' * 10**9) > 0", "10 ** 10 ** 8 > 1", "len([0] * 10**9) > 0"])
def test_a_hostile_condition_ends_the_run_naming_its_element_quickly(users, condition):
    xml, forms = samples.gateway("tr_hostile", condition)
    run = Run(xml, forms, users["admin"])
    began = time.monotonic()
    state = run.start({})
    assert time.monotonic() - began < 3
    assert (state.status, state.error_element) == ("error", "Gw")
    assert run.kinds("error")[0].element == state.error_element and state.error_message
    with pytest.raises(InvalidState):
        run.jump(1)


def test_an_endless_loop_of_engine_steps_stops_the_run(users):
    xml, forms = samples.counting_loop("tr_loop", 10**9)
    run = Run(xml, forms, users["admin"])
    began = time.monotonic()
    state = run.start({})
    assert time.monotonic() - began < 15
    assert state.status == "error" and state.error_element and "without waiting" in state.error_message


def test_a_camunda_style_draft_runs_and_its_unquoted_timer_fires(users):
    before = _counts()
    run = Run(CAMUNDA_FILE.read_bytes(), camunda_forms(), users["admin"])
    run.start({"village": "dongshan", "caller": "王阿姨"})
    run.complete("Activity_Register", {"need": "独居老人无人照料"})
    assert {t.bpmn_id for t in run.state.tasks} == {"Activity_Visit"}
    run.jump(24 * 3 + 1)
    assert [e.element for e in run.kinds("timer")] and {t.bpmn_id for t in run.state.tasks} == {"Activity_Visit", "Activity_Remind"}
    assert run.task("Activity_Remind").role == "supervisor"
    assert _counts() == before


def test_a_cycle_timer_fires_once_per_cycle(users):
    xml, forms = samples.boundary_timer("tr_cycle")
    xml = xml.replace('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT24H"</bpmn:timeDuration>',
                      '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">"R3/PT1H"</bpmn:timeCycle>')
    assert "timeCycle" in xml
    run = Run(xml, forms, users["admin"])
    run.start(samples.START)
    run.complete("Task_A", samples.RECORD)
    run.jump(5)
    assert len(run.kinds("timer")) == 3
    assert [t.bpmn_id for t in run.state.tasks].count("Task_Escalate") == 3


def test_the_stored_run_is_plain_json_and_a_foreign_one_is_refused(cp_run, users):
    import json

    state = cp_run.start(cp.START)
    assert json.loads(json.dumps(state.stored)) == state.stored
    with pytest.raises(InvalidState):
        api.sandbox_state(bpmn_xml=cp_run.xml, forms_by_element=cp_run.forms, stored={"format": "other"}, actor=users["admin"])


def test_a_run_leaves_the_draft_deployable(cp_run, users):
    """The parser's cached result is shared with deploy: a run must not change it."""
    cp_run.start(cp.START)
    cp_run.complete("Task_Intake", cp.FORMS["Task_Intake"])
    info = api.deploy_definition(bpmn_xml=cp_run.xml, forms_by_element=cp_run.forms, actor=users["admin"])
    assert info.version >= 1
