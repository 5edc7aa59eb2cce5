"""The portal's pages through Django's test client: permissions on every view, inbox queries,
server-side form validation, drafts, the "already completed" page, shares, language, notifications."""
import datetime as dt
import re

import pytest
import time_machine
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.db import connection

from engine import api
from engine.models import AuditEvent, HumanTask
from engine.station import AccessLog
from portal.cases.models import Attachment
from portal.notifications.models import Notification
from tests.conftest import PASSWORD
from tests.engine import samples
from tests.minors import approve_access, give_reason
from tests.processes.child_protection.flows import FORMS, START, complete, open_task, start_case

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def case(deployed, users):
    """A dongshan report whose 24-hour response is waiting for a worker."""
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    return instance_id


def test_pages_need_sign_in(client, case):
    for url in ["/", f"/cases/{case}/", "/start/", "/notifications/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_sign_in_page_is_chinese_by_default_and_works(client, users):
    page = client.get("/accounts/login/")
    assert 'lang="zh-hans"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "worker", "password": PASSWORD})
    assert response.status_code == 302


def test_inbox_tabs_show_the_right_tasks(client, users, case):
    login(client, users["worker"])
    respond = open_task(case, "Task_Respond")
    assert f"/tasks/{respond}/" in client.get("/?tab=group").content.decode()
    assert f"/tasks/{respond}/" not in client.get("/?tab=mine").content.decode()
    api.claim_task(task_id=respond, actor=users["worker"])
    assert f"/tasks/{respond}/" in client.get("/?tab=mine").content.decode()
    assert f"/tasks/{respond}/" not in client.get("/?tab=group").content.decode()
    HumanTask.objects.filter(pk=respond).update(due_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    overdue = client.get("/?tab=overdue").content.decode()
    assert f"/tasks/{respond}/" in overdue and 'data-sla="red"' in overdue


def test_inbox_and_timeline_give_the_year_of_a_moment_outside_this_one(client, users, case):
    """"12-28 10:00" read in January passes for a task of the coming December: a moment of another
    year than the station's present one shows its year; one of this year does not need it."""
    login(client, users["worker"])
    give_reason(client, case)
    created = timezone.localtime(HumanTask.objects.get(pk=open_task(case, "Task_Respond")).created_at)
    opened = timezone.localtime(AuditEvent.objects.filter(instance_id=case).earliest("at").at)
    inbox, timeline = client.get("/?tab=group").content.decode(), client.get(f"/cases/{case}/").content.decode()
    assert created.strftime("%m-%d %H:%M") in inbox and created.strftime("%Y-%m-%d %H:%M") not in inbox
    assert opened.strftime("%m-%d %H:%M") in timeline and opened.strftime("%Y-%m-%d %H:%M") not in timeline
    with time_machine.travel(created + dt.timedelta(days=366)):
        login(client, users["worker"])  # a year on, the session has ended
        give_reason(client, case)  # and a reason holds for the day it was given
        inbox, timeline = client.get("/?tab=group").content.decode(), client.get(f"/cases/{case}/").content.decode()
    assert created.strftime("%Y-%m-%d %H:%M") in inbox
    assert opened.strftime("%Y-%m-%d %H:%M") in timeline


def test_inbox_shows_nothing_of_another_village(client, users, case):
    login(client, users["worker_xishui"])
    for tab in ["mine", "group", "overdue", "done"]:
        assert "/tasks/" not in client.get(f"/?tab={tab}").content.decode()


def test_inbox_query_count_is_fixed_per_page(client, users, deployed):
    for _ in range(3):
        complete(users, start_case(users), "Task_Intake")
    login(client, users["worker"])
    client.get("/?tab=group")  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get("/?tab=group")
    for _ in range(8):
        complete(users, start_case(users), "Task_Intake")
    with CaptureQueriesContext(connection) as many:
        page = client.get("/?tab=group")
    assert page.content.decode().count('class="task"') == 11
    assert len(many) == len(few)


def test_the_task_page_reads_its_task_and_the_viewers_rights_once(client, users, case):
    """The task page asked for its task row twelve times and for the viewer's rights on the case four
    times (35 queries); inside one page each is read once (engine/selectors/memo.py)."""
    respond = open_task(case, "Task_Respond")
    login(client, users["worker"])
    client.get(f"/tasks/{respond}/")  # warm the session and the catalog
    with CaptureQueriesContext(connection) as page:
        response = client.get(f"/tasks/{respond}/")
    assert response.status_code == 200 and "task-form" in response.content.decode()
    task_reads = [q["sql"] for q in page.captured_queries  # selectors.task_row: the row, its people and its case
                  if q["sql"].startswith('SELECT "engine_humantask"."id"') and q["sql"].endswith(f'"engine_humantask"."id" = {respond} LIMIT 21')]
    assert len(task_reads) == 1, task_reads
    assert len(page) <= 23, [q["sql"][:120] for q in page.captured_queries]


def test_a_page_remembers_a_refusal_and_nothing_outlives_it(users, case):
    from engine import selectors
    from engine.errors import NotFound

    respond = open_task(case, "Task_Respond")
    outsider = users["worker_xishui"]
    with pytest.raises(NotFound):
        selectors.task_for_user(outsider, respond)  # the outsider's roles and villages, read once for the user
    with CaptureQueriesContext(connection) as outside:
        selectors.task_row(respond)
        selectors.task_row(respond)
    with selectors.one_page(), CaptureQueriesContext(connection) as inside:
        assert selectors.task_row(respond).pk == respond
        assert selectors.task_row(respond).pk == respond
        for _ in range(2):
            with pytest.raises(NotFound):
                selectors.task_for_user(outsider, respond)
    assert len(outside) == 2 and len(inside) == 2  # one read of the row, one of the outsider's rights
    HumanTask.objects.filter(pk=respond).update(name="改过的名字")
    with selectors.one_page():
        assert selectors.task_row(respond).name == "改过的名字"  # a new page reads again


def test_inbox_filters_and_htmx_partial(client, users, case):
    login(client, users["worker"])
    assert "/tasks/" in client.get("/?tab=group&village=dongshan&process=child_protection").content.decode()
    assert "/tasks/" not in client.get("/?tab=group&village=xishui").content.decode()
    partial = client.get("/?tab=group", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="task-rows").content.decode()
    assert "<html" not in partial and "/tasks/" in partial
    assert client.get("/?tab=nonsense&page=-3&sla=x").status_code == 200


def test_task_page_of_another_village_is_404_including_by_guessing(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["worker_xishui"])
    for url in [f"/tasks/{respond}/", f"/cases/{case}/", f"/cases/{case}/diagram/", "/tasks/999999/", "/cases/999999/"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert FORMS["Task_Intake"]["child_name"] not in response.content.decode()
    assert client.post(f"/tasks/{respond}/", {"_action": "complete"}).status_code == 404
    assert client.post(f"/tasks/{respond}/claim/").status_code == 404
    assert HumanTask.objects.get(pk=respond).status == "open"


def test_invalid_form_shows_errors_next_to_fields_and_keeps_input(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["worker"])
    response = client.post(f"/tasks/{respond}/", {"_action": "complete", "response_type": "home_visit", "actions_taken": "已电话联系"})
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'data-field="responded_at".*?class="error"', html, re.S)
    assert re.search(r'data-field="immediate_safety".*?class="error"', html, re.S)
    assert "已电话联系" in html  # nothing the worker typed is lost
    assert HumanTask.objects.get(pk=respond).status == "open"


def test_valid_form_completes_and_moves_on(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["worker"])
    data = {**FORMS["Task_Respond"], "_action": "complete", "child_seen": "on"}
    response = client.post(f"/tasks/{respond}/", data)
    assert response.status_code == 302
    assert HumanTask.objects.get(pk=respond).status == "completed"
    assert HumanTask.objects.get(pk=respond).form_data["child_seen"] is True


def test_draft_is_kept_without_validation(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["worker"])
    assert client.post(f"/tasks/{respond}/", {"_action": "draft", "actions_taken": "草稿：已联系祖母"}).status_code == 302
    assert "草稿：已联系祖母" in client.get(f"/tasks/{respond}/").content.decode()
    assert HumanTask.objects.get(pk=respond).status == "open"


def test_task_completed_meanwhile_answers_a_clear_page(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["worker"])
    client.get(f"/tasks/{respond}/")
    api.complete_task(task_id=respond, data=FORMS["Task_Respond"], actor=users["worker2"])
    response = client.post(f"/tasks/{respond}/", {**FORMS["Task_Respond"], "_action": "complete"})
    assert response.status_code == 409
    assert 'data-testid="task-gone"' in response.content.decode()


def test_claim_release_and_supervisor_reassign_with_reason(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["worker"])
    client.post(f"/tasks/{respond}/claim/")
    assert HumanTask.objects.get(pk=respond).assignee == users["worker"]
    client.post(f"/tasks/{respond}/release/", {"reason": "外出培训"})
    assert HumanTask.objects.get(pk=respond).assignee is None
    client.post(f"/tasks/{respond}/assign/", {"assignee": "worker2", "reason": "x"})
    assert HumanTask.objects.get(pk=respond).assignee is None  # workers may not assign
    login(client, users["supervisor"])
    client.post(f"/tasks/{respond}/assign/", {"assignee": "worker2", "reason": "就近安排"})
    assert HumanTask.objects.get(pk=respond).assignee == users["worker2"]
    history = api.get_instance(instance_id=case, viewer=api.SYSTEM).history
    assert any(e.kind == "assigned" and e.data.get("reason") == "就近安排" for e in history)
    assert any(e.kind == "released" and e.data.get("reason") == "外出培训" for e in history)


def test_case_page_shows_diagram_timeline_and_logs_the_access(client, users, case):
    login(client, users["worker"])
    give_reason(client, case)
    html = client.get(f"/cases/{case}/").content.decode()
    assert 'id="diagram"' in html and f"CP-{timezone.localdate().year}-" in html
    diagram = client.get(f"/cases/{case}/diagram/").json()
    assert "<bpmn:definitions" in diagram["xml"] or "definitions" in diagram["xml"]
    assert "Task_Intake" in diagram["completed"] and "Task_Respond" in diagram["active"]
    log = AccessLog.objects.get(user=users["worker"], instance_id=case, view="case")
    assert (log.outcome, log.purpose, log.reason, log.approval_id) == ("granted", "casework", "家访前查看个案记录", None)


def test_start_page_only_for_roles_that_start(client, users, deployed):
    login(client, users["worker"])
    assert client.get("/start/child_protection/").status_code == 404
    login(client, users["intake"])
    bad = client.post("/start/child_protection/", {"village": "dongshan", "channel": "phone"})
    assert bad.status_code == 400 and "error" in bad.content.decode()
    good = client.post("/start/child_protection/", START)
    assert good.status_code == 302 and "/tasks/" in good["Location"]


def test_supervisor_shares_a_case_only_with_staff_of_its_process(client, users, case):
    """A case may be shared with a colleague of a role the process involves (a worker of another
    village, covering), never with an applicant organisation, a reviewer or an outside office."""
    login(client, users["supervisor"])
    give_reason(client, case)
    page = client.get(f"/cases/{case}/").content.decode()
    assert 'value="worker_xishui"' in page and 'value="outsider"' not in page  # the choice offered
    client.post(f"/cases/{case}/share/", {"username": "outsider"})
    login(client, users["outsider"])
    assert client.get(f"/cases/{case}/").status_code == 404
    login(client, users["worker_xishui"])
    assert client.get(f"/cases/{case}/").status_code == 404
    login(client, users["supervisor"])
    client.post(f"/cases/{case}/share/", {"username": "worker_xishui"})
    login(client, users["worker_xishui"])
    # Shared, so no longer "not yours" (404) — but a colleague outside the case's holders still needs
    # a supervisor's approval to read a minor's file (ADR 0020).
    assert client.get(f"/cases/{case}/")["Location"].startswith(f"/cases/{case}/access/")
    approve_access(users["worker_xishui"], case, approver=users["supervisor"])
    assert client.get(f"/cases/{case}/").status_code == 200


def test_language_is_switchable_per_user(client, users, case):
    login(client, users["worker"])
    assert 'lang="zh-hans"' in client.get("/").content.decode()
    client.post("/language/", {"language": "en", "next": "/"})
    page = client.get("/").content.decode()
    assert 'lang="en"' in page and "My tasks" in page
    client.post("/language/", {"language": "klingon", "next": "https://evil.example/"})
    assert 'lang="zh-hans"' in client.get("/").content.decode()


def test_new_tasks_and_breaches_notify_the_right_people(client, users, case):
    respond = open_task(case, "Task_Respond")
    assert Notification.objects.filter(user=users["worker"], kind="new_task", task_id=respond).exists()
    assert not Notification.objects.filter(user=users["worker_xishui"]).exists()
    created = HumanTask.objects.get(pk=respond).created_at
    api.fire_due_timers(as_of=created + dt.timedelta(hours=25))
    assert Notification.objects.filter(user=users["supervisor"], kind="breached", task_id=respond).count() == 1
    login(client, users["supervisor"])
    assert 'class="badge"' in client.get("/").content.decode()
    client.get("/notifications/")
    assert not Notification.objects.filter(user=users["supervisor"], read_at__isnull=True).exists()


def test_due_soon_warning_is_sent_once(users, case):
    respond = open_task(case, "Task_Respond")
    now = dt.datetime.now(dt.timezone.utc)
    HumanTask.objects.filter(pk=respond).update(created_at=now - dt.timedelta(hours=9), due_at=now + dt.timedelta(hours=1))
    assert api.warn_before_deadlines() >= 2  # 50 % and 80 %
    assert api.warn_before_deadlines() == 0
    assert Notification.objects.filter(user=users["worker"], kind="due_soon", task_id=respond).count() == 2


def test_attachments_are_stored_and_only_visible_with_the_case(client, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    xml, forms = samples.script_task("with_files", "x = 1")
    forms["Task_A"]["components"].append({"type": "filepicker", "key": "photos", "label": "照片"})
    samples.deploy((xml, forms), users["admin"])
    info = api.start_instance(process_key="with_files", data={}, actor=users["worker"])
    task_id = info.open_tasks[0].id
    login(client, users["worker"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.pictures import picture

    png = SimpleUploadedFile("visit.png", picture("PNG"), content_type="image/png")
    response = client.post(f"/tasks/{task_id}/", {"_action": "complete", "note": "家访", "photos": png})
    assert response.status_code == 302, response.content.decode()[:500]
    attachment = Attachment.objects.get()
    assert HumanTask.objects.get(pk=task_id).form_data["photos"] == [attachment.token]
    assert client.get(f"/files/{attachment.token}/").status_code == 200
    login(client, users["outsider"])
    assert client.get(f"/files/{attachment.token}/").status_code == 404
    exe = SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload")
    info2 = api.start_instance(process_key="with_files", data={}, actor=users["worker"])
    login(client, users["worker"])
    refused = client.post(f"/tasks/{info2.open_tasks[0].id}/", {"_action": "complete", "note": "保留的文字", "photos": exe})
    assert refused.status_code == 400 and "保留的文字" in refused.content.decode()


def test_supervisor_opens_a_workers_task_to_reassign_it_but_gets_no_form(client, users, case):
    respond = open_task(case, "Task_Respond")
    login(client, users["supervisor"])
    html = client.get(f"/tasks/{respond}/").content.decode()
    assert 'name="assignee"' in html and 'value="complete"' not in html


def test_list_fields_render_as_rows_and_come_back_as_a_list(client, users):
    xml, forms = samples.script_task("with_rows", "x = 1")
    forms["Task_A"]["components"].append({
        "type": "dynamiclist", "key": "budget_lines", "label": "预算明细", "validate": {"required": True},
        "components": [{"type": "textfield", "key": "item", "label": "项目", "validate": {"required": True}},
                       {"type": "number", "key": "quantity", "label": "数量", "validate": {"min": 0.01}}]})
    samples.deploy((xml, forms), users["admin"])
    task_id = api.start_instance(process_key="with_rows", data={}, actor=users["worker"]).open_tasks[0].id
    login(client, users["worker"])
    assert 'name="budget_lines-2-quantity"' in client.get(f"/tasks/{task_id}/").content.decode()
    bad = client.post(f"/tasks/{task_id}/", {"_action": "complete", "budget_lines-0-item": "宣传册", "budget_lines-0-quantity": "-3"})
    assert bad.status_code == 400 and "宣传册" in bad.content.decode()
    good = client.post(f"/tasks/{task_id}/", {"_action": "complete", "budget_lines-0-item": "宣传册", "budget_lines-0-quantity": "100",
                                             "budget_lines-1-item": "", "budget_lines-1-quantity": ""})
    assert good.status_code == 302
    assert HumanTask.objects.get(pk=task_id).form_data["budget_lines"] == [{"item": "宣传册", "quantity": 100}]
