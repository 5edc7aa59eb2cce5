"""A version as one .zip archive, and reading one back safely (the process studio, admins only).

The layout is the one `api.read_forms_dir` reads next to a bundled diagram:

    <key>.bpmn              the stored XML, byte for byte
    forms/<element id>.json each form of the version (the generic confirm form is left out)
    caseflow.json           a manifest (key, version, checksum, exported at): informational only

Reading never trusts the archive: at most `MAX_ENTRIES` entries, none larger than the import size
limit, `MAX_TOTAL_BYTES` uncompressed in all (zip bombs), no absolute paths or `..`, forms in UTF-8
JSON objects, exactly one .bpmn. Each refusal is one sentence (`ArchiveRefused`), never a traceback."""
from __future__ import annotations

import io
import json
import posixpath
import zipfile

from django.utils import timezone
from django.utils.translation import gettext as _

MAX_ENTRIES = 200
MAX_TOTAL_BYTES = 5 * 1024 * 1024
MANIFEST = "caseflow.json"
FORMS_DIR = "forms/"


class ArchiveRefused(Exception):
    """The archive cannot be read; `problems` are (element id or None, sentence) pairs."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        super().__init__("; ".join(message for _element, message in problems))
        self.problems = problems


def build(*, key: str, version: int, xml: str, forms: dict[str, dict], checksum: str) -> bytes:
    """The archive's bytes."""
    now = timezone.now()
    stamp = timezone.localtime(now).timetuple()[:6]
    manifest = {"format": 1, "key": key, "version": version, "checksum": checksum, "exported_at": now.isoformat(),
                "forms": sorted(forms)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)

        add(f"{key}.bpmn", xml.encode("utf-8"))
        for element_id, form in sorted(forms.items()):
            add(f"{FORMS_DIR}{element_id}.json", json.dumps(form, ensure_ascii=False, indent=2).encode("utf-8"))
        add(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    return buffer.getvalue()


def _unsafe(name: str) -> bool:
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in name.split("/"))


def _ignored(name: str) -> bool:
    """Folders, and what archivers add on their own (macOS's __MACOSX/ and ._ files, .DS_Store)."""
    parts = name.split("/")
    return name.endswith("/") or parts[0] == "__MACOSX" or parts[-1].startswith(".")


def read(fileobj, *, max_entry_bytes: int) -> tuple[bytes, dict[str, dict]]:
    """(the .bpmn's bytes, forms by element id) of an uploaded archive; raises ArchiveRefused with
    every problem found in the forms, or the first one that stops reading."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ArchiveRefused([(None, _("The file is not a .zip archive."))]) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveRefused([(None, _("The archive has %(count)d entries; at most %(max)d are read.") % {
                "count": len(infos), "max": MAX_ENTRIES})])
        for info in infos:
            if _unsafe(info.filename):
                raise ArchiveRefused([(None, _("The archive holds a path outside its folder: “%(name)s”.") % {"name": info.filename[:200]})])
        files = [info for info in infos if not _ignored(info.filename)]
        names = [info.filename for info in files]
        if len(set(names)) != len(names):
            raise ArchiveRefused([(None, _("The archive holds the same file twice."))])
        # A folder zipped as a whole (every file under one top folder) is read as if unpacked.
        tops = {name.split("/")[0] for name in names}
        prefix = f"{tops.pop()}/" if len(tops) == 1 and all("/" in name for name in names) else ""
        for info in files:
            if info.file_size > max_entry_bytes:
                raise ArchiveRefused([(None, _("“%(name)s” is larger than %(limit)d bytes once unpacked.") % {
                    "name": info.filename[:200], "limit": max_entry_bytes})])
        if sum(info.file_size for info in files) > MAX_TOTAL_BYTES:
            raise ArchiveRefused([(None, _("The archive unpacks to more than %(mb)d MB; a process and its forms are far smaller.") % {
                "mb": MAX_TOTAL_BYTES // (1024 * 1024)})])

        def content(info) -> bytes:
            try:
                with archive.open(info) as entry:
                    data = entry.read(max_entry_bytes + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError, EOFError):
                raise ArchiveRefused([(None, _("“%(name)s” cannot be unpacked (damaged, encrypted or compressed in an unknown way).") % {
                    "name": info.filename[:200]})]) from None
            if len(data) > max_entry_bytes:  # the size it declared was a lie
                raise ArchiveRefused([(None, _("“%(name)s” is larger than %(limit)d bytes once unpacked.") % {
                    "name": info.filename[:200], "limit": max_entry_bytes})])
            return data

        diagrams = [info for info in files if "/" not in info.filename[len(prefix):] and info.filename.lower().endswith(".bpmn")]
        if not diagrams:
            raise ArchiveRefused([(None, _("The archive has no .bpmn file at its top."))])
        if len(diagrams) > 1:
            raise ArchiveRefused([(None, _("The archive has more than one .bpmn file at its top; it must hold one process."))])
        forms, problems = {}, []
        for info in files:
            relative = info.filename[len(prefix):]
            if not (relative.startswith(FORMS_DIR) and relative.endswith(".json")):
                continue
            element_id = relative[len(FORMS_DIR):-len(".json")]
            if not element_id or "/" in element_id:
                continue  # not the layout read_forms_dir reads: left alone, like it would be
            try:
                form = json.loads(content(info).decode("utf-8-sig"))
            except UnicodeDecodeError:
                problems.append((element_id, _("The form file is not UTF-8 text.")))
                continue
            except (ValueError, RecursionError) as exc:
                problems.append((element_id, _("The form file is not valid JSON: %(error)s") % {"error": exc}))
                continue
            if not isinstance(form, dict):
                problems.append((element_id, _("The form file must hold one JSON object (a form).")))
                continue
            forms[element_id] = form
        xml = content(diagrams[0])
        if problems:
            raise ArchiveRefused(problems)
        return xml, forms
