"""Small BPMN documents for engine tests, built from a template so each test states only what it
is about. Every user task sits in the lane '社工 (worker)' and gets a one-field form."""
from __future__ import annotations

from engine import api

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Defs_{key}" targetNamespace="http://caseflow.local">\n'
)


def process(key: str, body: str, lane_refs: list[str], lane_name: str = "社工 (worker)", extra: str = "") -> str:
    refs = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in ["StartEvent_1", *lane_refs])
    return (
        HEAD.format(key=key)
        + f'<bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
        + f'<bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_1" name="{lane_name}">{refs}</bpmn:lane></bpmn:laneSet>\n'
        + body
        + "\n</bpmn:process>\n" + extra + "</bpmn:definitions>\n"
    )


def form(key: str = "note", *, process_variable: bool = False, kind: str = "textfield") -> dict:
    props = {"label_en": key}
    if process_variable:
        props["process_variable"] = "true"
    return {"type": "default", "components": [{"type": kind, "key": key, "label": key, "properties": props}]}


def linear(key: str, middle: str, middle_id: str, forms_for: tuple[str, ...] = ("Task_A",)) -> tuple[str, dict]:
    """Start -> <middle element> -> Task_A (user task) -> End."""
    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
{middle}
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="{middle_id}"/>
<bpmn:sequenceFlow id="F2" sourceRef="{middle_id}" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_A" targetRef="EndEvent_1"/>
"""
    return process(key, body, [middle_id, "Task_A", "EndEvent_1"]), {f: form() for f in forms_for}


def script_task(key: str, script: str) -> tuple[str, dict]:
    from xml.sax.saxutils import escape

    middle = f'<bpmn:scriptTask id="Script_1" name="S"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>'
    return linear(key, middle, "Script_1")


def gateway(key: str, condition: str) -> tuple[str, dict]:
    from xml.sax.saxutils import escape

    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:exclusiveGateway id="Gw" default="F_default"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F_cond</bpmn:outgoing><bpmn:outgoing>F_default</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F_cond</bpmn:incoming><bpmn:incoming>F_default</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Gw"/>
<bpmn:sequenceFlow id="F_cond" sourceRef="Gw" targetRef="Task_A"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="F_default" sourceRef="Gw" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_A" targetRef="EndEvent_1"/>
"""
    return process(key, body, ["Gw", "Task_A", "EndEvent_1"]), {"Task_A": form()}


def timer(key: str, expression: str) -> tuple[str, dict]:
    from xml.sax.saxutils import escape

    middle = (f'<bpmn:intermediateCatchEvent id="Timer_1" name="wait"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>'
              f'<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(expression)}</bpmn:timeDuration>'
              f'</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>')
    return linear(key, middle, "Timer_1")


def cardinality(key: str, expression: str) -> tuple[str, dict]:
    from xml.sax.saxutils import escape

    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing>
<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopCardinality>{escape(expression)}</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>
</bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_A" targetRef="EndEvent_1"/>
"""
    return process(key, body, ["Task_A", "EndEvent_1"]), {"Task_A": form()}


def service(key: str, operation: str) -> tuple[str, dict]:
    middle = (f'<bpmn:serviceTask id="Service_1" name="call"><bpmn:extensionElements>'
              f'<spiffworkflow:serviceTaskOperator id="{operation}" resultVariable="result"><spiffworkflow:parameters/>'
              f'</spiffworkflow:serviceTaskOperator></bpmn:extensionElements>'
              f'<bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:serviceTask>')
    return linear(key, middle, "Service_1")


def counting_loop(key: str, rounds: int) -> tuple[str, dict]:
    """A script task and a gateway looping `rounds` times, then a user task."""
    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F0</bpmn:outgoing></bpmn:startEvent>
<bpmn:scriptTask id="Init" name="init"><bpmn:incoming>F0</bpmn:incoming><bpmn:outgoing>F1</bpmn:outgoing><bpmn:script>n = 0</bpmn:script></bpmn:scriptTask>
<bpmn:scriptTask id="Count" name="count"><bpmn:incoming>F1</bpmn:incoming><bpmn:incoming>F_again</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
<bpmn:exclusiveGateway id="Gw" default="F_done"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F_again</bpmn:outgoing><bpmn:outgoing>F_done</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F_done</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F0" sourceRef="StartEvent_1" targetRef="Init"/>
<bpmn:sequenceFlow id="F1" sourceRef="Init" targetRef="Count"/>
<bpmn:sequenceFlow id="F2" sourceRef="Count" targetRef="Gw"/>
<bpmn:sequenceFlow id="F_again" sourceRef="Gw" targetRef="Count"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">n &lt; {rounds}</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="F_done" sourceRef="Gw" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_A" targetRef="EndEvent_1"/>
"""
    return process(key, body, ["Init", "Count", "Gw", "Task_A", "EndEvent_1"]), {"Task_A": form()}


