"""The process studio (/studio/), through Django's test client on the real database: the list of
processes and versions, a version's page, export, the modeler's Check and Deploy (the engine's own
deploy checks, each problem naming its element), and importing files, hostile ones included. Who may
reach each page is in the access matrix (tests/portal/test_access_matrix.py)."""
from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from engine import api, registry
from engine.models import AuditEvent, ProcessDefinition, ProcessInstance
from tests.processes.child_protection.flows import complete, run_whole_case, start_case

pytestmark = pytest.mark.django_db

CP = "child_protection"


def bundled_xml(key: str = CP) -> str:
    from engine import registry

    return registry.packages()[key].bpmn_path.read_text(encoding="utf-8")


@pytest.fixture
def admin(client, users, deployed):
    """The administrator, reading English (the portal's default is Chinese: see the language test)."""
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def draft_revision(key: str = CP) -> int:
    """The revision the modeler would name: the draft's, or 1 for the one the next request makes."""
    from portal.studio.models import Draft

    return Draft.objects.filter(key=key).values_list("revision", flat=True).first() or 1


def post_xml(client, url, xml: str | bytes, revision: int | None = None):
    """What the modeler sends: the XML, naming the draft revision it was based on."""
    revision = draft_revision(url.split("/")[2]) if revision is None else revision
    return client.post(url, data=xml.encode("utf-8") if isinstance(xml, str) else xml, content_type="application/xml",
                       HTTP_X_CASEFLOW_REVISION=str(revision))


def upload(client, content: bytes, name: str = "diagram.bpmn"):
    return client.post("/studio/import/", {"file": SimpleUploadedFile(name, content, content_type="application/xml")})


def page(response) -> str:
    return response.content.decode()


# -- the list, a version, export ------------------------------------------------------------------

def test_the_list_shows_each_process_with_its_versions_who_deployed_them_and_running_cases(admin, users):
    running = start_case(users)
    done = run_whole_case(users)
    edited = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（修订）"')
    assert post_xml(admin, f"/studio/{CP}/deploy/", edited).status_code == 201

    text = page(admin.get("/studio/"))
    assert all(f'data-process="{key}"' in text for key in ("child_protection", "micro_fund", "needs_matching"))
    section = text.split(f'data-process="{CP}"')[1].split("</section>")[0]
    v2, v1 = section.split('data-version="2"')[1].split('data-version="1"')
    assert 'data-testid="latest"' in v2 and 'data-testid="latest"' not in v1  # new cases start on v2
    assert 'data-testid="running">0<' in v2 and 'data-testid="running">1<' in v1  # the open case stays on v1
    assert "admin" in v1 and ProcessDefinition.objects.get(key=CP, version=1).checksum[:12] in v1
    assert f'href="/studio/{CP}/v2/"' in section and f'href="/studio/{CP}/v1/export/"' in section
    assert ProcessInstance.objects.get(pk=running).definition.version == 1
    assert ProcessInstance.objects.get(pk=done).status == "completed"


def test_the_header_links_the_studio_for_administrators_only(client, users, deployed):
    client.force_login(users["admin"])
    assert 'href="/studio/"' in page(client.get("/"))
    for name in ("worker", "supervisor", "intake", "civil"):
        client.force_login(users[name])
        assert 'href="/studio/"' not in page(client.get("/"))


def test_the_version_page_lists_the_user_tasks_with_their_forms_and_shows_the_diagram(admin):
    text = page(admin.get(f"/studio/{CP}/v1/"))
    steps = text.split("<tbody>")[1]
    order = [steps.index(f'data-step="{bpmn_id}"') for bpmn_id in ("StartEvent_Report", "Task_Intake", "Task_PoliceReceipt",
                                                                    "Task_Respond", "Task_ApproveClosure")]
    assert order == sorted(order)  # the diagram's order
    respond = steps.split('data-step="Task_Respond"')[1].split("</tr>")[0]
    form = json.loads(open(f"processes/{CP}/forms/Task_Respond.json", encoding="utf-8").read())
    fields = [c for c in form["components"] if c.get("key")]
    assert "24小时内响应" in respond and "Form_Task_Respond" in respond and f"{len(fields)} fields" in respond
    assert "Social worker" in respond or "社工" in respond
    assert f'data-src="/studio/{CP}/v1/diagram/"' in text and "bpmn-viewer" in text
    diagram = admin.get(f"/studio/{CP}/v1/diagram/").json()
    assert diagram["xml"] == ProcessDefinition.objects.get(key=CP, version=1).bpmn_xml and diagram["active"] == []
    assert admin.get(f"/studio/{CP}/v9/").status_code == 404
    assert admin.get("/studio/no_such_process/v1/").status_code == 404


