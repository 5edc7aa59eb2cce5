"""Lock -> load -> act -> run engine steps -> save, in one transaction, for every change to an instance.

This module is where the engine's guarantees are enforced:
- one writer per instance: the instance row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) and
  the save is guarded by the revision read (`UPDATE ... WHERE revision = r`), so a race that slips
  past the lock (SQLite has no row locks) still loses cleanly instead of writing twice;
- state, task rows, timer rows, audit events and outbox rows are written in the same transaction,
  so a crash leaves either all of a step or none of it;
- a failing script or service task puts the instance in a visible error state with its message.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from uuid import UUID

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import clock, registry
from engine.permissions import can_hold, in_scope, user_groups
from engine.errors import AlreadyCompleted, CaseflowError, ConcurrentUpdate, InvalidState, NotFound, StepFailed
from engine.models import (
    AuditEvent, AuditKind, HumanTask, InstanceStatus, OutboxMessage, ProcessDefinition, ProcessInstance,
    TaskStatus, Timer, TimerStatus,
)

from . import parser, scripting, serializer

log = logging.getLogger("caseflow.engine")
# Large definition columns a step never reads (the spec comes from the per-version cache).
DEFINITION_BULK = ("definition__spec", "definition__bpmn_xml")


def _limits() -> scripting.Limits:
    from django.conf import settings

    return scripting.Limits(
        max_steps=settings.CASEFLOW_EXPRESSION_MAX_STEPS,
        max_seconds=settings.CASEFLOW_EXPRESSION_MAX_SECONDS,
        max_size=settings.CASEFLOW_EXPRESSION_MAX_SIZE,
    )


def actor_name(actor) -> str:
    return actor.get_username() if actor is not None else "system"


@dataclass
class Step:
    """One change to one instance; also the StepContext that registry handlers receive."""

    instance: ProcessInstance
    actor: object
    workflow: BpmnWorkflow | None = None
    current_spiff_task_id: str | None = None
    current_bpmn_id: str | None = None  # the element whose hooks run now, for the error state if one fails
    breached_task_ids: set = field(default_factory=set)  # task rows a timer breached in this step
    pending_variables: dict = field(default_factory=dict)
    current_task_data: dict = field(default_factory=dict)

    # -- StepContext ----------------------------------------------------------------------------
    @property
    def instance_id(self) -> int:
        return self.instance.pk

    @property
    def process_key(self) -> str:
        return self.instance.process_key

    @property
    def village(self) -> str:
        return self.instance.village

    def enqueue(self, channel: str, payload: dict, *, effect: str) -> str:
        key = f"{self.instance.pk}:{self.current_spiff_task_id or 'instance'}:{effect}"
        try:
            with transaction.atomic():
                OutboxMessage.objects.create(
                    key=key, channel=channel, payload=payload, instance=self.instance,
                    created_at=clock.now(), next_attempt_at=clock.now(),
                )
        except IntegrityError:
            log.info("outbox effect %s already queued", key)
        else:
            transaction.on_commit(_kick_outbox, robust=True)
        return key

    def set_variable(self, name: str, value) -> None:
        """Put a value into the workflow's data (for conditions and task routing), from a hook.

        Applied when the step's task completes (or, on start, before the first engine steps)."""
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"not a variable name: {name!r}")
        problem = serializer.storable_problem(value)
        if problem:
            raise ValueError(f"variable {name!r} cannot be stored: {problem}")
        self.pending_variables[name] = value

    def task_variable(self, name: str, default=None):
        """A value of the completing task's workflow data (e.g. which referral a provider answers)."""
        return self.current_task_data.get(name, default)

    def grant_view(self, *, group: str) -> None:
        """Let a whole group (e.g. an applicant organisation) open this instance: a guardian grant."""
        from django.contrib.auth.models import Group
        from guardian.shortcuts import assign_perm

        assign_perm("engine.view_processinstance", Group.objects.get_or_create(name=group)[0], self.instance)

    def set_subject(self, subject: str) -> None:
        self.instance.subject = subject[:200]

    def set_village(self, village: str) -> None:
        self.instance.village = village

    def reassign_open_task(self, bpmn_id: str, username: str | None, *, reason: str, from_username: str | None = None,
                           any_village: bool = False) -> int:
        """Give the open task(s) with this BPMN id to `username` (None: back to the role); with
        `from_username`, only the one(s) that person holds (e.g. one late reviewer of a panel). With
        `any_village`, a person of the role from anywhere in the station (a supervisor's decision)."""
        from django.contrib.auth import get_user_model

        assignee = None
        if username:
            assignee = get_user_model().objects.filter(username=username, is_active=True).first()
            if assignee is None:
                raise InvalidState(_("No active user named '%(name)s'.") % {"name": username})
        tasks = HumanTask.objects.filter(instance=self.instance, bpmn_id=bpmn_id, status=TaskStatus.OPEN)
        if from_username is not None:
            tasks = tasks.filter(assignee__username=from_username)
        changed = 0
        for task in tasks:
            if assignee is not None and not can_hold(assignee, task, any_village=any_village):
                raise InvalidState(_("%(user)s does not have the role or village this task needs.") % {"user": username})
            task.assignee = assignee
            task.save(update_fields=["assignee"])
            self.audit(AuditKind.ASSIGNED, {"task": task.name, "assignee": username, "reason": reason}, bpmn_id=bpmn_id, task=task)
            changed += 1
        return changed

    def audit(self, kind: str, data: dict, *, bpmn_id: str = "", task: HumanTask | None = None) -> None:
        write_audit(self.instance, kind, self.actor, data, bpmn_id=bpmn_id, task=task)

    # -- service tasks ------------------------------------------------------------------------
    def call_service(self, spiff_task, name: str, params: dict) -> str:
        handler = registry.service_handler(name)
        if handler is None:
            raise RuntimeError(f"service operation '{name}' is not registered")
        values = {key: param.get("value") for key, param in params.items()}
        self.current_spiff_task_id = str(spiff_task.id)
        self.current_task_data = dict(spiff_task.data)
        try:
            result = handler(self, values) or {}
            spiff_task.data.update(self.pending_variables)  # what the service decided, for later conditions
        finally:
            self.current_spiff_task_id = None
            self.current_task_data = {}
            self.pending_variables = {}
        spec = spiff_task.task_spec
        self.audit(AuditKind.SERVICE_CALLED, {"operation": name, "element": spec.bpmn_name or spec.bpmn_id, "result": result}, bpmn_id=spec.bpmn_id)
        return json.dumps(result)


