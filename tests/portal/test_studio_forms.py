"""The studio's form editor (/studio/<key>/forms/<element>/), through Django's test client: only
administrators reach it; a save is checked by the engine's form checks, each problem naming its field,
and stored in the draft over the revision it started from; a later deploy takes it; the preview is the
portal's own rendering of the form, in the viewer's language. Who may reach each URL is also in the
access matrix (tests/portal/test_access_matrix.py)."""
from __future__ import annotations

import json

import pytest
from django.conf import settings

from engine.models import ProcessDefinition
from tests.portal.test_studio import CP, draft_revision, post_xml

pytestmark = pytest.mark.django_db

FORM_URL = f"/studio/{CP}/forms/Task_Intake/"


@pytest.fixture
def admin(client, users, deployed):
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def intake_form() -> dict:
    from portal.studio.models import Draft

    return json.loads(json.dumps(Draft.objects.get(key=CP).forms["Task_Intake"]))


def with_field(component: dict) -> dict:
    form = intake_form()
    form["components"].append(component)
    return form


def save(client, schema, revision=None, url=FORM_URL):
    body = json.dumps({"schema": schema, "revision": draft_revision() if revision is None else revision})
    return client.post(url + "save/", data=body, content_type="application/json")


def preview(client, schema, url=FORM_URL, query=""):
    return client.post(url + "preview/" + query, data=json.dumps({"schema": schema}), content_type="application/json")


CONTACT = {"type": "textfield", "id": "Field_contact", "key": "village_contact", "label": "村联络人<b>甲</b>",
           "validate": {"required": True}, "properties": {"label_en": "Village contact"}}


