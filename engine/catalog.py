"""Deployed definitions as the engine reads them on every step: an immutable snapshot per version,
kept for the life of the process (versions never change, so the cache is never invalidated)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from engine.models import ProcessDefinition


@dataclass(frozen=True)
class Definition:
    id: int
    key: str
    version: int
    name: str
    forms: dict
    user_tasks: dict
    timers: dict
    start_group: str
    start_event_id: str
    checksum: str = ""

    def form(self, bpmn_id: str) -> dict | None:
        return self.forms.get(bpmn_id)

    def task_properties(self, bpmn_id: str) -> dict:
        return (self.user_tasks.get(bpmn_id) or {}).get("properties") or {}


_cache: dict[int, Definition] = {}
_lock = threading.Lock()
FIELDS = ("id", "key", "version", "name", "forms", "user_tasks", "timers", "start_group", "start_event_id", "checksum")


def definition(definition_id: int) -> Definition:
    hit = _cache.get(definition_id)
    if hit is not None:
        return hit
    values = ProcessDefinition.objects.values(*FIELDS).get(pk=definition_id)
    snapshot = Definition(**values)
    with _lock:
        _cache.setdefault(definition_id, snapshot)
    return _cache[definition_id]


def remember(row: ProcessDefinition) -> Definition:
    """A definition just created or loaded whole: keep its snapshot without another query."""
    snapshot = Definition(**{f: getattr(row, f) for f in FIELDS})
    with _lock:
        _cache.setdefault(row.pk, snapshot)
    return _cache[row.pk]


def clear() -> None:
    """For tests: a process restart, or a test transaction rolled back (SQLite then hands the same
    ids to the next test's definitions)."""
    with _lock:
        _cache.clear()

