"""Reading a task form out of a POST: the engine validates, this only gathers values by field type
and stores uploaded files (their tokens are what the form's value holds).

Uploads are checked (size, type, the uploader's daily quota) before anything is written, and the
caller deletes what a refused or invalid submission stored (`discard`): nothing is left behind by
a submission that did not go through. A picture is drawn again before it is stored, as every photo
is (engine/photos.py): upright, at most 2048 px, without its EXIF (a phone's GPS position: a child's
home), XMP or ICC data, and a HEIC one as JPEG. Files a draft keeps count against the quota; files of a
completed task that its final submission does not name are deleted (`prune`)."""
from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext as _

from engine import api, registry
from portal.cases.models import Attachment

ALLOWED_TYPES = {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "application/pdf", "text/plain"}
PICTURES = {"image/jpeg", "image/png", "image/webp", "image/heic"}  # drawn again before they are stored
SAME_TYPE = {"image/heif": "image/heic"}  # what browsers call a HEIF still, by the name sniff gives it


def sniff(head: bytes) -> str | None:
    """The type of a file by its first bytes (never by its name or the browser's say-so), among the
    types we keep; None when it is none of them. Text is UTF-8 or GB18030 without control bytes."""
    picture = api.sniff_image(head[:16])
    if picture is not None:
        return picture
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == b"%PDF-":
        return "application/pdf"
    if _is_text(head):
        return "text/plain"
    return None


def _is_text(head: bytes) -> bool:
    if any(b < 32 and b not in (9, 10, 12, 13) or b == 127 for b in head):
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
            return True
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut by the end of the sample
                return True
    return False


def _head(upload, size: int = 4096) -> bytes:
    upload.seek(0)
    head = upload.read(size)
    upload.seek(0)
    return head


def _scanner():
    path = getattr(settings, "CASEFLOW_UPLOAD_SCANNER", "")
    if not path:
        return None
    from django.utils.module_loading import import_string

    return import_string(path)


def _scan(scanner, upload) -> str | None:
    """What the antivirus hook says of a file: None if clean, else its reason. The hook gets the name
    and the whole content (at most MAX_UPLOAD_BYTES)."""
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return scanner(upload.name, data)


def _type_name(content_type: str) -> str:
    return {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "image/heic": "HEIC", "image/heif": "HEIC",
            "application/pdf": "PDF", "text/plain": _("text")}.get(content_type, content_type)


