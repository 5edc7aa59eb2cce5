"""Reads for administrators about cases that stopped: every instance in the error state, with where
and why it stopped and since when, newest first. Only administrators may read them (they alone may
retry; `NotPermitted` for everyone else)."""
from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from django.db.models import F, OuterRef, Subquery
from django.utils.translation import gettext as _

from engine.errors import NotPermitted
from engine.models import AuditEvent, AuditKind, InstanceStatus, ProcessDefinition, ProcessInstance
from engine.permissions import user_groups

PER_PAGE = 20
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Incident:
    instance_id: int
    process_key: str
    process_name: str
    version: int
    subject: str  # the case number or title the process gave it; may be empty
    village: str
    element_id: str  # where it stopped; empty when the engine could not tell
    element_name: str  # the element's name in the diagram of the instance's version, else ""
    message: str
    since: dt.datetime | None  # when it (last) entered the error state
    started_at: dt.datetime


@dataclass(frozen=True)
class IncidentPage:
    incidents: list[Incident]
    page: int
    pages: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def may_read_incidents(user) -> bool:
    return "admin" in user_groups(user)


def incidents(viewer, *, page: int = 1, per_page: int = PER_PAGE) -> IncidentPage:
    """One page of the instances in error, newest error first. Three queries whatever the page: the
    count, the rows (with the time of their last `error` event), and — once per version for the life
    of the process — the element names of a diagram not seen before."""
    if not may_read_incidents(viewer):
        raise NotPermitted(_("Only an administrator may see the cases that stopped with an error."))
    failed = ProcessInstance.objects.filter(status=InstanceStatus.ERROR)
    total = failed.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages, MAX_PAGE)
    last_error = (AuditEvent.objects.filter(instance=OuterRef("pk"), kind=AuditKind.ERROR)
                  .order_by("-at", "-id").values("at")[:1])
    rows = list(failed.annotate(since=Subquery(last_error))
                .select_related("definition").only("id", "process_key", "subject", "village", "error_element", "error_message",
                                                   "started_at", "definition__id", "definition__name", "definition__version")
                .order_by(F("since").desc(nulls_last=True), "-id")[(page - 1) * per_page:page * per_page])
    names = _element_names({row.definition_id for row in rows})
    return IncidentPage([
        Incident(instance_id=row.pk, process_key=row.process_key, process_name=row.definition.name, version=row.definition.version,
                 subject=row.subject, village=row.village, element_id=row.error_element,
                 element_name=names.get(row.definition_id, {}).get(row.error_element, ""),
                 message=row.error_message, since=row.since, started_at=row.started_at)
        for row in rows
    ], page, pages, total)


# Element names per definition version: versions never change, so the map is never invalidated.
_names: dict[int, dict[str, str]] = {}
_names_lock = threading.Lock()


def _element_names(definition_ids: set[int]) -> dict[int, dict[str, str]]:
    missing = definition_ids - _names.keys()
    if missing:
        from engine.spiff.parser import load_xml  # the hardened parser every diagram went through on deploy

        for pk, xml in ProcessDefinition.objects.filter(pk__in=missing).values_list("pk", "bpmn_xml"):
            try:
                root = load_xml(xml)
            except Exception:  # noqa: BLE001 - a name is a courtesy; the id is always shown
                found = {}
            else:
                found = {node.get("id"): " ".join(node.get("name").split()) for node in root.iter()
                         if isinstance(node.tag, str) and node.get("id") and node.get("name")}
            with _names_lock:
                _names.setdefault(pk, found)
    return {pk: _names.get(pk, {}) for pk in definition_ids}
