"""The engine's public facade. The portal, Celery tasks, management commands and tests call these
functions; nothing outside engine/ touches SpiffWorkflow. Keyword-only arguments, ids and an actor
(a user, or None for the system) in; plain dataclasses out; engine.errors raised."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from engine import clock, forms, registry
from engine.forms import FieldSpec, describe_form  # noqa: F401 - part of the facade for pages
from engine.errors import AlreadyCompleted, CaseflowError, FormInvalid, InvalidState, NotFound, NotPermitted, StepFailed
from engine.models import (
    AuditEvent, AuditKind, HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskStatus, Timer,
    TimerStatus,
)
from engine.permissions import can_hold, can_work_on, in_scope, supervises, user_groups
from engine.spiff import parser, runtime

log = logging.getLogger("caseflow.engine")
AUDIT_LABELS = dict(AuditKind.choices)
STATUS_LABELS = {**dict(InstanceStatus.choices), **dict(TaskStatus.choices)}
User = get_user_model()


# -- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DefinitionInfo:
    id: int
    key: str
    version: int
    name: str
    created: bool  # False when the same file was already deployed


@dataclass(frozen=True)
class TaskInfo:
    id: int
    instance_id: int
    process_key: str
    bpmn_id: str
    name: str
    lane: str
    candidate_group: str
    assignee: str | None
    status: str
    village: str
    subject: str
    created_at: dt.datetime
    due_at: dt.datetime | None
    sla_breached_at: dt.datetime | None
    completed_by: str | None
    completed_at: dt.datetime | None
    named: bool = False  # routed to this person by name (a panel's reviewer): never the group's
    context: object = None  # what this task is about (context_from), e.g. a referral id
    assignee_label: str | None = None  # the holder's display name

    @classmethod
    def from_row(cls, row: HumanTask, subject: str = "") -> "TaskInfo":
        return cls(
            id=row.pk, instance_id=row.instance_id, process_key=row.process_key, bpmn_id=row.bpmn_id, name=row.name,
            lane=row.lane, candidate_group=row.candidate_group,
            assignee=row.assignee.get_username() if row.assignee_id else None, status=row.status, village=row.village,
            subject=subject, created_at=row.created_at, due_at=row.due_at, sla_breached_at=row.sla_breached_at,
            completed_by=row.completed_by.get_username() if row.completed_by_id else None, completed_at=row.completed_at,
            named=row.named, context=row.context, assignee_label=display_name(row.assignee) if row.assignee_id else None,
        )


@dataclass(frozen=True)
class EventInfo:
    at: dt.datetime
    kind: str
    actor: str  # the username (or "system"), as recorded
    bpmn_id: str
    data: dict
    actor_label: str = ""  # how the viewer reads the actor: a display name, or a role for outsiders
    target_label: str = ""  # whom the event concerns (an assignment, a share), by display name


@dataclass(frozen=True)
class InstanceInfo:
    id: int
    process_key: str
    version: int
    status: str
    village: str
    subject: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    error_message: str
    error_element: str
    open_tasks: list[TaskInfo] = field(default_factory=list)
    history: list[EventInfo] = field(default_factory=list)


@dataclass(frozen=True)
class SweepResult:
    instances: int
    timers_fired: int
    conflicts: int


# -- helpers -------------------------------------------------------------------------------------

def display_name(user) -> str:
    """How people are named on pages: their full name (or first name) as the admin entered it."""
    if user is None:
        return ""
    return (user.get_full_name() or user.first_name or user.get_username()).strip()


def sees_people(viewer) -> bool:
    """Whether the viewer may see who the station's staff are (names in timelines and holders).
    Applicant organisations, reviewers and partner offices see a role instead: an applicant never
    learns which reviewer scored them."""
    from django.conf import settings

    if viewer is None:
        return True
    staff_roles = set(settings.CASEFLOW_ROLES) - set(getattr(settings, "CASEFLOW_INVOLVEMENT_ONLY_ROLES", ()))
    return bool(user_groups(viewer) & staff_roles)


def group_label(group: str) -> str:
    """A role or group as people name it: 社工, or the organisation's own name — never a code."""
    from django.conf import settings

    if group in settings.CASEFLOW_ROLES:
        return str(settings.CASEFLOW_ROLES[group])
    return registry.group_label(group) or group


def _role_label(group: str) -> str:
    from django.conf import settings

    return str(settings.CASEFLOW_ROLES.get(group, "")) or registry.group_label(group) or _("Applicant organisation")


