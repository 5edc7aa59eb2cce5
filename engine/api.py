"""The engine's public facade. The portal, Celery tasks, management commands and tests call these
functions; nothing outside engine/ touches SpiffWorkflow. Keyword-only arguments, ids and an actor
(a user, or None for the system) in; plain dataclasses out; engine.errors raised."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from engine import clock, forms, registry
from engine.errors import AlreadyCompleted, CaseflowError, InvalidState, NotFound, NotPermitted
from engine.models import (
    AuditEvent, AuditKind, HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskStatus, Timer,
    TimerStatus,
)
from engine.spiff import parser, runtime

log = logging.getLogger("caseflow.engine")
User = get_user_model()

SUPERVISING_ROLES = {"supervisor", "admin"}


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

    @classmethod
    def from_row(cls, row: HumanTask, subject: str = "") -> "TaskInfo":
        return cls(
            id=row.pk, instance_id=row.instance_id, process_key=row.process_key, bpmn_id=row.bpmn_id, name=row.name,
            lane=row.lane, candidate_group=row.candidate_group,
            assignee=row.assignee.get_username() if row.assignee_id else None, status=row.status, village=row.village,
            subject=subject, created_at=row.created_at, due_at=row.due_at, sla_breached_at=row.sla_breached_at,
            completed_by=row.completed_by.get_username() if row.completed_by_id else None, completed_at=row.completed_at,
        )


@dataclass(frozen=True)
class EventInfo:
    at: dt.datetime
    kind: str
    actor: str
    bpmn_id: str
    data: dict


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

def user_groups(user) -> set[str]:
    if user is None or not user.is_active:
        return set()
    cached = getattr(user, "_caseflow_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._caseflow_groups = cached
    return cached


def _require_user(actor):
    if actor is None or not getattr(actor, "is_active", False):
        raise NotPermitted(_("Sign in as an active user to do this."))


def _can_work_on(actor, row: HumanTask) -> bool:
    groups = user_groups(actor)
    if row.assignee_id is not None:
        return row.assignee_id == actor.pk
    return row.candidate_group in groups


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
                user_tasks={k: {"name": v.name, "lane": v.lane, "candidate_group": v.candidate_group} for k, v in parsed.user_tasks.items()},
                start_group=parsed.start_group, start_event_id=parsed.start_event_id,
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
    row = _task_row(task_id)
    return row.instance.definition.forms.get(row.bpmn_id)


# -- instances -----------------------------------------------------------------------------------

def start_instance(*, process_key: str, data: dict | None = None, actor) -> InstanceInfo:
    """Start the latest version of a process as `actor`, with the start form's data."""
    _require_user(actor)
    definition = _latest(process_key)
    if definition.start_group not in user_groups(actor):
        raise NotPermitted(_("Your role may not start '%(name)s'.") % {"name": definition.name})
    form = definition.forms.get(definition.start_event_id)
    cleaned = forms.clean_form_data(form, data or {}) if form is not None else forms.clean_form_data(None, data)
    variables = {k: v for k, v in cleaned.items() if form and k in forms.process_variables(form)}
    step = runtime.start(definition, actor, variables, cleaned)
    return get_instance(instance_id=step.instance.pk, with_history=False)


def cancel_instance(*, instance_id: int, actor, reason: str) -> InstanceInfo:
    _require_user(actor)
    if not (user_groups(actor) & SUPERVISING_ROLES):
        raise NotPermitted(_("Only a supervisor or an administrator may cancel a case."))
    if not (reason or "").strip():
        raise InvalidState(_("Give a reason for cancelling."))
    runtime.run_step(instance_id, actor, lambda step: runtime.cancel(step, reason.strip()))
    return get_instance(instance_id=instance_id, with_history=False)


def retry_instance(*, instance_id: int, actor) -> InstanceInfo:
    """Run the failed step of an instance in error again (an operator's action, after a fix)."""
    _require_user(actor)
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may retry a failed case."))
    runtime.run_step(instance_id, actor, runtime.retry, require_running=False)
    return get_instance(instance_id=instance_id, with_history=False)


