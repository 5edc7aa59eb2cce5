"""Need-to-know access to minors' files, the facade's own read checks, the yearly audit, and the
append-only audit tables (ADR 0020; issue 11)."""
from __future__ import annotations

import datetime as dt
from io import BytesIO, StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from engine import api
from engine.errors import FormInvalid, InvalidState, NotFound, NotPermitted
from engine.models import AuditEvent
from engine.station import AccessLog, AccessRequest
from portal.notifications.models import Notification
from tests.conftest import is_postgres
from tests.minors import approve_access, give_reason
from tests.processes.child_protection.flows import complete, open_task, start_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(deployed, users):
    """A dongshan report: intake done by `intake`, the response waiting for dongshan's workers."""
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    return instance_id


# -- the facade checks its viewer on every read ---------------------------------------------------------

def test_every_read_of_the_facade_checks_its_viewer(users, case):
    respond = open_task(case, "Task_Respond")
    intake = next(t for t in api.submitted_forms(instance_id=case, viewer=api.SYSTEM) if t.bpmn_id == "Task_Intake")
    api.save_draft(task_id=respond, data={"risk_level": "high"}, actor=users["worker"])
    reads = {
        "get_instance": lambda v: api.get_instance(instance_id=case, viewer=v),
        "submitted_forms": lambda v: api.submitted_forms(instance_id=case, viewer=v),
        "diagram_state": lambda v: api.diagram_state(instance_id=case, viewer=v),
        "task_form": lambda v: api.task_form(task_id=respond, viewer=v),
        "task_draft": lambda v: api.task_draft(task_id=respond, viewer=v),
    }
    for name, read in reads.items():
        assert read(api.SYSTEM) is not None, name  # the engine's own reads
        with pytest.raises(NotPermitted):  # nobody signed in
            read(None)
        for stranger in ("worker_xishui", "outsider"):  # another village; a role the process does not know
            with pytest.raises(NotFound):
                read(users[stranger])
    assert api.get_instance(instance_id=case, viewer=users["worker"]).id == case
    assert [f.bpmn_id for f in api.submitted_forms(instance_id=case, viewer=users["supervisor"])] == [intake.bpmn_id]
    assert api.task_draft(task_id=respond, viewer=users["worker2"]) == {"risk_level": "high"}  # unclaimed: the role's
    with pytest.raises(NotPermitted):  # the supervisor may open the task, not read a worker's draft of it
        api.task_draft(task_id=respond, viewer=users["supervisor"])
    with pytest.raises(NotFound):  # a task id that does not exist reads the same as a stranger's
        api.task_form(task_id=respond + 10_000, viewer=users["worker"])


def _show(*args):
    out = StringIO()
    call_command("caseflow", "show", *map(str, args), stdout=out)
    return out.getvalue()


def test_cli_show_refuses_whoever_may_not_read_the_case(users, case):
    with pytest.raises(CommandError, match="does not exist"):
        _show(case, "--user", "worker_xishui")  # another village: not theirs
    with pytest.raises(CommandError, match="purpose and a reason"):
        _show(case, "--user", "worker")  # a holder, without a reason
    assert f"instance {case}" in _show(case, "--user", "worker", "--purpose", "casework", "--reason", "准备家访")
    with pytest.raises(CommandError, match="ask a supervisor"):
        _show(case, "--user", "admin", "--purpose", "support", "--reason", "排查")  # outside the holders: approval first
    approve_access(users["admin"], case, approver=users["supervisor"])
    assert f"instance {case}" in _show(case, "--user", "admin")
    logged = list(AccessLog.objects.filter(instance_id=case, view="cli").order_by("pk").values_list("user__username", "outcome", "purpose"))
    assert logged == [("worker", "granted", "casework"), ("admin", "refused", "support"), ("admin", "granted", "supervision")]


# -- the portal: reason, request, approval, expiry ----------------------------------------------------------

