"""Reads about cases: which instances a user may open (the one rule, `visible_instances`), an
instance with its history as a viewer may read it, what was submitted on its forms, its diagram
state, the process's summary lines and who it may be shared with."""
from __future__ import annotations

import dataclasses
import re

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from engine import catalog, clock, forms, registry
from engine.errors import NotFound, NotPermitted
from engine.models import (
    AuditEvent, AuditKind, HumanTask, InstanceGroupObjectPermission, InstanceStatus, InstanceUserObjectPermission,
    ProcessDefinition, ProcessInstance, TaskStatus,
)
from engine.people import display_name, role_label, sees_people
from engine.permissions import SYSTEM, can_hold, in_scope, is_system, supervises, user_groups
from engine.selectors.memo import remembered
from engine.selectors.tasks import _scope, _task_visibility
from engine.types import DiagramState, EventInfo, FieldValue, InstanceInfo, Person, SubmittedForm, TaskInfo

User = get_user_model()
AUDIT_LABELS = dict(AuditKind.choices)
STATUS_LABELS = {**dict(InstanceStatus.choices), **dict(TaskStatus.choices)}


@remembered
def _process_keys_with_role(groups: set[str]) -> set[str]:
    keys = set()
    for key, user_tasks, start_group in ProcessDefinition.objects.values_list("key", "user_tasks", "start_group"):
        if start_group in groups or any(t.get("candidate_group") in groups for t in user_tasks.values()):
            keys.add(key)
    return keys


def visible_instances(user) -> QuerySet[ProcessInstance]:
    """Every instance this user may open. Admins see all; others see their villages' instances of
    processes they have a role in, instances where they hold or did a task, and explicit shares."""
    if user is None or not user.is_active:
        return ProcessInstance.objects.none()
    groups = user_groups(user)
    if "admin" in groups:
        return ProcessInstance.objects.all()
    involved = HumanTask.objects.filter(instance=OuterRef("pk")).filter(Q(assignee=user) | Q(completed_by=user))
    shared_user = InstanceUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="view_processinstance")
    shared_group = InstanceGroupObjectPermission.objects.filter(
        content_object=OuterRef("pk"), group__user=user, permission__codename="view_processinstance")
    village_roles = groups - registry.involvement_only_roles()
    by_role = Q(process_key__in=_process_keys_with_role(village_roles)) & _scope(user)
    return ProcessInstance.objects.filter(by_role | Exists(involved) | Exists(shared_user) | Exists(shared_group))


def _not_found(instance_id) -> NotFound:
    return NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})


@remembered
def _reader(viewer, instance_id, *, through_tasks: bool = False):
    """The facade's own check before any read of an instance (docs/adr/0020): SYSTEM reads everything
    (answered as None: nothing redacted); a signed-in user only an instance they may open (else
    NotFound, the answer a missing id gets) — or, with `through_tasks`, one whose task they may open
    (a partner office answering its referral reads what the referral is about); anyone else NotPermitted."""
    if is_system(viewer):
        return None
    if viewer is None or not getattr(viewer, "is_active", False) or getattr(viewer, "pk", None) is None:
        raise NotPermitted(_("Sign in to read this case."))
    try:
        instance_id = int(instance_id)
    except (TypeError, ValueError):
        raise _not_found(instance_id) from None
    if visible_instances(viewer).filter(pk=instance_id).exists():
        return viewer
    if through_tasks and HumanTask.objects.filter(instance_id=instance_id).filter(_task_visibility(viewer)).exists():
        return viewer
    raise _not_found(instance_id)


def instance_for_user(user, instance_id) -> InstanceInfo:
    """The instance (status, open tasks, history) if visible to the user, else NotFound."""
    try:
        instance_id = int(instance_id)
    except (TypeError, ValueError):
        raise _not_found(instance_id) from None
    return get_instance(instance_id=instance_id, viewer=user)


def case_summary(*, instance_id: int, process_key: str, viewer, task: TaskInfo | None = None) -> list[tuple[str, str]]:
    """The process package's summary lines for this case and viewer (registry.register_case_summary);
    on a task page, for that task (a provider sees the one referral addressed to them)."""
    return registry.case_summary(process_key, instance_id, viewer, task)


def instances_exist(process_key: str | None = None) -> bool:
    """Whether any case exists (of one process, when given)."""
    found = ProcessInstance.objects.all()
    return (found.filter(process_key=process_key) if process_key else found).exists()


