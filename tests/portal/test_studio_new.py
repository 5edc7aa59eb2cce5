"""Starting a new process in the studio (/studio/new/): the key and names are checked, a template becomes
a draft (diagram and forms) and the admin lands in the modeler. Every template, as instantiated, passes
the engine's deploy checks, deploys, starts and runs its first step; the monthly visit's cycle timer
opens the next visit each month. The list shows draft-only processes and each version's changes.
Who may reach the page is in the access matrix (tests/portal/test_access_matrix.py)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings

from engine import api
from engine.models import AuditEvent, HumanTask, ProcessDefinition, Timer
from portal.studio import drafts, process_templates
from portal.studio.models import Draft
from tests.dates import today

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, users):
    """The administrator, reading English."""
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def new(client, **fields):
    data = {"key": "home_care", "name": "居家照护", "name_en": "Home care", "template": "linear_approval", "role": "worker"}
    data.update(fields)
    return client.post("/studio/new/", data)


def deploy_template(name: str, key: str, users, role: str = "worker"):
    """The template instantiated as `key`, checked and deployed as the admin would."""
    xml, forms = process_templates.instantiate(process_templates.TEMPLATES[name], key=key, name=f"测试{name}", role=role)
    problems = api.validate_definition(bpmn_xml=xml, forms_by_element=forms, process_key=key)
    assert list(problems) == [] and list(problems.warnings) == [], [(p.element_id, str(p.message)) for p in [*problems, *problems.warnings]]
    info = api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=users["admin"])
    assert info.key == key and info.version == 1 and info.warnings == ()
    return info


def open_tasks(instance_id: int) -> list[HumanTask]:
    return list(HumanTask.objects.filter(instance_id=instance_id, status="open").order_by("pk"))


VISIT = {"visit_date": today(), "systolic": 132, "diastolic": 85, "notes": "血压平稳"}


# -- every template deploys and runs -----------------------------------------------------------------

def test_the_empty_template_deploys_and_a_case_runs_from_start_to_end(users):
    deploy_template("empty", "blank_one", users, role="intake_desk")
    instance = api.start_instance(process_key="blank_one", data={}, actor=users["intake"])
    assert api.get_instance(instance_id=instance.id, viewer=api.SYSTEM).status == "completed"


def test_the_linear_approval_template_deploys_and_its_first_task_is_completed(users):
    deploy_template("linear_approval", "grant_request", users)
    instance = api.start_instance(process_key="grant_request", data={"village": "dongshan"}, actor=users["worker"])
    [apply] = open_tasks(instance.id)
    assert apply.bpmn_id == "Task_Apply" and apply.candidate_group == "worker"
    api.complete_task(task_id=apply.pk, data={"subject": "助学金", "details": "家庭困难"}, actor=users["worker"])
    [review] = open_tasks(instance.id)
    assert review.bpmn_id == "Task_Review" and review.candidate_group == "supervisor"

    # Returned: the application comes back to the worker; approved: the case ends.
    api.complete_task(task_id=review.pk, data={"approved": "no", "review_comments": "补充材料"}, actor=users["supervisor"])
    [again] = open_tasks(instance.id)
    assert again.bpmn_id == "Task_Apply"
    api.complete_task(task_id=again.pk, data={"subject": "助学金", "details": "已补充"}, actor=users["worker"])
    [review] = open_tasks(instance.id)
    api.complete_task(task_id=review.pk, data={"approved": "yes"}, actor=users["supervisor"])
    assert api.get_instance(instance_id=instance.id, viewer=api.SYSTEM).status == "completed"


def test_the_visit_template_deploys_its_first_visit_is_recorded_and_the_monthly_timer_opens_the_next(users):
    deploy_template("monthly_visit", "elder_visit", users)
    instance = api.start_instance(process_key="elder_visit", data={"village": "dongshan", "person": "王奶奶"}, actor=users["worker"])
    [visit] = open_tasks(instance.id)
    assert visit.bpmn_id == "Task_Visit" and visit.candidate_group == "worker"
    api.complete_task(task_id=visit.pk, data=VISIT, actor=users["worker"])
    [follow_up] = open_tasks(instance.id)
    assert follow_up.bpmn_id == "Task_EndFollowUp"
    timer = Timer.objects.get(instance_id=instance.id, status="waiting")
    assert dt.timedelta(days=27) < timer.due_at - follow_up.created_at < dt.timedelta(days=32)  # a month on

    # Nothing before the month is up; after it, the next visit opens and the timer waits for the next month.
    assert api.fire_due_timers(as_of=timer.due_at - dt.timedelta(hours=1)).timers_fired == 0
    # The firing is counted and recorded, though the cycle's row waits on for the next month; a
    # recurrence is not the follow-up's deadline.
    assert api.fire_due_timers(as_of=timer.due_at + dt.timedelta(hours=1)).timers_fired == 1
    assert AuditEvent.objects.filter(instance_id=instance.id, kind="timer_fired", bpmn_id=timer.bpmn_id).count() == 1
    tasks = {t.bpmn_id: t for t in open_tasks(instance.id)}
    assert tasks["Task_EndFollowUp"].due_at is None and tasks["Task_EndFollowUp"].sla_breached_at is None
    assert set(tasks) == {"Task_EndFollowUp", "Task_NextVisit"}
    assert tasks["Task_NextVisit"].candidate_group == "worker"
    moved = Timer.objects.get(instance_id=instance.id, status="waiting")
    assert dt.timedelta(days=27) < moved.due_at - timer.due_at < dt.timedelta(days=32)
    api.complete_task(task_id=tasks["Task_NextVisit"].pk, data=VISIT, actor=users["worker"])

    # A second month: another visit.
    assert api.fire_due_timers(as_of=moved.due_at + dt.timedelta(hours=1)).timers_fired == 1
    assert [t.bpmn_id for t in open_tasks(instance.id)] == ["Task_EndFollowUp", "Task_NextVisit"]

    # The supervisor ends the follow-up: the open visit is withdrawn, the timer stops, the case ends.
    api.complete_task(task_id=tasks["Task_EndFollowUp"].pk, data={"end_reason": "已迁居"}, actor=users["supervisor"])
    assert open_tasks(instance.id) == []
    assert not Timer.objects.filter(instance_id=instance.id, status="waiting").exists()
    assert api.get_instance(instance_id=instance.id, viewer=api.SYSTEM).status == "completed"


# -- the page: names and keys --------------------------------------------------------------------------

def test_the_list_links_the_new_process_page_and_the_page_offers_every_template(admin):
    text = admin.get("/studio/").content.decode()
    assert 'href="/studio/new/"' in text and 'href="#import"' in text
    page = admin.get("/studio/new/")
    assert page.status_code == 200
    assert all(f'data-template="{name}"' in page.content.decode() for name in process_templates.TEMPLATES)


def test_a_new_process_becomes_a_draft_and_the_admin_lands_in_the_modeler(admin, users):
    response = new(admin)
    assert response.status_code == 302 and response["Location"] == "/studio/home_care/edit/"
    draft = Draft.objects.get(key="home_care")
    assert draft.name == "居家照护" and draft.base_version is None and draft.updated_by == users["admin"]
    assert set(draft.forms) == {"StartEvent_Start", "Task_Apply", "Task_Review"}
    assert 'id="home_care"' in draft.bpmn_xml and 'name="居家照护"' in draft.bpmn_xml
    assert 'name="name_en" value="Home care"' in draft.bpmn_xml
    edit = admin.get("/studio/home_care/edit/")
    assert edit.status_code == 200 and "new process, not deployed yet" in edit.content.decode()
    assert not ProcessDefinition.objects.filter(key="home_care").exists()  # nothing deployed yet


@pytest.mark.parametrize("key, why", [
    ("", "Give the process a key."),
    ("   ", "Give the process a key."),
    ("Home_Care", "lowercase letters"),
    ("home-care", "lowercase letters"),
    ("1home", "begin with a letter"),
    ('<script>alert("x")</script>', "lowercase letters"),
    ("x" * 41, "2 to 40 characters"),
    ("x" * 5000, "2 to 40 characters"),
    ("new", "reserved"),
    ("incidents", "reserved"),
    ("micro_fund", "reserved"),  # its code ships with the portal, deployed or not
])
def test_a_bad_key_is_refused_next_to_its_field_and_nothing_is_made(admin, key, why):
    response = new(admin, key=key)
    assert response.status_code == 400
    text = response.content.decode()
    field = text.split('data-field="key"')[1].split('data-field="name"')[0]
    assert why in field and 'class="error"' in field
    assert "<script>alert" not in text
    assert not Draft.objects.exists()


def test_a_key_taken_by_a_deployed_process_or_another_draft_is_refused(admin, users, deployed):
    response = new(admin, key="child_protection")
    assert response.status_code == 400 and "reserved" in response.content.decode()
    deploy_template("empty", "blank_one", users)
    response = new(admin, key="blank_one")
    assert response.status_code == 400 and "already deployed" in response.content.decode()
    drafts.create(key="taken_draft", name="别人的草稿", xml="<x/>", forms={}, user=users["admin"])
    response = new(admin, key="taken_draft")
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert Draft.objects.get(key="taken_draft").name == "别人的草稿"


@pytest.mark.parametrize("fields, where, why", [
    ({"name": ""}, "name", "Give the process a name."),
    ({"name": "   "}, "name", "Give the process a name."),
    ({"name": "长" * 101}, "name", "at most 100 characters"),
    ({"name_en": "x" * 101}, "name_en", "at most 100 characters"),
    ({"template": "nonsense"}, "template", "Choose one of the templates."),
    ({"template": "empty", "role": "admin"}, "role", "Choose one of the roles."),
])
def test_bad_names_templates_and_roles_are_refused_next_to_their_field(admin, fields, where, why):
    response = new(admin, **fields)
    assert response.status_code == 400
    assert why in response.content.decode().split(f'data-field="{where}"')[1]
    assert not Draft.objects.exists()


def test_a_name_with_markup_is_stored_as_typed_and_shown_escaped(admin, users):
    name = '<b>关爱</b> & "留守" <script>alert(1)</script>'
    assert new(admin, key="care_markup", name=name, name_en='<i>Care</i> "x"', template="monthly_visit").status_code == 302
    draft = Draft.objects.get(key="care_markup")
    assert draft.name == name
    # The diagram holds it escaped: one process, named exactly as typed.
    assert "<script>" not in draft.bpmn_xml and "&lt;b&gt;关爱&lt;/b&gt; &amp; &quot;留守&quot;" in draft.bpmn_xml
    from lxml import etree
    root = etree.fromstring(draft.bpmn_xml.encode())
    process = root.find("{http://www.omg.org/spec/BPMN/20100524/MODEL}process")
    assert process.get("name") == name and process.get("id") == "care_markup"
    # Shown escaped on the list and in the modeler's page.
    for url in ("/studio/", "/studio/care_markup/edit/"):
        text = admin.get(url).content.decode()
        assert "<script>alert(1)</script>" not in text and "<b>关爱</b>" not in text
        assert "&lt;b&gt;关爱&lt;/b&gt;" in text
    # It deploys with that name.
    forms = drafts.forms_for_deploy(draft, draft.bpmn_xml)
    info = api.deploy_definition(bpmn_xml=draft.bpmn_xml, forms_by_element=forms, actor=users["admin"])
    assert info.name == name


def test_the_empty_template_names_the_chosen_role_in_its_lane(admin):
    assert new(admin, key="intake_only", template="empty", role="intake_desk").status_code == 302
    xml = Draft.objects.get(key="intake_only").bpmn_xml
    assert 'name="接待岗 (intake_desk)"' in xml  # in Chinese, whatever the admin reads


def test_a_double_submit_makes_one_draft_and_both_land_in_the_modeler(admin, users):
    first, second = new(admin), new(admin)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == "/studio/home_care/edit/"
    assert Draft.objects.filter(key="home_care").count() == 1
    # Once the draft was edited (or another template asked for), the key is simply taken.
    draft = Draft.objects.get(key="home_care")
    drafts.save("home_care", xml=draft.bpmn_xml.replace("填写申请", "填写申请书"), revision=draft.revision, user=users["admin"])
    assert new(admin).status_code == 400
    assert new(admin, template="empty").status_code == 400
    assert Draft.objects.count() == 1


def test_the_whole_path_new_draft_then_deploy_from_the_modeler(admin, users):
    """The modeler's Deploy on a new process's draft makes version 1 with the template's forms."""
    assert new(admin, key="visit_v1", template="monthly_visit").status_code == 302
    draft = Draft.objects.get(key="visit_v1")
    response = admin.post("/studio/visit_v1/deploy/", data=draft.bpmn_xml.encode(), content_type="application/xml",
                          HTTP_X_CASEFLOW_REVISION=str(draft.revision))
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    definition = ProcessDefinition.objects.get(key="visit_v1")
    assert set(definition.forms) == {"StartEvent_Start", "Task_Visit", "Task_NextVisit", "Task_EndFollowUp"}
    assert not Draft.objects.filter(key="visit_v1").exists()