def _require_user(actor):
    if actor is None or not getattr(actor, "is_active", False):
        raise NotPermitted(_("Sign in as an active user to do this."))


def _task_row(task_id: int) -> HumanTask:
    try:
        return HumanTask.objects.select_related("assignee", "completed_by").get(pk=task_id)
    except (HumanTask.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id}) from None


def _latest(key: str) -> ProcessDefinition:
    definition = ProcessDefinition.objects.filter(key=key).order_by("-version").first()
    if definition is None:
        raise NotFound(_("No process '%(key)s' is deployed.") % {"key": key})
    return definition


# -- definitions ---------------------------------------------------------------------------------

def deploy_definition(*, bpmn_xml: bytes | str, forms_by_element: dict[str, dict], actor=None) -> DefinitionInfo:
    """Validate and store a new immutable version; the same content twice returns the existing one."""
    if isinstance(bpmn_xml, str):
        bpmn_xml = bpmn_xml.encode("utf-8")
    parsed = parser.validate_and_parse(bpmn_xml, forms_by_element, registry.service_names(), forms.check_form_definition)
    checksum = hashlib.sha256(bpmn_xml + json.dumps(forms_by_element, sort_keys=True).encode()).hexdigest()
    with transaction.atomic():
        existing = ProcessDefinition.objects.select_for_update().filter(key=parsed.process_id).order_by("-version").first()
        if existing is not None and existing.checksum == checksum:
            return DefinitionInfo(existing.pk, existing.key, existing.version, existing.name, created=False)
        version = (existing.version if existing else 0) + 1
        try:
            definition = ProcessDefinition.objects.create(
                key=parsed.process_id, version=version, name=parsed.name, bpmn_xml=bpmn_xml.decode("utf-8"),
                forms=forms_by_element, spec=parsed.spec_dict, checksum=checksum, deployed_by=actor,
                user_tasks={k: {"name": v.name, "lane": v.lane, "candidate_group": v.candidate_group, "properties": v.properties}
                            for k, v in parsed.user_tasks.items()},
                start_group=parsed.start_group, start_event_id=parsed.start_event_id, timers=parsed.timers,
            )
        except IntegrityError:
            raise InvalidState(_("Another version of '%(key)s' was deployed at the same moment; try again.") % {"key": parsed.process_id}) from None
        AuditEvent.objects.create(
            definition=definition, kind=AuditKind.DEPLOYED, actor=actor, actor_name=runtime.actor_name(actor),
            at=clock.now(), data={"key": definition.key, "version": version, "checksum": checksum},
        )
    return DefinitionInfo(definition.pk, definition.key, definition.version, definition.name, created=True)


