"""Whatever sequence of sweeps and completions happens, each fired timer breaches only the task(s) it
is attached to in the diagram, each at most once, and no task takes a deadline from a timer that does
not guard it. Property-based: hypothesis picks the sequences (sweeps at any hour, twice in a row,
responses before or after escalation) on the child-protection process and on a micro-fund review panel."""
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from lxml import etree

from engine import api
from engine.models import AuditEvent, HumanTask, ProcessDefinition, Timer
from tests.processes.child_protection.flows import FORMS as CP_FORMS, complete as cp_complete, start_case

pytestmark = pytest.mark.django_db(transaction=True)
H = dt.timedelta(hours=1)
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def guarded_by(process_key: str) -> dict[str, str]:
    """timer event id -> the id of the activity it is attached to, read from the deployed diagram."""
    xml = ProcessDefinition.objects.filter(key=process_key).order_by("-version").values_list("bpmn_xml", flat=True).first()
    root = etree.fromstring(xml.encode())
    return {b.get("id"): b.get("attachedToRef") for b in root.iter(f"{BPMN}boundaryEvent")
            if b.find(f"{BPMN}timerEventDefinition") is not None}


def assert_timers_breach_only_what_they_guard(instance_id: int, process_key: str):
    guards = guarded_by(process_key)
    escalations = AuditEvent.objects.filter(instance_id=instance_id, kind="escalated").select_related("task")
    seen = set()
    for event in escalations:
        assert event.task.bpmn_id == guards[event.bpmn_id], f"{event.bpmn_id} breached {event.task.bpmn_id}"
        assert (event.bpmn_id, event.task_id) not in seen, f"{event.bpmn_id} breached task {event.task_id} twice"
        seen.add((event.bpmn_id, event.task_id))
    for task in HumanTask.objects.filter(instance_id=instance_id):
        if task.sla_breached_at is not None or task.due_at is not None:
            assert task.bpmn_id in guards.values(), f"{task.bpmn_id} got a deadline or a breach it has no timer for"
    fired = Timer.objects.filter(instance_id=instance_id, status="fired").count()
    assert len({b for b, _ in seen}) <= fired


@pytest.fixture
def cp_case(deployed, users):
    def make():
        instance_id = start_case(users)
        cp_complete(users, instance_id, "Task_Intake")
        return instance_id, HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Respond").due_at - 24 * H
    return make


STEPS = st.lists(st.one_of(
    st.tuples(st.just("sweep"), st.integers(min_value=0, max_value=80)),
    st.tuples(st.sampled_from(["respond", "escalation", "civil"]), st.just(0)),
), min_size=1, max_size=8)


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_child_protection_timers_breach_only_the_response_they_guard(cp_case, users, steps):
    instance_id, clock_start = cp_case()
    hours = 0
    for action, at in steps:
        if action == "sweep":
            hours = max(hours, at)  # the clock only moves forward
            api.fire_due_timers(as_of=clock_start + hours * H)
            continue
        bpmn_id, who, data = {
            "respond": ("Task_Respond", None, CP_FORMS["Task_Respond"]),
            "escalation": ("Task_SupervisorEscalation", "supervisor", {"action": "note_only", "reason": "已督促"}),
            "civil": ("Task_CivilAffairsEscalation", "civil", {"oversight_action": "电话督促"}),
        }[action]
        task = HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status="open").first()
        if task is None:
            continue
        actor = users[who] if who else (task.assignee or users["worker"])
        api.complete_task(task_id=task.pk, data=data, actor=actor)
        assert_timers_breach_only_what_they_guard(instance_id, "child_protection")
    assert_timers_breach_only_what_they_guard(instance_id, "child_protection")


def test_a_review_panels_deadline_breaches_each_late_review_once_and_nothing_else(users, deployed):
    from tests.conftest import make_user
    from tests.processes.micro_fund.flows import FORMS, apply, complete, join, make_organisation

    org = make_organisation()
    applicant = join(make_user("applicant", "applicant", villages=None), org)
    reviewers = {name: make_user(name, "reviewer", villages=None) for name in ("r1", "r2", "r3")}
    instance_id = apply(applicant, org)
    complete(instance_id, "Task_CheckCompleteness", users["worker"])
    complete(instance_id, "Task_SelectPanel", users["supervisor"], {"reviewers": list(reviewers)})
    complete(instance_id, "Task_Review", reviewers["r1"], FORMS["Task_Review"], assignee="r1")
    started = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review").order_by("created_at").first().created_at
    for days in (6, 8, 8, 9):
        api.fire_due_timers(as_of=started + dt.timedelta(days=days))
    assert_timers_breach_only_what_they_guard(instance_id, "micro_fund")
    breached = HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Review", sla_breached_at__isnull=False)
    assert sorted(breached.values_list("assignee__username", flat=True)) == ["r2", "r3"]
    replace = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_ReplaceReviewer")
    assert replace.due_at is None and replace.sla_breached_at is None
