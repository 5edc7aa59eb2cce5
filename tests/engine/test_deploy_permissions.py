"""Only administrators deploy: through the facade and through `manage.py caseflow deploy` alike. The
system itself (actor None: `manage.py demo`, the fixtures, `deploy-bundled` without --user) still
deploys. Every deploy is audited; a refused one leaves nothing behind."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from engine import api
from engine.errors import NotPermitted
from engine.models import AuditEvent, ProcessDefinition
from tests.conftest import make_user

from . import samples

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "processes" / "bpmn" / "child_protection.bpmn"


@pytest.fixture
def outsiders(users):
    """Every role but the administrator's, as people of the station hold them."""
    return {
        "applicant": make_user("applicant_org", "applicant", villages=None),
        "worker": users["worker"],
        "supervisor": users["supervisor"],
        "intake": users["intake"],
        "reviewer": users["outsider"],
        "no role": make_user("nobody", villages=None),
    }


@pytest.mark.parametrize("who", ["applicant", "worker", "supervisor", "intake", "reviewer", "no role"])
def test_only_an_administrator_deploys_through_the_facade(outsiders, users, who):
    actor = outsiders[who]
    for deploy in (
        lambda: samples.deploy(samples.user_loop("refused_loop"), actor),
        lambda: api.deploy_file(bpmn_path=BUNDLED, actor=actor),
        lambda: api.deploy_bundled(actor=actor),
    ):
        with pytest.raises(NotPermitted, match="Only an administrator may deploy"):
            deploy()
    assert not ProcessDefinition.objects.exists()
    assert not AuditEvent.objects.filter(kind="deployed").exists()


def test_an_inactive_administrator_is_refused(users):
    admin = users["admin"]
    admin.is_active = False
    admin.save()
    with pytest.raises(NotPermitted):
        samples.deploy(samples.user_loop("inactive_loop"), admin)
    assert not ProcessDefinition.objects.exists()


def test_an_administrator_deploys_and_the_deploy_is_audited(users):
    info = samples.deploy(samples.user_loop("admin_loop"), users["admin"])
    assert info.created and info.version == 1
    event = AuditEvent.objects.get(kind="deployed", definition_id=info.id)
    assert event.actor == users["admin"] and event.data["key"] == "admin_loop"


def test_the_system_still_deploys(users):
    """actor=None: the start-up deploy of the bundled processes, `manage.py demo`, fixtures."""
    infos = api.deploy_bundled(actor=None)
    assert {i.key for i in infos} >= {"child_protection", "micro_fund", "needs_matching"}
    assert AuditEvent.objects.filter(kind="deployed", actor=None, actor_name="system").count() == len(infos)


@pytest.mark.parametrize("who", ["applicant_org", "worker", "supervisor"])
def test_the_command_line_refuses_a_non_administrator_with_a_sentence(outsiders, who):
    for args in (["deploy", str(BUNDLED), "--user", who], ["deploy-bundled", "--user", who]):
        with pytest.raises(CommandError, match="Only an administrator may deploy a process"):
            call_command("caseflow", *args)
    assert not ProcessDefinition.objects.exists()


def test_the_command_line_deploys_for_an_administrator_and_for_the_system(users, capsys):
    call_command("caseflow", "deploy", str(BUNDLED), "--user", "admin", "--json")
    assert json.loads(capsys.readouterr().out)["key"] == "child_protection"
    call_command("caseflow", "deploy-bundled")  # no --user: the system, as on a fresh installation
    assert set(ProcessDefinition.objects.values_list("key", flat=True)) >= {"child_protection", "micro_fund", "needs_matching"}
    assert AuditEvent.objects.get(kind="deployed", definition__key="child_protection").actor == users["admin"]


@pytest.mark.slow
def test_manage_py_refuses_an_applicant_without_a_traceback(tmp_path):
    """The real command in its own process, as the operator who found the hole ran it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}", "SECRET_KEY": "cli-test",
           "CASEFLOW_VAR_DIR": str(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)

    assert run("migrate", "-v0").returncode == 0
    assert run("seed_demo").returncode == 0
    refused = run("caseflow", "deploy", str(BUNDLED), "--user", "app_dongshan")
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert "只有管理员可以部署流程" in refused.stderr or "Only an administrator may deploy" in refused.stderr, refused.stderr
    allowed = run("caseflow", "deploy", str(BUNDLED), "--user", "admin")
    assert allowed.returncode == 0, allowed.stderr
    assert "child_protection" in allowed.stdout
