"""What the studio's list adds to each process's versions: the open drafts (a new process that exists only
as a draft, or a deployed one someone is editing) and, for each version, a short count of what changed
against the version before it.

A version's changes come from `api.diff_versions`, which restores both versions' specs: far too much to
repeat on every view of the list. Versions are immutable and their checksum covers the diagram and the
forms, so the counts for a pair of checksums never change: they are kept here, per process, and each
pair is computed once (the first view after a deploy pays for the new version only)."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.utils.translation import gettext as _, ngettext

from engine import api
from engine.errors import CaseflowError

from .models import Draft

CACHE_SIZE = 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeCounts:
    added: int
    removed: int
    changed: int
    fields: int  # form fields added, removed or changed

    def summary(self) -> str:
        """In words, in the active language: "2 elements added, 1 changed; 3 form fields"."""
        parts = []
        if self.added:
            parts.append(ngettext("%(n)d element added", "%(n)d elements added", self.added) % {"n": self.added})
        if self.removed:
            parts.append(ngettext("%(n)d element removed", "%(n)d elements removed", self.removed) % {"n": self.removed})
        if self.changed:
            parts.append(ngettext("%(n)d element changed", "%(n)d elements changed", self.changed) % {"n": self.changed})
        if self.fields:
            parts.append(ngettext("%(n)d form field changed", "%(n)d form fields changed", self.fields) % {"n": self.fields})
        if not parts:
            return _("Only the layout changed")
        return _(", ").join(parts)


_counts: OrderedDict[tuple[str, str], ChangeCounts] = OrderedDict()
_lock = threading.Lock()


def _cached(pair: tuple[str, str]) -> ChangeCounts | None:
    with _lock:
        hit = _counts.get(pair)
        if hit is not None:
            _counts.move_to_end(pair)
        return hit


def _remember(pair: tuple[str, str], counts: ChangeCounts) -> None:
    with _lock:
        _counts[pair] = counts
        while len(_counts) > CACHE_SIZE:
            _counts.popitem(last=False)


def change_counts(process, viewer) -> dict[int, ChangeCounts]:
    """Version id -> what changed from the version before it (the first version has none)."""
    result = {}
    versions = process.versions  # newest first, every version of the key
    for newer, older in zip(versions, versions[1:]):
        pair = (older.checksum, newer.checksum)
        counts = _cached(pair)
        if counts is None:
            try:
                diff = api.diff_versions(key=process.key, old_version=older.version, new_version=newer.version, actor=viewer)
            except CaseflowError:
                continue  # the row simply has no summary
            except Exception:  # a summary is a convenience: the list of versions must still show
                log.exception("could not compare %s v%s with v%s", process.key, older.version, newer.version)
                continue
            counts = ChangeCounts(len(diff.added), len(diff.removed), len(diff.changed),
                                  len(diff.fields_added) + len(diff.fields_removed) + len(diff.fields_changed))
            _remember(pair, counts)
        result[newer.id] = counts
    return result


def clear_cache() -> None:
    """For tests and measurements of a cold list."""
    with _lock:
        _counts.clear()


def open_drafts() -> dict[str, Draft]:
    """Process key -> its open draft (with who saved it last), one query."""
    return {d.key: d for d in Draft.objects.select_related("updated_by").defer("bpmn_xml", "forms").order_by("key")}


def list_extras(processes, viewer) -> dict:
    """What the list template needs besides the versions: the changes per version id, the drafts of
    deployed processes by key, and the drafts of processes never deployed."""
    drafts = open_drafts()
    deployed = {p.key for p in processes}
    changes = {}
    for process in processes:
        changes.update(change_counts(process, viewer))
    return {
        "changes": {version_id: counts.summary() for version_id, counts in changes.items()},
        "open_drafts": {key: d for key, d in drafts.items() if key in deployed},
        "new_drafts": [d for key, d in drafts.items() if key not in deployed],
    }