def test_export_downloads_the_stored_file(admin):
    response = admin.get(f"/studio/{CP}/v1/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{CP}-v1.bpmn"'
    assert response.content.decode("utf-8") == ProcessDefinition.objects.get(key=CP, version=1).bpmn_xml


def test_only_studio_pages_load_the_modeler_bundle(admin, users):
    assert "studio-modeler" in page(admin.get(f"/studio/{CP}/edit/"))
    for url in ("/", "/?tab=group", "/start/", "/studio/", f"/studio/{CP}/v1/"):
        assert "studio-modeler" not in page(admin.get(url)), url
    worker = Client()
    worker.force_login(users["worker"])
    assert "studio-modeler" not in page(worker.get("/"))


def test_the_modeler_page_opens_the_latest_version(admin):
    edited = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（修订）"')
    post_xml(admin, f"/studio/{CP}/deploy/", edited)
    text = page(admin.get(f"/studio/{CP}/edit/"))
    config = json.loads(text.split('<script id="studio-config" type="application/json">')[1].split("</script>")[0])
    assert "登记强制报告（修订）" in config["xml"]
    assert config["saveUrl"] == f"/studio/{CP}/save/" and config["deployUrl"] == f"/studio/{CP}/deploy/"
    assert config["csrf"] and all(config["messages"].values())
    assert admin.get("/studio/no_such_process/edit/").status_code == 404


# -- Check ----------------------------------------------------------------------------------------------

def test_check_passes_the_bundled_diagram(admin):
    response = post_xml(admin, f"/studio/{CP}/save/", bundled_xml())
    assert response.status_code == 200 and response.json() == {"ok": True, "problems": [], "warnings": [], "revision": 2}


def test_check_names_the_element_of_each_problem(admin):
    broken = (bundled_xml()
              .replace('name="民政办 (civil_affairs)"', 'name="民政办"')  # the lane maps to no role
              .replace('"PT48H"', '"两天后"'))  # a timer that is no ISO-8601 literal
    answer = post_xml(admin, f"/studio/{CP}/save/", broken).json()
    assert answer["ok"] is False
    by_element = {p["element"]: p["message"] for p in answer["problems"]}
    assert "does not name a known role" in by_element["Task_CivilAffairsEscalation"]
    assert "not an ISO-8601 literal" in by_element["Timer_Response48h"]
    assert ProcessDefinition.objects.filter(key=CP).count() == 1  # a check deploys nothing


def test_check_answers_in_the_users_language(admin):
    broken = bundled_xml().replace('"PT48H"', '"两天后"')
    del admin.cookies[settings.LANGUAGE_COOKIE_NAME]  # the default: Chinese
    answer = post_xml(admin, f"/studio/{CP}/save/", broken).json()
    message = next(p["message"] for p in answer["problems"] if p["element"] == "Timer_Response48h")
    assert "ISO-8601" in message and any("\u4e00" <= ch <= "\u9fff" for ch in message), message


def test_a_refused_condition_is_explained_in_the_users_language(admin):
    """The sandbox's refusals found at the check (a function it does not offer, an attribute) read
    in the studio user's language; what they name stays as written."""
    broken = bundled_xml().replace(">present_danger == True<", ">open('/etc/passwd') == present_danger.__class__<")
    del admin.cookies[settings.LANGUAGE_COOKIE_NAME]  # the default: Chinese
    answer = post_xml(admin, f"/studio/{CP}/save/", broken).json()
    messages = [p["message"] for p in answer["problems"] if "open" in p["message"] or "__class__" in p["message"]]
    assert messages and all(any("\u4e00" <= ch <= "\u9fff" for ch in m) and "not allowed" not in m for m in messages), answer["problems"]
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    answer = post_xml(admin, f"/studio/{CP}/save/", broken).json()
    assert any("not allowed" in p["message"] for p in answer["problems"]), answer["problems"]


def test_check_refuses_a_diagram_of_another_process_and_hostile_xml(admin):
    other = post_xml(admin, f"/studio/{CP}/save/", bundled_xml("micro_fund")).json()
    assert other["problems"][0]["element"] == "micro_fund" and "must stay 'child_protection'" in other["problems"][0]["message"]
    bomb = post_xml(admin, f"/studio/{CP}/save/", BILLION_LAUGHS).json()
    assert bomb["ok"] is False and bomb["problems"][0]["element"] is None
    assert "not allowed" in bomb["problems"][0]["message"]
    assert post_xml(admin, f"/studio/{CP}/save/", b"").json()["ok"] is False
    huge = admin.post(f"/studio/{CP}/save/", data=b"<" + b"a" * (3 * 1024 * 1024), content_type="application/xml")
    assert huge.status_code == 413 and "larger than" in huge.json()["problems"][0]["message"]


def test_check_and_deploy_need_csrf_and_post(users, deployed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    assert client.post(f"/studio/{CP}/deploy/", data=bundled_xml().encode(), content_type="application/xml").status_code == 403
    assert client.post(f"/studio/{CP}/save/", data=bundled_xml().encode(), content_type="application/xml").status_code == 403
    assert client.get(f"/studio/{CP}/deploy/").status_code == 405
    token = client.get(f"/studio/{CP}/edit/").cookies["csrftoken"].value
    edited = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（修订）"')
    response = client.post(f"/studio/{CP}/deploy/", data=edited.encode(), content_type="application/xml", HTTP_X_CSRFTOKEN=token,
                           HTTP_X_CASEFLOW_REVISION="1")
    assert response.status_code == 201


# -- Deploy ---------------------------------------------------------------------------------------------

def test_deploy_makes_a_new_version_while_a_running_case_stays_on_its_own_and_completes(admin, users):
    running = start_case(users)
    complete(users, running, "Task_Intake")
    edited = bundled_xml().replace('name="24小时内响应（家访/联系/安置）"', 'name="24小时内响应（修订版）"')
    response = post_xml(admin, f"/studio/{CP}/deploy/", edited)
    assert response.status_code == 201
    assert response.json() == {"ok": True, "created": True, "version": 2, "url": f"/studio/{CP}/v2/", "warnings": []}
    v1, v2 = ProcessDefinition.objects.get(key=CP, version=1), ProcessDefinition.objects.get(key=CP, version=2)
    assert v2.deployed_by == users["admin"] and v2.forms == v1.forms  # every user task kept its id, so its form
    assert AuditEvent.objects.filter(definition=v2, kind="deployed").exists()

    # New cases start on v2, with the edited name; the running case stays on v1 and finishes there.
    fresh = start_case(users)
    complete(users, fresh, "Task_Intake")
    assert ProcessInstance.objects.get(pk=fresh).definition_id == v2.pk
    assert "24小时内响应（修订版）" in {t.name for t in api.get_instance(instance_id=fresh, viewer=api.SYSTEM).open_tasks}
    for bpmn_id in ["Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan", "Task_ApprovePlan",
                    "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]:
        complete(users, running, bpmn_id)
    instance = ProcessInstance.objects.get(pk=running)
    assert (instance.definition_id, instance.status) == (v1.pk, "completed")
    assert "24小时内响应（修订版）" not in {t.name for t in api.get_instance(instance_id=running, viewer=api.SYSTEM).open_tasks}

    # The same diagram again changes nothing.
    again = post_xml(admin, f"/studio/{CP}/deploy/", edited)
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["version"] == 2


def test_deploy_takes_the_forms_only_of_tasks_that_keep_their_id(admin):
    """A renamed task loses its form: Check warns, and the version deploys with the generic confirm
    form for it, the warning naming the element (ADR 0015)."""
    renamed = bundled_xml().replace("Task_CivilAffairsEscalation", "Task_CivilOversight")
    checked = post_xml(admin, f"/studio/{CP}/save/", renamed).json()
    assert checked["ok"] is True and checked["problems"] == []
    assert [w["element"] for w in checked["warnings"]] == ["Task_CivilOversight"] and "generic confirm form" in checked["warnings"][0]["message"]
    answer = post_xml(admin, f"/studio/{CP}/deploy/", renamed)
    assert answer.status_code == 201 and answer.json()["warnings"] == checked["warnings"]
    v1, v2 = ProcessDefinition.objects.get(key=CP, version=1), ProcessDefinition.objects.get(key=CP, version=2)
    assert v2.forms["Task_CivilOversight"]["components"][1]["key"] == "confirmed"
    assert {k: v for k, v in v2.forms.items() if k != "Task_CivilOversight"} == {k: v for k, v in v1.forms.items() if k != "Task_CivilAffairsEscalation"}


def test_deploy_refuses_a_broken_diagram_and_deploys_nothing(admin):
    broken = bundled_xml().replace('name="民政办 (civil_affairs)"', 'name="民政办"')
    response = post_xml(admin, f"/studio/{CP}/deploy/", broken)
    assert response.status_code == 400 and response.json()["problems"][0]["element"] == "Task_CivilAffairsEscalation"
    assert ProcessDefinition.objects.filter(key=CP).count() == 1


def test_only_administrators_may_deploy(client, users, deployed):
    edited = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（修订）"')
    for name in ("worker", "supervisor", "intake", "civil", "outsider"):
        client.force_login(users[name])
        assert post_xml(client, f"/studio/{CP}/deploy/", edited).status_code == 404
    client.logout()
    response = post_xml(client, f"/studio/{CP}/deploy/", edited)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert ProcessDefinition.objects.filter(key=CP).count() == 1


# -- Import ---------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">&lol4;</bpmn:process></bpmn:definitions>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p" name="&xxe;"/></bpmn:definitions>"""
NO_PROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="http://x">
  <bpmn:collaboration id="C"/></bpmn:definitions>"""


@pytest.mark.parametrize("content, message", [
    (b"", "The file is empty."),
    (b"this is not a diagram", "not well-formed XML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
    ("<?xml version='1.0' encoding='latin-1'?><a>caf\xe9</a>".encode("latin-1"), "not UTF-8"),
    (BILLION_LAUGHS, "Document type declarations and entities are not allowed"),
    (EXTERNAL_ENTITY, "Document type declarations and entities are not allowed"),
    (b"<?xml version='1.0'?><html><body>hello</body></html>", "root element must be bpmn:definitions"),
    (NO_PROCESS, "exactly one executable process"),
    (b"<a>" + b" " * (1024 * 1024) + b"</a>", "larger than 1 MB"),
], ids=["empty", "not-xml", "binary", "latin-1", "billion-laughs", "external-entity", "not-bpmn", "no-process", "huge"])
def test_import_refuses_hostile_and_broken_files_with_a_clear_message(admin, content, message):
    response = upload(admin, content)
    assert response.status_code == 400
    text = page(response)
    assert message in text, text.split('data-testid="import-problems"')[-1][:600]
    assert "Traceback" not in text and 'data-testid="import-problems"' in text
    assert ProcessDefinition.objects.count() == len(registry.packages())  # the bundled ones only: nothing imported


def test_import_refuses_a_file_of_megabytes_without_parsing_it(admin):
    response = upload(admin, b"<a>" + b" " * (5 * 1024 * 1024) + b"</a>")
    assert response.status_code == 400 and "larger than 1 MB" in page(response)
    assert ProcessDefinition.objects.count() == len(registry.packages())  # the bundled ones only: nothing imported


def test_import_without_a_file_says_so(admin):
    response = admin.post("/studio/import/", {})
    assert response.status_code == 400 and "Choose a BPMN file" in page(response)


def test_import_deploys_a_new_version_with_the_forms_of_the_tasks_that_keep_their_id(admin, users):
    edited = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（导入）"')
    response = upload(admin, edited.encode("utf-8"), "child_protection.bpmn")
    assert response.status_code == 302 and response["Location"] == f"/studio/{CP}/v2/"
    v2 = ProcessDefinition.objects.get(key=CP, version=2)
    assert v2.forms == ProcessDefinition.objects.get(key=CP, version=1).forms and v2.deployed_by == users["admin"]
    assert "Imported" in page(admin.get(response["Location"]))
    again = upload(admin, edited.encode("utf-8"))
    assert again.status_code == 302 and "already version 2" in page(admin.get(again["Location"]))
    assert ProcessDefinition.objects.filter(key=CP).count() == 2


def test_import_lists_every_problem_of_a_broken_diagram(admin):
    broken = bundled_xml().replace('name="民政办 (civil_affairs)"', 'name="民政办"').replace('"PT48H"', '"soon"')
    text = page(upload(admin, broken.encode("utf-8"), "cp.bpmn"))
    problems = text.split('data-testid="import-problems"')[1].split("</div>")[0]
    assert "“cp.bpmn”" in problems
    assert "<code>Task_CivilAffairsEscalation</code>" in problems and "<code>Timer_Response48h</code>" in problems


def test_import_of_a_camunda_modeler_file_shows_its_warnings(admin, users):
    """No forms come with an upload: each user task runs with its own form if an earlier version had
    one, else the generic confirm form; the version page lists every warning, naming the element."""
    from pathlib import Path

    content = (Path(__file__).parents[1] / "engine" / "data" / "camunda_home_visit.bpmn").read_bytes()
    response = upload(admin, content, "走访.bpmn")
    assert response.status_code == 302 and response["Location"] == "/studio/camunda_home_visit/v1/"
    text = page(admin.get(response["Location"]))
    assert "Imported 困境家庭入户走访 as version 1" in text
    import re

    warnings = re.findall(r'<li class="msg warning">(.*?)</li>', text)
    assert len(warnings) == 7, warnings  # four tasks without forms, a start form not supplied, two role notes
    for element in ("Activity_Register", "Activity_Visit", "Activity_Remind", "Activity_Review", "StartEvent_1"):
        assert any(element in w for w in warnings), element
    stored = ProcessDefinition.objects.get(key="camunda_home_visit")
    assert stored.bpmn_xml == content.decode("utf-8")
    assert AuditEvent.objects.get(definition=stored, kind="deployed").data["warnings"]


# -- The draft ----------------------------------------------------------------------------------------

def test_each_save_is_kept_in_the_draft_and_a_stale_tab_cannot_overwrite_a_newer_one(admin):
    from portal.studio.models import Draft

    first = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（甲）"')
    second = bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（乙）"')
    assert post_xml(admin, f"/studio/{CP}/save/", first, revision=1).json()["revision"] == 2
    # Another tab, opened at revision 1, saves later: refused, and the first save is still there.
    stale = post_xml(admin, f"/studio/{CP}/save/", second, revision=1)
    assert stale.status_code == 409 and stale.json()["stale"] is True and stale.json()["revision"] == 2
    assert "Reload" in stale.json()["problems"][0]["message"]
    assert "登记强制报告（甲）" in Draft.objects.get(key=CP).bpmn_xml
    # Reopening the modeler shows the draft, not the deployed version.
    text = page(admin.get(f"/studio/{CP}/edit/"))
    config = json.loads(text.split('<script id="studio-config" type="application/json">')[1].split("</script>")[0])
    assert "登记强制报告（甲）" in config["xml"] and config["revision"] == 2
    assert admin.post(f"/studio/{CP}/save/", data=second.encode(), content_type="application/xml").status_code == 400


def test_deploying_the_draft_takes_its_forms_and_ends_it(admin):
    from portal.studio.models import Draft

    admin.get(f"/studio/{CP}/edit/")  # opens the draft from version 1
    draft = Draft.objects.get(key=CP)
    intake = draft.forms["Task_Intake"]
    intake["components"].append({"type": "textfield", "key": "village_contact", "label": "村联络人", "validate": {"required": True}})
    draft.forms = {**draft.forms, "Task_Intake": intake}
    draft.save()
    response = post_xml(admin, f"/studio/{CP}/deploy/", draft.bpmn_xml)
    assert response.status_code == 201 and response.json()["version"] == 2
    assert ProcessDefinition.objects.get(key=CP, version=2).forms["Task_Intake"]["components"][-1]["key"] == "village_contact"
    assert not Draft.objects.filter(key=CP).exists()


def test_discarding_the_draft_starts_again_from_the_latest_version(admin):
    from portal.studio.models import Draft

    post_xml(admin, f"/studio/{CP}/save/", bundled_xml().replace('name="登记强制报告"', 'name="登记强制报告（甲）"'))
    assert admin.post(f"/studio/{CP}/discard/").status_code == 302
    assert not Draft.objects.filter(key=CP).exists()
    assert "登记强制报告（甲）" not in page(admin.get(f"/studio/{CP}/edit/"))