def write_audit(instance: ProcessInstance, kind: str, actor, data: dict, *, bpmn_id: str = "", task: HumanTask | None = None) -> AuditEvent:
    """Append an audit event and tell the registry's listeners, in the caller's transaction."""
    event = AuditEvent.objects.create(
        instance=instance, definition_id=instance.definition_id, task=task, kind=kind, actor=actor,
        actor_name=actor_name(actor), bpmn_id=bpmn_id, at=clock.now(), data=data,
    )
    listeners = registry.event_listeners()
    if listeners:
        notice = registry.EngineEvent(
            kind=kind, instance_id=instance.pk, process_key=instance.process_key, village=instance.village,
            task_id=task.pk if task is not None else None, bpmn_id=bpmn_id, actor_name=event.actor_name, data=data,
            subject=instance.subject,
        )
        for listener in listeners:
            listener(notice)
    return event


def _kick_outbox() -> None:
    """After commit: deliver now (embedded mode runs Celery tasks eagerly) or nudge a worker."""
    from engine.tasks import deliver_outbox

    deliver_outbox.delay()


def _script_engine(step: Step) -> scripting.ExpressionEngine:
    return scripting.ExpressionEngine(limits=_limits(), service_caller=step.call_service)


def _spec_for(definition: ProcessDefinition):
    return parser.cached_spec(definition.pk, lambda: ProcessDefinition.objects.values_list("spec", flat=True).get(pk=definition.pk))


def load_workflow(instance: ProcessInstance, step: Step) -> BpmnWorkflow:
    spec, subprocess_specs = _spec_for(instance.definition)
    return serializer.workflow_from_state(instance.state, spec, subprocess_specs, _script_engine(step))


# -- the one way to change an instance -----------------------------------------------------------