# -- the list: drafts and changes -------------------------------------------------------------------

def test_the_list_shows_a_draft_only_process_with_edit_and_discard(admin, users, deployed):
    assert new(admin, key="brand_new", name="新流程").status_code == 302
    text = admin.get("/studio/").content.decode()
    section = text.split('data-draft="brand_new"')[1].split("</section>")[0]
    assert "新流程" in section and "Draft — not deployed yet" in section
    assert 'href="/studio/brand_new/edit/"' in section and 'action="/studio/brand_new/discard/"' in section
    assert 'data-process="brand_new"' not in text  # not among the deployed ones
    response = admin.post("/studio/brand_new/discard/")
    assert response.status_code == 302 and response["Location"] == "/studio/"
    assert 'data-draft="brand_new"' not in admin.get("/studio/").content.decode()


def test_a_deployed_process_with_an_open_draft_says_who_saved_it_and_when(admin, users, deployed):
    assert admin.get("/studio/child_protection/edit/").status_code == 200  # opens (makes) the draft
    text = admin.get("/studio/").content.decode()
    section = text.split('data-process="child_protection"')[1].split("</section>")[0]
    assert 'data-testid="open-draft"' in section and "Draft open: last saved" in section and "admin" in section
    other = text.split('data-process="micro_fund"')[1].split("</section>")[0]
    assert 'data-testid="open-draft"' not in other