def get_instance(*, instance_id: int, with_history: bool = True) -> InstanceInfo:
    """Status, open tasks and (unless told not to) history of an instance.

    Callers check visibility (engine.selectors). The changing calls below answer without history:
    it grows with every step and the hot path should not pay for it."""
    try:
        instance = ProcessInstance.objects.select_related("definition").defer(*runtime.DEFINITION_BULK).get(pk=instance_id)
    except (ProcessInstance.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id}) from None
    open_rows = instance.human_tasks.filter(status=TaskStatus.OPEN).select_related("assignee", "completed_by").order_by("created_at", "pk")
    events = instance.audit_events.order_by("at", "pk") if with_history else []
    return InstanceInfo(
        id=instance.pk, process_key=instance.process_key, version=instance.definition.version, status=instance.status,
        village=instance.village, subject=instance.subject, started_at=instance.started_at, ended_at=instance.ended_at,
        error_message=instance.error_message, error_element=instance.error_element,
        open_tasks=[TaskInfo.from_row(r, instance.subject) for r in open_rows],
        history=[EventInfo(e.at, e.kind, e.actor_name, e.bpmn_id, e.data) for e in events],
    )


# -- tasks ---------------------------------------------------------------------------------------

def claim_task(*, task_id: int, actor) -> TaskInfo:
    _require_user(actor)
    with transaction.atomic():
        row = HumanTask.objects.select_for_update().filter(pk=task_id).first()
        if row is None:
            raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if row.candidate_group not in user_groups(actor):
            raise NotPermitted(_("This task belongs to another role."))
        if row.assignee_id not in (None, actor.pk):
            raise InvalidState(_("This task is already claimed by %(user)s.") % {"user": row.assignee.get_username()})
        claimed = HumanTask.objects.filter(pk=row.pk, status=TaskStatus.OPEN, assignee__isnull=True).update(assignee=actor)
        if claimed:
            _audit_task(row, AuditKind.CLAIMED, actor, {})
    return TaskInfo.from_row(_task_row(task_id))


def release_task(*, task_id: int, actor, reason: str = "") -> TaskInfo:
    _require_user(actor)
    with transaction.atomic():
        row = HumanTask.objects.select_for_update().filter(pk=task_id).first()
        if row is None:
            raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if row.assignee_id != actor.pk and not (user_groups(actor) & SUPERVISING_ROLES):
            raise NotPermitted(_("Only the person holding the task or a supervisor may release it."))
        HumanTask.objects.filter(pk=row.pk).update(assignee=None)
        _audit_task(row, AuditKind.RELEASED, actor, {"reason": reason})
    return TaskInfo.from_row(_task_row(task_id))


def assign_task(*, task_id: int, assignee_username: str, actor, reason: str) -> TaskInfo:
    """A supervisor gives an open task to someone of its role (or takes it over themselves)."""
    _require_user(actor)
    if not (user_groups(actor) & SUPERVISING_ROLES):
        raise NotPermitted(_("Only a supervisor may assign tasks."))
    if not (reason or "").strip():
        raise InvalidState(_("Give a reason for the assignment."))
    assignee = User.objects.filter(username=assignee_username, is_active=True).first()
    if assignee is None:
        raise NotFound(_("No active user named '%(name)s'.") % {"name": assignee_username})
    with transaction.atomic():
        row = HumanTask.objects.select_for_update().filter(pk=task_id).first()
        if row is None:
            raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        assignee_groups = user_groups(assignee)
        if row.candidate_group not in assignee_groups and not (assignee_groups & SUPERVISING_ROLES):
            raise InvalidState(_("%(user)s does not have the role this task needs.") % {"user": assignee_username})
        HumanTask.objects.filter(pk=row.pk).update(assignee=assignee)
        _audit_task(row, AuditKind.ASSIGNED, actor, {"assignee": assignee_username, "reason": reason.strip()})
    return TaskInfo.from_row(_task_row(task_id))


