"""Photos kept outside task forms (engine/photos.py): only pictures by their content, within the size,
pixel and daily limits, re-encoded without the phone's metadata (EXIF GPS) and turned upright."""
from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from engine import api, registry
from tests.conftest import make_user
from tests.pictures import exif_of, picture

pytestmark = pytest.mark.django_db


def jpeg_with_gps(size=(64, 32), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    gps = {1: "N", 2: (30.0, 15.0, 1.0), 3: "E", 4: (114.0, 5.0, 2.0)}
    exif[0x8825] = gps  # GPSInfo
    exif[0x010F] = "PhoneMaker"  # Make
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_a_photo_loses_its_gps_position_and_every_other_exif_tag(db):
    user = make_user("photographer", "worker")
    original = jpeg_with_gps()
    assert b"PhoneMaker" in original and Image.open(io.BytesIO(original)).getexif().get(0x8825)
    photo = api.clean_photo(upload(original), user=user)
    assert photo.content_type == "image/jpeg" and photo.extension == "jpg"
    kept = Image.open(io.BytesIO(photo.data))
    assert not kept.getexif() and "exif" not in kept.info
    assert b"PhoneMaker" not in photo.data and b"GPS" not in photo.data


def test_a_heic_photo_is_kept_as_a_jpeg_without_its_exif(db):
    user = make_user("photographer", "worker")
    original = picture("HEIF", size=(48, 24), gps=True, maker="PhoneMaker")
    assert exif_of(original)[0x8825]
    photo = api.clean_photo(upload(original, name="IMG_0042.HEIC", content_type="image/heic"), user=user)
    assert (photo.content_type, photo.extension, photo.width, photo.height) == ("image/jpeg", "jpg", 48, 24)
    assert photo.data[:3] == b"\xff\xd8\xff" and exif_of(photo.data) == {}


def test_a_phones_multi_picture_jpeg_is_kept_as_its_first_picture(db):
    """Some phones save a JPEG with a second picture inside (MPO): Pillow names it MPO, not JPEG."""
    user = make_user("photographer", "worker")
    first, second = Image.new("RGB", (40, 20), (200, 30, 30)), Image.new("RGB", (40, 20), (0, 0, 200))
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    photo = api.clean_photo(upload(out.getvalue()), user=user)
    kept = Image.open(io.BytesIO(photo.data))
    assert (kept.format, kept.size) == ("JPEG", (40, 20)) and kept.getpixel((20, 10))[0] > 150


def test_a_photo_taken_sideways_is_stored_upright(db):
    user = make_user("photographer", "worker")
    photo = api.clean_photo(upload(jpeg_with_gps(size=(60, 20), orientation=6)), user=user)  # rotate 90° to view
    assert (photo.width, photo.height) == (20, 60)


def test_a_large_photo_is_made_smaller_on_its_long_side(db):
    user = make_user("photographer", "worker")
    out = io.BytesIO()
    Image.new("RGB", (4000, 1000), (0, 90, 0)).save(out, format="PNG")
    photo = api.clean_photo(upload(out.getvalue(), "big.png", "image/png"), user=user)
    assert (photo.width, photo.height) == (2048, 512) and photo.content_type == "image/png"


@pytest.mark.parametrize("data, why", [
    (b"", "is empty"),
    (b"%PDF-1.4 a document", "not a photo"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "not a photo"),
    (b"=HYPERLINK(\"http://x\")", "not a photo"),
    (b"\xff\xd8\xff\xe0 this is not really a jpeg" + b"\x00" * 100, "could not be read"),
])
def test_anything_but_a_readable_picture_is_refused_with_a_reason(db, data, why):
    user = make_user("photographer", "worker")
    with pytest.raises(api.PhotoRefused) as refused:
        api.clean_photo(upload(data, "photo.jpg"), user=user)
    assert why in str(refused.value)


def test_a_photo_over_the_size_limit_is_refused(db):
    user = make_user("photographer", "worker")
    with pytest.raises(api.PhotoRefused, match="larger than 1 MB"):
        api.clean_photo(upload(jpeg_with_gps() + b"\x00" * (1024 * 1024)), user=user, max_bytes=1024 * 1024)


def test_the_daily_quota_counts_every_kind_of_upload(db):
    user = make_user("photographer", "worker")
    registry.register_upload_usage(_pretend_used)
    try:
        with override_settings(UPLOAD_QUOTA_BYTES_PER_DAY=5 * 1024 * 1024), pytest.raises(api.PhotoRefused, match="limit is 5 MB"):
            api.clean_photo(upload(jpeg_with_gps()), user=user)
    finally:
        registry._upload_usage.remove(_pretend_used)


def _pretend_used(user, since) -> int:
    return 5 * 1024 * 1024


def test_the_antivirus_hook_may_refuse_a_photo(db):
    user = make_user("photographer", "worker")
    with override_settings(CASEFLOW_UPLOAD_SCANNER="tests.engine.test_photos.refuse_all"), pytest.raises(api.PhotoRefused, match="EICAR"):
        api.clean_photo(upload(jpeg_with_gps()), user=user)


def refuse_all(name, data):
    return "EICAR test signature"
