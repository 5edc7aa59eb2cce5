"""Photos in a child's growth archive: added only with the guardian's consent on record, hidden when
it is withdrawn, served only past the archive's need-to-know gate with every view logged, stored
encrypted and without the phone's metadata, refused with a clear reason for anything but a photo."""
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from engine.station import AccessLog
from processes.children.models import ChildPhoto
from tests.minors import give_record_reason

from .flows import child

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path):
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        yield tmp_path


def jpeg(gps=True) -> bytes:
    image = Image.new("RGB", (40, 30), (10, 120, 200))
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {1: "N", 2: (30.0, 15.0, 1.0), 3: "E", 4: (114.0, 5.0, 2.0)}
        exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def opened(client, user, kid):
    """The supervisor holds every archive of the village: a reason once, as on the form."""
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the messages below are read in English
    give_record_reason(client, "child", kid.pk, next_url=f"/children/{kid.pk}/")
    return client


def post_photo(client, kid, data=None, name="p.jpg", content_type="image/jpeg", **fields):
    upload = SimpleUploadedFile(name, jpeg() if data is None else data, content_type=content_type)
    return client.post(f"/children/{kid.pk}/", {"_action": "photo", "photo": upload, **fields})


def test_a_photo_is_added_with_consent_kept_encrypted_without_gps_and_each_view_logged(users, client, media):
    kid = child(name="王小明", consent_photo=True)
    opened(client, users["supervisor"], kid)
    response = post_photo(client, kid, caption="六一节画画", taken_on="2026-06-01")
    assert response.status_code == 302, response.content.decode()[:2000]
    photo = ChildPhoto.objects.get(child=kid)
    stored = (media / photo.file.name).read_bytes()
    assert not stored.startswith(b"\xff\xd8") and b"PhoneMaker" not in stored  # encrypted at rest
    assert "王小明" not in photo.file.name and photo.caption == "六一节画画"
    page = client.get(f"/children/{kid.pk}/").content.decode()
    assert f"/children/{kid.pk}/photos/{photo.token}/" in page and "六一节画画" in page
    before = AccessLog.objects.filter(record=f"child:{kid.pk}", view="children_photo").count()
    served = client.get(f"/children/{kid.pk}/photos/{photo.token}/")
    body = b"".join(served.streaming_content)
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg" and "no-store" in served["Cache-Control"]
    assert body.startswith(b"\xff\xd8") and b"PhoneMaker" not in body and not Image.open(io.BytesIO(body)).getexif()
    log = AccessLog.objects.filter(record=f"child:{kid.pk}", view="children_photo").order_by("-pk")
    assert log.count() == before + 1 and log[0].user == users["supervisor"] and log[0].purpose == "casework"


def test_without_consent_no_photo_is_added_and_withdrawing_it_deletes_the_photos_once_confirmed(users, client, media,
                                                                                             django_capture_on_commit_callbacks):
    kid = child(name="李小红", consent_photo=False)
    opened(client, users["supervisor"], kid)
    refused = post_photo(client, kid)
    assert refused.status_code == 400 and "consent to photos is not on record" in refused.content.decode()
    assert not ChildPhoto.objects.exists()
    client.post(f"/children/{kid.pk}/", {"_action": "consent", "consent_group": "on", "consent_photo": "on", "consent_date": "2026-09-01"})
    assert post_photo(client, kid).status_code == 302
    photo = ChildPhoto.objects.get(child=kid)
    url, stored = f"/children/{kid.pk}/photos/{photo.token}/", media / photo.file.name
    assert client.get(url).status_code == 200 and stored.exists()

    # Withdrawn without confirming: nothing changes, the page says what would be deleted and keeps what was typed.
    asked = client.post(f"/children/{kid.pk}/", {"_action": "consent", "consent_group": "on", "consent_date": "2026-09-02"})
    page = asked.content.decode()
    assert asked.status_code == 400 and "deletes the 1 photos of this archive for good" in page
    assert 'value="2026-09-02"' in page and 'name="delete_photos"' in page
    kid.refresh_from_db()
    assert kid.consent_photo and ChildPhoto.objects.filter(pk=photo.pk).exists() and stored.exists()

    # Confirmed from a tab that was asked about another number of photos: asked again.
    stale = client.post(f"/children/{kid.pk}/", {"_action": "consent", "consent_group": "on", "consent_date": "2026-09-02",
                                                 "delete_photos": "2"})
    assert stale.status_code == 400 and 'name="delete_photos" value="1"' in stale.content.decode()
    assert ChildPhoto.objects.filter(pk=photo.pk).exists()

    # Confirmed: the consent is withdrawn and the photo is gone, row and file.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        done = client.post(f"/children/{kid.pk}/", {"_action": "consent", "consent_group": "on", "consent_date": "2026-09-02",
                                                      "delete_photos": "1"})
    assert done.status_code == 302 and len(callbacks) >= 1
    kid.refresh_from_db()
    assert not kid.consent_photo and kid.consent_group
    assert not ChildPhoto.objects.filter(child=kid).exists() and not stored.exists()
    assert client.get(url).status_code == 404
    assert "no photo can be added" in client.get(f"/children/{kid.pk}/").content.decode()