def run_step(instance_id: int, actor, act: Callable[[Step], None], *, require_running: bool = True) -> Step:
    """Lock the instance, load it, let `act` change it, run the engine, sync projections, save.

    A step whose result cannot be stored (a value no database can hold) is rolled back whole, and
    the instance is then put into the visible error state naming the element: the case stops where
    people can see it instead of failing the same way on every retry."""
    step = None
    try:
        with transaction.atomic():
            try:
                instance = (ProcessInstance.objects.select_for_update(of=("self",)).select_related("definition")
                            .defer(*DEFINITION_BULK).get(pk=instance_id))
            except ProcessInstance.DoesNotExist:
                raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id}) from None
            if require_running and instance.status != InstanceStatus.RUNNING:
                raise InvalidState(_("The process instance is %(status)s.") % {"status": instance.get_status_display()})
            step = Step(instance=instance, actor=actor)
            step.workflow = load_workflow(instance, step)
            act(step)
            _advance_and_save(step)
    except _Unstorable as exc:
        _stop_with_error(instance_id, exc.element, exc.message)
        raise _step_failed(exc.element, exc.message) from None
    except (CaseflowError, DatabaseError):
        raise  # refusals people can act on, and database trouble that a retry may cure
    except Exception as exc:  # noqa: BLE001 - a process package's hook failed: the case stops where people see it
        if step is None:
            raise
        element = step.current_bpmn_id or ""
        message = (str(exc).splitlines() or [type(exc).__name__])[0][:500] or type(exc).__name__
        log.exception("instance %s: a hook failed at %s", instance_id, element)
        _stop_with_error(instance_id, element, message)
        raise _step_failed(element, message) from None
    return step


def _step_failed(element: str, why: str) -> StepFailed:
    return StepFailed(_("This step could not be saved and the case has stopped at %(element)s: %(why)s. An administrator "
                        "must correct the process; nothing of this step was applied.") % {"element": element or "?", "why": why})


def start(definition: ProcessDefinition, actor, variables: dict, hook_data: dict) -> Step:
    """Create an instance of a definition version and run it to its first wait state."""
    try:
        with transaction.atomic():
            instance = ProcessInstance.objects.create(
                definition=definition, process_key=definition.key, state={}, started_by=actor, started_at=clock.now(),
                village=str(hook_data.get("village") or ""),
            )
            step = Step(instance=instance, actor=actor)
            spec, subprocess_specs = _spec_for(definition)
            step.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=_script_engine(step))
            step.audit(AuditKind.STARTED, {"element": definition.name, "data": hook_data, "version": definition.version}, bpmn_id=definition.start_event_id)
            step.current_spiff_task_id = "start"
            for hook in registry.start_hooks(definition.key):
                hook(step, hook_data)
            step.current_spiff_task_id = None
            for task in step.workflow.get_tasks(state=TaskState.READY):
                task.data.update(variables)
                task.data.update(step.pending_variables)
            _advance_and_save(step, expected_revision=0)
    except _Unstorable as exc:
        raise StepFailed(_("The process cannot start: at %(element)s, %(why)s. An administrator must correct the process.") % {
            "element": exc.element or "?", "why": exc.message}) from None
    return step


class _Unstorable(Exception):
    def __init__(self, element: str, message: str):
        super().__init__(message)
        self.element, self.message = element, message


def _stop_with_error(instance_id: int, element: str, message: str) -> None:
    with transaction.atomic():
        instance = ProcessInstance.objects.select_for_update(of=("self",)).filter(pk=instance_id).first()
        if instance is None or instance.status != InstanceStatus.RUNNING:
            return
        ProcessInstance.objects.filter(pk=instance.pk).update(
            status=InstanceStatus.ERROR, error_message=message[:1000], error_element=element[:128], revision=instance.revision + 1)
        write_audit(instance, AuditKind.ERROR, None, {"message": message[:1000]}, bpmn_id=element)
    log.warning("instance %s stopped: a value at %s cannot be stored: %s", instance_id, element, message)


def _advance_and_save(step: Step, expected_revision: int | None = None) -> None:
    instance, workflow = step.instance, step.workflow
    if instance.status == InstanceStatus.RUNNING:
        try:
            workflow.do_engine_steps()
            if _start_timer_clocks(step):
                workflow.refresh_timers()  # a clock that started long ago may be due already
                workflow.do_engine_steps()
            if _withdraw_moot_tasks(step):
                workflow.do_engine_steps()  # the branch ended: the case may now complete
        except Exception as exc:  # noqa: BLE001 - any failure inside the diagram is the instance's error, shown to people
            _record_error(step, exc)
    _sync_projections(step)
    if instance.status == InstanceStatus.RUNNING and workflow.is_completed():
        instance.status = InstanceStatus.COMPLETED
        instance.ended_at = clock.now()
        step.audit(AuditKind.INSTANCE_COMPLETED, {})
    old_revision = instance.revision if expected_revision is None else expected_revision
    state = serializer.workflow_to_state(workflow)
    problem = serializer.storable_problem(state)
    if problem:
        raise _Unstorable(_unstorable_element(workflow), problem)
    updated = ProcessInstance.objects.filter(pk=instance.pk, revision=old_revision).update(
        state=state, revision=old_revision + 1, status=instance.status, ended_at=instance.ended_at,
        error_message=instance.error_message, error_element=instance.error_element,
        subject=instance.subject, village=instance.village,
    )
    if updated != 1:
        raise ConcurrentUpdate(_("The case was changed by someone else at the same moment; nothing was saved. Please try again."))
    instance.revision = old_revision + 1
    instance.state = state


