"""The data migration that draws again the pictures attached before uploads were drawn again: the
phone's EXIF (its GPS position) is gone from each, under the same name, still encrypted; what is not a
readable picture, and every other kind of file, is left as it was."""
from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.files.base import ContentFile

from portal.cases.models import Attachment
from tests.pictures import exif_of, picture

pytestmark = pytest.mark.django_db

migration = importlib.import_module("portal.cases.migrations.0005_redraw_picture_attachments")


def _attached(users, name: str, data: bytes, content_type: str) -> Attachment:
    return Attachment.objects.create(task_id=1, instance_id=1, uploaded_by=users["worker"], file=ContentFile(data, name=name),
                                     original_name=name, content_type=content_type, size=len(data))


def _stored(attachment: Attachment) -> bytes:
    attachment.refresh_from_db()
    with attachment.file.open("rb") as stored:
        return stored.read()


def test_pictures_attached_earlier_lose_their_gps_position(users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    photo = _attached(users, "IMG_0001.jpg", picture("JPEG", gps=True, maker="PhoneMaker"), "image/jpeg")
    screenshot = _attached(users, "screen.png", picture("PNG"), "image/png")
    broken = _attached(users, "broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg" + b"\x00" * 64, "image/jpeg")
    document = _attached(users, "report.pdf", b"%PDF-1.7\n" + b"0" * 64, "application/pdf")
    names = {a.pk: a.file.name for a in (photo, screenshot, broken, document)}
    assert exif_of(_stored(photo))[0x8825]
    with open(photo.file.path, "rb") as raw:
        assert not raw.read().startswith(b"\xff\xd8\xff")  # encrypted at rest

    migration.redraw_pictures(apps, None)

    kept = _stored(photo)
    assert kept[:3] == b"\xff\xd8\xff" and exif_of(kept) == {} and photo.size == len(kept)
    with open(photo.file.path, "rb") as raw:
        assert not raw.read().startswith(b"\xff\xd8\xff")  # still encrypted
    assert _stored(screenshot).startswith(b"\x89PNG")
    assert _stored(broken).startswith(b"\xff\xd8\xff\xe0 not really")  # left as it was
    assert _stored(document).startswith(b"%PDF")
    assert {a.pk: a.file.name for a in Attachment.objects.all()} == names