def read_forms_dir(forms_dir: Path) -> dict[str, dict]:
    """Forms next to a diagram: forms/<element id>.json. Malformed JSON is a deploy error."""
    result = {}
    for path in sorted(Path(forms_dir).glob("*.json")):
        try:
            result[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            from engine.errors import DefinitionInvalid, ElementProblem

            raise DefinitionInvalid([ElementProblem(path.stem, _("Form file is not valid JSON: %(error)s") % {"error": exc})]) from None
    return result


def deploy_file(*, bpmn_path: Path, forms_dir: Path | None = None, actor=None) -> DefinitionInfo:
    bpmn_path = Path(bpmn_path)
    if forms_dir is None:
        package = registry.packages().get(bpmn_path.stem)
        forms_dir = package.forms_dir if package else bpmn_path.parent.parent / bpmn_path.stem / "forms"
    return deploy_definition(bpmn_xml=bpmn_path.read_bytes(), forms_by_element=read_forms_dir(forms_dir), actor=actor)


def deploy_bundled(*, actor=None) -> list[DefinitionInfo]:
    """Deploy every process package registered by processes/*/apps.py (unchanged ones are skipped)."""
    return [deploy_file(bpmn_path=p.bpmn_path, forms_dir=p.forms_dir, actor=actor) for p in registry.packages().values()]


def task_form(*, task_id: int) -> dict | None:
    row = HumanTask.objects.select_related("instance__definition").defer(
        "instance__state", "instance__definition__spec", "instance__definition__bpmn_xml").filter(pk=task_id).first()
    if row is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    return row.instance.definition.forms.get(row.bpmn_id)


def may_complete(*, user, task: TaskInfo) -> bool:
    """Whether the task page should offer this user the form (the facade checks again on submit)."""
    if task.status != TaskStatus.OPEN or user is None or not user.is_active:
        return False
    if task.assignee:
        return task.assignee == user.get_username()
    return task.candidate_group in user_groups(user) and in_scope(user, task.village)


def can_supervise(*, user, village: str) -> bool:
    """May assign, cancel and share this village's cases."""
    return supervises(user, village)


@dataclass(frozen=True)
class StartableProcess:
    key: str
    name: str
    version: int
    form: dict | None


def startable_processes(*, actor) -> list[StartableProcess]:
    """The latest version of each process whose start lane is one of the actor's roles."""
    groups = user_groups(actor)
    latest: dict[str, ProcessDefinition] = {}
    for definition in ProcessDefinition.objects.defer("spec", "bpmn_xml").order_by("key", "-version"):
        latest.setdefault(definition.key, definition)
    return [StartableProcess(d.key, d.name, d.version, d.forms.get(d.start_event_id))
            for d in latest.values() if d.start_group in groups]


# -- instances -----------------------------------------------------------------------------------

def start_instance(*, process_key: str, data: dict | None = None, actor) -> InstanceInfo:
    """Start the latest version of a process as `actor`, with the start form's data."""
    _require_user(actor)
    definition = _latest(process_key)
    if definition.start_group not in user_groups(actor):
        raise NotPermitted(_("Your role may not start '%(name)s'.") % {"name": definition.name})
    form = definition.forms.get(definition.start_event_id)
    with forms.acting_as(actor):
        cleaned = forms.clean_form_data(form, data or {}) if form is not None else forms.clean_form_data(None, data)
    if cleaned.get("village") and not in_scope(actor, cleaned["village"]):
        raise FormInvalid({"village": [_("You do not work in this village.")]})
    variables = {k: v for k, v in cleaned.items() if form and k in forms.process_variables(form)}
    step = runtime.start(definition, actor, variables, cleaned)
    return get_instance(instance_id=step.instance.pk, with_history=False)


def cancel_instance(*, instance_id: int, actor, reason: str) -> InstanceInfo:
    _require_user(actor)
    village = ProcessInstance.objects.filter(pk=instance_id).values_list("village", flat=True).first()
    if village is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    if not supervises(actor, village):
        raise NotPermitted(_("Only a supervisor or an administrator may cancel a case."))
    if not (reason or "").strip():
        raise InvalidState(_("Give a reason for cancelling."))
    def act(step: runtime.Step):
        if step.instance.status not in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
            raise InvalidState(_("The process instance is %(status)s.") % {"status": step.instance.get_status_display()})
        runtime.cancel(step, reason.strip())

    runtime.run_step(instance_id, actor, act, require_running=False)
    return get_instance(instance_id=instance_id, with_history=False)


def retry_instance(*, instance_id: int, actor) -> InstanceInfo:
    """Run the failed step of an instance in error again (an operator's action, after a fix)."""
    _require_user(actor)
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may retry a failed case."))
    runtime.run_step(instance_id, actor, runtime.retry, require_running=False)
    return get_instance(instance_id=instance_id, with_history=False)


def case_summary(*, instance_id: int, process_key: str, viewer, task: TaskInfo | None = None) -> list[tuple[str, str]]:
    """The process package's summary lines for this case and viewer (registry.register_case_summary);
    on a task page, for that task (a provider sees the one referral addressed to them)."""
    return registry.case_summary(process_key, instance_id, viewer, task)


def process_names() -> dict[str, str]:
    """Process key -> name of its latest version (for filters and labels)."""
    names = {}
    for key, name in ProcessDefinition.objects.order_by("key", "-version").values_list("key", "name"):
        names.setdefault(key, name)
    return names


def instances_exist() -> bool:
    return ProcessInstance.objects.exists()


def get_instance(*, instance_id: int, with_history: bool = True, viewer=None) -> InstanceInfo:
    """Status, open tasks and (unless told not to) history of an instance.

    Callers check visibility (engine.selectors). With a `viewer`, the history is what that person
    may read: submitted data without the fields and forms their roles may not see (the reporter's
    identity, a panel's scores), and actors as names or, for outsiders, as roles. The changing calls
    below answer without history: it grows with every step and the hot path should not pay for it."""
    try:
        instance = ProcessInstance.objects.select_related("definition").defer(*runtime.DEFINITION_BULK).get(pk=instance_id)
    except (ProcessInstance.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id}) from None
    open_rows = instance.human_tasks.filter(status=TaskStatus.OPEN).select_related("assignee", "completed_by").order_by("created_at", "pk")
    events = list(instance.audit_events.select_related("task").order_by("at", "pk")) if with_history else []
    return InstanceInfo(
        id=instance.pk, process_key=instance.process_key, version=instance.definition.version, status=instance.status,
        village=instance.village, subject=instance.subject, started_at=instance.started_at, ended_at=instance.ended_at,
        error_message=instance.error_message, error_element=instance.error_element,
        open_tasks=[TaskInfo.from_row(r, instance.subject) for r in open_rows],
        history=_history_for(instance, events, viewer) if events else [],
    )