def _unstorable_element(workflow: BpmnWorkflow) -> str:
    """The element whose data holds the value that cannot be stored (the latest such task)."""
    bad = [t for t in workflow.get_tasks() if serializer.storable_problem(dict(t.data))]
    bad.sort(key=lambda t: t.last_state_change or 0)
    spec = bad[-1].task_spec if bad else None
    return getattr(spec, "bpmn_id", None) or ""


def _record_error(step: Step, exc: Exception) -> None:
    spiff_task = getattr(exc, "task", None)
    element = spiff_task.task_spec.bpmn_id if spiff_task is not None and hasattr(spiff_task.task_spec, "bpmn_id") else ""
    message = str(exc).splitlines()[0][:1000] if str(exc) else type(exc).__name__
    step.instance.status = InstanceStatus.ERROR
    step.instance.error_message = message
    step.instance.error_element = element or ""
    step.audit(AuditKind.ERROR, {"message": message}, bpmn_id=element or "")
    log.warning("instance %s entered error state at %s: %s", step.instance.pk, element, message)


# -- projections -------------------------------------------------------------------------------

def _timer_due(task) -> str | None:
    value = task.internal_data.get("event_value")
    if isinstance(value, dict):  # cycle timers keep {'cycles', 'next', 'duration'}
        value = value.get("next")
    return value


def _fired_timers(workflow: BpmnWorkflow) -> dict[UUID, object]:
    """Duration and date timer events that have fired (their tasks ran or are about to)."""
    result = {}
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.COMPLETED):
        definition = getattr(task.task_spec, "event_definition", None)
        # SpiffWorkflow resets event_fired once the event has run; a timer task that ran (or is about
        # to) and holds its deadline has fired — a cancelled one is CANCELLED, a waiting one WAITING.
        if isinstance(definition, TimerEventDefinition) and _timer_due(task):
            result[task.id] = task
    return result


def _waiting_timers(workflow: BpmnWorkflow) -> dict[UUID, object]:
    result = {}
    for task in workflow.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        definitions = getattr(definition, "event_definitions", None) or [definition]
        if any(isinstance(d, TimerEventDefinition) for d in definitions) and task.state == TaskState.WAITING and _timer_due(task):
            result[task.id] = task
    return result


