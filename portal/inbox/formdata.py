"""Reading a task form out of a POST: the engine validates, this only gathers values by field type
and stores uploaded files (their tokens are what the form's value holds)."""
from __future__ import annotations

import re

from django.conf import settings
from django.utils.translation import gettext as _

from portal.cases.models import Attachment

ALLOWED_TYPES = {"image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain"}


class UploadRefused(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def collect(fields, request, task) -> dict:
    data = {}
    for field in fields:
        key = field.key
        if field.kind == "checklist":
            data[key] = request.POST.getlist(key)
        elif field.kind == "checkbox":
            data[key] = key in request.POST
        elif field.kind == "filepicker":
            data[key] = _files(request, key, task)
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


def collect_without_files(fields, request) -> dict:
    return {k: v for k, v in collect([f for f in fields if f.kind != "filepicker"], request, None).items()}


def _files(request, key: str, task) -> list[str]:
    """Tokens already attached to this task (kept in hidden inputs) plus the newly uploaded files."""
    kept = set(request.POST.getlist(key))
    tokens = list(Attachment.objects.filter(token__in=kept, task_id=task.id).values_list("token", flat=True))
    for upload in request.FILES.getlist(key):
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise UploadRefused(key, _("“%(name)s” is larger than %(mb)d MB.") % {"name": upload.name, "mb": settings.MAX_UPLOAD_BYTES // 2**20})
        if (upload.content_type or "") not in ALLOWED_TYPES:
            raise UploadRefused(key, _("“%(name)s”: only photos (JPEG, PNG, WebP), PDF and text files can be attached.") % {"name": upload.name})
        attachment = Attachment.objects.create(
            task_id=task.id, instance_id=task.instance_id, uploaded_by=request.user, file=upload,
            original_name=upload.name[:200], content_type=upload.content_type, size=upload.size,
        )
        tokens.append(attachment.token)
    return tokens


def attachments_by_token(values: dict, fields) -> dict[str, Attachment]:
    tokens = [t for f in fields if f.kind == "filepicker" for t in (values.get(f.key) or []) if isinstance(t, str)]
    return {a.token: a for a in Attachment.objects.filter(token__in=tokens)}
