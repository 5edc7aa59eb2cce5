"""Photos people upload outside a task form (a session's photos, a child's growth archive): checked by
their content and made safe to keep before anything is stored.

A photo is accepted only as JPEG, PNG, WebP or HEIC/HEIF (what some phones save by default; kept as
JPEG) by its first bytes (never its name or the browser's say-so), at most `max_bytes`, at most `MAX_PIXELS`, within the uploader's daily quota (every kind of
upload a process registers with `registry.register_upload_usage` counts, the task forms' files too)
and past the antivirus hook `CASEFLOW_UPLOAD_SCANNER`. It is then decoded and drawn again by Pillow:
turned upright by its EXIF orientation, made at most `MAX_EDGE` pixels on its long side, and
re-encoded with nothing but its pixels — EXIF (the phone's GPS position, its serial number, the
time), XMP, ICC and text chunks are not carried over. What comes out is bytes for the caller to
store; the default storage encrypts them at rest (ADR 0019). `redraw` is the same for a picture
attached to a task form (portal/inbox/formdata.py), whose other checks the form's upload makes."""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from engine import registry
from engine.errors import CaseflowError

MAX_PIXELS = 40_000_000  # a 40-megapixel frame; anything larger is refused before it is decoded
MAX_EDGE = 2048  # enough to see a face or a drawing on a phone, a tenth of a camera's file
TYPES = {"image/jpeg": ("JPEG", "jpg"), "image/png": ("PNG", "png"), "image/webp": ("WEBP", "webp")}
# HEIC/HEIF is read (pillow-heif) and kept as JPEG: every browser shows that, few show HEIC.
READ_ONLY = {"image/heic": "image/jpeg"}
# Pillow's name of each format read, by the sniffed type: a file must decode as what its bytes say.
_PILLOW_FORMATS = {"image/jpeg": {"JPEG", "MPO"}, "image/png": {"PNG"}, "image/webp": {"WEBP"}, "image/heic": {"HEIF"}}
# The major brands of an ISO media file ("ftyp" box) that hold a HEIC/HEIF still image.
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


class PhotoRefused(CaseflowError):
    """The photo was not stored; the message says why and what to do."""

    code = "photo_refused"


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def sniff_image(head: bytes) -> str | None:
    """The image type by the file's first bytes, among those we keep; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "image/heic"
    return None


def clean_photo(upload, *, user, max_bytes: int | None = None) -> CleanPhoto:
    """The photo's pixels re-encoded without metadata, or PhotoRefused with a reason a person can act on.
    `upload` is a Django UploadedFile (anything with .name, .size, .read() and .seek())."""
    if upload is None:
        raise PhotoRefused(_("Choose a photo to upload."))
    name = (getattr(upload, "name", "") or "")[:80]
    limit = max_bytes or settings.MAX_UPLOAD_BYTES
    size = getattr(upload, "size", None) or 0
    if size <= 0:
        raise PhotoRefused(_("“%(name)s” is empty.") % {"name": name})
    if size > limit:
        raise PhotoRefused(_("“%(name)s” is larger than %(mb)d MB.") % {"name": name, "mb": limit // 2**20})
    upload.seek(0)
    data = upload.read(limit + 1)
    upload.seek(0)
    if len(data) > limit:
        raise PhotoRefused(_("“%(name)s” is larger than %(mb)d MB.") % {"name": name, "mb": limit // 2**20})
    content_type = sniff_image(data[:16])
    if content_type is None:
        raise PhotoRefused(_("“%(name)s” is not a photo: only JPEG, PNG, WebP and HEIC pictures can be added, whatever the file's name says.") % {
            "name": name})
    _check_quota(user, len(data))
    _scan(name, data)
    return _redraw(name, data, content_type)


def redraw(name: str, data: bytes) -> CleanPhoto:
    """A picture's pixels drawn again without metadata (HEIC as JPEG), or PhotoRefused: for a
    picture whose size, type, quota and virus checks the caller has made (a task form's upload)."""
    content_type = sniff_image(data[:16])
    if content_type is None:
        raise PhotoRefused(_("“%(name)s” could not be read as a picture: it may be damaged. Take or save it again.") % {"name": name[:80]})
    return _redraw(name[:80], data, content_type)


def _open_heif() -> None:
    """Teach Pillow to read HEIC/HEIF (once per process)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _check_quota(user, size: int) -> None:
    since = timezone.now() - dt.timedelta(days=1)
    used = registry.uploaded_since(user, since)
    limit = settings.UPLOAD_QUOTA_BYTES_PER_DAY
    if used + size > limit:
        raise PhotoRefused(_("You have uploaded %(used)d MB today; the limit is %(limit)d MB a day. Ask an administrator if you need more.") % {
            "used": used // 2**20, "limit": limit // 2**20})


def _scan(name: str, data: bytes) -> None:
    path = getattr(settings, "CASEFLOW_UPLOAD_SCANNER", "")
    if not path:
        return
    from django.utils.module_loading import import_string

    verdict = import_string(path)(name, data)
    if verdict:
        raise PhotoRefused(_("“%(name)s” was refused by the virus check: %(reason)s") % {"name": name, "reason": verdict})


def _redraw(name: str, data: bytes, content_type: str) -> CleanPhoto:
    from PIL import Image, ImageOps

    unreadable = PhotoRefused(_("“%(name)s” could not be read as a picture: it may be damaged. Take or save it again.") % {"name": name})
    if content_type in READ_ONLY:
        _open_heif()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if probe.format not in _PILLOW_FORMATS[content_type]:
                raise unreadable
        if width * height > MAX_PIXELS:
            raise PhotoRefused(_("“%(name)s” is %(w)d × %(h)d pixels; at most %(mp)d megapixels are accepted.") % {
                "name": name, "w": width, "h": height, "mp": MAX_PIXELS // 1_000_000})
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)  # the pixels as the phone meant them, before the EXIF goes
            if getattr(image, "n_frames", 1) > 1:
                upright.seek(0)
            content_type = READ_ONLY.get(content_type, content_type)
            fmt, extension = TYPES[content_type]
            if fmt == "JPEG":
                upright = upright.convert("RGB")
            elif upright.mode not in ("RGB", "RGBA", "L", "LA"):
                upright = upright.convert("RGBA")
            upright.thumbnail((MAX_EDGE, MAX_EDGE))
            # A new image of the same pixels: no info dict, no EXIF, XMP, ICC profile or text chunk rides along.
            clean = Image.new(upright.mode, upright.size)
            clean.paste(upright)
            out = io.BytesIO()
            options = {"quality": 85, "optimize": True} if fmt == "JPEG" else {"quality": 85} if fmt == "WEBP" else {"optimize": True}
            clean.save(out, format=fmt, **options)
    except PhotoRefused:
        raise
    except Exception:  # Pillow's many ways of saying "not a picture I can decode", a decompression bomb included
        raise unreadable from None
    return CleanPhoto(out.getvalue(), content_type, extension, clean.size[0], clean.size[1])