def _boundary_hosts(task) -> list[UUID]:
    """The human task(s) a boundary timer guards: the activity it is attached to or, for a
    multi-instance activity (a review panel), each of its instances. Never what another boundary
    event of the same activity started (the supervisor's escalation after the 24-hour timer)."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return []
    activity = next((t for t in parent.children if not isinstance(t.task_spec, BoundaryEvent)), None)
    if activity is None:
        return []
    if getattr(activity.task_spec, "manual", False):
        return [activity.id]
    hosts, stack = [], list(activity.children)
    while stack:
        child = stack.pop()
        if child.task_spec.name.startswith(activity.task_spec.name):  # inside the same activity
            if getattr(child.task_spec, "manual", False):
                hosts.append(child.id)
            else:
                stack.extend(child.children)
    return hosts


def _withdraw_moot_tasks(step: Step) -> bool:
    """Withdraw ready tasks whose `withdrawn_after` activity is no longer running (replacing a late
    reviewer once every review is in). Returns whether any was withdrawn."""
    user_tasks = step.instance.definition.user_tasks or {}
    watched = {bpmn_id: (info.get("properties") or {}).get("withdrawn_after") for bpmn_id, info in user_tasks.items()}
    watched = {k: v for k, v in watched.items() if v}
    if not watched:
        return False
    running = {getattr(t.task_spec, "bpmn_id", None)
               for t in step.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)}
    withdrawn = False
    for task in step.workflow.get_tasks(state=TaskState.READY, manual=True):
        after = watched.get(task.task_spec.bpmn_id)
        if after and after not in running:
            task.cancel()
            withdrawn = True
    return withdrawn


def _start_timer_clocks(step: Step) -> bool:
    """Timers whose clock starts at a moment in the workflow's data (`clock_starts_from`, e.g. the
    report's received_at) rather than when the timer is reached. Returns whether any was set."""
    settings_by_timer = step.instance.definition.timers or {}
    if not settings_by_timer:
        return False
    changed = False
    for task in _waiting_timers(step.workflow).values():
        options = settings_by_timer.get(task.task_spec.bpmn_id) or {}
        variable = options.get("clock_starts_from")
        if not variable or task.internal_data.get("caseflow_clock_started"):
            continue
        definition = task.task_spec.event_definition
        starts = task.data.get(variable)
        try:
            started_at = datetime.fromisoformat(str(starts).replace("Z", "+00:00"))
        except ValueError:
            started_at = None
        if started_at is None or started_at.tzinfo is None or not isinstance(definition, DurationTimerEventDefinition):
            continue  # no moment to start from: the timer keeps the clock it started when reached
        duration = TimerEventDefinition.parse_iso_duration(scripting.normalize_timer_literal(definition.expression))
        due_at = started_at.astimezone(timezone.utc) + TimerEventDefinition.get_timedelta_from_start(duration, started_at)
        task.internal_data["event_value"] = due_at.isoformat()
        task.internal_data["caseflow_clock_started"] = True
        changed = True
    return changed


def _sync_projections(step: Step) -> None:
    instance, workflow, now = step.instance, step.workflow, clock.now()
    definition = instance.definition
    user_tasks = definition.user_tasks

    # Human tasks: one open row per READY manual task.
    ready = {t.id: t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    open_rows = {row.spiff_task_id: row for row in HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)}
    for spiff_id, row in open_rows.items():
        if spiff_id not in ready:
            row.status = TaskStatus.CANCELLED
            row.completed_at = now
            row.save(update_fields=["status", "completed_at"])
            step.audit(AuditKind.CANCELLED, {"task": row.name}, bpmn_id=row.bpmn_id, task=row)
    rows_by_spiff_id = {k: v for k, v in open_rows.items() if k in ready}
    for spiff_id, task in ready.items():
        if spiff_id in rows_by_spiff_id:
            continue
        bpmn_id = task.task_spec.bpmn_id
        info = user_tasks.get(bpmn_id, {})
        properties = info.get("properties") or {}
        candidate_group, assignee = _routing(properties, task.data, info.get("candidate_group", ""))
        named = assignee is not None
        if assignee is None:
            assignee = _follow_on_holder(step, candidate_group)
        row = HumanTask.objects.create(
            instance=instance, spiff_task_id=spiff_id, bpmn_id=bpmn_id,
            name=info.get("name") or task.task_spec.bpmn_name or bpmn_id, lane=info.get("lane", task.task_spec.lane or ""),
            candidate_group=candidate_group, assignee=assignee, process_key=instance.process_key, village=instance.village,
            created_at=now, named=named, context=_task_context(properties, task.data),
        )
        rows_by_spiff_id[spiff_id] = row
        step.audit(AuditKind.TASK_READY, {"task": row.name, "candidate_group": row.candidate_group,
                                          "assignee": assignee.get_username() if assignee else None, "named": named,
                                          "returned": _returned(step, bpmn_id)},
                   bpmn_id=bpmn_id, task=row)

    # Timers: one row per waiting timer event, attached to the human task it guards.
    waiting = _waiting_timers(workflow)
    recorded = {row.spiff_task_id: row for row in Timer.objects.filter(instance=instance).select_related("attached_to")}
    timer_rows = {k: row for k, row in recorded.items() if row.status == TimerStatus.WAITING}
    for spiff_id, row in timer_rows.items():
        if spiff_id in waiting:
            continue
        task = workflow.get_task_from_id(spiff_id) if spiff_id in workflow.tasks else None
        fired = task is not None and (task.internal_data.get("event_fired") or task.state in (TaskState.READY, TaskState.COMPLETED))
        row.status = TimerStatus.FIRED if fired else TimerStatus.CANCELLED
        row.fired_at = now if fired else None
        row.save(update_fields=["status", "fired_at"])
        if fired:
            _timer_fired(step, row, task)
    # A timer can fire in the very step that reached it, never having been seen waiting: its clock
    # started long before (a report typed in a day after it was received). Record and escalate it too.
    for spiff_id, task in _fired_timers(workflow).items():
        if spiff_id in recorded:
            continue
        host_ids = _boundary_hosts(task)
        row = Timer.objects.create(
            instance=instance, spiff_task_id=spiff_id, bpmn_id=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name or "",
            due_at=datetime.fromisoformat(_timer_due(task)) if _timer_due(task) else now, status=TimerStatus.FIRED, fired_at=now,
            attached_to=next((rows_by_spiff_id[h] for h in host_ids if h in rows_by_spiff_id), None),
        )
        _timer_fired(step, row, task)
    due_by_host: dict[UUID, datetime] = {}
    for spiff_id, task in waiting.items():
        due_at = datetime.fromisoformat(_timer_due(task))
        host_ids = _boundary_hosts(task)
        for host_id in host_ids:
            due_by_host[host_id] = min(due_at, due_by_host.get(host_id, due_at))
        if spiff_id not in timer_rows:
            Timer.objects.create(
                instance=instance, spiff_task_id=spiff_id, bpmn_id=task.task_spec.bpmn_id,
                name=task.task_spec.bpmn_name or "", due_at=due_at,
                attached_to=next((rows_by_spiff_id[h] for h in host_ids if h in rows_by_spiff_id), None),
            )
    for host_id, due_at in due_by_host.items():
        row = rows_by_spiff_id.get(host_id)
        if row is not None and row.pk not in step.breached_task_ids and (row.due_at is None or row.due_at > due_at) \
                and row.sla_breached_at is None:
            row.due_at = due_at
            row.save(update_fields=["due_at"])


