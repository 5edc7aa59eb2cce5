"""What a field trial found everywhere in the portal, one test per fault: uploads checked before they
are kept, attachments named and linked, absurd page numbers and foreign redirects, values the engine
cannot store, dates and numbers that cannot be true, the friction a worker on a phone meets,
supervisors covering another village, and static files a phone downloads once."""
import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from engine import api
from engine.errors import DefinitionInvalid, FormInvalid, StepFailed
from engine.models import HumanTask, ProcessInstance
from portal.cases.models import Attachment
from portal.notifications.models import Notification
from tests.conftest import make_user
from tests.dates import today
from tests.engine import samples
from tests.minors import give_reason
from tests.pictures import picture
from tests.portal import pageform
from tests.processes.child_protection.flows import FORMS, complete, open_task, start_case

pytestmark = pytest.mark.django_db
PNG = picture("PNG")


def png(name="visit.png", size=(16, 8)):
    return SimpleUploadedFile(name, picture("PNG", size), content_type="image/png")


@pytest.fixture
def with_files(users, settings, tmp_path):
    """A one-task process whose form takes a note and photos; MEDIA_ROOT in a fresh directory."""
    settings.MEDIA_ROOT = tmp_path
    xml, forms = samples.script_task("with_files", "x = 1")
    forms["Task_A"]["components"].append({"type": "filepicker", "key": "photos", "label": "照片"})
    forms["Task_A"]["components"].append({"type": "number", "key": "count", "label": "人数", "validate": {"required": True, "min": 0}})
    samples.deploy((xml, forms), users["admin"])
    return tmp_path


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def case(deployed, users):
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    return instance_id


# 15 ---------------------------------------------------------------------------------------------
def test_a_refused_upload_leaves_nothing_behind(client, users, with_files):
    task_id = api.start_instance(process_key="with_files", data={}, actor=users["worker"]).open_tasks[0].id
    client.force_login(users["outsider"])  # another role: the page itself is a 404
    assert client.post(f"/tasks/{task_id}/", {"_action": "complete", "photos": [png(), png("b.png")]}).status_code == 404
    client.force_login(users["supervisor"])  # may see the task, may not complete it
    assert client.post(f"/tasks/{task_id}/", {"_action": "complete", "count": "3", "photos": [png(), png("b.png")]}).status_code == 403
    client.force_login(users["worker2"])  # the task is held by the worker who started the case
    assert client.post(f"/tasks/{task_id}/", {"_action": "complete", "count": "3", "photos": [png()]}).status_code == 403
    client.force_login(users["worker"])
    invalid = client.post(f"/tasks/{task_id}/", {"_action": "complete", "count": "-1", "photos": [png()]})
    assert invalid.status_code == 400
    assert Attachment.objects.count() == 0 and stored_files(with_files) == []


def test_files_dropped_from_a_draft_are_deleted_when_the_task_completes(client, users, with_files):
    task_id = api.start_instance(process_key="with_files", data={}, actor=users["worker"]).open_tasks[0].id
    client.force_login(users["worker"])
    assert client.post(f"/tasks/{task_id}/", {"_action": "draft", "photos": [png("keep.png"), png("drop.png")]}).status_code == 302
    keep, drop = Attachment.objects.order_by("original_name")
    assert (keep.original_name, drop.original_name) == ("drop.png", "keep.png")
    keep, drop = drop, keep
    response = client.post(f"/tasks/{task_id}/", {"_action": "complete", "count": "2", "photos": [keep.token]})
    assert response.status_code == 302
    assert list(Attachment.objects.values_list("original_name", flat=True)) == ["keep.png"]
    assert len(stored_files(with_files)) == 1


def test_a_daily_upload_quota_per_person(client, users, with_files, settings):
    photos = [png(), png("b.png")]
    settings.UPLOAD_QUOTA_BYTES_PER_DAY = sum(p.size for p in photos) - 1
    task_id = api.start_instance(process_key="with_files", data={}, actor=users["worker"]).open_tasks[0].id
    client.force_login(users["worker"])
    refused = client.post(f"/tasks/{task_id}/", {"_action": "complete", "count": "1", "photos": photos})
    assert refused.status_code == 400 and Attachment.objects.count() == 0
    assert HumanTask.objects.get(pk=task_id).status == "open"


