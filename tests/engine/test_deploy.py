"""Deploying definitions: hostile XML refused, validation names the element, versions immutable."""
import pytest

from engine import api
from engine.errors import DefinitionInvalid
from engine.models import ProcessDefinition, ProcessInstance
from engine.spiff import parser

from . import samples

pytestmark = pytest.mark.django_db

XXE = """<?xml version="1.0"?>
<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="p" isExecutable="true"><bpmn:documentation>&xxe;</bpmn:documentation></bpmn:process>
</bpmn:definitions>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"><bpmn:process id="p">&lol9;</bpmn:process></bpmn:definitions>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:1/evil.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"/>"""

XINCLUDE = """<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xi="http://www.w3.org/2001/XInclude" id="D">
  <bpmn:process id="p" isExecutable="true"><xi:include href="file:///etc/passwd" parse="text"/></bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("xml", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external-dtd"])
def test_hostile_xml_is_refused_with_a_clear_error(users, xml):
    with pytest.raises(DefinitionInvalid) as excinfo:
        api.deploy_definition(bpmn_xml=xml, forms_by_element={}, actor=users["admin"])
    assert "not allowed" in str(excinfo.value)
    assert "root:" not in str(excinfo.value)  # nothing of /etc/passwd leaked into the message


def test_xinclude_is_not_processed(users):
    with pytest.raises(DefinitionInvalid) as excinfo:
        api.deploy_definition(bpmn_xml=XINCLUDE, forms_by_element={}, actor=users["admin"])
    assert "root:" not in str(excinfo.value)


def test_oversized_and_deeply_nested_files_are_refused(users, settings):
    settings.CASEFLOW_BPMN_MAX_BYTES = 10_000
    with pytest.raises(DefinitionInvalid, match="larger than"):
        api.deploy_definition(bpmn_xml=b"<a>" + b" " * 20_000 + b"</a>", forms_by_element={}, actor=users["admin"])
    settings.CASEFLOW_BPMN_MAX_BYTES = 2 * 1024 * 1024
    deep = "<x>" * 5000 + "</x>" * 5000
    with pytest.raises(DefinitionInvalid):
        parser.load_xml(deep)


def test_not_xml_and_wrong_root_are_refused(users):
    with pytest.raises(DefinitionInvalid, match="well-formed"):
        api.deploy_definition(bpmn_xml="not xml at all <", forms_by_element={}, actor=users["admin"])
    with pytest.raises(DefinitionInvalid, match="bpmn:definitions"):
        api.deploy_definition(bpmn_xml="<html/>", forms_by_element={}, actor=users["admin"])


def _problems(xml_and_forms, users):
    with pytest.raises(DefinitionInvalid) as excinfo:
        samples.deploy(xml_and_forms, users["admin"])
    return {p.element_id: str(p.message) for p in excinfo.value.problems}


def test_user_task_outside_a_role_lane_is_refused(users):
    xml, forms = samples.script_task("lanes", "x = 1")
    problems = _problems((xml.replace("社工 (worker)", "随便 (nobody)"), forms), users)
    assert "Task_A" in problems and "nobody" in problems["Task_A"]


def test_a_plain_task_nobody_does_is_refused(users):
    """The modeler's default shape is a plain task; SpiffWorkflow would wait on it for a person no
    lane names, and every case would stop there."""
    middle = '<bpmn:task id="Plain" name="P"><bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing></bpmn:task>'
    problems = _problems(samples.linear("plain", middle, "Plain"), users)
    assert "user task" in problems["Plain"]


def test_invalid_timer_names_the_element(users):
    problems = _problems(samples.timer("bad_timer", "P1X"), users)
    assert "ISO-8601" in problems["Timer_1"]


def test_unregistered_service_operation_is_refused(users):
    problems = _problems(samples.service("svc", "shell.run"), users)
    assert "shell.run" in problems["Service_1"]


def test_a_malformed_form_is_refused(users):
    xml, _forms = samples.script_task("bad_form", "x = 1")
    bad = {"Task_A": {"components": [{"type": "textfield", "key": "Bad Key!"}]}}
    assert "malformed" in _problems((xml, bad), users)["Task_A"]


def test_a_user_task_without_a_form_deploys_with_the_generic_form_and_a_warning(users):
    """Once a refusal (ADR 0004); since ADR 0015 the task gets a note and one box to tick, and the
    admin is told which element it is."""
    xml, _forms = samples.script_task("no_form", "x = 1")
    assert [(w.element_id, "generic confirm form" in w.message) for w in api.validate_definition(bpmn_xml=xml, forms_by_element={}).warnings] == [
        ("Task_A", True)]
    info = api.deploy_definition(bpmn_xml=xml, forms_by_element={}, actor=users["admin"])
    assert [w.element_id for w in info.warnings] == ["Task_A"]
    stored = ProcessDefinition.objects.get(pk=info.id)
    assert stored.forms["Task_A"]["components"][1]["key"] == "confirmed"
    assert api.forms_carried_over(bpmn_xml=xml) == {}  # the next version warns again


@pytest.mark.parametrize("expression", ['"PT24H"', "PT24H", "'PT2H30M'"])
def test_timers_deploy_with_or_without_quotes(users, expression):
    info = samples.deploy(samples.timer("timer_" + str(abs(hash(expression))), expression), users["admin"])
    assert info.created


def test_versions_are_numbered_and_running_instances_keep_theirs(deployed, users):
    from tests.processes.child_protection.flows import start_case

    v1 = ProcessDefinition.objects.get(key="child_protection")
    instance_id = start_case(users)
    again = api.deploy_bundled(actor=users["admin"])[0]
    assert not again.created and again.version == 1  # same content: no new version

    changed = v1.bpmn_xml.replace("儿童保护强制报告与24小时响应", "儿童保护强制报告（修订）")
    v2 = api.deploy_definition(bpmn_xml=changed, forms_by_element=v1.forms, actor=users["admin"])
    assert v2.version == 2
    assert ProcessInstance.objects.get(pk=instance_id).definition_id == v1.pk
    new_instance = start_case(users)
    assert ProcessInstance.objects.get(pk=new_instance).definition.version == 2
    with pytest.raises(ValueError):
        v1.name = "edited"
        v1.save()


def test_bundled_diagrams_pass_the_system_check():
    from engine.checks import bundled_processes_are_valid

    assert bundled_processes_are_valid(None) == []


def test_a_bundled_task_without_its_form_is_a_system_check_warning(monkeypatch):
    """It would deploy with the generic confirm form (ADR 0015); `manage.py check` tells the author."""
    from engine import api as facade
    from engine.checks import bundled_processes_are_valid

    real = facade.read_forms_dir
    monkeypatch.setattr(facade, "read_forms_dir", lambda d: {k: v for k, v in real(d).items() if k != "Task_Respond"})
    found = bundled_processes_are_valid(None)
    assert [(m.id, "Task_Respond" in m.msg) for m in found] == [("caseflow.W001", True)]
