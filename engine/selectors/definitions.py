"""Reads about deployed processes: which a user may start, their names, and (for administrators, in
the process studio) every version with its instances, user tasks, forms and diagram."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from django.db.models import Count
from django.utils.translation import gettext as _

from engine.errors import NotFound, NotPermitted
from engine.forms import field_label, fields_of, is_generic
from engine.models import HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskStatus
from engine.people import display_name
from engine.permissions import user_groups
from engine.types import MovableCase, ProcessVersions, StartableProcess, StepForm, VersionDetail, VersionInfo, VersionLabels


def latest(key: str) -> ProcessDefinition:
    definition = ProcessDefinition.objects.defer("spec", "bpmn_xml").filter(key=key).order_by("-version").first()
    if definition is None:
        raise NotFound(_("No process '%(key)s' is deployed.") % {"key": key})
    return definition


def startable_processes(*, actor) -> list[StartableProcess]:
    """The latest version of each process whose start lane is one of the actor's roles."""
    groups = user_groups(actor)
    latest: dict[str, ProcessDefinition] = {}
    for definition in ProcessDefinition.objects.defer("spec", "bpmn_xml").order_by("key", "-version"):
        latest.setdefault(definition.key, definition)
    return [StartableProcess(d.key, d.name, d.version, d.forms.get(d.start_event_id))
            for d in latest.values() if d.start_group in groups]


# -- instances -----------------------------------------------------------------------------------

def process_names() -> dict[str, str]:
    """Process key -> name of its latest version (for filters and labels)."""
    names = {}
    for key, name in ProcessDefinition.objects.order_by("key", "-version").values_list("key", "name"):
        names.setdefault(key, name)
    return names



# -- the process studio (administrators only) -----------------------------------------------------

def _require_admin(viewer) -> None:
    if viewer is None or not viewer.is_authenticated or "admin" not in user_groups(viewer):
        raise NotPermitted(_("Only an administrator may open the process studio."))


def _version_infos(definitions, latest_ids: set[int]) -> list[VersionInfo]:
    counts: dict[int, dict[str, int]] = {}
    rows = (ProcessInstance.objects.filter(definition_id__in=[d.pk for d in definitions])
            .values("definition_id", "status").annotate(n=Count("id")))
    for row in rows:
        counts.setdefault(row["definition_id"], {})[row["status"]] = row["n"]
    result = []
    for d in definitions:
        by_status = counts.get(d.pk, {})
        result.append(VersionInfo(
            id=d.pk, key=d.key, version=d.version, name=d.name,
            deployed_by=display_name(d.deployed_by) if d.deployed_by_id else "", deployed_at=d.deployed_at,
            checksum=d.checksum, user_task_count=len(d.user_tasks or {}),
            running=by_status.get(InstanceStatus.RUNNING, 0) + by_status.get(InstanceStatus.ERROR, 0),
            instances=sum(by_status.values()), latest=d.pk in latest_ids,
        ))
    return result


def process_versions(*, viewer) -> list[ProcessVersions]:
    """Every deployed process key with its versions (newest first) and how many instances run on
    each; the latest version is the one new cases start on. Two queries."""
    _require_admin(viewer)
    definitions = list(ProcessDefinition.objects.defer("spec", "bpmn_xml", "forms").select_related("deployed_by")
                       .order_by("key", "-version"))
    latest_ids = {}
    for d in definitions:
        latest_ids.setdefault(d.key, d.pk)
    by_key: dict[str, list[VersionInfo]] = {}
    for info in _version_infos(definitions, set(latest_ids.values())):
        by_key.setdefault(info.key, []).append(info)
    return [ProcessVersions(key, versions[0].name, tuple(versions)) for key, versions in by_key.items()]


def _definition(key: str, version: int | None, *fields_deferred):
    query = ProcessDefinition.objects.defer(*fields_deferred).select_related("deployed_by").filter(key=key)
    definition = (query.filter(version=version) if version is not None else query.order_by("-version")).first()
    if definition is None and version is None:
        raise NotFound(_("No process '%(key)s' is deployed.") % {"key": key})
    if definition is None:
        raise NotFound(_("Process '%(key)s' has no version %(version)d.") % {"version": version, "key": key})
    return definition


def _step_form(bpmn_id: str, name: str, role: str, form: dict | None) -> StepForm:
    return StepForm(bpmn_id=bpmn_id, name=name, role=role, form_id=(form or {}).get("id", "") if form else "",
                    field_labels=tuple(field_label(c) for c in fields_of(form or {})))