# 16 ---------------------------------------------------------------------------------------------
def test_attachments_are_named_and_linked_on_the_task_and_case_pages(client, users, with_files):
    info = api.start_instance(process_key="with_files", data={}, actor=users["worker"])
    task_id = info.open_tasks[0].id
    client.force_login(users["worker"])
    client.post(f"/tasks/{task_id}/", {"_action": "draft", "photos": [png("家访照片.png")]})
    attachment = Attachment.objects.get()
    draft_page = client.get(f"/tasks/{task_id}/").content.decode()
    assert "家访照片.png" in draft_page and f"/files/{attachment.token}/" in draft_page
    client.post(f"/tasks/{task_id}/", {"_action": "complete", "count": "1", "photos": [attachment.token]})
    case_page = client.get(f"/cases/{info.id}/").content.decode()
    assert "家访照片.png" in case_page and f"/files/{attachment.token}/" in case_page
    assert "1 个文件" not in case_page and "1 file(s)" not in case_page


# 18 ---------------------------------------------------------------------------------------------
def test_absurd_page_numbers_and_foreign_redirects(client, users, case):
    client.force_login(users["worker"])
    for page in ("9223372036854775807", "99999999999999999999999", "-5", "abc", "1e9"):
        assert client.get(f"/?tab=group&page={page}").status_code == 200, page
    respond = open_task(case, "Task_Respond")
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = client.post(f"/tasks/{respond}/claim/", {"next": target})
        assert response.status_code == 302 and response["Location"].startswith("/") and not response["Location"].startswith("//"), target
        api.release_task(task_id=respond, actor=users["worker"])


# 19 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", ["x = b'abc'", "x = Decimal('1.5')", "x = {1, 2}", "x = [1]\nx[0] = x", "x = float('nan')",
                                    "x = {1: 'a'}"])
def test_a_value_that_cannot_be_stored_stops_the_case_visibly(users, script):
    samples.deploy(samples.script_task("unstorable", script), users["admin"])
    info = api.start_instance(process_key="unstorable", data={}, actor=users["worker"])
    instance = ProcessInstance.objects.get(pk=info.id)
    assert (instance.status, instance.error_element) == ("error", "Script_1"), instance.error_message
    # A list that contains itself never ends: the sandbox's byte budget refuses it before the save does.
    assert "cannot be stored" in instance.error_message or "bytes to store" in instance.error_message
    assert api.fire_due_timers().conflicts == 0  # the sweep leaves it alone


def test_a_hook_that_sets_an_unstorable_value_stops_the_case_and_keeps_what_was_typed(users):
    from engine import registry

    samples.deploy(samples.script_task("hooked", "x = 1"), users["admin"])

    def bad_hook(ctx, data):
        ctx.set_variable("amount", __import__("decimal").Decimal("1.5"))

    registry.on_task_completed("hooked", "Task_A")(bad_hook)
    try:
        info = api.start_instance(process_key="hooked", data={}, actor=users["worker"])
        task_id = info.open_tasks[0].id
        with pytest.raises(StepFailed):
            api.complete_task(task_id=task_id, data={"note": "已家访"}, actor=users["worker"])
    finally:
        registry._task_hooks.pop(("hooked", "Task_A"), None)
    instance = ProcessInstance.objects.get(pk=info.id)
    assert (instance.status, instance.error_element) == ("error", "Task_A")
    assert HumanTask.objects.get(pk=task_id).draft_data == {"note": "已家访"}


@pytest.mark.parametrize("depth", [200, 4000, 100_000])
def test_a_condition_nested_thousands_deep_is_refused_at_deploy(users, depth):
    with pytest.raises(DefinitionInvalid) as refused:
        samples.deploy(samples.gateway("deep", "-" * depth + "1 == 1"), users["admin"])
    assert "nested" in str(refused.value) or "longer than" in str(refused.value)


@pytest.mark.parametrize("original, element_id", [("StartEvent_1", "Start"), ("EndEvent_1", "End"), ("Task_A", "Start"),
                                                  ("Task_A", "End"), ("Task_A", "Root"), ("Task_A", "Task.A")])
def test_element_ids_the_engine_uses_itself_are_refused(users, original, element_id):
    xml, forms = samples.script_task("reserved", "x = 1")
    xml = xml.replace(f'"{original}"', f'"{element_id}"').replace(f">{original}<", f">{element_id}<")
    forms = {element_id if k == original else k: v for k, v in forms.items()}
    with pytest.raises(DefinitionInvalid) as refused:
        api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=users["admin"])
    assert element_id in str(refused.value)


