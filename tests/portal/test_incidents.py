"""The incidents page (/studio/incidents/): administrators see every case that stopped with an error —
case, process, version, element (its name and id), message, since when — newest first, a page at a
time; they retry one (after fixing the cause) or cancel it with a reason. Each action is audited; a
second retry or cancel of a case already handled says so and changes nothing; a retry that fails again
keeps the case on the list with the new message. Everyone else is refused.

The failures are real: a service task whose operation raises, and a script that divides by zero."""
from __future__ import annotations

import re

import pytest
from django.contrib.messages import constants as levels
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from engine import api, registry, selectors
from engine.errors import InvalidState, NotPermitted
from engine.models import AuditEvent, ProcessInstance
from tests.conftest import make_user
from tests.engine import samples

pytestmark = pytest.mark.django_db

URL = "/studio/incidents/"
PARTNER = {"down": "partner office unreachable"}  # what the service does; a test "fixes the cause" by clearing it


def _partner(ctx, params):
    if PARTNER.get("down"):
        raise ConnectionError(PARTNER["down"])
    return {"ok": True}


@pytest.fixture
def failing(users):
    """start() -> the id of a new instance stopped at Service_1 ("call") by the partner's error."""
    PARTNER["down"] = "partner office unreachable"
    registry.register_service("test.incident_partner", _partner)
    samples.deploy(samples.service("incident_svc", "test.incident_partner"), users["admin"])

    def start():
        info = api.start_instance(process_key="incident_svc", data={}, actor=users["worker"])
        assert info.status == "error" and info.error_element == "Service_1"
        return info.id

    yield start
    PARTNER["down"] = "partner office unreachable"


@pytest.fixture
def admin_client(users):
    client = Client()
    client.force_login(users["admin"])
    return client


def queued(response) -> list[tuple[int, str]]:
    return [(m.level, str(m.message)) for m in getattr(response.wsgi_request, "_messages")._queued_messages]


def audit(instance_id) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(instance_id=instance_id).order_by("id").values_list("kind", "actor_name"))


def rows_on_page(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="incident" data-instance="(\d+)"', response.content.decode())]


def test_the_list_shows_what_stopped_where_and_since_when_newest_first(failing, admin_client, users):
    first = failing()
    samples.deploy(samples.script_task("incident_script", "x = 1 / 0"), users["admin"])
    second = api.start_instance(process_key="incident_script", data={}, actor=users["worker"]).id
    assert ProcessInstance.objects.get(pk=second).status == "error"
    api.start_instance(process_key="incident_script", data={}, actor=users["worker"])  # a third, to page past
    ProcessInstance.objects.filter(pk=first).update(subject="CP-2026-00077")

    page = selectors.incidents(users["admin"])
    assert page.total == 3 and [i.instance_id for i in page.incidents][1:] == [second, first]
    svc = page.incidents[2]
    assert (svc.process_key, svc.version, svc.element_id, svc.element_name) == ("incident_svc", 1, "Service_1", "call")
    assert "partner office unreachable" in svc.message and svc.since is not None and svc.subject == "CP-2026-00077"
    script = page.incidents[1]
    assert (script.element_id, script.element_name) == ("Script_1", "S") and "division" in script.message.lower()

    response = admin_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert rows_on_page(response) == [i.instance_id for i in page.incidents]
    for text in ("CP-2026-00077", "incident_svc", "Service_1", "call", "partner office unreachable", f"/cases/{first}/",
                 f"/studio/incidents/{first}/retry/", f"/studio/incidents/{first}/cancel/", 'name="csrfmiddlewaretoken"',
                 'maxlength="500"', "required"):
        assert text in body, text
    assert 'data-nav="incidents"' in body  # the header link, for administrators


def test_pages_of_incidents_cost_the_same_queries(failing, admin_client):
    for _ in range(3):
        failing()
    admin_client.get(URL)  # the diagram's element names are read once per version, then kept
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(URL).status_code == 200
    for _ in range(22):
        failing()
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(URL)
    assert len(rows_on_page(response)) == 20 and "?page=2" in response.content.decode()
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    second = admin_client.get(URL + "?page=2")
    assert len(rows_on_page(second)) == 5
    assert set(rows_on_page(second)).isdisjoint(rows_on_page(response))
    assert rows_on_page(admin_client.get(URL + "?page=999")) == rows_on_page(second)  # past the end: the last page
    assert admin_client.get(URL + "?page=abc").status_code == 200


def test_retry_after_the_cause_is_fixed_and_a_second_retry_says_so(failing, admin_client, users):
    instance_id = failing()
    PARTNER["down"] = ""  # the partner office is back
    response = admin_client.post(f"{URL}{instance_id}/retry/")
    assert response.status_code == 302 and response["Location"] == URL
    assert [level for level, _ in queued(response)] == [levels.SUCCESS]
    instance = ProcessInstance.objects.get(pk=instance_id)
    assert (instance.status, instance.error_message, instance.error_element) == ("running", "", "")
    assert [t.bpmn_id for t in api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).open_tasks] == ["Task_A"]
    retried = AuditEvent.objects.get(instance_id=instance_id, kind="retried")
    assert retried.actor == users["admin"] and retried.bpmn_id == "Service_1"
    assert "partner office unreachable" in retried.data["message"]
    assert instance_id not in rows_on_page(admin_client.get(URL))

    before = (audit(instance_id), ProcessInstance.objects.get(pk=instance_id).revision)
    again = admin_client.post(f"{URL}{instance_id}/retry/")  # the double submit
    assert again.status_code == 302
    assert [level for level, _ in queued(again)] == [levels.INFO] and str(instance_id) in queued(again)[0][1]
    assert (audit(instance_id), ProcessInstance.objects.get(pk=instance_id).revision) == before


