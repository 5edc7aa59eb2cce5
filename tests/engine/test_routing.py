"""Routing a task by workflow data (assignee_from, candidate_group_from), hooks that set variables
and grant a group access, and forms only some roles may read — what multi-party processes such as
the micro-fund (an applicant organisation, a panel of named reviewers) are built on."""
import pytest
from django.contrib.auth.models import Group

from engine import api, registry, selectors
from engine.errors import DefinitionInvalid, InvalidState, NotPermitted

from . import samples
from .samples import form

pytestmark = pytest.mark.django_db

ROUTED = """
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="Task_Org" name="organisation fills in"><bpmn:extensionElements><spiffworkflow:properties>
  <spiffworkflow:property name="candidate_group_from" value="owner_group"/></spiffworkflow:properties></bpmn:extensionElements>
  <bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="Task_Named" name="named person checks"><bpmn:extensionElements><spiffworkflow:properties>
  <spiffworkflow:property name="assignee_from" value="checker"/></spiffworkflow:properties></bpmn:extensionElements>
  <bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Task_Org"/>
<bpmn:sequenceFlow id="F2" sourceRef="Task_Org" targetRef="Task_Named"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_Named" targetRef="EndEvent_1"/>
"""


@pytest.fixture
def routed(users):
    @registry.on_start("routed")
    def route(ctx, data):
        ctx.set_variable("owner_group", "org-7")
        ctx.grant_view(group="org-7")

    @registry.on_task_completed("routed", "Task_Org")
    def pick_checker(ctx, data):
        ctx.set_variable("checker", "worker2")

    private = {**form("secret"), "properties": {"visible_to": "supervisor"}}
    samples.deploy((samples.process("routed", ROUTED, ["Task_Org", "Task_Named", "EndEvent_1"]), {"Task_Org": private, "Task_Named": form()}), users["admin"])
    member = users["outsider"]
    member.groups.add(Group.objects.get_or_create(name="org-7")[0])
    yield member
    registry._start_hooks.pop("routed", None)
    registry._task_hooks.pop(("routed", "Task_Org"), None)


def test_task_goes_to_the_group_named_in_the_data_and_the_group_may_open_the_case(routed, users):
    info = api.start_instance(process_key="routed", data={}, actor=users["worker"])
    task = info.open_tasks[0]
    assert task.candidate_group == "org-7"
    member = routed
    member._caseflow_groups = None
    assert [t.id for t in selectors.tasks_for_user(member)] == [task.id]
    assert selectors.instance_for_user(member, info.id).id == info.id
    with pytest.raises(NotPermitted):  # the lane's own role is not enough any more
        api.complete_task(task_id=task.id, data={"secret": "x"}, actor=users["worker"])
    api.complete_task(task_id=task.id, data={"secret": "只给督导看"}, actor=member)
    named = api.get_instance(instance_id=info.id, viewer=api.SYSTEM).open_tasks[0]
    assert named.assignee == "worker2"
    with pytest.raises(NotPermitted):
        api.complete_task(task_id=named.id, data={"note": "x"}, actor=users["worker"])


def test_forms_marked_visible_to_are_hidden_from_other_roles(routed, users):
    member = routed
    info = api.start_instance(process_key="routed", data={}, actor=users["worker"])
    api.complete_task(task_id=info.open_tasks[0].id, data={"secret": "只给督导看"}, actor=member)
    assert api.submitted_forms(instance_id=info.id, viewer=users["worker2"]) == []
    assert [f.bpmn_id for f in api.submitted_forms(instance_id=info.id, viewer=users["supervisor"])] == ["Task_Org"]
    assert [f.bpmn_id for f in api.submitted_forms(instance_id=info.id, viewer=users["admin"])] == ["Task_Org"]


def test_missing_routing_variable_is_refused_with_a_clear_message(users):
    samples.deploy((samples.process("unrouted", ROUTED, ["Task_Org", "Task_Named", "EndEvent_1"]), {"Task_Org": form(), "Task_Named": form()}), users["admin"])
    with pytest.raises(InvalidState) as excinfo:
        api.start_instance(process_key="unrouted", data={}, actor=users["worker"])
    assert "owner_group" in str(excinfo.value)


def test_routing_property_must_name_a_variable(users):
    bad = ROUTED.replace('value="owner_group"', 'value="__import__(1)"')
    with pytest.raises(DefinitionInvalid) as excinfo:
        samples.deploy((samples.process("badprop", bad, ["Task_Org", "Task_Named", "EndEvent_1"]), {"Task_Org": form(), "Task_Named": form()}), users["admin"])
    assert "Task_Org" in [p.element_id for p in excinfo.value.problems]


def test_option_lists_may_depend_on_who_is_filling_in_the_form(users):
    from engine import forms
    from engine.errors import FormInvalid

    registry.register_option_source("my_orgs", lambda user: [("org-7", "老年协会")] if user and user.username == "worker" else [])
    form = {"components": [{"type": "select", "key": "organisation", "properties": {"options_source": "my_orgs"}}]}
    with forms.acting_as(users["worker"]):
        assert forms.clean_form_data(form, {"organisation": "org-7"}) == {"organisation": "org-7"}
    with forms.acting_as(users["worker2"]), pytest.raises(FormInvalid):
        forms.clean_form_data(form, {"organisation": "org-7"})
    assert [f.choices for f in api.describe_form(form, user=users["worker"])] == [[("org-7", "老年协会")]]
