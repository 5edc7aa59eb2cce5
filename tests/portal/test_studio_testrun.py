"""The studio's test run page (/studio/<key>/test/, ADR 0016) through Django's test client: start the
draft with a start form rendered like the portal's, complete a task with sample data, move the clock,
see the log, restart; a draft saved after the run began is flagged; bad sample data is refused per
field with the typed data kept, never a 500; and nothing of a real case is written. Who may reach the
pages is in the access matrix."""
from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from lxml import html as lxml_html

from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance, Timer
from portal.notifications.models import Notification
from portal.studio.models import Draft, TestRun
from tests.processes.child_protection import flows as cp

pytestmark = pytest.mark.django_db

CP = "child_protection"
URL = f"/studio/{CP}/test/"


@pytest.fixture
def admin(client, users, deployed):
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _counts() -> dict:
    return {m.__name__: m.objects.count() for m in (ProcessInstance, HumanTask, Timer, AuditEvent, OutboxMessage, Notification)}


def _started(admin):
    response = admin.post(f"{URL}start/", cp.START)
    assert response.status_code == 302, response.content.decode()[:2000]
    return TestRun.objects.get()


def _task_url(admin, bpmn_id: str) -> str:
    doc = lxml_html.fromstring(admin.get(URL).content)
    return doc.xpath(f'//li[@data-task="{bpmn_id}"]/a/@href')[0]


def _intake(**changes) -> dict:
    data = {**cp.FORMS["Task_Intake"], **changes}
    data["present_danger"] = "on" if data.get("present_danger") else ""
    if not data["present_danger"]:
        data.pop("present_danger")
    return data


def test_a_run_from_start_to_the_supervisor_escalation(admin):
    before = _counts()
    page = admin.get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="received_at"' in text and 'name="village"' in text and "csrfmiddlewaretoken" in text
    run = _started(admin)
    assert run.draft_revision == Draft.objects.get(key=CP).revision
    task_url = _task_url(admin, "Task_Intake")
    form = admin.get(task_url)
    assert form.status_code == 200 and 'name="child_name"' in form.content.decode()
    assert admin.post(task_url, _intake()).status_code == 302
    text = admin.get(URL).content.decode()
    assert "police.report" in text and "Would call the service" in text
    assert 'data-task="Task_Respond"' in text and 'data-task="Task_PoliceReceipt"' in text
    assert admin.post(f"{URL}clock/", {"hours": "25"}).status_code == 302
    text = admin.get(URL).content.decode()
    assert 'data-task="Task_SupervisorEscalation"' in text and "Timer “24小时未响应” fired" in text
    diagram = admin.get(f"{URL}diagram/").json()
    assert "Task_Intake" in diagram["completed"] and "Task_SupervisorEscalation" in diagram["active"]
    assert _counts() == before


def test_the_edit_page_links_to_the_test_run(admin):
    assert f'href="{URL}"' in admin.get(f"/studio/{CP}/edit/").content.decode()


def test_a_draft_saved_after_the_run_began_is_flagged_until_restart(admin, users):
    _started(admin)
    assert 'data-testid="stale"' not in admin.get(URL).content.decode()
    draft = Draft.objects.get(key=CP)
    draft.revision += 1
    draft.save()
    assert "The draft changed since this run started" in admin.get(URL).content.decode()
    assert admin.post(f"{URL}restart/").status_code == 302
    assert not TestRun.objects.exists()
    _started(admin)
    assert 'data-testid="stale"' not in admin.get(URL).content.decode()


def test_runs_are_per_administrator(admin, users):
    from tests.conftest import make_user

    _started(admin)
    other = Client()
    other.force_login(make_user("admin2", "admin", villages=None))
    other.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert 'data-testid="start-run"' in other.get(URL).content.decode()


@pytest.mark.parametrize("changes, field", [
    ({"child_name": ""}, "child_name"),
    ({"child_name": "x" * 100_000}, "child_name"),
    ({"reporter_phone": "<script>alert(1)</script>"}, "reporter_phone"),
    ({"dob": "-5"}, "dob"),
    ({"sex": "<b>"}, "sex"),
])
def test_bad_sample_data_is_refused_per_field_with_the_typed_data_kept(admin, changes, field):
    _started(admin)
    task_url = _task_url(admin, "Task_Intake")
    response = admin.post(task_url, _intake(**changes))
    assert response.status_code == 400
    doc = lxml_html.fromstring(response.content)
    assert doc.xpath(f'//div[@data-field="{field}"]//p[@class="error"]')
    assert doc.xpath('//input[@name="reporter_name"]/@value') == [cp.FORMS["Task_Intake"]["reporter_name"]]
    assert "<script>alert" not in response.content.decode()


@pytest.mark.parametrize("data", [{}, {"village": "<x>", "received_at": "yesterday"}, {"received_at": "2999-01-01T00:00"}])
def test_a_bad_start_form_is_refused_per_field(admin, data):
    response = admin.post(f"{URL}start/", data)
    assert response.status_code == 400
    assert lxml_html.fromstring(response.content).xpath('//p[@class="error"]')
    assert not TestRun.objects.exists()


@pytest.mark.parametrize("post", [{"hours": "-5"}, {"hours": "0"}, {"amount": "1e9"}, {"amount": "<script>"}, {"amount": ""},
                                  {"amount": "NaN"}, {"amount": "Infinity"}, {"hours": "99999999999999999999999"}])
def test_a_bad_jump_is_refused_with_a_message(admin, post):
    run = _started(admin)
    response = admin.post(f"{URL}clock/", post, follow=True)
    assert response.status_code == 200 and "Give a number of hours" in response.content.decode()
    run.refresh_from_db()
    assert not [e for e in run.state["log"] if e["kind"] == "clock"]


def test_a_custom_jump_in_days(admin):
    run = _started(admin)
    admin.post(f"{URL}clock/", {"amount": "2.5", "unit": "days"})
    run.refresh_from_db()
    assert [e["hours"] for e in run.state["log"] if e["kind"] == "clock"] == [60]


def test_actions_are_post_only_and_an_unknown_task_is_no_500(admin):
    _started(admin)
    for url in (f"{URL}start/", f"{URL}restart/", f"{URL}clock/"):
        assert admin.get(url).status_code == 405
    response = admin.get(f"{URL}tasks/00000000-0000-0000-0000-000000000000/", follow=True)
    assert response.status_code == 200 and "no longer open" in response.content.decode()


def test_a_draft_that_cannot_deploy_shows_its_problems(admin):
    xml = Draft.objects.filter(key=CP).first()
    admin.get(f"/studio/{CP}/edit/")
    draft = Draft.objects.get(key=CP)
    draft.bpmn_xml = re.sub(r"present_danger == True", "__import__('os')", draft.bpmn_xml)
    draft.save()
    response = admin.get(URL)
    assert response.status_code == 200 and 'data-testid="problems"' in response.content.decode()
    assert admin.post(f"{URL}start/", cp.START).status_code == 400
    assert xml is None or True