class UploadRefused(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def collect(fields, request, task, stored: list[Attachment]) -> dict:
    """The submitted values by field; new uploads are stored and appended to `stored`."""
    data = {}
    for field in fields:
        key = field.key
        if field.kind == "checklist":
            data[key] = request.POST.getlist(key)
        elif field.kind == "checkbox":
            data[key] = key in request.POST
        elif field.kind == "filepicker":
            data[key] = _files(request, key, task, stored)
        elif field.kind == "dynamiclist":
            data[key] = _rows(request, key)
        else:
            data[key] = request.POST.get(key, "")
    return data


def _rows(request, key: str) -> list[dict]:
    """Inputs named <key>-<row>-<column> back into a list of rows, in row order; the empty rows the
    page offers to fill in are left out (a refused form would otherwise come back with more each time)."""
    pattern = re.compile(rf"^{re.escape(key)}-(\d{{1,3}})-([a-z][a-z0-9_]*)$")
    rows: dict[int, dict] = {}
    for name, value in request.POST.items():
        match = pattern.match(name)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [rows[i] for i in sorted(rows) if any(str(v).strip() for v in rows[i].values())]


def collect_without_files(fields, request, task) -> dict:
    """Values to show again after a refused upload: typed values, and the files kept before."""
    values = collect([f for f in fields if f.kind != "filepicker"], request, None, [])
    for field in fields:
        if field.kind == "filepicker":
            values[field.key] = _kept_tokens(request, field.key, task)
    return values


def _kept_tokens(request, key: str, task) -> list[str]:
    """Tokens already attached in this case (kept in hidden inputs): this task's own files, or the
    files a returned step submitted last time round."""
    kept = [t for t in request.POST.getlist(key) if isinstance(t, str)]
    return list(Attachment.objects.filter(token__in=kept, instance_id=task.instance_id).values_list("token", flat=True))


def check_uploads(fields, request, user) -> None:
    """Refuse before anything is stored: too many, too large, of a type we do not keep (by content),
    refused by the antivirus hook, or over the uploader's quota for the day. The stored content type
    is the sniffed one."""
    total = 0
    scanner = _scanner()
    for field in fields:
        if field.kind != "filepicker":
            continue
        uploads = request.FILES.getlist(field.key)
        if len(uploads) > settings.MAX_FILES_PER_FIELD:
            raise UploadRefused(field.key, _("Attach at most %(n)d files.") % {"n": settings.MAX_FILES_PER_FIELD})
        for upload in uploads:
            if upload.size > settings.MAX_UPLOAD_BYTES:
                raise UploadRefused(field.key, _("“%(name)s” is larger than %(mb)d MB.") % {
                    "name": upload.name, "mb": settings.MAX_UPLOAD_BYTES // 2**20})
            if (upload.content_type or "") not in ALLOWED_TYPES:
                raise UploadRefused(field.key, _("“%(name)s”: only photos (JPEG, PNG, WebP, HEIC), PDF and text files can be attached.") % {
                    "name": upload.name})
            sniffed = sniff(_head(upload))
            if sniffed is None:
                raise UploadRefused(field.key, _("“%(name)s” is not a photo (JPEG, PNG, WebP, HEIC), PDF or text file by its content, whatever its name says.") % {
                    "name": upload.name})
            if sniffed != SAME_TYPE.get(upload.content_type, upload.content_type):
                raise UploadRefused(field.key, _("“%(name)s” is named as %(claimed)s but its content is %(actual)s. Save it again in its real format, or rename it.") % {
                    "name": upload.name, "claimed": _type_name(upload.content_type), "actual": _type_name(sniffed)})
            if scanner is not None:
                verdict = _scan(scanner, upload)
                if verdict:
                    raise UploadRefused(field.key, _("“%(name)s” was refused by the virus check: %(reason)s") % {
                        "name": upload.name, "reason": verdict})
            total += upload.size
    if total:
        since = timezone.now() - dt.timedelta(days=1)
        used = registry.uploaded_since(user, since)  # a task's files, a session's photos, a child's photos
        if used + total > settings.UPLOAD_QUOTA_BYTES_PER_DAY:
            key = next(f.key for f in fields if f.kind == "filepicker" and request.FILES.getlist(f.key))
            raise UploadRefused(key, _("You have uploaded %(used)d MB today; the limit is %(limit)d MB a day. Ask an administrator if you need more.") % {
                "used": used // 2**20, "limit": settings.UPLOAD_QUOTA_BYTES_PER_DAY // 2**20})


def _files(request, key: str, task, stored: list[Attachment]) -> list[str]:
    tokens = _kept_tokens(request, key, task)
    for upload in request.FILES.getlist(key):
        content, name, content_type = upload, upload.name[:200], SAME_TYPE.get(upload.content_type, upload.content_type)
        if content_type in PICTURES:
            upload.seek(0)
            try:
                picture = api.redraw_photo(upload.name, upload.read())
            except api.PhotoRefused as refused:
                raise UploadRefused(key, str(refused)) from None
            stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
            name, content_type = f"{stem[:190]}.{picture.extension}", picture.content_type
            content = ContentFile(picture.data, name=name)
        attachment = Attachment.objects.create(
            task_id=task.id, instance_id=task.instance_id, uploaded_by=request.user, file=content,
            original_name=name, content_type=content_type, size=content.size,
        )
        stored.append(attachment)
        tokens.append(attachment.token)
    return tokens


def discard(attachments) -> None:
    """Delete files (and their rows) that a submission stored but that did not go through."""
    for attachment in attachments:
        attachment.file.delete(save=False)
        attachment.delete()


def prune(task, keep: set[str]) -> int:
    """After a task completes: its files that the final submission does not name (dropped from a
    draft, replaced) are deleted."""
    orphans = list(Attachment.objects.filter(task_id=task.id).exclude(token__in=keep))
    discard(orphans)
    return len(orphans)


def tokens_in(values: dict, fields) -> set[str]:
    return {t for f in fields if f.kind == "filepicker" for t in (values.get(f.key) or []) if isinstance(t, str)}


def attachments_by_token(tokens) -> dict[str, Attachment]:
    return {a.token: a for a in Attachment.objects.filter(token__in=list(tokens))}