def user_loop(key: str) -> tuple[str, dict]:
    """A user task that repeats while the worker ticks 'again'."""
    body = """
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F1</bpmn:incoming><bpmn:incoming>F_again</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
<bpmn:exclusiveGateway id="Gw" default="F_done"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F_again</bpmn:outgoing><bpmn:outgoing>F_done</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F_done</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F2" sourceRef="Task_A" targetRef="Gw"/>
<bpmn:sequenceFlow id="F_again" sourceRef="Gw" targetRef="Task_A"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">again == True</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="F_done" sourceRef="Gw" targetRef="EndEvent_1"/>
"""
    return process(key, body, ["Task_A", "Gw", "EndEvent_1"]), {"Task_A": form("again", process_variable=True, kind="checkbox")}


def deploy(xml_and_forms: tuple[str, dict], actor=None):
    xml, forms = xml_and_forms
    return api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=actor)


def nested_loop(key: str) -> tuple[str, dict]:
    """A user task in a loop whose scripts change nested data (a dict in the workflow's data): the
    shape SpiffWorkflow 3.2.0 shares between tasks in memory but not after a reload."""
    body = """
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F0</bpmn:outgoing></bpmn:startEvent>
<bpmn:scriptTask id="Init" name="init"><bpmn:incoming>F0</bpmn:incoming><bpmn:outgoing>F1</bpmn:outgoing><bpmn:script>box = {"count": 0, "seen": []}</bpmn:script></bpmn:scriptTask>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F1</bpmn:incoming><bpmn:incoming>F_again</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
<bpmn:scriptTask id="Bump" name="bump"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing><bpmn:script>box["count"] = box["count"] + 1
box["seen"] = box["seen"] + [note]</bpmn:script></bpmn:scriptTask>
<bpmn:exclusiveGateway id="Gw" default="F_done"><bpmn:incoming>F3</bpmn:incoming><bpmn:outgoing>F_again</bpmn:outgoing><bpmn:outgoing>F_done</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F_done</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F0" sourceRef="StartEvent_1" targetRef="Init"/>
<bpmn:sequenceFlow id="F1" sourceRef="Init" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F2" sourceRef="Task_A" targetRef="Bump"/>
<bpmn:sequenceFlow id="F3" sourceRef="Bump" targetRef="Gw"/>
<bpmn:sequenceFlow id="F_again" sourceRef="Gw" targetRef="Task_A"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">again == True</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="F_done" sourceRef="Gw" targetRef="EndEvent_1"/>
"""
    task_form = {"type": "default", "components": [
        {"type": "checkbox", "key": "again", "label": "again", "properties": {"process_variable": "true"}},
        {"type": "textfield", "key": "note", "label": "note", "properties": {"process_variable": "true"}},
    ]}
    return process(key, body, ["Init", "Task_A", "Bump", "Gw", "EndEvent_1"]), {"Task_A": task_form}


def subprocess_loop(key: str) -> tuple[str, dict]:
    """An embedded subprocess holding a user task, run again while the worker ticks 'again'."""
    body = """
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:subProcess id="Sub" name="sub"><bpmn:incoming>F1</bpmn:incoming><bpmn:incoming>F_again</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
  <bpmn:laneSet id="LaneSet_Sub"><bpmn:lane id="Lane_Sub" name="社工 (worker)"><bpmn:flowNodeRef>Sub_Start</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_A</bpmn:flowNodeRef><bpmn:flowNodeRef>Sub_End</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
  <bpmn:startEvent id="Sub_Start"><bpmn:outgoing>S1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:userTask id="Task_A" name="A"><bpmn:incoming>S1</bpmn:incoming><bpmn:outgoing>S2</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="Sub_End"><bpmn:incoming>S2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="S1" sourceRef="Sub_Start" targetRef="Task_A"/>
  <bpmn:sequenceFlow id="S2" sourceRef="Task_A" targetRef="Sub_End"/>
</bpmn:subProcess>
<bpmn:exclusiveGateway id="Gw" default="F_done"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F_again</bpmn:outgoing><bpmn:outgoing>F_done</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F_done</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Sub"/>
<bpmn:sequenceFlow id="F2" sourceRef="Sub" targetRef="Gw"/>
<bpmn:sequenceFlow id="F_again" sourceRef="Gw" targetRef="Sub"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">again == True</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="F_done" sourceRef="Gw" targetRef="EndEvent_1"/>
"""
    return process(key, body, ["Sub", "Gw", "EndEvent_1"]), {"Task_A": form("again", process_variable=True, kind="checkbox")}