def get_instance(*, instance_id: int, viewer, with_history: bool = True) -> InstanceInfo:
    """Status, open tasks and (unless told not to) history of an instance.

    The viewer is checked here (NotFound unless they may open the case, NotPermitted without a
    signed-in user; `SYSTEM` for the engine's own reads). The history is what that person may read:
    submitted data without the fields and forms their roles may not see (the reporter's identity, a
    panel's scores), and actors as names or, for outsiders, as roles. The changing calls answer
    without history: it grows with every step and the hot path should not pay for it."""
    viewer = _reader(viewer, instance_id)
    try:
        instance = ProcessInstance.objects.defer("state").get(pk=instance_id)
    except (ProcessInstance.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id}) from None
    definition = catalog.definition(instance.definition_id)
    open_rows = instance.human_tasks.filter(status=TaskStatus.OPEN).select_related("assignee", "completed_by").order_by("created_at", "pk")
    events = list(instance.audit_events.select_related("task").order_by("at", "pk")) if with_history else []
    return InstanceInfo(
        id=instance.pk, process_key=instance.process_key, version=definition.version, status=instance.status,
        village=instance.village, subject=instance.subject, started_at=instance.started_at, ended_at=instance.ended_at,
        error_message=instance.error_message, error_element=instance.error_element,
        open_tasks=[TaskInfo.from_row(r, instance.subject) for r in open_rows],
        history=_history_for(instance, definition, events, viewer) if events else [],
    )


def holds_case(viewer, instance_id: int, village: str) -> bool:
    """Whether the viewer is one of the case's holders, who read ID and phone numbers unmasked
    (forms' `mask`): a supervisor of its village, or someone who may hold one of its tasks (its role
    in its village), was given one or completed one. Nobody (the system) holds everything."""
    if viewer is None:
        return True
    if supervises(viewer, village):
        return True
    for row in HumanTask.objects.filter(instance_id=instance_id).only("candidate_group", "village", "assignee_id", "completed_by_id", "named"):
        if viewer.pk in (row.assignee_id, row.completed_by_id) or (not row.named and can_hold(viewer, row)):
            return True
    return False


def _has_masks(definition_forms: dict) -> bool:
    return any(forms.mask_of(c) or any(forms.mask_of(col) for col in c.get("components") or [])
               for form in definition_forms.values() for c in forms.fields_of(form or {}))


CASE_LEVEL_EVENTS = {AuditKind.STARTED, AuditKind.INSTANCE_COMPLETED, AuditKind.CANCELLED}
INTERNAL_EVENT_FIELDS = {"reason", "assignee", "shared_with", "candidate_group", "across_villages"}


def _history_for(instance: ProcessInstance, definition: catalog.Definition, events: list[AuditEvent], viewer) -> list[EventInfo]:
    """The history as this viewer may read it. Outsiders (applicants, reviewers, partner offices)
    see the case's start and end and the events of tasks that were theirs or their group's — not
    the station's internal steps, nor other providers' answers."""
    definition_forms = definition.forms or {}
    groups = None if viewer is None else user_groups(viewer)
    people = sees_people(viewer)
    me = viewer.get_username() if viewer is not None else None
    targets = {e.data.get("assignee") or e.data.get("shared_with") for e in events if isinstance(e.data, dict)}
    names = {u.get_username(): display_name(u) for u in User.objects.filter(username__in={e.actor_name for e in events} | targets)}
    open_sealed = _open_sealed_tasks(instance.pk, definition_forms)
    unmasked = not _has_masks(definition_forms) or holds_case(viewer, instance.pk, instance.village)
    result = []
    for event in events:
        if not people and not _concerns_outsider(event, viewer, groups):
            continue
        data = event.data
        if not people and isinstance(data, dict):
            # The station's own reasons (why a reviewer was replaced, why a task was reassigned) stay with the station.
            data = {k: v for k, v in data.items() if k not in INTERNAL_EVENT_FIELDS}
        if viewer is not None and isinstance(data, dict) and isinstance(data.get("data"), dict):
            form = definition_forms.get(event.bpmn_id)
            readable = form is None or event.actor_name == me or (forms.visible_to(form, groups) and not (
                event.bpmn_id in open_sealed))
            data = {**data, "data": forms.redact(form, data["data"], groups) if readable else {}}
            if not unmasked:
                data["data"] = forms.masked_data(form, data["data"])
        if event.actor_name == "system":
            label = _("system")
        elif people or event.actor_name == me:
            label = names.get(event.actor_name, event.actor_name)
        elif event.task_id:
            label = role_label(event.task.candidate_group)
        else:
            label = _("station staff")
        target = data.get("assignee") or data.get("shared_with") if isinstance(data, dict) else None
        target_label = (names.get(target, target) if people or target == me else "") if target else ""
        result.append(EventInfo(event.at, event.kind, event.actor_name, event.bpmn_id, data, label, target_label))
    return result