CASE_LEVEL_EVENTS = {AuditKind.STARTED, AuditKind.INSTANCE_COMPLETED, AuditKind.CANCELLED}
INTERNAL_EVENT_FIELDS = {"reason", "assignee", "shared_with", "candidate_group", "across_villages"}


def _history_for(instance: ProcessInstance, events: list[AuditEvent], viewer) -> list[EventInfo]:
    """The history as this viewer may read it. Outsiders (applicants, reviewers, partner offices)
    see the case's start and end and the events of tasks that were theirs or their group's — not
    the station's internal steps, nor other providers' answers."""
    definition_forms = instance.definition.forms or {}
    groups = None if viewer is None else user_groups(viewer)
    people = sees_people(viewer)
    me = viewer.get_username() if viewer is not None else None
    targets = {e.data.get("assignee") or e.data.get("shared_with") for e in events if isinstance(e.data, dict)}
    names = {u.get_username(): display_name(u) for u in User.objects.filter(username__in={e.actor_name for e in events} | targets)}
    open_sealed = _open_sealed_tasks(instance.pk, definition_forms)
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
        if event.actor_name == "system":
            label = _("system")
        elif people or event.actor_name == me:
            label = names.get(event.actor_name, event.actor_name)
        elif event.task_id:
            label = _role_label(event.task.candidate_group)
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

def claim_task(*, task_id: int, actor) -> TaskInfo:
    _require_user(actor)
    with transaction.atomic():
        row = _lock_task(task_id)
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if row.candidate_group not in user_groups(actor) or not in_scope(actor, row.village):
            raise NotPermitted(_("This task belongs to another role or village."))
        if row.assignee_id not in (None, actor.pk):
            raise InvalidState(_("This task is already claimed by %(user)s.") % {"user": row.assignee.get_username()})
        claimed = HumanTask.objects.filter(pk=row.pk, status=TaskStatus.OPEN, assignee__isnull=True).update(assignee=actor)
        if claimed:
            _audit_task(row, AuditKind.CLAIMED, actor, {"task": row.name})
    return TaskInfo.from_row(_task_row(task_id))


def release_task(*, task_id: int, actor, reason: str = "") -> TaskInfo:
    _require_user(actor)
    with transaction.atomic():
        row = _lock_task(task_id)
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if row.assignee_id != actor.pk and not supervises(actor, row.village):
            raise NotPermitted(_("Only the person holding the task or a supervisor may release it."))
        if row.named:
            raise InvalidState(_("This task was given to %(user)s by name and cannot go back to the group; a supervisor may assign it to someone else.") % {
                "user": display_name(row.assignee)})
        HumanTask.objects.filter(pk=row.pk).update(assignee=None)
        _audit_task(row, AuditKind.RELEASED, actor, {"task": row.name, "reason": reason})
    return TaskInfo.from_row(_task_row(task_id))


def assign_task(*, task_id: int, assignee_username: str, actor, reason: str) -> TaskInfo:
    """A supervisor gives an open task to someone of its role — from any village of the station, to
    cover sick leave — or takes it over themselves. The reason is recorded."""
    _require_user(actor)
    if not (reason or "").strip():
        raise InvalidState(_("Give a reason for the assignment."))
    assignee = User.objects.filter(username=assignee_username, is_active=True).first()
    if assignee is None:
        raise NotFound(_("No active user named '%(name)s'.") % {"name": assignee_username})
    with transaction.atomic():
        row = _lock_task(task_id)
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if not supervises(actor, row.village):
            raise NotPermitted(_("Only a supervisor of this village may assign its tasks."))
        if not can_hold(assignee, row, any_village=True):
            raise InvalidState(_("%(user)s does not have the role this task needs.") % {"user": display_name(assignee)})
        HumanTask.objects.filter(pk=row.pk).update(assignee=assignee)
        _audit_task(row, AuditKind.ASSIGNED, actor, {"task": row.name, "assignee": assignee_username, "reason": reason.strip(),
                                                     "across_villages": not in_scope(assignee, row.village)})
    return TaskInfo.from_row(_task_row(task_id))


@dataclass(frozen=True)
class Person:
    username: str
    label: str
    note: str = ""  # e.g. "another village"