def test_holders_give_a_reason_once_a_day_others_need_an_approval_that_expires(client, users, case):
    # A holder (dongshan's workers: the response is in their inbox) is asked why, once per session-day.
    client.force_login(users["worker"])
    first = client.get(f"/cases/{case}/")
    assert first.status_code == 302 and first["Location"] == f"/cases/{case}/access/?next=/cases/{case}/"
    refused = client.post(f"/cases/{case}/access/", {"purpose": "", "reason": ""})
    assert refused.status_code == 400
    give_reason(client, case)
    assert client.get(f"/cases/{case}/").status_code == 200
    assert client.get(f"/cases/{case}/").status_code == 200  # not asked again today

    # The administrator is not a holder: the page sends them to ask; the attempt is logged as refused.
    client.force_login(users["admin"])
    assert client.get(f"/cases/{case}/")["Location"].startswith(f"/cases/{case}/access/")
    assert AccessLog.objects.filter(user=users["admin"], instance_id=case, outcome="refused").count() == 1
    asked = client.post(f"/cases/{case}/access/", {"purpose": "support", "reason": "核对系统报错"})
    assert asked.status_code == 302
    request = AccessRequest.objects.get(user=users["admin"], instance_id=case)
    assert request.status == "pending"
    assert client.get(f"/cases/{case}/")["Location"].startswith(f"/cases/{case}/access/")  # still waiting
    assert Notification.objects.filter(user=users["supervisor"], kind="access_request", instance_id=case).count() == 1

    # The supervisor sees it and approves with a note; the requester is told and may open the case.
    client.force_login(users["supervisor"])
    page = client.get("/access/requests/").content.decode()
    assert f'data-request="{request.pk}"' in page and "核对系统报错" in page
    assert client.post(f"/access/requests/{request.pk}/decide/", {"decision": "refuse", "note": ""}).status_code == 302
    assert AccessRequest.objects.get(pk=request.pk).status == "pending"  # refusing needs a note
    client.post(f"/access/requests/{request.pk}/decide/", {"decision": "approve", "note": "限当日"})
    assert AccessRequest.objects.get(pk=request.pk).status == "approved"
    assert Notification.objects.filter(user=users["admin"], kind="access_decided").exists()
    client.force_login(users["admin"])
    assert client.get(f"/cases/{case}/").status_code == 200
    read = AccessLog.objects.filter(user=users["admin"], instance_id=case, outcome="granted").get()
    assert (read.approval_id, read.purpose, read.reason) == (request.pk, "support", "核对系统报错")

    # 24 hours later the approval has lapsed.
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        client.force_login(users["admin"])  # (the session itself ended after 8 hours: sign in again)
        assert client.get(f"/cases/{case}/")["Location"].startswith(f"/cases/{case}/access/")


def test_refused_requests_and_who_may_decide(client, users, case):
    request = api.request_access(instance_id=case, actor=users["admin"], purpose="support", reason="排查")
    with pytest.raises(NotFound):  # not a supervisor of the village
        api.decide_access(request_id=request.id, actor=users["worker"], approve=True)
    with pytest.raises(NotFound):  # the administrator approves nothing, least of all their own request
        api.decide_access(request_id=request.id, actor=users["admin"], approve=True)
    with pytest.raises(FormInvalid):
        api.decide_access(request_id=request.id, actor=users["supervisor"], approve=False)
    api.decide_access(request_id=request.id, actor=users["supervisor"], approve=False, note="无需查看个案")
    with pytest.raises(InvalidState):  # decided once
        api.decide_access(request_id=request.id, actor=users["supervisor"], approve=True)
    client.force_login(users["admin"])
    page = client.get(f"/cases/{case}/", follow=True).content.decode()
    assert "无需查看个案" in page  # the refusal and its note, on the request page
    with pytest.raises(InvalidState):  # a holder gives a reason instead of asking
        api.request_access(instance_id=case, actor=users["worker"], purpose="casework", reason="家访")
    with pytest.raises(NotFound):  # nobody asks for a case they may not see at all
        api.request_access(instance_id=case, actor=users["worker_xishui"], purpose="cover", reason="顶岗")
    client.force_login(users["worker"])
    assert client.get("/access/requests/").status_code == 404  # the requests page is the supervisors'


def test_task_pages_of_a_minors_file_need_the_same_approval_outside_the_holders(client, users, case):
    respond = open_task(case, "Task_Respond")
    client.force_login(users["worker"])
    assert client.get(f"/tasks/{respond}/").status_code == 200  # the task is the reason
    assert AccessLog.objects.filter(user=users["worker"], view="task", purpose="own_task").exists()
    client.force_login(users["admin"])
    assert client.get(f"/tasks/{respond}/")["Location"].startswith(f"/cases/{case}/access/")
    approve_access(users["admin"], case, approver=users["supervisor"])
    assert client.get(f"/tasks/{respond}/").status_code == 200


# -- the yearly audit -----------------------------------------------------------------------------------------

