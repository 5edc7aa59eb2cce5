"""A diagram drawn in Camunda Modeler 5 imports and runs (ADR 0015): unquoted timer literals,
camunda:candidateGroups as roles where no lane names one, camunda:formKey/formRef naming the forms,
a user task without a form given the generic confirm form — each decision a warning naming its
element, and what cannot run refused with its element named."""
import datetime as dt
from pathlib import Path

import pytest

from engine import api
from engine.errors import DefinitionInvalid, FormInvalid
from engine.models import AuditEvent, HumanTask, ProcessDefinition, ProcessInstance, Timer
from engine.spiff import parser

pytestmark = pytest.mark.django_db

FILE = Path(__file__).parent / "data" / "camunda_home_visit.bpmn"
KEY = "camunda_home_visit"


def _form(key: str, label: str, **extra) -> dict:
    return {"type": "default", "schemaVersion": 16, **extra,
            "components": [{"type": "textfield", "key": key, "label": label, "properties": {"label_en": key}}]}


def camunda_forms() -> dict:
    """The forms as an admin exports them from Camunda's form editor: named by file or by the form's own id."""
    return {
        "report": {"type": "default", "components": [
            {"type": "select", "key": "village", "label": "村", "validate": {"required": True}, "properties": {"options_source": "villages"}},
            {"type": "textfield", "key": "caller", "label": "求助人"},
        ]},
        "intake": _form("need", "求助事项", id="intake"),
        "visit-form": _form("findings", "走访情况", id="visit_record"),  # formRef names the form's id
        "reminder": _form("reminder_note", "督促说明"),
    }


def _warnings(items) -> list[tuple[str, str]]:
    return sorted((w.element_id, str(w.message)) for w in items)


def open_task(instance_id: int, bpmn_id: str) -> int:
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id=bpmn_id, status="open").pk


def test_a_camunda_modeler_file_deploys_with_exactly_the_expected_warnings(users):
    xml = FILE.read_bytes()
    checked = api.validate_definition(bpmn_xml=xml, forms_by_element=camunda_forms())
    assert list(checked) == []
    info = api.deploy_definition(bpmn_xml=xml, forms_by_element=camunda_forms(), actor=users["admin"])
    assert info.created and info.key == KEY
    assert _warnings(info.warnings) == _warnings(checked.warnings) == [
        ("Activity_Remind", "Several candidate groups (supervisor, admin): only the first, 'supervisor', does this step."),
        ("Activity_Review", "No form: a generic confirm form is used (a note to read the case and one box to tick)."),
        ("Activity_Visit", "The lane says role 'worker', camunda:candidateGroups says 'supervisor': the lane wins."),
    ]
    stored = ProcessDefinition.objects.get(pk=info.id)
    assert stored.bpmn_xml == xml.decode("utf-8")  # the uploaded file, DI and all, unchanged
    assert "bpmndi:BPMNShape" in stored.bpmn_xml and "P3D</bpmn:timeDuration>" in stored.bpmn_xml
    assert stored.name == "困境家庭入户走访" and stored.start_group == "intake_desk"
    assert {k: (v["name"], v["candidate_group"]) for k, v in stored.user_tasks.items()} == {
        "Activity_Register": ("登记求助信息", "intake_desk"), "Activity_Visit": ("入户走访", "worker"),
        "Activity_Remind": ("督促走访", "supervisor"), "Activity_Review": ("督导审阅", "supervisor")}
    assert stored.forms["StartEvent_1"] == camunda_forms()["report"]
    assert stored.forms["Activity_Register"]["id"] == "intake" and stored.forms["Activity_Visit"]["id"] == "visit_record"
    assert stored.forms["Activity_Review"]["components"][1]["key"] == "confirmed"
    audit = AuditEvent.objects.get(definition=stored, kind="deployed")
    assert [w["element"] for w in audit.data["warnings"]] == ["Activity_Visit", "Activity_Remind", "Activity_Review"]
    # The same file again is the same version, with the same warnings.
    again = api.deploy_definition(bpmn_xml=xml, forms_by_element=camunda_forms(), actor=users["admin"])
    assert (again.created, again.version, len(again.warnings)) == (False, 1, 3)


def test_an_unquoted_timer_makes_the_same_spec_as_a_quoted_one(users):
    xml = FILE.read_text(encoding="utf-8")
    quoted = xml.replace(">P3D<", '>"P3D"<')
    specs = [parser.validate_and_parse(x, camunda_forms(), set(), lambda f: [], generic_form=dict).spec_dict for x in (xml, quoted)]
    assert specs[0] == specs[1]