def eligible_assignees(*, task_id: int, actor) -> list[Person]:
    """Who a supervisor may give this task to: people of its role in the whole station (those of
    the task's village first), and the supervisor themselves."""
    row = _task_row(task_id)
    if actor is None or not supervises(actor, row.village):
        return []
    from django.db.models import Q

    people = User.objects.filter(is_active=True).filter(Q(groups__name=row.candidate_group) | Q(pk=actor.pk)).distinct().order_by("username")
    result = []
    for person in people:
        if person.pk == row.assignee_id or not can_hold(person, row, any_village=True):
            continue
        note = "" if in_scope(person, row.village) else _("another village")
        result.append(Person(person.get_username(), display_name(person), note))
    result.sort(key=lambda p: (bool(p.note), p.label))
    return result


def complete_task(*, task_id: int, data: dict, actor) -> InstanceInfo:
    """Validate `data` against the task's form and complete it; the process runs on to its next wait.

    Raises FormInvalid (field errors; nothing changes), AlreadyCompleted (someone was first),
    NotPermitted (not this user's task)."""
    _require_user(actor)
    row = _task_row(task_id)
    _require_open(row)  # a cheap answer first; the real check is below, under the instance lock

    def act(step: runtime.Step):
        current = HumanTask.objects.select_related("assignee", "completed_by").get(pk=row.pk)
        step.current_bpmn_id = current.bpmn_id
        _require_open(current)
        if not can_work_on(actor, current):
            raise NotPermitted(_("This task is not yours to complete."))
        definition_forms = step.instance.definition.forms
        form = definition_forms.get(current.bpmn_id)
        task_variables = runtime.task_data(step, current)
        with forms.acting_as(actor, {**task_variables, "__labels__": forms.variable_labels(definition_forms)}):
            cleaned = forms.clean_form_data(form, data)
        variables = {k: v for k, v in cleaned.items() if k in forms.process_variables(form or {})}
        now = clock.now()
        updated = HumanTask.objects.filter(pk=current.pk, status=TaskStatus.OPEN).update(
            status=TaskStatus.COMPLETED, completed_by=actor, completed_at=now, form_data=cleaned,
            assignee=current.assignee or actor,
        )
        if updated != 1:  # pragma: no cover - the instance lock makes this unreachable on PostgreSQL
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        step.audit(AuditKind.COMPLETED, {"task": current.name, "data": cleaned}, bpmn_id=current.bpmn_id, task=current)
        # Hooks run first: they may refuse (FormInvalid) or set variables the workflow then reads.
        step.current_spiff_task_id = str(current.spiff_task_id)  # effects a hook queues are keyed by this task
        step.current_task_data = task_variables
        try:
            for hook in registry.task_hooks(step.instance.process_key, current.bpmn_id):
                hook(step, cleaned)
        finally:
            step.current_spiff_task_id = None
        runtime.complete_ready_task(step, current, variables)

    try:
        runtime.run_step(row.instance_id, actor, act)
    except StepFailed:
        # Nothing was applied and the case now shows its error; what the person typed is kept.
        HumanTask.objects.filter(pk=row.pk, status=TaskStatus.OPEN).update(draft_data=data if isinstance(data, dict) else None)
        raise
    return get_instance(instance_id=row.instance_id, with_history=False)


def _lock_task(task_id: int) -> HumanTask:
    """Lock the task's instance, then the task: the order every step uses, so a claim never
    deadlocks with a completion or a timer sweep on the same instance."""
    instance_id = HumanTask.objects.filter(pk=task_id).values_list("instance_id", flat=True).first()
    if instance_id is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    ProcessInstance.objects.select_for_update().filter(pk=instance_id).values_list("pk", flat=True).first()
    return HumanTask.objects.select_for_update().select_related("instance").get(pk=task_id)


def _require_open(row: HumanTask) -> None:
    if row.status == TaskStatus.COMPLETED:
        raise AlreadyCompleted(_("This task is no longer open; it was completed by %(user)s.") % {
            "user": row.completed_by.get_username() if row.completed_by_id else _("the process")})
    if row.status != TaskStatus.OPEN:
        raise AlreadyCompleted(_("This task is no longer open; it was withdrawn by the process."))


def _audit_task(row: HumanTask, kind: str, actor, data: dict) -> None:
    runtime.write_audit(row.instance, kind, actor, data, bpmn_id=row.bpmn_id, task=row)


# -- timers --------------------------------------------------------------------------------------

