"""Small BPMN documents for engine tests, built from a template so each test states only what it
is about. In the one-lane builders every user task sits in the lane '社工 (worker)' and gets a
one-field form; the several-lane builders (two_lanes, boundary_timer, parallel_tasks) are at the end."""
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


def collection(key: str, script: str) -> tuple[str, dict]:
    """A script makes `items`; a parallel multi-instance user task then runs once per item."""
    from xml.sax.saxutils import escape

    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:scriptTask id="Script_1" name="S"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
<bpmn:userTask id="Task_A" name="A"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing>
<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>items</bpmn:loopDataInputRef><bpmn:inputDataItem id="item" name="item"/></bpmn:multiInstanceLoopCharacteristics>
</bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Script_1"/>
<bpmn:sequenceFlow id="F2" sourceRef="Script_1" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_A" targetRef="EndEvent_1"/>
"""
    return process(key, body, ["Script_1", "Task_A", "EndEvent_1"]), {"Task_A": form()}


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


# -- several lanes: who may start, who does what, in which village --------------------------------
# The builders below start in the intake desk's lane with a start form naming the village (the
# instance's village: only people working there see its tasks), then hand over to other roles.

DESK, WORKER, SUPERVISOR = "接待岗 (intake_desk)", "社工 (worker)", "督导 (supervisor)"
START = {"village": "dongshan", "reported_on": "2026-01-05", "channel": "phone"}
RECORD = {
    "reporter_name": "张老师", "reporter_phone": "13800000000", "child_name": "小明", "sex": "male", "dob": "2016-05-01",
    "situations": ["s4"], "description": "学生身上多处淤青。", "present_danger": True,
}


def start_form() -> dict:
    """The village the case belongs to (required, from the station's villages), when it was reported, how."""
    return {"type": "default", "components": [
        {"type": "select", "key": "village", "label": "village", "validate": {"required": True},
         "properties": {"options_source": "villages"}},
        {"type": "datetime", "key": "reported_on", "label": "reported on", "subtype": "date", "validate": {"required": True}},
        {"type": "select", "key": "channel", "label": "channel",
         "values": [{"value": "phone", "label": "phone"}, {"value": "walk_in", "label": "walk-in"}]},
    ]}


def record_form() -> dict:
    """One field of every kind a desk records (RECORD fills it in); only `present_danger` is a process variable."""
    def choices(*values):
        return [{"value": v, "label": v} for v in values]

    return {"type": "default", "components": [
        {"type": "textfield", "key": "reporter_name", "label": "reporter"},
        {"type": "textfield", "key": "reporter_phone", "label": "phone"},
        {"type": "textfield", "key": "child_name", "label": "child"},
        {"type": "select", "key": "sex", "label": "sex", "values": choices("male", "female")},
        {"type": "datetime", "key": "dob", "label": "born", "subtype": "date"},
        {"type": "checklist", "key": "situations", "label": "situations", "values": choices("s1", "s2", "s3", "s4")},
        {"type": "textarea", "key": "description", "label": "description", "validate": {"required": True}},
        {"type": "checkbox", "key": "present_danger", "label": "danger", "properties": {"process_variable": "true"}},
    ]}


def lanes_process(key: str, body: str, lanes: dict[str, list[str]]) -> str:
    """A process whose elements sit in several lanes ({lane name: element ids}); the start event
    goes in the first lane."""
    lane_xml = ""
    for number, (name, refs) in enumerate(lanes.items(), start=1):
        refs = (["StartEvent_1"] if number == 1 else []) + refs
        lane_xml += (f'<bpmn:lane id="Lane_{number}" name="{name}">'
                     + "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs) + "</bpmn:lane>")
    return (HEAD.format(key=key)
            + f'<bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
            + f'<bpmn:laneSet id="LaneSet_1">{lane_xml}</bpmn:laneSet>\n'
            + body + "\n</bpmn:process>\n</bpmn:definitions>\n")


def two_lanes(key: str, service: str | None = None) -> tuple[str, dict]:
    """Start -> Task_A (intake desk, record_form) -> [Service_1 calling `service`] -> Task_B (worker) -> End."""
    middle, after_a = "", "Task_B"
    if service:
        after_a = "Service_1"
        middle = (f'<bpmn:serviceTask id="Service_1" name="notify"><bpmn:extensionElements>'
                  f'<spiffworkflow:serviceTaskOperator id="{service}" resultVariable="notice"><spiffworkflow:parameters/>'
                  f'</spiffworkflow:serviceTaskOperator></bpmn:extensionElements>'
                  f'<bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F2b</bpmn:outgoing></bpmn:serviceTask>\n'
                  f'<bpmn:sequenceFlow id="F2b" sourceRef="Service_1" targetRef="Task_B"/>')
    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="Task_A" name="record"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
{middle}
<bpmn:userTask id="Task_B" name="respond"><bpmn:incoming>{"F2b" if service else "F2"}</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F2" sourceRef="Task_A" targetRef="{after_a}"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_B" targetRef="EndEvent_1"/>
"""
    desk = ["Task_A"] + (["Service_1"] if service else [])
    return (lanes_process(key, body, {DESK: desk, WORKER: ["Task_B", "EndEvent_1"]}),
            {"StartEvent_1": start_form(), "Task_A": record_form(), "Task_B": form()})


def boundary_timer(key: str, duration: str = '"PT24H"') -> tuple[str, dict]:
    """Start -> Task_A (intake desk) -> Task_B (worker) -> End, with a non-interrupting timer on
    Task_B that, after `duration`, opens Task_Escalate for the supervisor (Task_B stays open)."""
    from xml.sax.saxutils import escape

    body = f"""
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="Task_A" name="record"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="Task_B" name="respond"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:userTask>
<bpmn:boundaryEvent id="Timer_B" name="late" cancelActivity="false" attachedToRef="Task_B"><bpmn:outgoing>F_late</bpmn:outgoing>
<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(duration)}</bpmn:timeDuration></bpmn:timerEventDefinition>
</bpmn:boundaryEvent>
<bpmn:userTask id="Task_Escalate" name="escalate"><bpmn:incoming>F_late</bpmn:incoming><bpmn:outgoing>F_esc</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_Escalated"><bpmn:incoming>F_esc</bpmn:incoming></bpmn:endEvent>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F2" sourceRef="Task_A" targetRef="Task_B"/>
<bpmn:sequenceFlow id="F3" sourceRef="Task_B" targetRef="EndEvent_1"/>
<bpmn:sequenceFlow id="F_late" sourceRef="Timer_B" targetRef="Task_Escalate"/>
<bpmn:sequenceFlow id="F_esc" sourceRef="Task_Escalate" targetRef="EndEvent_Escalated"/>
"""
    lanes = {DESK: ["Task_A"], WORKER: ["Task_B", "Timer_B", "EndEvent_1"], SUPERVISOR: ["Task_Escalate", "EndEvent_Escalated"]}
    return lanes_process(key, body, lanes), {"StartEvent_1": start_form(), "Task_A": record_form(), "Task_B": form(),
                                             "Task_Escalate": form()}


def parallel_tasks(key: str, timer: str | None = None) -> tuple[str, dict]:
    """Start -> Task_A (intake desk) -> Task_B (intake desk) and Task_C (worker) in parallel ->
    Task_D (worker) once both are done -> End. With `timer` (a duration), Task_C has a deadline:
    a non-interrupting timer that opens Task_Escalate for the supervisor — and every step of the
    instance then writes Task_C's row (its deadline), as a step of a real case does."""
    from xml.sax.saxutils import escape

    escalation = ""
    if timer:
        escalation = f"""
<bpmn:boundaryEvent id="Timer_C" name="late" cancelActivity="false" attachedToRef="Task_C"><bpmn:outgoing>F_late</bpmn:outgoing>
<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(timer)}</bpmn:timeDuration></bpmn:timerEventDefinition>
</bpmn:boundaryEvent>
<bpmn:userTask id="Task_Escalate" name="escalate"><bpmn:incoming>F_late</bpmn:incoming><bpmn:outgoing>F_esc</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_Escalated"><bpmn:incoming>F_esc</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F_late" sourceRef="Timer_C" targetRef="Task_Escalate"/>
<bpmn:sequenceFlow id="F_esc" sourceRef="Task_Escalate" targetRef="EndEvent_Escalated"/>
"""
    body = """
<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="Task_A" name="record"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>
<bpmn:parallelGateway id="Split"><bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F_b</bpmn:outgoing><bpmn:outgoing>F_c</bpmn:outgoing></bpmn:parallelGateway>
<bpmn:userTask id="Task_B" name="receipt"><bpmn:incoming>F_b</bpmn:incoming><bpmn:outgoing>F_b_done</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="Task_C" name="respond"><bpmn:incoming>F_c</bpmn:incoming><bpmn:outgoing>F_c_done</bpmn:outgoing></bpmn:userTask>
<bpmn:parallelGateway id="Join"><bpmn:incoming>F_b_done</bpmn:incoming><bpmn:incoming>F_c_done</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing></bpmn:parallelGateway>
<bpmn:userTask id="Task_D" name="assess"><bpmn:incoming>F3</bpmn:incoming><bpmn:outgoing>F4</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F4</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Task_A"/>
<bpmn:sequenceFlow id="F2" sourceRef="Task_A" targetRef="Split"/>
<bpmn:sequenceFlow id="F_b" sourceRef="Split" targetRef="Task_B"/>
<bpmn:sequenceFlow id="F_c" sourceRef="Split" targetRef="Task_C"/>
<bpmn:sequenceFlow id="F_b_done" sourceRef="Task_B" targetRef="Join"/>
<bpmn:sequenceFlow id="F_c_done" sourceRef="Task_C" targetRef="Join"/>
<bpmn:sequenceFlow id="F3" sourceRef="Join" targetRef="Task_D"/>
<bpmn:sequenceFlow id="F4" sourceRef="Task_D" targetRef="EndEvent_1"/>
""" + escalation
    lanes = {DESK: ["Task_A", "Split", "Task_B"], WORKER: ["Task_C", "Join", "Task_D", "EndEvent_1"]}
    forms = {"StartEvent_1": start_form(), "Task_A": record_form(), "Task_B": form(), "Task_C": form(), "Task_D": form()}
    if timer:
        lanes[WORKER].append("Timer_C")
        lanes[SUPERVISOR] = ["Task_Escalate", "EndEvent_Escalated"]
        forms["Task_Escalate"] = form()
    return lanes_process(key, body, lanes), forms
