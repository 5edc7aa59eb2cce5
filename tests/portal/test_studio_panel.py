"""What the studio's properties panel writes deploys and runs, and what it cannot check in the browser the
server does: the plain-words timer table (portal/studio/panel.py) gives literals that deploy and fire
when they say; a gateway condition reading a field that is unknown, or not marked process_variable,
is a problem on its flow, saying which; the edit page hands the panel its roles, services, fields
and the modeler's catalogue in the admin's language."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from engine import api
from engine.models import Timer
from portal.studio import panel
from tests.engine import samples

pytestmark = pytest.mark.django_db

EXPECTED = {"minutes": dt.timedelta(minutes=2), "hours": dt.timedelta(hours=2), "days": dt.timedelta(days=2),
            "weeks": dt.timedelta(weeks=2)}


@pytest.mark.parametrize("unit", [u for u, _d, _c in panel.TIMER_UNITS])
def test_each_plain_words_duration_deploys_and_fires_when_it_says(users, unit):
    literal = panel.timer_literal("duration", 2, unit)
    key = f"panel_timer_{unit}"
    samples.deploy(samples.timer(key, f'"{literal}"'), users["admin"])
    before = timezone.now()
    started = api.start_instance(process_key=key, data={}, actor=users["worker"])
    timer = Timer.objects.get(instance_id=started.id, status="waiting")
    waited = timer.due_at - before
    if unit == "months":  # calendar months: 59 to 62 days
        assert dt.timedelta(days=59) <= waited <= dt.timedelta(days=62, seconds=5)
    else:
        assert dt.timedelta(0) <= waited - EXPECTED[unit] < dt.timedelta(seconds=5)
    assert api.fire_due_timers(as_of=timer.due_at - dt.timedelta(seconds=30)).timers_fired == 0
    assert api.fire_due_timers(as_of=timer.due_at + dt.timedelta(seconds=30)).timers_fired == 1


@pytest.mark.parametrize("unit", [u for u, _d, c in panel.TIMER_UNITS if c])
@pytest.mark.parametrize("start", ["", "2026-12-01T09:00:00+08:00"])
def test_each_plain_words_cycle_and_a_date_deploy(users, unit, start):
    cycle = panel.timer_literal("cycle", 3, unit, start)
    xml, forms = samples.timer("panel_cycle", f'"{cycle}"')
    assert not api.validate_definition(bpmn_xml=xml.replace("timeDuration", "timeCycle"), forms_by_element=forms)
    xml, forms = samples.timer("panel_date", '"2026-12-01T09:00:00+08:00"')
    assert not api.validate_definition(bpmn_xml=xml.replace("timeDuration", "timeDate"), forms_by_element=forms)


def test_months_are_offered_for_durations_only():
    assert [u for u, _d, c in panel.TIMER_UNITS if c is None] == ["months"]
    assert panel.timer_literal("duration", 24, "hours") == "PT24H"
    assert panel.timer_literal("cycle", 1, "weeks", "2026-12-01T09:00:00+08:00") == "R/2026-12-01T09:00:00+08:00/P1W"


def _gateway(condition: str, form: dict):
    xml, _forms = samples.gateway("panel_gateway", condition)
    return xml, {"Task_A": form}


def test_a_condition_reading_an_unknown_field_is_a_problem_on_its_flow():
    xml, forms = _gateway('risk_levle == "high"', samples.form("risk_level", process_variable=True))
    problems = api.validate_definition(bpmn_xml=xml, forms_by_element=forms)
    assert [(p.element_id, "risk_levle" in str(p.message), "risk_level" in str(p.message)) for p in problems] == [("F_cond", True, True)]


def test_a_condition_reading_a_field_that_is_not_a_process_variable_says_so_on_its_flow():
    xml, forms = _gateway('risk_level == "high"', samples.form("risk_level", process_variable=False))
    with translation.override("en"):
        problems = api.validate_definition(bpmn_xml=xml, forms_by_element=forms)
    assert [p.element_id for p in problems] == ["F_cond"]
    assert "not marked as a process variable" in str(problems[0].message) and "Task_A" in str(problems[0].message)
    with translation.override("zh-hans"):
        problems = api.validate_definition(bpmn_xml=xml, forms_by_element=forms)
    assert "流程变量" in str(problems[0].message)


def test_a_condition_reading_a_process_variable_a_result_or_a_script_name_deploys():
    xml, forms = _gateway('risk_level == "high" and len([x for x in [1] if x]) == 1', samples.form("risk_level", process_variable=True))
    assert not api.validate_definition(bpmn_xml=xml, forms_by_element=forms)


def test_the_bundled_processes_conditions_all_read_known_variables(deployed):
    """Deploy refuses a condition that reads a variable nothing sets: every bundled process deployed."""
    from engine import registry

    assert set(deployed) == set(registry.packages()) and len(deployed) >= 8


def test_the_edit_page_gives_the_panel_roles_services_fields_and_chinese_texts(client, users, deployed):
    client.force_login(users["admin"])
    response = client.get("/studio/child_protection/edit/")
    config = response.context["config"]["panel"]
    assert {"code": "worker", "label": "社工"} in config["roles"]
    assert "police.report" in config["services"]
    received = [f for f in config["fields"]["StartEvent_Report"] if f["key"] == "received_at"]
    assert received and received[0]["processVariable"] and received[0]["type"] == "datetime"
    assert config["formUrl"] == "/studio/child_protection/forms/{element}/"
    assert config["translations"]["Create start event"] == "创建开始事件"
    assert config["translations"]["Element is an implicit end"].startswith("元素没有流出连线")
    assert [u["label"] for u in config["timerUnits"]] == ["分钟", "小时", "天", "周", "个月"]