def fire_due_timers(*, as_of: dt.datetime | None = None, limit: int = 500) -> SweepResult:
    """One sweep: fire every timer due by `as_of` (default now) exactly once.

    Safe in several processes at once: each running instance with a due timer is claimed with
    FOR UPDATE SKIP LOCKED and stepped under that lock; SpiffWorkflow decides, from the state
    loaded under the lock, which timers are due, so a timer another sweeper fired is simply not
    there any more."""
    from django.db import connection

    instances = fired = conflicts = 0
    seen: set[int] = set()
    with clock.frozen_at(as_of):
        cutoff = clock.now()
        while instances + conflicts < limit:
            with transaction.atomic():
                # Claim the *instance* (the same lock order as every step: instance, then its rows),
                # skipping instances another sweeper or a user's step holds right now.
                due = Timer.objects.filter(status=TimerStatus.WAITING, due_at__lte=cutoff).values("instance_id")
                claim = (ProcessInstance.objects.filter(pk__in=due, status=InstanceStatus.RUNNING)
                         .exclude(pk__in=seen).order_by("pk"))
                if connection.features.has_select_for_update_skip_locked:
                    claim = claim.select_for_update(skip_locked=True)
                instance_id = claim.values_list("pk", flat=True).first()
                if instance_id is None:
                    break
                seen.add(instance_id)
                before = Timer.objects.filter(instance_id=instance_id, status=TimerStatus.FIRED).count()
                try:
                    with transaction.atomic():
                        runtime.run_step(instance_id, None, runtime.fire_timers)
                except CaseflowError as exc:
                    conflicts += 1
                    log.info("timer sweep skipped instance %s: %s", instance_id, exc)
                    continue
                except Exception:  # one broken instance must not stop the sweep for every other one
                    conflicts += 1
                    log.exception("timer sweep failed on instance %s", instance_id)
                    continue
                instances += 1
                fired += Timer.objects.filter(instance_id=instance_id, status=TimerStatus.FIRED).count() - before
    return SweepResult(instances=instances, timers_fired=fired, conflicts=conflicts)


def deliver_outbox(*, limit: int = 100) -> int:
    """Send pending outside effects (after the steps that queued them committed)."""
    from engine import outbox

    return outbox.deliver_pending(limit=limit)


# -- for the portal's pages ----------------------------------------------------------------------

@dataclass(frozen=True)
class FieldValue:
    key: str
    label: str
    value: str
    sensitive: bool
    files: tuple = ()  # attachment tokens of a file field, for the page to name and link
    rows: tuple = ()  # a list field: each row as ((column label, value), ...) in the form's column order


@dataclass(frozen=True)
class SubmittedForm:
    task_name: str
    bpmn_id: str
    completed_by: str
    completed_at: dt.datetime
    fields: list[FieldValue]
    completed_by_label: str = ""
    superseded: bool = False  # an earlier round of a step done again since (a returned application)
    id: int = 0  # the task's id


@dataclass(frozen=True)
class DiagramState:
    bpmn_xml: str
    completed: list[str]
    active: list[str]
    overdue: list[str]
    latest: str = ""  # the element done most recently, to show on a phone when nothing is open


def save_draft(*, task_id: int, data: dict, actor) -> None:
    """Keep unsubmitted form data (not validated) so a killed browser or a lost signal loses nothing."""
    _require_user(actor)
    row = _task_row(task_id)
    _require_open(row)
    if not can_work_on(actor, row):
        raise NotPermitted(_("This task is not yours to complete."))
    if not isinstance(data, dict) or len(json.dumps(data, default=str)) > 200_000:
        raise InvalidState(_("The draft is too large to keep."))
    HumanTask.objects.filter(pk=row.pk, status=TaskStatus.OPEN).update(draft_data=data)


def task_draft(*, task_id: int) -> dict:
    return _task_row(task_id).draft_data or {}


def task_variables(*, task_id: int) -> dict:
    """The workflow data the open task sees (for option lists that depend on the case, such as the
    household's members). Loads the instance's state; pages call it once per task page."""
    row = HumanTask.objects.filter(pk=task_id, status=TaskStatus.OPEN).select_related("instance__definition").defer(
        "instance__definition__spec", "instance__definition__bpmn_xml").first()
    if row is None:
        return {}
    variables = runtime.read_task_data(row)
    return {**variables, "__labels__": forms.variable_labels(row.instance.definition.forms)}


