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