def _routing(properties: dict, data: dict, lane_group: str):
    """(candidate group, assignee) of a new task: the lane's role, unless the diagram routes the task
    by a workflow variable (assignee_from / candidate_group_from, see parser.TASK_PROPERTIES)."""
    from django.contrib.auth import get_user_model

    def read(expression):
        try:
            return scripting.evaluate_expression(expression, data, _limits())
        except Exception:  # a missing variable or key: the same clear refusal as an empty value
            return None

    group, assignee = lane_group, None
    variable = properties.get("candidate_group_from")
    if variable:
        value = read(variable)
        if not isinstance(value, str) or not value:
            raise InvalidState(_("The task's group comes from '%(var)s', which is not set.") % {"var": variable})
        group = value
    variable = properties.get("assignee_from")
    if variable:
        username = read(variable)
        assignee = get_user_model().objects.filter(username=str(username or ""), is_active=True).first()
        if assignee is None:
            raise InvalidState(_("The task's assignee comes from '%(var)s': no active user '%(name)s'.") % {"var": variable, "name": username})
    return group, assignee


def _returned(step: Step, bpmn_id: str) -> bool:
    """Whether a new task is a step sent back: done before in this case, and the step just
    completed gave reasons to show on return (a completeness check that returned the application)."""
    from engine import forms

    if not HumanTask.objects.filter(instance=step.instance, bpmn_id=bpmn_id, status=TaskStatus.COMPLETED).exists():
        return False
    latest = HumanTask.objects.filter(instance=step.instance, status=TaskStatus.COMPLETED).order_by("-completed_at", "-pk").first()
    form = (step.instance.definition.forms or {}).get(latest.bpmn_id) if latest else None
    return any((latest.form_data or {}).get(c["key"]) not in (None, "", []) for c in forms.return_fields(form))


def _task_context(properties: dict, data: dict):
    """What a task is about, from `context_from` (e.g. which referral a provider answers): stored
    on the task row for pages and summaries."""
    expression = properties.get("context_from")
    if not expression:
        return None
    try:
        value = scripting.evaluate_expression(expression, data, _limits())
    except Exception:  # a missing variable: the task simply has no context
        return None
    return value if not serializer.storable_problem(value) and len(json.dumps(value)) <= 2000 else None


