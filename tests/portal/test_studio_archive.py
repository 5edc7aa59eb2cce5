"""The process studio's archives (/studio/<key>/v<n>/archive/ and /studio/import-archive/): a version
as one .zip (the diagram, forms/<element id>.json, a manifest), and reading one back — round trips,
and every hostile archive refused with one sentence, never a traceback, nothing deployed. Who may
reach both is in the access matrix (tests/portal/test_access_matrix.py)."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from engine import registry
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from engine.models import AuditEvent, ProcessDefinition

pytestmark = pytest.mark.django_db

CP = "child_protection"


@pytest.fixture
def admin(client, users, deployed):
    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def export(client, key: str = CP, version: int = 1) -> dict[str, bytes]:
    response = client.get(f"/studio/{key}/v{version}/archive/")
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{key}-v{version}.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip(entries: dict[str, bytes] | list[tuple[str, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in (entries.items() if isinstance(entries, dict) else entries):
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(client, content: bytes, name: str = "archive.zip"):
    return client.post("/studio/import-archive/", {"archive": SimpleUploadedFile(name, content, content_type="application/zip")})


def page(response) -> str:
    return response.content.decode()


def test_export_holds_the_stored_diagram_every_form_and_a_manifest(admin):
    files = export(admin)
    v1 = ProcessDefinition.objects.get(key=CP, version=1)
    assert files[f"{CP}.bpmn"].decode("utf-8") == v1.bpmn_xml
    forms = {name[len("forms/"):-len(".json")]: json.loads(data) for name, data in files.items() if name.startswith("forms/")}
    assert forms == v1.forms and len(forms) == 12
    manifest = json.loads(files["caseflow.json"])
    assert manifest["key"] == CP and manifest["version"] == 1 and manifest["checksum"] == v1.checksum and manifest["exported_at"]
    assert set(files) == {f"{CP}.bpmn", "caseflow.json", *(f"forms/{e}.json" for e in v1.forms)}


def test_export_of_a_version_that_does_not_exist_is_404(admin):
    assert admin.get(f"/studio/{CP}/v9/archive/").status_code == 404
    assert admin.get("/studio/nothing/v1/archive/").status_code == 404


def test_round_trip_into_a_fresh_database_gives_the_same_version(client, users):
    from django.db import transaction

    from engine import api, registry

    client.force_login(users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    class Rollback(Exception):
        pass

    # Deployed and exported in a savepoint rolled back after: the database is fresh again (audit
    # events are append-only, so nothing is deleted).
    try:
        with transaction.atomic():
            package = registry.packages()[CP]
            api.deploy_file(bpmn_path=package.bpmn_path, forms_dir=package.forms_dir, actor=users["admin"])
            files = export(client)
            raise Rollback
    except Rollback:
        pass
    assert not ProcessDefinition.objects.exists()
    manifest = json.loads(files["caseflow.json"])
    admin = client
    response = upload(admin, make_zip(files), f"{CP}-v1.zip")
    assert response.status_code == 302 and response["Location"] == f"/studio/{CP}/v1/"
    stored = ProcessDefinition.objects.get(key=CP)
    forms = {name[len("forms/"):-len(".json")]: json.loads(data) for name, data in files.items() if name.startswith("forms/")}
    assert stored.version == 1 and stored.forms == forms and stored.checksum == manifest["checksum"]
    assert stored.bpmn_xml == files[f"{CP}.bpmn"].decode("utf-8")
    assert "Imported" in page(admin.get(response["Location"]))


def test_an_archive_with_one_label_changed_becomes_a_new_version_with_the_archives_forms(admin, users):
    files = export(admin)
    intake = json.loads(files["forms/Task_Intake.json"])
    field = next(c for c in intake["components"] if c.get("label"))
    old_label, field["label"] = field["label"], field["label"] + "（修订）"
    files["forms/Task_Intake.json"] = json.dumps(intake, ensure_ascii=False).encode("utf-8")
    response = upload(admin, make_zip(files))
    assert response.status_code == 302 and response["Location"] == f"/studio/{CP}/v2/"
    v1, v2 = (ProcessDefinition.objects.get(key=CP, version=n) for n in (1, 2))
    assert v2.forms == {name[len("forms/"):-len(".json")]: json.loads(data) for name, data in files.items() if name.startswith("forms/")}
    assert v2.forms["Task_Intake"] != v1.forms["Task_Intake"] and v2.deployed_by == users["admin"]
    assert {k: v for k, v in v2.forms.items() if k != "Task_Intake"} == {k: v for k, v in v1.forms.items() if k != "Task_Intake"}
    assert next(c for c in v2.forms["Task_Intake"]["components"] if c.get("label"))["label"] == old_label + "（修订）"
    again = upload(admin, make_zip(files))  # the same archive twice: nothing new
    assert again.status_code == 302 and "already version 2" in page(admin.get(again["Location"]))
    assert ProcessDefinition.objects.filter(key=CP).count() == 2


def test_a_folder_zipped_as_a_whole_is_read_as_if_unpacked(admin):
    files = export(admin)
    intake = json.loads(files["forms/Task_Intake.json"])
    next(c for c in intake["components"] if c.get("label"))["label"] += "（改）"
    files["forms/Task_Intake.json"] = json.dumps(intake, ensure_ascii=False).encode("utf-8")
    entries = [("cp/", b""), *((f"cp/{name}", data) for name, data in files.items()), ("__MACOSX/cp/._x", b"\x00"), ("cp/.DS_Store", b"\x00")]
    response = upload(admin, make_zip(entries))
    assert response.status_code == 302 and response["Location"] == f"/studio/{CP}/v2/"


def test_an_archive_of_a_camunda_file_without_forms_deploys_with_its_warnings(admin):
    from pathlib import Path

    content = (Path(__file__).parents[1] / "engine" / "data" / "camunda_home_visit.bpmn").read_bytes()
    response = upload(admin, make_zip({"home_visit.bpmn": content}))
    assert response.status_code == 302 and response["Location"] == "/studio/camunda_home_visit/v1/"
    text = page(admin.get(response["Location"]))
    assert text.count('<li class="msg warning">') == 7 and "Activity_Visit" in text


def _bomb() -> bytes:
    # 6 MB of zeros deflate to a few kB: each entry is small, together they are over 5 MB.
    return make_zip([("p.bpmn", b"<a/>")] + [(f"forms/f{i}.json", b" " * (900 * 1024)) for i in range(7)])


def _lying_size() -> bytes:
    """An entry whose headers declare 10 bytes but which inflates to 2 MB: zipfile stops at 10 and the
    checksum fails."""
    data = bytearray(make_zip({"p.bpmn": b"<a/>", "forms/x.json": b" " * (2 * 1024 * 1024)}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("forms/x.json")
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02", 0, len(data)) + 24):
        data[offset:offset + 4] = (10).to_bytes(4, "little")
    return bytes(data)


def _encrypted() -> bytes:
    data = bytearray(make_zip({"p.bpmn": b"<a/>"}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("p.bpmn")
    for offset in (info.header_offset + 6, data.rfind(b"PK\x01\x02") + 8):
        data[offset] |= 0x1
    return bytes(data)


def _duplicate() -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name it writes
        return make_zip([("p.bpmn", b"<a/>"), ("p.bpmn", b"<b/>")])


def bundled_xml() -> bytes:
    from engine import registry

    return registry.packages()[CP].bpmn_path.read_bytes()


@pytest.mark.parametrize("content, message", [
    (b"", "The file is empty."),
    (b"PK\x03\x04 this is not a zip", "not a .zip archive"),
    (b"<?xml version='1.0'?><a/>", "not a .zip archive"),
    (b" " * (1024 * 1024 + 1), "larger than 1 MB"),
    (make_zip([(f"forms/f{i}.json", b"{}") for i in range(201)]), "at most 200 are read"),
    (make_zip({"p.bpmn": b"<a/>", "../evil.json": b"{}"}), "path outside its folder"),
    (make_zip({"p.bpmn": b"<a/>", "forms/../../evil.json": b"{}"}), "path outside its folder"),
    (make_zip({"/etc/p.bpmn": b"<a/>"}), "path outside its folder"),
    (make_zip({"C:/p.bpmn": b"<a/>"}), "path outside its folder"),
    (make_zip({"p.bpmn": b"<a/>", "forms/x.json": b" " * (1024 * 1024 + 1)}), "larger than 1048576 bytes once unpacked"),
    (_bomb(), "unpacks to more than 5 MB"),
    (_lying_size(), "cannot be unpacked"),
    (_encrypted(), "cannot be unpacked"),
    (make_zip({"forms/Task_Intake.json": b"{}", "caseflow.json": b"{}"}), "no .bpmn file"),
    (make_zip({"a.bpmn": b"<a/>", "b.bpmn": b"<a/>"}), "more than one .bpmn"),
    (_duplicate(), "same file twice"),
    (make_zip({"p.bpmn": bundled_xml(), "forms/Task_Intake.json": "{'label': 'café'}".encode("latin-1") + b"\xe9"}), "not UTF-8"),
    (make_zip({"p.bpmn": bundled_xml(), "forms/Task_Intake.json": b"{not json"}), "not valid JSON"),
    (make_zip({"p.bpmn": bundled_xml(), "forms/Task_Intake.json": b"[" * 100000}), "not valid JSON"),
    (make_zip({"p.bpmn": bundled_xml(), "forms/Task_Intake.json": b"[1, 2]"}), "one JSON object"),
    (make_zip({"p.bpmn": b"\x89PNG\r\n\x1a\n\x00"}), "not UTF-8"),
    (make_zip({"p.bpmn": b"<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><d>&x;</d>"}), "Document type declarations"),
    (make_zip({"p.bpmn": bundled_xml(), "forms/Task_Intake.json": b'{"components": "no"}'}), "Task_Intake"),
], ids=["empty", "damaged", "not-zip", "huge-upload", "too-many-entries", "dot-dot", "nested-dot-dot", "absolute", "drive",
        "big-entry", "zip-bomb", "lying-size", "encrypted", "no-bpmn", "two-bpmn", "duplicate", "form-not-utf8", "form-not-json",
        "form-deep-json", "form-not-object", "bpmn-binary", "bpmn-entities", "form-invalid"])
def test_hostile_and_broken_archives_are_refused_with_one_sentence(admin, content, message):
    response = upload(admin, content)
    assert response.status_code == 400
    text = page(response)
    problems = text.split('data-testid="archive-problems"')[-1].split("</div>")[0]
    assert 'data-testid="archive-problems"' in text and message in problems, problems[:800]
    assert "Traceback" not in text
    assert ProcessDefinition.objects.count() == len(registry.packages())  # the bundled ones only: nothing imported


def test_import_without_an_archive_says_so_and_get_is_refused(admin):
    response = admin.post("/studio/import-archive/", {})
    assert response.status_code == 400 and "Choose a .zip archive" in page(response)
    assert admin.get("/studio/import-archive/").status_code == 405


def test_the_list_links_each_versions_archive_and_offers_the_archive_import(admin):
    text = page(admin.get("/studio/"))
    assert f'href="/studio/{CP}/v1/archive/"' in text and 'action="/studio/import-archive/"' in text