def previous_submission(*, task_id: int, viewer=None) -> dict:
    """When a step comes back round (a returned application, a returned plan), what was submitted
    last time at the same step of the same case — the form starts from it, not empty. Only for a
    step that was returned (it has a return notice): a decision or a follow-up that simply comes
    round again starts empty, or last round's "return" would be one tap from being chosen again.

    Only a round that ended before this task began counts (never a fellow panel member's review
    submitted meanwhile), and a task routed to a named person or a sealed form is prefilled only
    from that person's own earlier submission."""
    row = _task_row(task_id)
    if return_notice(task_id=task_id, viewer=viewer) is None:
        return {}  # a step that simply comes round again (the next follow-up, a second decision) starts empty
    earlier = (HumanTask.objects.filter(instance_id=row.instance_id, bpmn_id=row.bpmn_id, status=TaskStatus.COMPLETED,
                                        completed_at__lte=row.created_at)
               .exclude(pk=row.pk).order_by("-completed_at", "-pk").first())
    if earlier is None:
        return {}
    form = ProcessDefinition.objects.filter(instances__pk=row.instance_id).values_list("forms", flat=True).first() or {}
    personal = row.named or forms.sealed(form.get(row.bpmn_id))
    if personal and (viewer is None or earlier.completed_by_id != viewer.pk):
        return {}
    return dict(earlier.form_data or {})


@dataclass(frozen=True)
class ReturnNotice:
    task_name: str
    by: str
    at: dt.datetime
    fields: list[FieldValue]


def return_notice(*, task_id: int, viewer) -> ReturnNotice | None:
    """Why this step is back: the latest step completed after this step's previous round whose form
    marks fields `shown_on_return` (the reasons of a completeness check, a supervisor's comments)."""
    row = _task_row(task_id)
    if row.named:  # a panel member's own review is never "returned"
        return None
    previous = (HumanTask.objects.filter(instance_id=row.instance_id, bpmn_id=row.bpmn_id, status=TaskStatus.COMPLETED,
                                         completed_at__lte=row.created_at)
                .exclude(pk=row.pk).order_by("-completed_at", "-pk").first())
    if previous is None:
        return None
    definition_forms = ProcessDefinition.objects.filter(instances__pk=row.instance_id).values_list("forms", flat=True).first() or {}
    groups = user_groups(viewer)
    later = (HumanTask.objects.filter(instance_id=row.instance_id, status=TaskStatus.COMPLETED, completed_at__gte=previous.completed_at)
             .exclude(pk=previous.pk).select_related("completed_by").order_by("-completed_at", "-pk"))
    for returning in later:
        form = definition_forms.get(returning.bpmn_id) or {}
        if not forms.visible_to(form, groups) or returning.completed_at > row.created_at:
            continue
        shown = [c for c in forms.return_fields(form) if forms.field_visible_to(c, groups)
                 and (returning.form_data or {}).get(c["key"]) not in (None, "", [])]
        if shown:
            values = [FieldValue(c["key"], forms.field_label(c), forms.display_value(c, returning.form_data[c["key"]]), False)
                      for c in shown]
            by = display_name(returning.completed_by) if sees_people(viewer) else _role_label(returning.candidate_group)
            return ReturnNotice(returning.name, by, returning.completed_at, values)
    return None


def submitted_forms(*, instance_id: int, viewer=None) -> list[SubmittedForm]:
    """What was entered earlier in the instance, labelled from each task's own form version.

    What the viewer may not read is left out: a form whose properties say `visible_to:
    "reviewer,supervisor"` is shown only to those roles (and administrators); a field marked
    `visible_to` only to its roles (the reporter's identity); a `sealed` form's submissions only to
    their author while another instance of the same task is open (a panel's scores)."""
    rows = (HumanTask.objects.filter(instance_id=instance_id, status=TaskStatus.COMPLETED)
            .select_related("completed_by", "instance__definition")
            .defer("instance__state", "instance__definition__spec", "instance__definition__bpmn_xml")
            .order_by("completed_at", "pk"))
    rows = list(rows)
    if not rows:
        return []
    viewer_groups = None if viewer is None else user_groups(viewer)
    people = sees_people(viewer)
    open_sealed = _open_sealed_tasks(instance_id, rows[0].instance.definition.forms or {})
    result = []
    for row in rows:
        form = row.instance.definition.forms.get(row.bpmn_id) or {"components": []}
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
            files = tuple(v for v in value if isinstance(v, str)) if component["type"] == "filepicker" and isinstance(value, list) else ()
            fields.append(FieldValue(key, forms.field_label(component), forms.display_value(component, value),
                                     (component.get("properties") or {}).get("sensitive") == "true", files,
                                     _list_rows(component, value) if component["type"] == "dynamiclist" else ()))
        label = (display_name(row.completed_by) if people or (viewer is not None and row.completed_by_id == viewer.pk)
                 else _role_label(row.candidate_group))
        result.append(SubmittedForm(row.name, row.bpmn_id, row.completed_by.get_username() if row.completed_by_id else "",
                                    row.completed_at, fields, label, id=row.pk))
    latest = {}
    for form in result:
        latest[form.bpmn_id] = form.id
    return [dataclasses.replace(f, superseded=latest[f.bpmn_id] != f.id) for f in result]