def test_a_camunda_modeler_file_runs_end_to_end(users):
    info = api.deploy_definition(bpmn_xml=FILE.read_bytes(), forms_by_element=camunda_forms(), actor=users["admin"])
    started = api.start_instance(process_key=KEY, data={"village": "dongshan", "caller": "王阿姨"}, actor=users["intake"])
    instance_id = started.id
    api.complete_task(task_id=open_task(instance_id, "Activity_Register"), data={"need": "独居老人无人照料"}, actor=users["intake"])

    visit = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Activity_Visit", status="open")
    assert visit.candidate_group == "worker" and visit.due_at is not None
    timer = Timer.objects.get(instance_id=instance_id, status="waiting")
    assert timer.due_at - visit.created_at >= dt.timedelta(days=3) - dt.timedelta(seconds=5)

    assert api.fire_due_timers(as_of=timer.due_at - dt.timedelta(minutes=1)).timers_fired == 0
    assert api.fire_due_timers(as_of=timer.due_at + dt.timedelta(minutes=1)).timers_fired == 1
    remind = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Activity_Remind", status="open")
    assert remind.candidate_group == "supervisor"
    api.complete_task(task_id=remind.pk, data={"reminder_note": "请尽快走访"}, actor=users["supervisor"])

    api.complete_task(task_id=visit.pk, data={"findings": "已入户，需要助餐服务"}, actor=users["worker"])
    review = open_task(instance_id, "Activity_Review")
    fields = api.describe_form(api.task_form(task_id=review, viewer=api.SYSTEM))
    assert [(f.key, f.kind, f.required, f.label) for f in fields] == [
        ("confirmed", "checkbox", True, "I have read the case and confirm this step is done")]
    assert fields[0].help == "This step has no form: read the case, then confirm."
    with pytest.raises(FormInvalid):  # the generic form's box must be ticked
        api.complete_task(task_id=review, data={}, actor=users["supervisor"])
    api.complete_task(task_id=review, data={"confirmed": True}, actor=users["supervisor"])

    instance = ProcessInstance.objects.get(pk=instance_id)
    assert (instance.status, instance.definition_id) == ("completed", info.id)


def _refusals(xml: str) -> dict[str, str]:
    with pytest.raises(DefinitionInvalid) as excinfo:
        api.validate_definition(bpmn_xml=xml, forms_by_element=camunda_forms()) or None
        api.deploy_definition(bpmn_xml=xml, forms_by_element=camunda_forms())
    return {p.element_id: str(p.message) for p in excinfo.value.problems}


@pytest.mark.parametrize("expression", ["${reminderDelay}", "#{now() + 3}", "P3D + 1"])
def test_an_expression_timer_is_refused_naming_its_element(users, expression):
    xml = FILE.read_text(encoding="utf-8").replace(">P3D<", f">{expression}<")
    problems = api.validate_definition(bpmn_xml=xml, forms_by_element=camunda_forms())
    assert [p.element_id for p in problems] == ["Event_Overdue"]
    assert "not an ISO-8601 literal" in problems[0].message and expression in problems[0].message
    assert _refusals(xml).keys() == {"Event_Overdue"}


@pytest.mark.parametrize("literal", ['"P3D"', "PT24H", "'PT2H30M'", "2026-12-01T09:00:00+08:00"])
def test_iso_literals_quoted_or_not_are_accepted(users, literal):
    kind = "timeDate" if literal.startswith("2026") else "timeDuration"
    xml = FILE.read_text(encoding="utf-8").replace(">P3D</bpmn:timeDuration>", f">{literal}</bpmn:{kind}>").replace(
        "<bpmn:timeDuration", f"<bpmn:{kind}")
    assert list(api.validate_definition(bpmn_xml=xml, forms_by_element=camunda_forms())) == []


def test_a_cycle_timer_literal_is_accepted():
    assert parser.scripting.parse_timer_literal("R/P1M") == "R/P1M"
    assert parser.scripting.parse_timer_literal("R3/PT1H") == "R3/PT1H"


def test_an_unknown_candidate_group_is_refused_naming_its_element(users):
    xml = FILE.read_text(encoding="utf-8").replace('camunda:formKey="intake" camunda:candidateGroups="intake_desk"',
                                                   'camunda:formKey="intake" camunda:candidateGroups="front_office"')
    problems = _refusals(xml)
    assert list(problems) == ["Activity_Register"]
    assert "front_office" in problems["Activity_Register"] and "not a known role" in problems["Activity_Register"]


def test_a_task_with_neither_a_role_lane_nor_a_candidate_group_is_refused(users):
    xml = FILE.read_text(encoding="utf-8").replace(' camunda:candidateGroups="supervisor">', ">")
    assert "督导" in _refusals(xml)["Activity_Review"]


def test_a_named_form_that_was_not_supplied_gives_the_generic_form_with_its_own_warning(users):
    forms = camunda_forms()
    del forms["reminder"]
    checked = api.validate_definition(bpmn_xml=FILE.read_bytes(), forms_by_element=forms)
    assert list(checked) == []
    assert ("Activity_Remind", "The form 'reminder' it names was not supplied: a generic confirm form is used.") in _warnings(checked.warnings)


def test_warnings_are_translated(users):
    from django.utils import translation

    with translation.override("zh-hans"):
        checked = api.validate_definition(bpmn_xml=FILE.read_bytes(), forms_by_element=camunda_forms())
    messages = dict(_warnings(checked.warnings))
    assert "通用确认表单" in messages["Activity_Review"] and "泳道" in messages["Activity_Visit"]
