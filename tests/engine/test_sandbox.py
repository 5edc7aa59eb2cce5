"""Every place SpiffWorkflow would run Python is refused the dangerous things: at deploy (the
element is named) and, in case a diagram ever slipped past deploy, again when it runs."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.errors import DefinitionInvalid
from engine.spiff import scripting
from engine.spiff.scripting import ExpressionEngine, ExpressionRefused

from . import samples

CANARY = Path("/tmp/caseflow-sandbox-canary")

# (name, expression) — each would do harm, leak, or never end if evaluated as Python.
HOSTILE_EXPRESSIONS = [
    ("dunder import", f"__import__('os').system('touch {CANARY}')"),
    ("open a file", f"open('{CANARY}', 'w').write('x')"),
    ("class walk", "().__class__.__bases__[0].__subclasses__()"),
    ("attribute trick", "(1).__class__"),
    ("format escape", "'{0.__class__}'.format(1)"),
    ("huge string", "'a' * 10**10"),
    ("huge list", "[0] * 10**9"),
    ("huge number", "10 ** 10 ** 8"),
    ("nested comprehension", "[[y for y in 'a' * 99999] for x in 'a' * 99999]"),
    ("lambda", "(lambda: 1)()"),
    ("globals", "globals()"),
]
HOSTILE_SCRIPTS = HOSTILE_EXPRESSIONS + [
    ("import statement", "import os\nos.system('true')"),
    ("from import", "from os import system"),
    ("endless loop", "while True:\n    pass"),
    ("for loop", "for i in range(10**12):\n    pass"),
    ("function definition", "def f():\n    return f()\nf()"),
    ("exec", "exec('1')"),
]


@pytest.fixture(autouse=True)
def no_canary():
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "a sandboxed expression wrote a file"


@pytest.mark.parametrize("name,source", HOSTILE_EXPRESSIONS, ids=[n for n, _ in HOSTILE_EXPRESSIONS])
def test_evaluator_refuses_hostile_expression(name, source):
    started = time.monotonic()
    with pytest.raises(ExpressionRefused):
        scripting.evaluate_expression(source, {})
    assert time.monotonic() - started < 5, "refusal must be bounded in time"


@pytest.mark.parametrize("name,source", HOSTILE_SCRIPTS, ids=[n for n, _ in HOSTILE_SCRIPTS])
def test_evaluator_refuses_hostile_script(name, source):
    with pytest.raises(ExpressionRefused):
        scripting.execute_script(source, {})


def test_evaluator_still_does_what_diagrams_need():
    data = {"risk": "high", "score": 7, "items": [1, 2, 3], "person": {"age": 12}}
    assert scripting.evaluate_expression("risk == 'high' and score >= 5", data) is True
    assert scripting.evaluate_expression("person.get('age') < 14", data) is True
    assert scripting.evaluate_expression("sum([i * 2 for i in items if i > 1])", data) == 10
    assert scripting.evaluate_expression("len(items) if items else 0", data) == 3
    assert scripting.execute_script("total = 0\ntotal += score\nif total > 5:\n    level = 'red'", data)["level"] == "red"


def test_step_budget_stops_long_computation():
    limits = scripting.Limits(max_steps=1000)
    with pytest.raises(scripting.ExpressionLimitExceeded):
        scripting.evaluate_expression("[x + 1 for x in items]", {"items": list(range(5000))}, limits)


@pytest.mark.parametrize("expression", ['"PT24H"', "'PT24H'", "PT24H", " P3D ", "R3/PT1H", "2026-12-01T09:00:00+08:00"])
def test_timer_literals_accepted_with_or_without_quotes(expression):
    assert scripting.parse_timer_literal(expression)


# -- deploy refuses, naming the element -------------------------------------------------------------

PLACES = {
    "gateway condition": (samples.gateway, "F_cond"),
    "script task": (samples.script_task, "Script_1"),
    "multi-instance cardinality": (samples.cardinality, "Task_A"),
    "timer": (samples.timer, "Timer_1"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("name,source", HOSTILE_EXPRESSIONS[:5] + [("endless loop", "while True: pass")], ids=[n for n, _ in HOSTILE_EXPRESSIONS[:5]] + ["endless loop"])
def test_deploy_refuses_hostile_code_in_each_place(users, place, name, source):
    build, element_id = PLACES[place]
    with pytest.raises(DefinitionInvalid) as excinfo:
        samples.deploy(build("hostile_" + place.replace(" ", "_").replace("-", "_"), source), users["admin"])
    assert element_id in [p.element_id for p in excinfo.value.problems]


# -- and if a diagram slipped past deploy, the runtime refuses too -----------------------------------

def _run_in_memory(xml: str, dmn: str | None = None, data: dict | None = None):
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode())
    if dmn:
        parser.add_dmn_str(dmn.encode())
    process_id = re.search(r'<bpmn:process id="([^"]+)"', xml).group(1)
    workflow = BpmnWorkflow(parser.get_spec(process_id), parser.get_subprocess_specs(process_id), script_engine=ExpressionEngine())
    for task in workflow.get_tasks():
        task.data.update(data or {})
    workflow.do_engine_steps()
    return workflow


RUNTIME_PLACES = {
    "gateway condition": samples.gateway,
    "script task": samples.script_task,
    "multi-instance cardinality": samples.cardinality,
    "timer": samples.timer,
}


@pytest.mark.parametrize("place", sorted(RUNTIME_PLACES))
@pytest.mark.parametrize("name,source", HOSTILE_EXPRESSIONS[:6], ids=[n for n, _ in HOSTILE_EXPRESSIONS[:6]])
def test_runtime_refuses_hostile_code_in_each_place(place, name, source):
    xml, _forms = RUNTIME_PLACES[place]("rt_" + place.replace(" ", "_").replace("-", "_"), source)
    with pytest.raises(SpiffWorkflowException):
        _run_in_memory(xml)


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Defs_dmn" name="d" namespace="http://caseflow.local">
  <decision id="Decision_1" name="eligibility">
    <decisionTable id="Table_1" hitPolicy="UNIQUE">
      <input id="Input_1" label="income"><inputExpression id="InputExpr_1" typeRef="number"><text>income</text></inputExpression></input>
      <output id="Output_1" name="eligible" typeRef="boolean"/>
      <rule id="Rule_1"><inputEntry id="In_1"><text>{cell}</text></inputEntry><outputEntry id="Out_1"><text>True</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""


def _business_rule_bpmn():
    middle = ('<bpmn:businessRuleTask id="Rule_Task" name="rules"><bpmn:extensionElements>'
              '<spiffworkflow:calledDecisionId>Decision_1</spiffworkflow:calledDecisionId></bpmn:extensionElements>'
              '<bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:businessRuleTask>')
    return samples.linear("dmn_process", middle, "Rule_Task")[0]


def test_dmn_cell_runs_through_the_sandbox():
    workflow = _run_in_memory(_business_rule_bpmn(), DMN.format(cell="&lt; 12000"), {"income": 9000})
    assert workflow.get_next_task(spec_name="Task_A").data["eligible"] is True


@pytest.mark.parametrize("name,source", HOSTILE_EXPRESSIONS[:5], ids=[n for n, _ in HOSTILE_EXPRESSIONS[:5]])
def test_runtime_refuses_hostile_dmn_cell(name, source):
    from xml.sax.saxutils import escape

    with pytest.raises(SpiffWorkflowException):
        _run_in_memory(_business_rule_bpmn(), DMN.format(cell=escape(source)), {"income": 9000})


CORRELATION = """<bpmn:message id="Msg_1" name="reply"/>
<bpmn:correlationProperty id="Prop_1" name="case_ref">
  <bpmn:correlationPropertyRetrievalExpression messageRef="Msg_1"><bpmn:formalExpression>{expr}</bpmn:formalExpression></bpmn:correlationPropertyRetrievalExpression>
</bpmn:correlationProperty>
"""


@pytest.mark.django_db
def test_deploy_refuses_hostile_message_correlation_expression(users):
    from xml.sax.saxutils import escape

    xml, forms = samples.script_task("corr", "x = 1")
    xml = xml.replace("</bpmn:definitions>", CORRELATION.format(expr=escape(HOSTILE_EXPRESSIONS[0][1])) + "</bpmn:definitions>")
    with pytest.raises(DefinitionInvalid) as excinfo:
        samples.deploy((xml, forms), users["admin"])
    assert "Prop_1" in [p.element_id for p in excinfo.value.problems]


@pytest.mark.parametrize("name,source", HOSTILE_EXPRESSIONS[:5], ids=[n for n, _ in HOSTILE_EXPRESSIONS[:5]])
def test_the_script_environment_spiffworkflow_calls_directly_is_the_sandbox(name, source):
    """SpiffWorkflow evaluates correlations and ad-hoc conditions via script_engine.environment."""
    engine = ExpressionEngine()
    with pytest.raises(ExpressionRefused):
        engine.environment.evaluate(source, {})
    with pytest.raises(ExpressionRefused):
        engine.environment.execute(source, {})
