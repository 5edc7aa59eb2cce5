"""Problems the modeler meets mid-drawing are said in the admin's words, on the element, once: a timer
just made from an intermediate event has no time yet; a second way out of an exclusive gateway has
neither a condition nor the default mark (SpiffWorkflow's own English refusal is not repeated)."""
from __future__ import annotations

import pytest
from django.utils import translation

from engine import api
from portal.studio import process_templates

pytestmark = pytest.mark.django_db


def test_a_timer_without_a_time_and_a_gateway_way_without_a_condition_are_named_in_chinese():
    xml, _forms = process_templates.instantiate(process_templates.TEMPLATES["empty"], key="elder_check", name="检查")
    xml = xml.replace('<bpmn:sequenceFlow id="Flow_Start_Done" sourceRef="StartEvent_Start" targetRef="EndEvent_Done" />', """
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_Start" targetRef="G" />
    <bpmn:exclusiveGateway id="G" name="血压是否异常?" />
    <bpmn:sequenceFlow id="F2" sourceRef="G" targetRef="T" />
    <bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="EndEvent_Done" />
    <bpmn:intermediateCatchEvent id="T" name="下月再访"><bpmn:timerEventDefinition /></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="F4" sourceRef="T" targetRef="EndEvent_Done" />""")
    xml = xml.replace("<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef>",
                      "<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef><bpmn:flowNodeRef>G</bpmn:flowNodeRef><bpmn:flowNodeRef>T</bpmn:flowNodeRef>")
    with translation.override("zh-hans"):
        found = {p.element_id: str(p.message) for p in api.validate_definition(bpmn_xml=xml, forms_by_element={})}
    assert set(found) == {"T", "F2", "F3"}, found
    assert "还没有设定时间" in found["T"] and "Time Specification" not in found["T"]
    assert "既没有条件，也不是默认连线" in found["F2"] and "血压是否异常?" in found["F2"]

    # The default mark on one way leaves only the other.
    with_default = xml.replace('<bpmn:exclusiveGateway id="G"', '<bpmn:exclusiveGateway id="G" default="F3"')
    found = {p.element_id for p in api.validate_definition(bpmn_xml=with_default, forms_by_element={})}
    assert found == {"T", "F2"}, found


def _empty(key: str) -> str:
    xml, _forms = process_templates.instantiate(process_templates.TEMPLATES["empty"], key=key, name="检查")
    return xml


def test_an_element_no_path_reaches_is_a_problem_naming_it():
    """A task drawn but not connected, and an end event left behind after the flow into it was
    deleted: neither can ever run. Boundary events of reached tasks and sub-process contents count
    as reached."""
    xml = _empty("elder_unreached").replace('<bpmn:sequenceFlow id="Flow_Start_Done" sourceRef="StartEvent_Start" targetRef="EndEvent_Done" />', """
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_Start" targetRef="Sub" />
    <bpmn:subProcess id="Sub" name="探访">
      <bpmn:startEvent id="SubStart" /><bpmn:sequenceFlow id="S1" sourceRef="SubStart" targetRef="SubEnd" /><bpmn:endEvent id="SubEnd" />
      <bpmn:endEvent id="SubOrphan" name="孤立的结束" />
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="Late" attachedToRef="Sub" cancelActivity="false"><bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="F2" sourceRef="Late" targetRef="LateEnd" /><bpmn:endEvent id="LateEnd" />
    <bpmn:sequenceFlow id="F3" sourceRef="Sub" targetRef="EndEvent_Done" />
    <bpmn:scriptTask id="Loose" name="未连接的任务"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="Left" />""")
    refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in ("Sub", "Late", "LateEnd", "Loose", "Left"))
    xml = xml.replace("<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef>" + refs)
    with translation.override("en"):
        found = {p.element_id: str(p.message) for p in api.validate_definition(bpmn_xml=xml, forms_by_element={})}
    assert set(found) == {"Loose", "Left", "SubOrphan"}, found
    assert "未连接的任务 cannot be reached" in found["Loose"] and "孤立的结束 cannot be reached" in found["SubOrphan"]


def test_an_exclusive_choice_with_a_condition_on_every_way_needs_a_default():
    xml = _empty("elder_choice").replace('<bpmn:sequenceFlow id="Flow_Start_Done" sourceRef="StartEvent_Start" targetRef="EndEvent_Done" />', """
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_Start" targetRef="G" />
    <bpmn:exclusiveGateway id="G" name="血压是否异常?" />
    <bpmn:sequenceFlow id="F2" sourceRef="G" targetRef="EndEvent_Done"><bpmn:conditionExpression>1 &gt; 2</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="EndEvent_Done"><bpmn:conditionExpression>2 &gt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>""")
    xml = xml.replace("<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef><bpmn:flowNodeRef>G</bpmn:flowNodeRef>")
    with translation.override("en"):
        found = {p.element_id: str(p.message) for p in api.validate_definition(bpmn_xml=xml, forms_by_element={})}
    assert set(found) == {"G"} and "has no default flow" in found["G"], found
    assert api.validate_definition(bpmn_xml=xml.replace('<bpmn:exclusiveGateway id="G"', '<bpmn:exclusiveGateway id="G" default="F3"'),
                                   forms_by_element={}) == []


def test_a_choice_left_with_one_conditional_way_after_its_default_was_deleted_is_refused():
    """An administrator deleted the end events of a choice's other ways: the one way left has a
    condition, the default mark names a flow that is gone, and every case where the condition is
    false would stop at the gateway."""
    xml = _empty("elder_one_way").replace('<bpmn:sequenceFlow id="Flow_Start_Done" sourceRef="StartEvent_Start" targetRef="EndEvent_Done" />', """
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_Start" targetRef="G" />
    <bpmn:exclusiveGateway id="G" name="超上限或有异常?" default="F_gone" />
    <bpmn:sequenceFlow id="F2" sourceRef="G" targetRef="EndEvent_Done"><bpmn:conditionExpression>1 &gt; 2</bpmn:conditionExpression></bpmn:sequenceFlow>""")
    xml = xml.replace("<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>EndEvent_Done</bpmn:flowNodeRef><bpmn:flowNodeRef>G</bpmn:flowNodeRef>")
    with translation.override("en"):
        found = {p.element_id: str(p.message) for p in api.validate_definition(bpmn_xml=xml, forms_by_element={})}
    assert "G" in found and "has no default flow" in found["G"], found