def test_the_editor_page_loads_the_form_editor_bundle_and_the_drafts_form(admin):
    response = admin.get(FORM_URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "vendor/studio-forms" in text and "studio-modeler" not in text
    config = json.loads(text.split('id="form-config" type="application/json">')[1].split("</script>")[0])
    assert config["schema"]["id"] == "Form_Task_Intake" and config["revision"] == draft_revision()
    assert set(config["types"]) >= {"textfield", "datetime", "dynamiclist", "group"} and "button" not in config["types"]
    assert ["intake_desk", "接待岗"] in config["roles"] or any(code == "intake_desk" for code, _ in config["roles"])
    # The modeler's page lists the draft's forms, each linking here; no other page loads the bundle.
    edit = admin.get(f"/studio/{CP}/edit/").content.decode()
    assert f'href="{FORM_URL}"' in edit and f'href="/studio/{CP}/forms/StartEvent_Report/"' in edit
    assert "studio-forms.js" not in edit and "studio-forms.js" not in admin.get("/").content.decode()


def test_only_administrators_reach_the_editor_its_save_and_its_preview(client, users, deployed):
    for name in ("worker", "supervisor", "intake"):
        client.force_login(users[name])
        assert client.get(FORM_URL).status_code == 404
        assert save(client, {"components": []}, revision=1).status_code == 404
        assert preview(client, {"components": []}).status_code == 404
    client.logout()
    assert client.get(FORM_URL).status_code == 302
    assert save(client, {"components": []}, revision=1).status_code == 302


def test_an_element_that_takes_no_form_is_not_found(admin):
    assert admin.get(f"/studio/{CP}/forms/Gateway_Danger/").status_code == 404
    assert admin.get(f"/studio/{CP}/forms/nothing/").status_code == 404
    assert admin.get("/studio/no_such_process/forms/Task_Intake/").status_code == 404


def test_a_saved_form_is_kept_in_the_draft_and_a_later_deploy_deploys_it(admin):
    from portal.studio.models import Draft

    admin.get(FORM_URL)  # opens the draft
    before = draft_revision()
    response = save(admin, with_field(CONTACT))
    assert response.status_code == 200 and response.json() == {"ok": True, "revision": before + 1}
    assert Draft.objects.get(key=CP).forms["Task_Intake"]["components"][-1]["key"] == "village_contact"
    deployed = post_xml(admin, f"/studio/{CP}/deploy/", Draft.objects.get(key=CP).bpmn_xml)
    assert deployed.status_code == 201, deployed.json()
    field = ProcessDefinition.objects.get(key=CP, version=2).forms["Task_Intake"]["components"][-1]
    assert field["key"] == "village_contact" and field["validate"] == {"required": True}


def test_a_mask_saved_from_the_editor_is_deployed_and_masks_the_case_page_for_non_holders(admin, client, users):
    """The editor's "masking" select writes `properties.mask` (the browser test sets it); saved and
    deployed, a case of the new version shows the number masked to a viewer outside the case."""
    from portal.studio.models import Draft
    from tests.minors import clear
    from tests.processes.child_protection.flows import FORMS, complete, start_case

    admin.get(FORM_URL)
    phone = {**CONTACT, "label": "村联络人电话", "properties": {"label_en": "Village contact phone", "mask": "phone"}}
    assert save(admin, with_field(phone)).json()["ok"] is True
    assert Draft.objects.get(key=CP).forms["Task_Intake"]["components"][-1]["properties"]["mask"] == "phone"
    assert post_xml(admin, f"/studio/{CP}/deploy/", Draft.objects.get(key=CP).bpmn_xml).status_code == 201
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake", {**FORMS["Task_Intake"], "village_contact": "13712345678"})
    client.force_login(users["civil"])  # sees the township's cases, holds none of this one's tasks
    clear(client, users["civil"], instance_id, approver=users["supervisor"])
    html = client.get(f"/cases/{instance_id}/").content.decode()
    assert "13712345678" not in html and "137****5678" in html
    client.force_login(users["intake"])  # took the report: reads it in clear
    clear(client, users["intake"], instance_id)
    assert "13712345678" in client.get(f"/cases/{instance_id}/").content.decode()


@pytest.mark.parametrize("key, words", [
    ("csrfmiddlewaretoken", "reserved"), ("_action", "“_”"), ("class", "reserved"), ("Name", "lowercase"),
])
def test_a_key_the_page_or_the_expressions_use_is_refused_naming_the_field(admin, key, words):
    from portal.studio.models import Draft

    admin.get(FORM_URL)
    revision = draft_revision()
    response = save(admin, with_field({**CONTACT, "key": key}))
    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert problem["key"] == key and problem["field"] == "Field_contact"
    assert words in problem["message"] and key in problem["message"] and "村联络人" in problem["message"]
    assert Draft.objects.get(key=CP).revision == revision  # nothing stored


def test_a_duplicate_key_and_an_unknown_type_are_refused_naming_the_field(admin):
    admin.get(FORM_URL)
    twice = with_field({**CONTACT, "key": "reporter_name"})
    problem = save(admin, twice).json()["problems"][0]
    assert problem["key"] == "reporter_name" and problem["field"] == "Field_contact" and "unique" in problem["message"]
    button = with_field({"type": "button", "id": "Field_go", "key": "go", "label": "提交"})
    response = save(admin, button)
    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert problem["field"] == "Field_go" and "button" in problem["message"] and "cannot show" in problem["message"]


def test_a_form_the_deploy_checks_refuse_is_not_saved(admin):
    admin.get(FORM_URL)
    response = save(admin, with_field({"type": "select", "id": "Field_x", "key": "choice", "label": "选择"}))
    assert response.status_code == 400 and "choice" in response.json()["problems"][0]["message"]


def test_an_oversized_or_malformed_body_is_refused_without_a_traceback(admin):
    from portal.studio.form_views import FORM_MAX_BYTES

    admin.get(FORM_URL)
    huge = with_field({**CONTACT, "label": "长" * (FORM_MAX_BYTES // 2)})
    response = save(admin, huge)
    assert response.status_code == 413 and "KB" in response.json()["problems"][0]["message"]
    for body in ("not json", "[]", json.dumps({"schema": "x", "revision": 1}), "[" * 100_000):
        response = admin.post(FORM_URL + "save/", data=body, content_type="application/json")
        assert response.status_code in (400, 413) and response.json()["ok"] is False
    response = admin.post(FORM_URL + "save/", data=json.dumps({"schema": intake_form()}), content_type="application/json")
    assert response.status_code == 400 and "revision" in response.json()["problems"][0]["message"]
    assert admin.get(FORM_URL + "save/").status_code == 405


def test_a_stale_tab_cannot_overwrite_a_newer_draft(admin):
    from portal.studio.models import Draft

    admin.get(FORM_URL)
    opened = draft_revision()
    assert save(admin, with_field(CONTACT), revision=opened).status_code == 200
    stale = save(admin, with_field({**CONTACT, "key": "other_contact"}), revision=opened)
    assert stale.status_code == 409 and stale.json()["stale"] is True and stale.json()["revision"] == opened + 1
    assert "Reload" in stale.json()["problems"][0]["message"]
    assert Draft.objects.get(key=CP).forms["Task_Intake"]["components"][-1]["key"] == "village_contact"


def test_the_preview_is_the_portals_own_form_in_the_viewers_language_and_cannot_be_submitted(admin):
    admin.get(FORM_URL)
    english = preview(admin, with_field(CONTACT)).content.decode()
    assert "Village contact" in english and "Reporter name" in english
    contact = english.split('data-field="village_contact"')[1].split("</div>")[0]
    assert '<span class="req">*</span>' in contact and 'name="village_contact"' in contact
    assert "&lt;b&gt;" not in contact  # the English label is shown, not the Chinese one
    assert "<form" in english and "action=" not in english.split("<form")[1].split(">")[0]
    assert all("disabled" in b for b in english.split("<button")[1:])
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    chinese = preview(admin, with_field(CONTACT)).content.decode()
    assert "村联络人&lt;b&gt;甲&lt;/b&gt;" in chinese and "报告人姓名" in chinese  # markup in a label is text
    assert "Village contact" in preview(admin, with_field(CONTACT), query="?lang=en").content.decode()


def test_the_preview_lists_the_problems_instead_of_the_form(admin):
    admin.get(FORM_URL)
    text = preview(admin, with_field({**CONTACT, "key": "_action"})).content.decode()
    assert 'data-testid="preview-problems"' in text and "_action" in text and "<form" not in text
    formula = preview(admin, with_field({**CONTACT, "label": "=SUM(A1:A9)"}), query="?lang=zh-hans").content.decode()
    assert "=SUM(A1:A9)" in formula