def _concerns_outsider(event: AuditEvent, viewer, groups: set[str] | None) -> bool:
    if event.task_id is None:
        return event.kind in CASE_LEVEL_EVENTS
    task = event.task
    return (task.assignee_id == viewer.pk or task.completed_by_id == viewer.pk
            or (not task.named and task.candidate_group in (groups or set())))


def _open_sealed_tasks(instance_id: int, definition_forms: dict) -> set[str]:
    """BPMN ids of sealed forms (a panel's scores) with an instance still open in this case."""
    sealed_ids = [bpmn_id for bpmn_id, form in definition_forms.items() if forms.sealed(form)]
    if not sealed_ids:
        return set()
    return set(HumanTask.objects.filter(instance_id=instance_id, bpmn_id__in=sealed_ids, status=TaskStatus.OPEN)
               .values_list("bpmn_id", flat=True))


# -- tasks ---------------------------------------------------------------------------------------

@remembered
def submitted_forms(*, instance_id: int, viewer) -> list[SubmittedForm]:
    """What was entered earlier in the instance, labelled from each task's own form version, for a
    viewer who may open the instance or one of its tasks (NotFound otherwise; `SYSTEM`: everything).

    What the viewer may not read is left out: a form whose properties say `visible_to:
    "reviewer,supervisor"` is shown only to those roles (and administrators); a field marked
    `visible_to` only to its roles (the reporter's identity); a `sealed` form's submissions only to
    their author while another instance of the same task is open (a panel's scores)."""
    viewer = _reader(viewer, instance_id, through_tasks=True)
    rows = (HumanTask.objects.filter(instance_id=instance_id, status=TaskStatus.COMPLETED)
            .select_related("completed_by", "instance").defer("instance__state")
            .order_by("completed_at", "pk"))
    rows = list(rows)
    if not rows:
        return []
    viewer_groups = None if viewer is None else user_groups(viewer)
    people = sees_people(viewer)
    definition_forms = catalog.definition(rows[0].instance.definition_id).forms or {}
    open_sealed = _open_sealed_tasks(instance_id, definition_forms)
    unmasked = not _has_masks(definition_forms) or holds_case(viewer, instance_id, rows[0].instance.village)
    # A choice from an option list of the process (a volunteer, a partner office) is shown by its label
    # as this viewer's lists name it, not by the id stored; one the viewer's lists lack stays the id.
    # A list drawn from the case's own data (this activity's roster) is read from that data.
    with forms.acting_as(viewer, _case_data_for_lists(rows[0].instance, definition_forms)):
        result = _submitted(rows, definition_forms, viewer, viewer_groups, people, open_sealed, unmasked)
    # A round of a step is the tasks one step opened together (a panel's reviews); a round is an
    # earlier one once the step was opened again later and done (the application came back).
    opened = {row.pk: row.created_at for row in rows}
    latest_round = {}
    for row in rows:
        latest_round[row.bpmn_id] = max(latest_round.get(row.bpmn_id, row.created_at), row.created_at)
    return [dataclasses.replace(f, superseded=opened[f.id] < latest_round[f.bpmn_id]) for f in result]


def _case_data_for_lists(instance: ProcessInstance, definition_forms: dict) -> dict:
    """The case's workflow data when one of its forms takes options from a list that depends on it
    (read from the stored state: a page's read), else nothing."""
    sources = {(c.get("properties") or {}).get("options_source") for form in definition_forms.values() for c in forms.fields_of(form)}
    if not any(registry.option_source_reads_case(name) for name in sources if name):
        return {}
    from engine.spiff import runtime

    return runtime.read_case_data(instance)