# 20 ---------------------------------------------------------------------------------------------
def _field(kind, **extra):
    return {"components": [{"type": kind, "key": "value", "label": "值", **extra}]}


@pytest.mark.parametrize("form, value", [
    (_field("datetime", subtype="date", properties={"not_after": "today"}), "2035-01-01"),           # a birth date
    (_field("datetime", subtype="date", properties={"not_before": "today"}), "2019-01-01"),          # a next review
    (_field("datetime", subtype="date", properties={"not_after": "today"}), "2030-05-01"),           # a payment date
    (_field("number", decimalDigits=0), "10.5"),                                                      # a quantity
    (_field("number", decimalDigits=2), "100.123"),                                                   # a unit price
    (_field("number", decimalDigits=2, validate={"max": 1000000}), "1e12"),                           # a plan amount
])
def test_dates_and_numbers_that_cannot_be_true_are_refused(form, value):
    from engine import forms

    with pytest.raises(FormInvalid):
        forms.clean_form_data(form, {"value": value})


def test_a_moment_that_breaks_its_own_limit_is_the_only_field_marked():
    """A sign-in typed in the future is the mistake; the sign-out after it is not marked as well (and
    the order of the fields in the form does not matter)."""
    from engine import forms

    sign_out = {"type": "datetime", "key": "signed_out_at", "label": "签退", "properties": {"not_after": "now", "not_before": "signed_in_at"}}
    sign_in = {"type": "datetime", "key": "signed_in_at", "label": "签到", "properties": {"not_after": "now"}}
    tomorrow, earlier = timezone.localtime() + dt.timedelta(days=1), timezone.localtime() - dt.timedelta(hours=2)
    for order in ([sign_in, sign_out], [sign_out, sign_in]):
        with pytest.raises(FormInvalid) as refused:
            forms.clean_form_data({"components": order}, {"signed_in_at": tomorrow.strftime("%Y-%m-%dT%H:%M"),
                                                          "signed_out_at": earlier.strftime("%Y-%m-%dT%H:%M")})
        assert set(refused.value.field_errors) == {"signed_in_at"}
    with pytest.raises(FormInvalid) as refused:  # both valid on their own, in the wrong order: the sign-out is marked
        forms.clean_form_data({"components": [sign_out, sign_in]}, {"signed_in_at": earlier.strftime("%Y-%m-%dT%H:%M"),
                                                                    "signed_out_at": (earlier - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")})
    assert set(refused.value.field_errors) == {"signed_out_at"}


def test_a_moment_may_be_limited_to_so_many_days_from_now():
    from engine import forms

    field = {"type": "datetime", "key": "value", "label": "值", "properties": {"not_before": "now-30d", "not_after": "now"}}
    a_year_ago = (timezone.localtime() - dt.timedelta(days=364)).strftime("%Y-%m-%dT%H:%M")
    with pytest.raises(FormInvalid) as refused:
        forms.clean_form_data({"components": [field]}, {"value": a_year_ago})
    assert "30" in refused.value.field_errors["value"][0]
    last_week = (timezone.localtime() - dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    assert forms.clean_form_data({"components": [field]}, {"value": last_week})["value"]
    assert forms.describe_form({"components": [field]})[0].min_date == (
        timezone.localtime() - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    assert forms.check_form_definition({"components": [{**field, "properties": {"not_before": "now-30x"}}]})
    assert not forms.check_form_definition({"components": [field]})


def test_a_report_received_with_a_mistyped_year_is_refused_before_it_escalates(users, deployed):
    """A clerk who types last year's date would start a case that is a year overdue, escalated to
    the civil-affairs office the moment it is saved."""
    from tests.processes.child_protection.flows import START

    last_year = (timezone.localtime() - dt.timedelta(days=365)).strftime("%Y-%m-%dT%H:%M")
    with pytest.raises(FormInvalid) as refused:
        start_case(users, {**START, "received_at": last_year})
    assert set(refused.value.field_errors) == {"received_at"}
    assert not ProcessInstance.objects.filter(process_key="child_protection").exists()


def test_bundled_forms_limit_the_fields_the_trial_found_unlimited():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "processes"

    def component(path, key):
        def walk(components):
            for c in components:
                yield c
                yield from walk(c.get("components", []))
        return next(c for c in walk(json.loads((root / path).read_text())["components"]) if c.get("key") == key)

    assert component("child_protection/forms/Task_Intake.json", "dob")["properties"]["not_after"] == "today"
    assert component("child_protection/forms/Task_CasePlan.json", "next_review_date")["properties"]["not_before"] == "today"
    assert component("micro_fund/forms/Task_Tranche1.json", "paid_on")["properties"]["not_after"] == "today"
    # A second user walk found 1900-01-01 and 9999-12-31 accepted: dates of what happened go back a
    # year at most, plans look ahead two at most.
    assert component("micro_fund/forms/Task_Tranche1.json", "paid_on")["properties"]["not_before"] == "today-365d"
    assert component("micro_fund/forms/Task_SiteVisit.json", "visit_date")["properties"]["not_before"] == "today-365d"
    assert component("time_bank/forms/StartEvent_Request.json", "scheduled_for")["properties"] == {
        **component("time_bank/forms/StartEvent_Request.json", "scheduled_for")["properties"], "not_before": "today-365d", "not_after": "today+365d"}
    assert component("time_bank/forms/Task_Service.json", "signed_in_at")["properties"]["not_before"] == "now-365d"
    assert component("needs_matching/forms/Task_ConfirmPlan.json", "due_date")["properties"]["not_after"] == "today+730d"
    assert component("needs_matching/forms/Task_ProviderResponse.json", "expected_start")["properties"]["not_after"] == "today+365d"
    assert component("monitoring/forms/StartEvent_Enrol.json", "since")["properties"]["not_before"] == "today-3650d"
    assert component("micro_fund/forms/Task_Application.json", "quantity")["decimalDigits"] == 0
    assert component("micro_fund/forms/Task_Application.json", "unit_price")["decimalDigits"] == 2
    assert component("needs_matching/forms/Task_ConfirmPlan.json", "amount")["validate"]["max"] <= 1_000_000
    assert component("needs_matching/forms/Task_NeedsAssessment.json", "member")["properties"]["options_source"] == "household_members"


# 21 ---------------------------------------------------------------------------------------------
def test_a_returned_plan_comes_back_filled_in_with_the_reason_on_top(client, users, case):
    for bpmn_id in ("Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan"):
        complete(users, case, bpmn_id)
    complete(users, case, "Task_ApprovePlan", {"plan_decision": "return", "comments": "请补充学校心理老师的联系方式"})
    client.force_login(users["worker"])
    task_id = open_task(case, "Task_CasePlan")
    page = client.get(f"/tasks/{task_id}/").content.decode()
    assert 'data-testid="returned"' in page and "请补充学校心理老师的联系方式" in page
    assert FORMS["Task_CasePlan"]["goals"] in page


def test_the_next_step_goes_to_whoever_did_the_last_one_and_the_inbox_opens_where_the_work_is(client, users, case):
    respond = HumanTask.objects.get(pk=open_task(case, "Task_Respond"))
    assert respond.assignee is None  # a new case's response is for any worker of the village
    client.force_login(users["worker"])
    assert f"/tasks/{respond.pk}/" in client.get("/").content.decode()  # "mine" is empty: the group tab opens
    api.claim_task(task_id=respond.pk, actor=users["worker"])
    complete(users, case, "Task_PoliceReceipt")
    complete(users, case, "Task_Respond")
    assessment = HumanTask.objects.get(pk=open_task(case, "Task_Assessment"))
    assert assessment.assignee == users["worker"]
    assert f"/tasks/{assessment.pk}/" in client.get("/").content.decode()


def test_closure_approval_can_return_the_case(users, case):
    for bpmn_id in ("Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan", "Task_ApprovePlan", "Task_FollowUp", "Task_Closure"):
        complete(users, case, bpmn_id)
    with pytest.raises(FormInvalid):  # a return says what is missing
        complete(users, case, "Task_ApproveClosure", {"closure_decision": "return"})
    complete(users, case, "Task_ApproveClosure", {"closure_decision": "return", "comments": "缺公安反馈"})
    assert open_task(case, "Task_Closure")
    complete(users, case, "Task_Closure")
    complete(users, case, "Task_ApproveClosure")
    assert api.get_instance(instance_id=case, viewer=api.SYSTEM).status == "completed"


def test_notices_name_the_case(users, case):
    notice = Notification.objects.filter(user=users["worker"], kind="new_task").first()
    assert notice is not None and notice.subject.startswith("CP-")


def test_pages_read_as_people_write(client, users, case):
    users["supervisor"].first_name = "周督导"
    users["supervisor"].save()
    users["worker"].first_name = "李明"
    users["worker"].save()
    respond = open_task(case, "Task_Respond")
    api.assign_task(task_id=respond, assignee_username="worker", actor=users["supervisor"], reason="就近")
    HumanTask.objects.filter(pk=respond).update(due_at=timezone.now() + dt.timedelta(days=7, seconds=2))
    client.force_login(users["supervisor"])
    page = client.get(f"/tasks/{respond}/").content.decode()
    assert "None" not in re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert "剩余 7 天" in page and "李明" in page
    give_reason(client, case)  # a minor's file: the supervisor says why (ADR 0020)
    case_page = client.get(f"/cases/{case}/").content.decode()
    timeline = case_page.split('class="timeline"', 1)[1].split("</ol>", 1)[0]
    assert "周督导" in timeline and ">supervisor<" not in timeline
    client.force_login(users["admin"])
    assert "家庭户s" not in client.get("/admin/").content.decode()


def test_zh_hans_pages_have_no_english_from_the_process_catalogues(client, users, case):
    """A page's text (not its markup) holds no English word of the catalogues' source strings."""
    users["supervisor"].first_name = "周督导"
    users["supervisor"].save()
    client.force_login(users["supervisor"])
    for url in ("/", f"/cases/{case}/", f"/tasks/{open_task(case, 'Task_Respond')}/", "/start/", "/notifications/", "/fund/", "/households/",
                "/resources/gaps/"):
        html = client.get(url).content.decode()
        text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", html, flags=re.S))
        usernames = set(get_user_model().objects.values_list("username", flat=True))  # test users have no display names
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z_]{2,}", text)} - {"Caseflow", "XLSX", "English", "PDF", "JPEG", "PNG", "WebP"} - usernames
        assert not words, (url, sorted(words)[:20])


# 22 ---------------------------------------------------------------------------------------------
def test_a_supervisor_gives_a_task_to_a_worker_of_another_village_with_the_reason(client, users, case):
    respond = open_task(case, "Task_Respond")
    client.force_login(users["supervisor"])
    page = client.get(f"/tasks/{respond}/").content.decode()
    assert 'value="worker_xishui"' in page  # offered, not typed
    client.post(f"/tasks/{respond}/assign/", {"assignee": "worker_xishui", "reason": "李明病假，由西水村社工代班"})
    assert HumanTask.objects.get(pk=respond).assignee == users["worker_xishui"]
    client.force_login(users["worker_xishui"])
    assert client.get(f"/tasks/{respond}/").status_code == 200
    api.complete_task(task_id=respond, data=FORMS["Task_Respond"], actor=users["worker_xishui"])
    assert api.get_instance(instance_id=case, viewer=api.SYSTEM).history[-1].kind != "error"


# 23 ---------------------------------------------------------------------------------------------
def test_static_files_are_fingerprinted_compressed_and_cached_for_a_year(client, users):
    client.force_login(users["worker"])
    html = client.get("/").content.decode()
    htmx = re.search(r'src="(/static/vendor/htmx\.min\.[0-9a-f]{12}\.js)"', html)
    assert htmx, "htmx is not served under a fingerprinted name"
    response = client.get(htmx.group(1), HTTP_ACCEPT_ENCODING="gzip")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200 and response.get("Content-Encoding") == "gzip"
    assert "immutable" in response["Cache-Control"] and int(re.search(r"max-age=(\d+)", response["Cache-Control"]).group(1)) >= 31536000
    assert len(body) < 30_000


def test_a_task_given_to_someone_else_while_it_was_being_filled_in_says_so(client, users, deployed):
    """A supervisor gives the response to a colleague while the worker types it: the worker's submit is
    answered "given to someone else" (409, nothing done) — not sent to ask for access to the case."""
    from engine import api

    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")
    task_id = open_task(instance_id, "Task_Respond")
    api.claim_task(task_id=task_id, actor=users["worker"])
    client.force_login(users["worker"])
    give_reason(client, instance_id)
    page = client.get(f"/tasks/{task_id}/")
    assert page.status_code == 200
    api.assign_task(task_id=task_id, assignee_username="worker2", actor=users["supervisor"], reason="同事更近")
    form = pageform.page_form(page.content)
    response = client.post(f"/tasks/{task_id}/", pageform.encode(pageform.press(form, pageform.fill(form, FORMS["Task_Respond"]))))
    assert response.status_code == 409, (response.status_code, response.get("Location"))
    assert "其他人" in response.content.decode() or "someone else" in response.content.decode()
    assert HumanTask.objects.get(pk=task_id).status == "open"