def _follow_on_holder(step: Step, candidate_group: str):
    """Who gets a new task of the same case without being asked: the person who last did a task
    of the same role in this case, else the person whose step made it — if they may hold it."""
    from django.contrib.auth import get_user_model

    village = step.instance.village
    previous = (HumanTask.objects.filter(instance=step.instance, status=TaskStatus.COMPLETED, candidate_group=candidate_group,
                                         completed_by__isnull=False).order_by("-completed_at", "-pk")
                .values_list("completed_by_id", flat=True).first())
    candidates = []
    if previous is not None:
        candidates.append(get_user_model().objects.filter(pk=previous, is_active=True).first())
    candidates.append(step.actor)
    for person in candidates:
        if person is not None and getattr(person, "is_active", False) and candidate_group in user_groups(person) and in_scope(person, village):
            return person
    return None


def _timer_fired(step: Step, timer: Timer, spiff_task) -> None:
    step.audit(AuditKind.TIMER_FIRED, {"element": timer.name or timer.bpmn_id, "due_at": timer.due_at.isoformat()}, bpmn_id=timer.bpmn_id)
    if timer.attached_to is None:
        return
    # A boundary timer on human task(s) still open: the SLA was breached. The guarded tasks are the
    # activity's own (all instances of a review panel), found in the workflow — never a task that
    # another boundary event of the same activity started.
    host_ids = _boundary_hosts(spiff_task) if spiff_task is not None else []
    hosts = (HumanTask.objects.filter(instance=step.instance, status=TaskStatus.OPEN)
             .filter(Q(pk=timer.attached_to_id) | Q(spiff_task_id__in=host_ids)).select_related("assignee").order_by("pk"))
    for host in hosts:
        first_breach = host.sla_breached_at is None
        if first_breach:
            host.sla_breached_at = clock.now()
            # The deadline that was missed stays the task's deadline (a later timer is the next escalation).
            host.due_at = min(host.due_at, timer.due_at) if host.due_at else timer.due_at
            host.save(update_fields=["sla_breached_at", "due_at"])
        step.breached_task_ids.add(host.pk)
        assignee = host.assignee.get_username() if host.assignee else None
        step.audit(AuditKind.ESCALATED, {"task": host.name, "timer": timer.name, "assignee": assignee}, bpmn_id=timer.bpmn_id, task=host)
        step.current_spiff_task_id = f"{timer.spiff_task_id}:{host.pk}"
        try:
            step.enqueue("sla.breach", {
                "instance": step.instance.pk, "process": step.instance.process_key, "task": host.name,
                "timer": timer.name, "candidate_group": host.candidate_group,
                "assignee": assignee, "village": step.instance.village,
            }, effect="sla_breach")
        finally:
            step.current_spiff_task_id = None


# -- acts ----------------------------------------------------------------------------------------

def task_data(step: Step, row: HumanTask) -> dict:
    """A copy of the workflow data the human task behind `row` sees."""
    workflow = step.workflow
    task = workflow.get_task_from_id(row.spiff_task_id) if row.spiff_task_id in workflow.tasks else None
    return dict(task.data) if task is not None else {}


def read_task_data(row: HumanTask) -> dict:
    """A copy of an open task's workflow data, read without a lock (for pages, never for changes)."""
    step = Step(instance=row.instance, actor=None)
    workflow = load_workflow(row.instance, step)
    task = workflow.get_task_from_id(row.spiff_task_id) if row.spiff_task_id in workflow.tasks else None
    return dict(task.data) if task is not None else {}


def complete_ready_task(step: Step, row: HumanTask, variables: dict) -> None:
    """Complete the SpiffWorkflow task behind `row` with `variables` (process variables only)."""
    workflow = step.workflow
    task = workflow.get_task_from_id(row.spiff_task_id) if row.spiff_task_id in workflow.tasks else None
    if task is None or task.state != TaskState.READY:
        raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
    task.data.update(variables)
    task.data.update(step.pending_variables)
    task.run()


def fire_timers(step: Step) -> None:
    """Let SpiffWorkflow update waiting timers against the engine clock (set by the sweeper)."""
    step.workflow.refresh_timers()


def cancel(step: Step, reason: str) -> None:
    # A cancelled workflow has no READY tasks and no waiting timers: the projections follow.
    step.workflow.cancel()
    step.instance.status = InstanceStatus.CANCELLED
    step.instance.ended_at = clock.now()
    step.audit(AuditKind.CANCELLED, {"reason": reason})


def retry(step: Step) -> None:
    """Run tasks that failed again (after the cause was fixed): ERROR tasks go back to READY."""
    for task in step.workflow.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    step.instance.status = InstanceStatus.RUNNING
    step.instance.error_message = ""
    step.instance.error_element = ""