def test_the_yearly_audit_lists_a_planted_access_with_its_reason_and_approver(client, users, case):
    approve_access(users["admin"], case, approver=users["supervisor"], reason="=HYPERLINK(\"http://x\",\"看\")")
    client.force_login(users["admin"])
    client.get(f"/cases/{case}/")
    year = timezone.localdate().year
    for reader in ("admin", "civil"):
        client.force_login(users[reader])
        page = client.get(f"/audit/minors/?year={year}").content.decode()
        assert f'data-user="admin" data-instance="{case}"' in page and users["supervisor"].first_name in page
    for other in ("worker", "supervisor", "intake"):
        client.force_login(users[other])
        assert client.get("/audit/minors/").status_code == 404
        assert client.get("/audit/minors/export.xlsx").status_code == 404
    client.force_login(users["civil"])
    response = client.get(f"/audit/minors/export.xlsx?year={year}")
    from openpyxl import load_workbook

    book = load_workbook(BytesIO(response.content))
    sheet = book.worksheets[0]  # the reads (its title is in the reader's language)
    rows = list(sheet.iter_rows(values_only=True))
    planted = next(r for r in rows[1:] if r[1] == "admin" and r[9])  # the opening under the approval
    assert planted[8].startswith("=HYPERLINK") and planted[9]  # the reason, and who approved it
    cell = next(c for c in sheet["I"] if isinstance(c.value, str) and c.value.startswith("="))
    assert cell.data_type == "s" and cell.quotePrefix  # text, never a formula
    assert AccessLog.objects.filter(user=users["civil"], view="minors_audit_xlsx").exists()  # the export is recorded


# -- append-only audit tables -----------------------------------------------------------------------------------

def _refused(statement):
    with pytest.raises((DatabaseError, ValueError)) as caught:
        with transaction.atomic():
            statement()
    return caught.value


def test_the_audit_tables_refuse_update_and_delete_in_the_database(users, case):
    client_log = AccessLog.objects.create(user=users["worker"], instance_id=case, process_key="child_protection", view="case")
    event = AuditEvent.objects.filter(instance_id=case).first()
    for model, row in ((AuditEvent, event), (AccessLog, client_log)):
        table = connection.ops.quote_name(model._meta.db_table)
        # The ORM refuses first (ValueError); a plain queryset that skips the ORM's guard meets the trigger.
        assert isinstance(_refused(lambda: model.objects.filter(pk=row.pk).update(actor_name="x") if model is AuditEvent
                                   else model.objects.filter(pk=row.pk).update(view="x")), ValueError)
        column = "actor_name" if model is AuditEvent else "view"
        error = _refused(lambda: QuerySet(model).filter(pk=row.pk).update(**{column: "tampered"}))
        assert "append-only" in str(error)
        with connection.cursor() as cursor:
            error = _refused(lambda: cursor.execute(f"UPDATE {table} SET {column} = 'tampered' WHERE id = %s", [row.pk]))
        assert "append-only" in str(error)
        if is_postgres():  # SQLite's trigger refuses UPDATE only (the test runner empties tables with DELETE)
            with connection.cursor() as cursor:
                error = _refused(lambda: cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row.pk]))
            assert "append-only" in str(error)
        assert model.objects.filter(pk=row.pk).exclude(**{column: "tampered"}).exists()


# -- row history (django-pghistory) --------------------------------------------------------------------------

@pytest.mark.postgres
def test_row_history_of_a_case_record_is_kept_and_shown_to_administrators(client, users, case):
    from processes.child_protection.models import ChildProtectionCase

    record = ChildProtectionCase.objects.get(instance_id=case)
    ChildProtectionCase.objects.filter(pk=record.pk).update(risk_level="high")
    client.force_login(users["admin"])
    page = client.get(f"/audit/history/?model=child_protection.childprotectioncase&obj={record.pk}").content.decode()
    labels = [line for line in page.split('data-label="')[1:]]
    assert [label.split('"')[0] for label in labels][:3] == ["update", "update", "insert"]  # risk level, intake, report
    with connection.cursor() as cursor:  # the history itself is append-only
        error = _refused(lambda: cursor.execute("UPDATE child_protection_childprotectioncaseevent SET risk_level = 'low'"))
    assert error is not None
    for other in ("supervisor", "civil", "worker"):
        client.force_login(users[other])
        assert client.get("/audit/history/").status_code == 404