def test_a_retry_that_fails_again_stays_on_the_list_with_the_new_message(failing, admin_client):
    instance_id = failing()
    PARTNER["down"] = "partner office still unreachable after the fix"
    response = admin_client.post(f"{URL}{instance_id}/retry/")
    assert response.status_code == 302
    assert [level for level, _ in queued(response)] == [levels.ERROR]
    assert "still unreachable" in queued(response)[0][1]
    instance = ProcessInstance.objects.get(pk=instance_id)
    assert instance.status == "error" and "still unreachable" in instance.error_message
    assert [kind for kind, _ in audit(instance_id)][-3:] == ["error", "retried", "error"]
    listed = admin_client.get(URL)
    assert instance_id in rows_on_page(listed) and "still unreachable" in listed.content.decode()


def test_cancel_needs_a_reason_and_a_second_cancel_says_so(failing, admin_client, users):
    instance_id = failing()
    before = audit(instance_id)
    for reason in ("", "   \n  ", "长" * 501):
        response = admin_client.post(f"{URL}{instance_id}/cancel/", {"reason": reason})
        assert response.status_code == 302 and [level for level, _ in queued(response)] == [levels.ERROR], reason
        assert ProcessInstance.objects.get(pk=instance_id).status == "error" and audit(instance_id) == before

    response = admin_client.post(f"{URL}{instance_id}/cancel/", {"reason": "  合作方停止服务，案件转线下处理  ", "page": "1"})
    assert response.status_code == 302 and [level for level, _ in queued(response)] == [levels.SUCCESS]
    assert ProcessInstance.objects.get(pk=instance_id).status == "cancelled"
    cancelled = AuditEvent.objects.get(instance_id=instance_id, kind="cancelled", task__isnull=True)
    assert cancelled.actor == users["admin"] and cancelled.data == {"reason": "合作方停止服务，案件转线下处理"}
    assert instance_id not in rows_on_page(admin_client.get(URL))

    before = audit(instance_id)
    again = admin_client.post(f"{URL}{instance_id}/cancel/", {"reason": "再点一次"})
    assert [level for level, _ in queued(again)] == [levels.INFO]
    assert audit(instance_id) == before
    retried = admin_client.post(f"{URL}{instance_id}/retry/")  # and a retry of the cancelled case
    assert [level for level, _ in queued(retried)] == [levels.INFO] and audit(instance_id) == before


def test_the_page_never_cancels_a_case_that_runs_again(failing, admin_client, users):
    """Another administrator retried it meanwhile: the stale cancel form must not stop a running case."""
    instance_id = failing()
    PARTNER["down"] = ""
    api.retry_instance(instance_id=instance_id, actor=users["admin"])
    response = admin_client.post(f"{URL}{instance_id}/cancel/", {"reason": "页面过期"})
    assert [level for level, _ in queued(response)] == [levels.INFO]
    assert ProcessInstance.objects.get(pk=instance_id).status == "running"
    with pytest.raises(InvalidState):
        api.retry_instance(instance_id=instance_id, actor=users["admin"])


@pytest.mark.parametrize("role", ["worker", "supervisor", "intake", "civil", "outsider", "applicant"])
def test_everyone_but_an_administrator_is_refused(failing, users, role):
    instance_id = failing()
    user = users.get(role) or make_user("applicant_x", "applicant", villages=None)
    client = Client()
    client.force_login(user)
    before = (audit(instance_id), ProcessInstance.objects.get(pk=instance_id).revision)
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}{instance_id}/retry/").status_code == 403
    assert client.post(f"{URL}{instance_id}/cancel/", {"reason": "不该我来取消"}).status_code == 403
    assert (audit(instance_id), ProcessInstance.objects.get(pk=instance_id).revision) == before
    assert 'data-nav="incidents"' not in client.get("/").content.decode()
    with pytest.raises(NotPermitted):
        selectors.incidents(user)


def test_anonymous_visitors_are_sent_to_sign_in_and_get_is_not_an_action(failing, admin_client):
    instance_id = failing()
    anonymous = Client()
    for response in (anonymous.get(URL), anonymous.post(f"{URL}{instance_id}/retry/"),
                     anonymous.post(f"{URL}{instance_id}/cancel/", {"reason": "x"})):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert admin_client.get(f"{URL}{instance_id}/retry/").status_code == 405
    assert admin_client.get(f"{URL}{instance_id}/cancel/").status_code == 405
    assert ProcessInstance.objects.get(pk=instance_id).status == "error"


def test_csrf_is_required_for_the_actions(failing, users):
    instance_id = failing()
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    assert client.post(f"{URL}{instance_id}/retry/").status_code == 403
    assert client.post(f"{URL}{instance_id}/cancel/", {"reason": "无令牌"}).status_code == 403
    assert ProcessInstance.objects.get(pk=instance_id).status == "error"


def test_unknown_case_is_a_message_not_a_crash(admin_client):
    response = admin_client.post(f"{URL}987654/retry/")
    assert response.status_code == 302 and [level for level, _ in queued(response)] == [levels.ERROR]
    response = admin_client.post(f"{URL}987654/cancel/", {"reason": "不存在"})
    assert response.status_code == 302 and [level for level, _ in queued(response)] == [levels.ERROR]
    assert admin_client.get(URL).status_code == 200
