"""A photo or a signature as the proof of a visit: taken on the visit's task page like any upload
(checked by content and size, drawn again without the phone's GPS position, encrypted at rest), shown with the visit on the elder's page to the
staff who see the elder, each opening written to the access log; refused files are named next to
the field and nothing is kept. Also the time bank's confirmation, which takes the same proof."""
from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from engine.models import HumanTask
from engine.station import AccessLog
from portal.cases.models import Attachment
from processes.elderly_care.models import Visit
from tests.conftest import make_user
from tests.pictures import exif_of, picture
from tests.processes.elderly_care.flows import elder, health, screen

pytestmark = pytest.mark.django_db


def png(width=2, height=2) -> bytes:
    """A real (tiny) PNG, as the signature pad or a phone's screenshot makes one."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = picture("JPEG", gps=True, maker="PhoneMaker")  # as a phone's camera saves it: where it was taken


@pytest.fixture
def world(users, deployed, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    person = elder()
    cycle = screen(person, users["worker"], users["supervisor"])
    task = HumanTask.objects.get(instance_id=cycle, bpmn_id="Task_HealthCheck", status="open")
    return {**users, "doctor": make_user("doctor_ds", "village_doctor")}, person, task


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client, task, *files):
    data = {k: str(v) for k, v in health().items()}
    return client.post(f"/tasks/{task.pk}/", {**data, "_action": "complete", "photo": list(files)})


def test_the_visit_form_offers_the_camera_and_a_signature_pad(world):
    people, _person, task = world
    page = _client(people["worker"]).get(f"/tasks/{task.pk}/").content.decode()
    assert re.search(r'<input id="f-photo" type="file" name="photo" multiple accept="image/\*', page)  # a phone offers its camera
    assert 'data-sigpad' in page and 'data-sigpad-file' in page and "portal/signature" in page
    assert "<script>" not in page and " onclick=" not in page  # the pad is a static file (CSP)


def test_a_photo_and_a_signature_are_kept_encrypted_and_shown_with_the_visit(world):
    people, person, task = world
    photo = SimpleUploadedFile("IMG_0001.jpg", JPEG, content_type="image/jpeg")
    signature = SimpleUploadedFile("signature.png", png(), content_type="image/png")
    response = _post(_client(people["worker"]), task, photo, signature)
    assert response.status_code == 302, response.content.decode()[:800]
    visit = Visit.objects.get(instance_id=task.instance_id, kind="health")
    tokens = visit.data["photo"]
    assert len(tokens) == 2
    stored = Attachment.objects.get(token=tokens[1])
    with open(stored.file.path, "rb") as raw:
        assert not raw.read().startswith(b"\x89PNG")  # encrypted at rest, not the PNG itself
    kept = Attachment.objects.get(token=tokens[0])
    with kept.file.open("rb") as photo:  # read through the storage: decrypted
        assert photo.read()[:3] == b"\xff\xd8\xff" and exif_of(JPEG)[0x8825]
    with kept.file.open("rb") as photo:
        assert 0x8825 not in exif_of(photo.read())  # drawn again: the phone's GPS position (the elder's home) is gone

    page = _client(people["supervisor"]).get(f"/elderly/{person.pk}/").content.decode()
    links = re.findall(r'href="/files/([0-9a-f]{32})/"', page)
    assert links == tokens
    before = AccessLog.objects.filter(view="attachment", instance_id=task.instance_id).count()
    opened = _client(people["supervisor"]).get(f"/files/{tokens[1]}/")
    shown = b"".join(opened.streaming_content)
    assert opened.status_code == 200 and shown.startswith(b"\x89PNG") and Image.open(io.BytesIO(shown)).size == (2, 2)
    assert "inline" in opened["Content-Disposition"]  # a photo opens on the phone, no download
    assert AccessLog.objects.filter(view="attachment", instance_id=task.instance_id, user=people["supervisor"]).count() == before + 1


def test_staff_of_another_village_and_outsiders_never_open_a_proof(world):
    people, person, task = world
    _post(_client(people["worker"]), task, SimpleUploadedFile("a.png", png(), content_type="image/png"))
    token = Visit.objects.get(instance_id=task.instance_id, kind="health").data["photo"][0]
    for who in ("worker_xishui", "intake", "doctor"):
        assert _client(people[who]).get(f"/files/{token}/").status_code == 404, who
        assert _client(people[who]).get(f"/elderly/{person.pk}/").status_code == 404, who
    assert Client().get(f"/files/{token}/")["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("upload, says", [
    (SimpleUploadedFile("visit.jpg", b"MZ\x90\x00\x03" + b"\x00" * 200, content_type="image/jpeg"), "by its content"),
    (SimpleUploadedFile("visit.png", JPEG, content_type="image/png"), "JPEG"),
    (SimpleUploadedFile("=HYPERLINK(x).heic", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 50, content_type="image/heic"), "could not be read"),
    (SimpleUploadedFile("=HYPERLINK(x).bmp", b"BM" + b"\x00" * 50, content_type="image/bmp"), "only photos"),
    (SimpleUploadedFile("<b>big</b>.jpg", JPEG + b"\x00" * (10 * 1024 * 1024), content_type="image/jpeg"), "10 MB"),
])
def test_a_refused_file_is_named_next_to_the_field_and_nothing_is_kept(world, upload, says):
    people, _person, task = world
    client = _client(people["worker"])
    client.cookies["django_language"] = "en"  # the worker chose English: the message is checked in words
    response = client.post(f"/tasks/{task.pk}/", {**{k: str(v) for k, v in health().items()}, "_action": "complete", "photo": [upload]})
    assert response.status_code == 400
    text = response.content.decode()
    field = text.split('data-field="photo"')[1].split('data-field=')[0]
    assert 'class="error"' in field and says in field
    assert "<b>big</b>" not in text
    assert Attachment.objects.count() == 0
    assert HumanTask.objects.get(pk=task.pk).status == "open"


def test_a_visit_without_proof_is_still_recorded_and_says_none(world):
    people, person, task = world
    assert _post(_client(people["worker"]), task).status_code == 302
    page = _client(people["worker"]).get(f"/elderly/{person.pk}/").content.decode()
    assert re.search(r'data-testid="proof">\s*(无|none)', page)