def _list_rows(component: dict, value) -> tuple:
    """A list field's rows for a page: each a tuple of (column label, shown value), in column order."""
    columns = [c for c in component.get("components") or [] if c.get("key")]
    return tuple(tuple((forms.field_label(c), forms.display_value(c, row.get(c["key"]))) for c in columns)
                 for row in (value or []) if isinstance(row, dict))


def focus_forms(*, task_id: int, viewer) -> list[SubmittedForm]:
    """What a task is about, shown open above its form: the latest submission of each step the
    diagram names in `review_of` (a review shows the application, an approval the plan), or else
    of the step done just before this task began — as this viewer may read them."""
    row = _task_row(task_id)
    user_tasks = ProcessDefinition.objects.filter(instances__pk=row.instance_id).values_list("user_tasks", flat=True).first() or {}
    wanted = [i for i in str(((user_tasks.get(row.bpmn_id) or {}).get("properties") or {}).get("review_of", "")).split(",") if i]
    earlier = [f for f in submitted_forms(instance_id=row.instance_id, viewer=viewer)
               if not f.superseded and f.completed_at <= row.created_at and f.bpmn_id != row.bpmn_id]
    if wanted:
        return [f for f in earlier if f.bpmn_id in wanted]
    return earlier[-1:]


_LANE_ROLE_SUFFIX = re.compile(r'(<(?:bpmn:)?lane\b[^>]*\bname="[^"]*?)\s*\(\s*[a-z][a-z0-9_]*\s*\)(")')


def diagram_state(*, instance_id: int) -> DiagramState:
    """The diagram of the instance's version, and which elements are done, active, overdue. Lanes
    are shown by their people's name (接待岗), without the role code the engine maps them by."""
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


def _staff_roles_of(definition: ProcessDefinition) -> set[str]:
    """Roles that hold a process's data: the roles of its lanes, less those that only ever see their
    own tasks (applicants, reviewers, partner offices) — a case is never shared with them."""
    from django.conf import settings

    roles = {t.get("candidate_group") for t in (definition.user_tasks or {}).values()} | {definition.start_group}
    outsiders = set(getattr(settings, "CASEFLOW_INVOLVEMENT_ONLY_ROLES", ()))
    return {r for r in roles if r in settings.CASEFLOW_ROLES and r not in outsiders} | {"supervisor"}


def shareable_people(*, instance_id: int, actor) -> list[Person]:
    """Who a supervisor may share this case with: active staff of the roles its process involves."""
    instance = ProcessInstance.objects.filter(pk=instance_id).select_related("definition").only(
        "pk", "village", "definition__user_tasks", "definition__start_group").first()
    if instance is None or actor is None or not supervises(actor, instance.village):
        return []
    people = User.objects.filter(is_active=True, groups__name__in=_staff_roles_of(instance.definition)).exclude(pk=actor.pk).distinct()
    return sorted((Person(p.get_username(), display_name(p), "" if in_scope(p, instance.village) else _("another village"))
                   for p in people), key=lambda p: (bool(p.note), p.label))


def share_instance(*, instance_id: int, username: str, actor) -> None:
    """Let one more member of staff open this instance — a django-guardian grant. Only roles that
    may hold the process's data qualify: never an applicant organisation or an outside office."""
    from guardian.shortcuts import assign_perm

    _require_user(actor)
    instance = ProcessInstance.objects.filter(pk=instance_id).select_related("definition").only(
        "pk", "village", "process_key", "subject", "definition__user_tasks", "definition__start_group").first()
    if instance is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    if not supervises(actor, instance.village):
        raise NotPermitted(_("Only a supervisor of this village may share a case."))
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(_("No active user named '%(name)s'.") % {"name": username})
    if not user_groups(user) & _staff_roles_of(instance.definition):
        raise NotPermitted(_("%(user)s's role may not hold this case's data; share it only with staff of this process.") % {
            "user": display_name(user)})
    with transaction.atomic():
        assign_perm("engine.view_processinstance", user, instance)
        runtime.write_audit(instance, AuditKind.SHARED, actor, {"shared_with": username})