def definition_version(*, key: str, version: int, viewer) -> VersionDetail:
    """One version as the studio shows it: who deployed it and when, its user tasks in the order the
    diagram has them, and each task's form (its id and its fields' labels)."""
    _require_admin(viewer)
    d = _definition(key, version, "spec")
    latest_version = ProcessDefinition.objects.filter(key=key).order_by("-version").values_list("version", flat=True).first()
    info = _version_infos([d], {d.pk} if latest_version == d.version else set())[0]
    xml = d.bpmn_xml
    position = {bpmn_id: xml.find(f'id="{bpmn_id}"') for bpmn_id in d.user_tasks}
    steps = tuple(_step_form(bpmn_id, task.get("name") or bpmn_id, task.get("candidate_group", ""), d.forms.get(bpmn_id))
                  for bpmn_id, task in sorted(d.user_tasks.items(), key=lambda item: position[item[0]]))
    start = _step_form(d.start_event_id, d.start_event_id, d.start_group, d.forms.get(d.start_event_id)) if d.start_event_id else None
    return VersionDetail(info=info, start=start, steps=steps)


def definition_xml(*, key: str, version: int | None = None, viewer) -> tuple[int, str]:
    """(version, BPMN XML) of a version of a process, the latest when `version` is None."""
    _require_admin(viewer)
    d = _definition(key, version, "spec", "forms", "user_tasks")
    return d.version, d.bpmn_xml


def definition_archive(*, key: str, version: int, viewer) -> tuple[str, dict[str, dict], str]:
    """(BPMN XML, forms by element id, checksum) of one version, for the studio's archive export. The
    generic confirm form deploy gave a task without one is left out, like `forms_carried_over` does:
    imported again, the task gets it again with its warning."""
    _require_admin(viewer)
    d = _definition(key, version, "spec", "user_tasks")
    return d.bpmn_xml, {element: form for element, form in (d.forms or {}).items() if not is_generic(form)}, d.checksum


BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
# The studio's migration page lists at most this many cases at once (the oldest first).
MOVABLE_MAX = 200


def version_labels(*, key: str, version: int, viewer) -> VersionLabels:
    """The names and kinds of a version's elements and the labels of its forms' fields (the stored
    diagram was checked by the hardened parser when it was deployed)."""
    _require_admin(viewer)
    d = _definition(key, version, "spec")
    names, kinds, timers = {}, {}, set()
    root = ET.fromstring(d.bpmn_xml.encode("utf-8"))
    for process in root.iter(f"{BPMN_NS}process"):
        for node in process.iter():
            element_id = node.get("id")
            if not element_id or not isinstance(node.tag, str) or not node.tag.startswith(BPMN_NS):
                continue
            names[element_id] = node.get("name") or ""
            kinds[element_id] = node.tag[len(BPMN_NS):]
            if node.find(f"{BPMN_NS}timerEventDefinition") is not None:
                timers.add(element_id)
    fields = {element: {c["key"]: field_label(c) for c in fields_of(form or {}) if c.get("key")}
              for element, form in (d.forms or {}).items()}
    clocks = {timer: options.get("clock_starts_from", "") for timer, options in (d.timers or {}).items()}
    return VersionLabels(names=names, kinds=kinds, timers=frozenset(timers), fields=fields, clocks=clocks,
                         start_event_id=d.start_event_id)


def movable_cases(*, key: str, to_version: int, viewer, limit: int = MOVABLE_MAX) -> tuple[list[MovableCase], int]:
    """The running and failed instances of `key` on versions before `to_version`, oldest first, with
    the names of their open tasks: (at most `limit` of them, how many there are). Three queries."""
    _require_admin(viewer)
    _definition(key, to_version, "spec", "bpmn_xml", "forms")  # the version exists
    query = ProcessInstance.objects.filter(process_key=key, status__in=[InstanceStatus.RUNNING, InstanceStatus.ERROR],
                                           definition__version__lt=to_version)
    total = query.count()
    rows = list(query.select_related("definition").only("id", "subject", "village", "status", "started_at", "error_element",
                                                        "definition__id", "definition__version").order_by("started_at", "id")[:limit])
    waiting: dict[int, list[str]] = {}
    for instance_id, name in (HumanTask.objects.filter(instance_id__in=[r.pk for r in rows], status=TaskStatus.OPEN)
                              .order_by("id").values_list("instance_id", "name")):
        waiting.setdefault(instance_id, []).append(name)
    return [MovableCase(instance_id=r.pk, subject=r.subject, village=r.village, version=r.definition.version, status=r.status,
                        started_at=r.started_at, waiting_at=tuple(waiting.get(r.pk, ())), error_element=r.error_element)
            for r in rows], total