def complete_task(*, task_id: int, data: dict, actor) -> InstanceInfo:
    """Validate `data` against the task's form and complete it; the process runs on to its next wait.

    Raises FormInvalid (field errors; nothing changes), AlreadyCompleted (someone was first),
    NotPermitted (not this user's task)."""
    _require_user(actor)
    row = _task_row(task_id)
    _require_open(row)  # a cheap answer first; the real check is below, under the instance lock

    def act(step: runtime.Step):
        current = HumanTask.objects.select_related("assignee", "completed_by").get(pk=row.pk)
        _require_open(current)
        if not _can_work_on(actor, current):
            raise NotPermitted(_("This task is not yours to complete."))
        form = step.instance.definition.forms.get(current.bpmn_id)
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
        runtime.complete_ready_task(step, current, variables)
        for hook in registry.task_hooks(step.instance.process_key, current.bpmn_id):
            hook(step, cleaned)

    runtime.run_step(row.instance_id, actor, act)
    return get_instance(instance_id=row.instance_id, with_history=False)


def _require_open(row: HumanTask) -> None:
    if row.status == TaskStatus.COMPLETED:
        raise AlreadyCompleted(_("This task is no longer open; it was completed by %(user)s.") % {
            "user": row.completed_by.get_username() if row.completed_by_id else _("the process")})
    if row.status != TaskStatus.OPEN:
        raise AlreadyCompleted(_("This task is no longer open; it was withdrawn by the process."))


def _audit_task(row: HumanTask, kind: str, actor, data: dict) -> None:
    AuditEvent.objects.create(
        instance_id=row.instance_id, task=row, kind=kind, actor=actor, actor_name=runtime.actor_name(actor),
        bpmn_id=row.bpmn_id, at=clock.now(), data=data,
    )


# -- timers --------------------------------------------------------------------------------------

def fire_due_timers(*, as_of: dt.datetime | None = None, limit: int = 500) -> SweepResult:
    """One sweep: fire every timer due by `as_of` (default now) exactly once.

    Safe in several processes at once: each due timer row is claimed with FOR UPDATE SKIP LOCKED,
    then its instance is stepped under the instance lock; SpiffWorkflow decides, from the state
    loaded under that lock, which timers are due, so a timer already fired by another sweeper is
    simply not there any more."""
    from django.db import connection

    instances = fired = conflicts = 0
    seen: set[int] = set()
    with clock.frozen_at(as_of):
        cutoff = clock.now()
        while instances < limit:
            with transaction.atomic():
                claim = Timer.objects.filter(status=TimerStatus.WAITING, due_at__lte=cutoff).exclude(instance_id__in=seen).order_by("due_at")
                if connection.features.has_select_for_update_skip_locked:
                    claim = claim.select_for_update(skip_locked=True)
                timer = claim.only("pk", "instance_id").first()
                if timer is None:
                    break
                seen.add(timer.instance_id)
                before = Timer.objects.filter(instance_id=timer.instance_id, status=TimerStatus.FIRED).count()
                try:
                    with transaction.atomic():
                        runtime.run_step(timer.instance_id, None, runtime.fire_timers)
                except (CaseflowError,) as exc:
                    conflicts += 1
                    log.info("timer sweep skipped instance %s: %s", timer.instance_id, exc)
                    continue
                instances += 1
                fired += Timer.objects.filter(instance_id=timer.instance_id, status=TimerStatus.FIRED).count() - before
    return SweepResult(instances=instances, timers_fired=fired, conflicts=conflicts)


def deliver_outbox(*, limit: int = 100) -> int:
    """Send pending outside effects (after the steps that queued them committed)."""
    from engine import outbox

    return outbox.deliver_pending(limit=limit)