def _submitted(rows, definition_forms, viewer, viewer_groups, people, open_sealed, unmasked) -> list[SubmittedForm]:
    result = []
    for row in rows:
        form = definition_forms.get(row.bpmn_id) or {"components": []}
        own = viewer is not None and row.completed_by_id == viewer.pk
        if not own and not forms.visible_to(form, viewer_groups):
            continue
        if viewer is not None and row.bpmn_id in open_sealed and row.completed_by_id != viewer.pk:
            continue
        fields = []
        for component in forms.fields_of(form):
            key = component["key"]
            if key not in (row.form_data or {}) or not forms.field_visible_to(component, viewer_groups):
                continue
            value = row.form_data[key]
            if not unmasked:
                value = forms.masked_data({"components": [component]}, {key: value})[key]
            files = tuple(v for v in value if isinstance(v, str)) if component["type"] == "filepicker" and isinstance(value, list) else ()
            fields.append(FieldValue(key, forms.field_label(component), forms.display_value(component, value),
                                     (component.get("properties") or {}).get("sensitive") == "true", files,
                                     _list_rows(component, value) if component["type"] == "dynamiclist" else ()))
        label = (display_name(row.completed_by) if people or (viewer is not None and row.completed_by_id == viewer.pk)
                 else role_label(row.candidate_group))
        result.append(SubmittedForm(row.name, row.bpmn_id, row.completed_by.get_username() if row.completed_by_id else "",
                                    row.completed_at, fields, label, id=row.pk))
    return result


def _list_rows(component: dict, value) -> tuple:
    """A list field's rows for a page: each a tuple of (column label, shown value), in column order."""
    columns = [c for c in component.get("components") or [] if c.get("key")]
    return tuple(tuple((forms.field_label(c), forms.display_value(c, row.get(c["key"]))) for c in columns)
                 for row in (value or []) if isinstance(row, dict))


_LANE_ROLE_SUFFIX = re.compile(r'(<(?:bpmn:)?lane\b[^>]*\bname="[^"]*?)\s*\(\s*[a-z][a-z0-9_]*\s*\)(")')


def diagram_state(*, instance_id: int, viewer) -> DiagramState:
    """The diagram of the instance's version, and which elements are done, active, overdue, for a
    viewer who may open the instance (NotFound otherwise). Lanes are shown by their people's name
    (接待岗), without the role code the engine maps them by."""
    _reader(viewer, instance_id)
    instance = ProcessInstance.objects.select_related("definition").only("pk", "definition__bpmn_xml").get(pk=instance_id)
    now = clock.now()
    completed, active, overdue = set(), set(), set()
    latest, latest_at = "", None
    for bpmn_id, status, due_at, completed_at in HumanTask.objects.filter(instance_id=instance_id).values_list(
            "bpmn_id", "status", "due_at", "completed_at"):
        if status == TaskStatus.COMPLETED:
            completed.add(bpmn_id)
            if completed_at and (latest_at is None or completed_at > latest_at):
                latest, latest_at = bpmn_id, completed_at
        elif status == TaskStatus.OPEN:
            active.add(bpmn_id)
            if due_at is not None and due_at < now:
                overdue.add(bpmn_id)
    completed |= set(AuditEvent.objects.filter(instance_id=instance_id, kind__in=[AuditKind.SERVICE_CALLED, AuditKind.TIMER_FIRED])
                     .values_list("bpmn_id", flat=True))
    xml = _LANE_ROLE_SUFFIX.sub(r"\1\2", instance.definition.bpmn_xml)
    return DiagramState(xml, sorted(completed - active), sorted(active), sorted(overdue), latest)


def staff_roles_of(definition: catalog.Definition) -> set[str]:
    """Roles that hold a process's data: the roles of its lanes, less those that only ever see their
    own tasks (applicants, reviewers, partner offices) — a case is never shared with them."""
    roles = {t.get("candidate_group") for t in (definition.user_tasks or {}).values()} | {definition.start_group}
    return {r for r in roles if r in registry.roles() and r not in registry.involvement_only_roles()} | {"supervisor"}


def shareable_people(*, instance_id: int, actor) -> list[Person]:
    """Who a supervisor may share this case with: active staff of the roles its process involves."""
    instance = ProcessInstance.objects.filter(pk=instance_id).only("pk", "village", "definition_id").first()
    if instance is None or actor is None or not supervises(actor, instance.village):
        return []
    people = (User.objects.filter(is_active=True, groups__name__in=staff_roles_of(catalog.definition(instance.definition_id)))
              .exclude(pk=actor.pk).distinct())
    return sorted((Person(p.get_username(), display_name(p), "" if in_scope(p, instance.village) else _("another village"))
                   for p in people), key=lambda p: (bool(p.note), p.label))