def _new_version(users, key: str, old: str, new: str):
    xml = api.definition_xml(key=key, viewer=users["admin"])[1].replace(old, new)
    forms = api.forms_carried_over(bpmn_xml=xml)
    return api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=users["admin"])


def test_each_version_row_counts_what_changed_from_the_one_before(admin, users, deployed):
    from portal.studio import listing

    listing.clear_cache()
    _new_version(users, "child_protection", 'name="登记强制报告"', 'name="登记强制报告（修订）"')
    text = admin.get("/studio/").content.decode()
    section = text.split('data-process="child_protection"')[1].split("</section>")[0]
    v2, v1 = section.split('data-version="2"')[1].split('data-version="1"')
    assert "1 element changed" in v2 and 'href="/studio/child_protection/diff/?from=1&amp;to=2"' in v2
    assert "First version" in v1

    # Computed once per pair of versions: the next view asks the engine for no diff.
    calls = []
    original = api.diff_versions
    try:
        api.diff_versions = lambda **kw: calls.append(kw) or original(**kw)
        admin.get("/studio/")
    finally:
        api.diff_versions = original
    assert calls == []


@pytest.mark.django_db(transaction=True)  # threads
@pytest.mark.postgres
def test_two_submits_at_the_same_moment_make_one_draft_and_both_land_in_the_modeler(users):
    from django.test import Client

    from tests.threads import race

    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(users["admin"])
        clients.append(client)
    outcomes = race(2, lambda i: new(clients[i]))
    assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes
    assert sorted((r.status_code, r["Location"]) for _kind, r in outcomes) == [(302, "/studio/home_care/edit/")] * 2
    assert Draft.objects.filter(key="home_care").count() == 1
