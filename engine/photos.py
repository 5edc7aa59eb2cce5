"""Photos people upload outside a task form (a session's photos, a child's growth archive): checked by
their content and made safe to keep before anything is stored.

A photo is accepted only as JPEG, PNG or WebP by its first bytes (never its name or the browser's
say-so), at most `max_bytes`, at most `MAX_PIXELS`, within the uploader's daily quota (every kind of
upload a process registers with `registry.register_upload_usage` counts, the task forms' files too)
and past the antivirus hook `CASEFLOW_UPLOAD_SCANNER`. It is then decoded and drawn again by Pillow:
turned upright by its EXIF orientation, made at most `MAX_EDGE` pixels on its long side, and
re-encoded with nothing but its pixels — EXIF (the phone's GPS position, its serial number, the
time), XMP, ICC and text chunks are not carried over. What comes out is bytes for the caller to
store; the default storage encrypts them at rest (ADR 0019)."""
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
        raise PhotoRefused(_("“%(name)s” is not a photo: only JPEG, PNG and WebP pictures can be added, whatever the file's name says.") % {
            "name": name})
    _check_quota(user, len(data))
    _scan(name, data)
    return _redraw(name, data, content_type)


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
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if probe.format not in {fmt for fmt, _ext in TYPES.values()}:
                raise unreadable
        if width * height > MAX_PIXELS:
            raise PhotoRefused(_("“%(name)s” is %(w)d × %(h)d pixels; at most %(mp)d megapixels are accepted.") % {
                "name": name, "w": width, "h": height, "mp": MAX_PIXELS // 1_000_000})
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)  # the pixels as the phone meant them, before the EXIF goes
            if getattr(image, "n_frames", 1) > 1:
                upright.seek(0)
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
