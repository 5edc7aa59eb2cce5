"""Reading a task form out of a POST: the engine validates, this only gathers values by field type
and stores uploaded files (their tokens are what the form's value holds).

Uploads are checked (size, type, the uploader's daily quota) before anything is written, and the
caller deletes what a refused or invalid submission stored (`discard`): nothing is left behind by
a submission that did not go through. Files a draft keeps count against the quota; files of a
completed task that its final submission does not name are deleted (`prune`)."""
from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.cases.models import Attachment

ALLOWED_TYPES = {"image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain"}


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
    """Inputs named <key>-<row>-<column> back into a list of rows, in row order."""
    pattern = re.compile(rf"^{re.escape(key)}-(\d{{1,3}})-([a-z][a-z0-9_]*)$")
    rows: dict[int, dict] = {}
    for name, value in request.POST.items():
        match = pattern.match(name)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [rows[i] for i in sorted(rows)]


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
    """Refuse before anything is stored: too many, too large, of a type we do not keep, or over the
    uploader's quota for the day."""
    total = 0
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
                raise UploadRefused(field.key, _("“%(name)s”: only photos (JPEG, PNG, WebP), PDF and text files can be attached.") % {
                    "name": upload.name})
            total += upload.size
    if total:
        since = timezone.now() - dt.timedelta(days=1)
        used = Attachment.objects.filter(uploaded_by=user, uploaded_at__gte=since).aggregate(n=Sum("size"))["n"] or 0
        if used + total > settings.UPLOAD_QUOTA_BYTES_PER_DAY:
            key = next(f.key for f in fields if f.kind == "filepicker" and request.FILES.getlist(f.key))
            raise UploadRefused(key, _("You have uploaded %(used)d MB today; the limit is %(limit)d MB a day. Ask an administrator if you need more.") % {
                "used": used // 2**20, "limit": settings.UPLOAD_QUOTA_BYTES_PER_DAY // 2**20})


def _files(request, key: str, task, stored: list[Attachment]) -> list[str]:
    tokens = _kept_tokens(request, key, task)
    for upload in request.FILES.getlist(key):
        attachment = Attachment.objects.create(
            task_id=task.id, instance_id=task.instance_id, uploaded_by=request.user, file=upload,
            original_name=upload.name[:200], content_type=upload.content_type, size=upload.size,
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