def test_a_photo_is_served_only_past_the_gate_and_never_to_another_village(users, client):
    kid = child(name="王小明", consent_photo=True)
    opened(client, users["supervisor"], kid)
    post_photo(client, kid)
    url = f"/children/{kid.pk}/photos/{ChildPhoto.objects.get().token}/"
    client.logout()
    client.force_login(users["worker2"])  # same village, holds none of the child's cases, no approval
    assert client.get(url).status_code == 403
    assert AccessLog.objects.filter(user=users["worker2"], record=f"child:{kid.pk}", view="children_photo", outcome="refused").exists()
    client.force_login(users["worker_xishui"])
    assert client.get(url).status_code == 404
    client.force_login(users["supervisor"])
    assert client.get(f"/children/{kid.pk}/photos/{'0' * 32}/").status_code == 404


@pytest.mark.parametrize("data, name, content_type, message", [
    (b"%PDF-1.4 not a picture", "scan.jpg", "image/jpeg", "not a photo"),
    (b"<script>alert(1)</script>", "x.png", "image/png", "not a photo"),
    (b'=HYPERLINK("http://evil","click")', "x.jpg", "image/jpeg", "not a photo"),
    (b"", "empty.jpg", "image/jpeg", "is empty"),
])
def test_anything_but_a_photo_is_refused_with_a_clear_error(users, client, data, name, content_type, message):
    kid = child(name="王小明", consent_photo=True)
    opened(client, users["supervisor"], kid)
    response = post_photo(client, kid, data=data, name=name, content_type=content_type)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ChildPhoto.objects.exists()


def test_caption_and_date_are_checked_and_markup_is_shown_as_text(users, client):
    kid = child(name="王小明", consent_photo=True)
    opened(client, users["supervisor"], kid)
    too_long = post_photo(client, kid, caption="长" * 5000, taken_on="2099-01-01")
    page = too_long.content.decode()
    assert too_long.status_code == 400 and "At most 100 characters" in page and "cannot be in the future" in page
    assert post_photo(client, kid, caption='<img src=x onerror=alert(1)>=HYPERLINK("x")').status_code == 302
    page = client.get(f"/children/{kid.pk}/").content.decode()
    assert "<img src=x onerror" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_same_form_sent_twice_keeps_one_photo_and_a_holder_may_delete_it(users, client):
    kid = child(name="王小明", consent_photo=True)
    opened(client, users["supervisor"], kid)
    token = "5b1e2a7c-0d7e-4a55-9f0e-2f1b8f6c1a11"
    assert post_photo(client, kid, _token=token).status_code == 302
    assert post_photo(client, kid, _token=token).status_code == 302
    photo = ChildPhoto.objects.get()
    assert client.post(f"/children/{kid.pk}/", {"_action": "photo_delete", "photo": photo.token}).status_code == 302
    assert not ChildPhoto.objects.exists()
