"""A process is one folder. tests/extra_processes/home_visits is a fourth process that exists only
here: run with CASEFLOW_EXTRA_PROCESSES naming its parent, the project installs it, migrates its
records, routes its lanes to the role it brings, makes its demo user and demo case, shows its header
link and page in Chinese, and runs its hook and option list — and nothing outside the folder names
it. Then the guard that keeps code and diagram together: a hook whose element is renamed away."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRA = ROOT / "tests" / "extra_processes"

CHECKS = r"""
import json
import django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation

from engine import api, selectors
from engine.errors import FormInvalid
from home_visits_models import Visit

users = {u.username: u for u in get_user_model().objects.all()}
found = {"setting": settings.HOME_VISITS["longest_minutes"]}
visitor, supervisor, worker = users["visitor1"], users["supervisor"], users["worker"]

client = Client()
client.force_login(visitor)
inbox = client.get("/").content.decode()
found["visitor_sees_demo_task"] = "入户探访 (Visit)" in inbox or "入户探访" in inbox
found["nav_link_in_chinese"] = 'href="/home-visits/"' in inbox and "探访记录" in inbox
task = selectors.tasks_for_user(visitor)[0]
page = client.get(f"/tasks/{task.id}/").content.decode()
found["option_list_in_chinese"] = "例行探访" in page and "紧急探访" in page
with translation.override("zh-hans"):
    try:
        api.complete_task(task_id=task.id, data={"kind": "routine", "minutes": 999}, actor=visitor)
        found["implausible_refused"] = None
    except FormInvalid as exc:
        found["implausible_refused"] = [str(m) for m in exc.field_errors["minutes"]]
outcome = api.complete_task(task_id=task.id, data={"kind": "routine", "minutes": 35}, actor=visitor)
visit = Visit.objects.get(instance_id=outcome.instance_id)
found["hook_recorded"] = [visit.kind, visit.minutes, outcome.subject]
found["review_for_supervisor"] = [t.bpmn_id for t in selectors.tasks_for_user(supervisor)
                                  if t.instance_id == outcome.instance_id]
client.force_login(supervisor)
found["list_page"] = "已记录 1 次探访" in client.get("/home-visits/").content.decode()
client.force_login(worker)
found["worker_page_status"] = client.get("/home-visits/").status_code
found["worker_has_no_link"] = 'href="/home-visits/"' not in client.get("/").content.decode()
print(json.dumps(found, ensure_ascii=False))
""".replace("from home_visits_models import Visit", "from processes.home_visits.models import Visit")


def _run(args: list[str], env: dict) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_a_fourth_process_is_one_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(CASEFLOW_EXTRA_PROCESSES=str(EXTRA), CASEFLOW_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="portal.settings",
               CASEFLOW_INPROCESS_SWEEP_SECONDS="0", ALLOWED_HOSTS="testserver")
    _run(["manage.py", "migrate", "-v0"], env)  # runs the system checks too
    _run(["manage.py", "collectstatic", "--noinput", "-v0"], env)
    demo = _run(["manage.py", "demo"], env)
    assert "visitor1" in demo and "home_visits v1 (deployed)" in demo and "Demo home visits: 1 planned visit." in demo
    found = json.loads(_run(["-c", CHECKS], env).strip().splitlines()[-1])
    assert found == {
        "setting": 240,
        "visitor_sees_demo_task": True,
        "nav_link_in_chinese": True,
        "option_list_in_chinese": True,
        "implausible_refused": ["探访时长不合理。"],
        "hook_recorded": ["routine", 35, f"HV-{found['hook_recorded'][2][3:]}"],
        "review_for_supervisor": ["Task_Review"],
        "list_page": True,
        "worker_page_status": 403,
        "worker_has_no_link": True,
    }


def test_nothing_outside_the_folder_names_the_fourth_process():
    named = subprocess.run(["git", "grep", "-l", "home_visits", "--", ".", ":!tests/extra_processes", ":!tests/test_process_folder.py"],
                           cwd=ROOT, capture_output=True, text=True)
    assert named.stdout.split() == []


@pytest.fixture
def renamed_decision(tmp_path):
    """The micro-fund diagram and forms with the decision task renamed, as an admin might in the modeler."""
    from engine import registry

    package = registry.packages()["micro_fund"]
    xml = package.bpmn_path.read_text(encoding="utf-8").replace("Task_Decide", "Task_Decision")
    forms_dir = tmp_path / "forms"
    forms_dir.mkdir()
    for form in package.forms_dir.glob("*.json"):
        (forms_dir / form.name.replace("Task_Decide", "Task_Decision")).write_text(form.read_text(encoding="utf-8"), encoding="utf-8")
    bpmn = tmp_path / "micro_fund.bpmn"
    bpmn.write_text(xml, encoding="utf-8")
    return bpmn, forms_dir


@pytest.mark.django_db
def test_renaming_the_element_a_hook_needs_is_refused_at_deploy(renamed_decision, users):
    from engine import api
    from engine.errors import DefinitionInvalid

    bpmn, forms_dir = renamed_decision
    with pytest.raises(DefinitionInvalid) as refused:
        api.deploy_definition(bpmn_xml=bpmn.read_bytes(), forms_by_element=api.read_forms_dir(forms_dir), actor=users["admin"])
    assert [p.element_id for p in refused.value.problems] == ["Task_Decide"]


def test_the_system_check_names_the_missing_element_and_unknown_processes(renamed_decision, monkeypatch):
    from engine import checks, registry

    bpmn, forms_dir = renamed_decision
    monkeypatch.setitem(registry._packages, "micro_fund", registry.ProcessPackage("micro_fund", bpmn, forms_dir))
    monkeypatch.setitem(registry._start_hooks, "micro_fnd", [lambda ctx, data: None])
    errors = checks.bundled_processes_are_valid(None) + checks.process_code_names_known_processes(None)
    assert [(e.id, "Task_Decide" in e.msg or "'micro_fnd'" in e.msg) for e in errors] == [("caseflow.E001", True), ("caseflow.E003", True)]


def test_a_form_naming_an_option_list_nobody_provides_is_refused():
    from engine import forms

    form = {"components": [{"type": "select", "key": "kind", "label": "k", "properties": {"options_source": "visit_kinds"}}]}
    assert any("visit_kinds" in problem for problem in forms.check_form_definition(form))
    form["components"][0]["properties"]["options_source"] = "villages"
    assert forms.check_form_definition(form) == []
