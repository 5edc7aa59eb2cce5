"""A session's page and its photos: staff of the session's village see it and its photos (each view
logged), another village's worker gets a 404, photos come only after the session took place, with
the people's agreement confirmed, at most a few, by content, without the phone's metadata."""
import datetime as dt
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from engine import api, clock
from engine.station import AccessLog
from processes.activities.models import Activity, ActivityPhoto
from processes.activities.views import PHOTOS_PER_SESSION

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path):
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        yield tmp_path


def session(actor, village="dongshan", held_on=None) -> Activity:
    info = api.start_instance(process_key="activities", actor=actor, data={
        "kind": "awareness", "title": f"防溺水宣传-{village}", "village": village, "place": "村广场",
        "held_on": (held_on or clock.today()).isoformat(), "facilitator": "李社工"})
    return Activity.objects.get(instance_id=info.id)


def png() -> bytes:
    image = Image.new("RGB", (30, 20), (250, 200, 0))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=_gps_text())
    return out.getvalue()


def _gps_text():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("GPS", "30.25N 114.08E")
    return info


def english(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def post(client, activity, data=None, **fields):
    upload = SimpleUploadedFile("s.png", png() if data is None else data, content_type="image/png")
    return client.post(f"/activities/{activity.pk}/", {"_action": "photo", "photo": upload, "consent": "on", **fields})


def test_a_sessions_photo_is_kept_without_its_metadata_and_each_view_is_logged(users, deployed, client, media):
    activity = session(users["worker"])
    english(client, users["worker"])
    page = client.get("/activities/").content.decode()
    assert f"/activities/{activity.pk}/" in page
    assert post(client, activity, caption="孩子们在学习").status_code == 302
    photo = ActivityPhoto.objects.get(activity=activity)
    assert b"30.25N" not in (media / photo.file.name).read_bytes()
    shown = client.get(f"/activities/{activity.pk}/").content.decode()
    assert f"/activities/{activity.pk}/photos/{photo.token}/" in shown and "孩子们在学习" in shown
    served = client.get(f"/activities/{activity.pk}/photos/{photo.token}/")
    body = b"".join(served.streaming_content)
    assert served.status_code == 200 and served["Content-Type"] == "image/png" and b"30.25N" not in body
    assert AccessLog.objects.filter(user=users["worker"], view="activity_photo", instance_id=activity.instance_id).count() == 1
    client.force_login(users["supervisor"])
    assert client.get(f"/activities/{activity.pk}/photos/{photo.token}/").status_code == 200


def test_another_villages_worker_and_outsiders_get_a_404_for_the_session_and_its_photos(users, deployed, client):
    activity = session(users["worker"])
    english(client, users["worker"])
    post(client, activity)
    url = f"/activities/{activity.pk}/photos/{ActivityPhoto.objects.get().token}/"
    for who in ("worker_xishui", "intake", "civil"):
        client.force_login(users[who])
        assert client.get(f"/activities/{activity.pk}/").status_code == 404
        assert client.get(url).status_code == 404
        assert post(client, activity).status_code == 404
    assert ActivityPhoto.objects.count() == 1


def test_photos_come_after_the_session_with_consent_confirmed_and_at_most_a_few(users, deployed, client):
    planned = session(users["worker"], held_on=clock.today() + dt.timedelta(days=3))
    english(client, users["worker"])
    early = post(client, planned)
    assert early.status_code == 400 and "once it has taken place" in early.content.decode()
    activity = session(users["worker"])
    unconfirmed = client.post(f"/activities/{activity.pk}/", {"_action": "photo", "photo": SimpleUploadedFile("s.png", png())})
    assert unconfirmed.status_code == 400 and "agreed to it" in unconfirmed.content.decode()
    for _ in range(PHOTOS_PER_SESSION):
        assert post(client, activity).status_code == 302
    full = post(client, activity)
    assert full.status_code == 400 and "the most it keeps" in full.content.decode()
    assert ActivityPhoto.objects.filter(activity=activity).count() == PHOTOS_PER_SESSION


@pytest.mark.parametrize("data, message", [
    (b"GIF89a not kept", "not a photo"),
    (b'=HYPERLINK("http://evil")', "not a photo"),
    (b"<svg onload=alert(1)>", "not a photo"),
])
def test_anything_but_a_photo_is_refused_and_markup_stays_text(users, deployed, client, data, message):
    activity = session(users["worker"])
    english(client, users["worker"])
    response = post(client, activity, data=data, caption="<b>x</b>" * 40)
    text = response.content.decode()
    assert response.status_code == 400 and "At most 100 characters" in text and not ActivityPhoto.objects.exists()
    response = post(client, activity, data=data, caption="<b>粗体</b>")
    assert response.status_code == 400 and message in response.content.decode() and "<b>粗体</b>" not in response.content.decode()


def test_the_administrator_looks_but_does_not_add_photos(users, deployed, client):
    from tests.conftest import make_user

    admin = make_user("admin_a", "admin", villages=None)
    activity = session(users["worker"])
    english(client, admin)
    assert client.get(f"/activities/{activity.pk}/").status_code == 200
    assert post(client, activity).status_code == 400 and not ActivityPhoto.objects.exists()
