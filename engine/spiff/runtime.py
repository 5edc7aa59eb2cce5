"""Lock -> load -> act -> run engine steps -> write projections -> save, in one transaction, for
every change to an instance. The runtime owns each action whole.

This module is where the engine's guarantees are enforced:
- one writer per instance: the instance row is locked (`SELECT ... FOR UPDATE`, in the same query
  that loads the task being completed) and the save is guarded by the revision read
  (`UPDATE ... WHERE revision = r`), so a race that slips past the lock (SQLite has no row locks)
  still loses cleanly instead of writing twice;
- state, task rows, timer rows, audit events and outbox rows are written in the same transaction,
  so a crash leaves either all of a step or none of it;
- a failing script or service task puts the instance in a visible error state with its message.

And where a step is kept cheap: the live workflow of each instance is kept in a per-process LRU
keyed by (instance, revision) — the revision guard makes a stale entry harmless, and an entry is put
back only after the step's commit — so a step neither reads nor deserializes the state it already
holds; projections are written from the difference between the workflow before and after the act
(no SELECT of rows that cannot have changed); audit events, outbox messages, new tasks and new
timers are each one INSERT.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from uuid import UUID

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import business_calendar, catalog, clock, compiled, metrics, projections, registry
from engine.errors import AlreadyCompleted, CaseflowError, ConcurrentUpdate, InvalidState, NotFound, StepFailed
from engine.journal import Journal, kick_after_commit
from engine.models import (
    AuditKind, HumanTask, InstanceStatus, OutboxMessage, OutboxStatus, ProcessInstance, TaskStatus, Timer, TimerStatus,
)
from engine.permissions import can_hold, in_scope, user_groups

from . import migration, parser, pruning, scripting, serializer

log = logging.getLogger("caseflow.engine")
step_log = structlog.get_logger("caseflow.step")  # one DEBUG line per step: ids, act, milliseconds


def _limits() -> scripting.Limits:
    defaults = scripting.Limits()
    return scripting.Limits(
        max_steps=settings.CASEFLOW_EXPRESSION_MAX_STEPS,
        max_seconds=settings.CASEFLOW_EXPRESSION_MAX_SECONDS,
        max_size=settings.CASEFLOW_EXPRESSION_MAX_SIZE,
        max_work=getattr(settings, "CASEFLOW_EXPRESSION_MAX_WORK", defaults.max_work),
        max_output_bytes=getattr(settings, "CASEFLOW_EXPRESSION_MAX_OUTPUT_BYTES", defaults.max_output_bytes),
        max_cardinality=getattr(settings, "CASEFLOW_EXPRESSION_MAX_CARDINALITY", defaults.max_cardinality),
        hard_seconds=getattr(settings, "CASEFLOW_EXPRESSION_HARD_SECONDS", defaults.hard_seconds),
    )


def _state_max_bytes() -> int:
    """The byte budget of one instance's saved state, checked by a bounded walk before it is encoded."""
    return getattr(settings, "CASEFLOW_STATE_MAX_BYTES", 8_000_000)


# -- the live workflows of this process ------------------------------------------------------------

class _WorkflowCache:
    """Deserialized workflows by instance, each valid for one revision. `take` hands the object to
    one step (nobody else can use it meanwhile); `put` returns it after that step's commit."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def revision_of(self, instance_id: int) -> int | None:
        item = self._items.get(instance_id)
        return item[0] if item else None

    def take(self, instance_id: int, revision: int) -> BpmnWorkflow | None:
        with self._lock:
            item = self._items.pop(instance_id, None)
        return item[1] if item and item[0] == revision else None

    def put(self, instance_id: int, revision: int, workflow: BpmnWorkflow) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[instance_id] = (revision, workflow)
            self._items.move_to_end(instance_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


WORKFLOWS = _WorkflowCache(getattr(settings, "CASEFLOW_WORKFLOW_CACHE_SIZE", 512))


def clear_caches() -> None:
    """Forget every cached spec, definition and workflow (a test simulating a process restart)."""
    WORKFLOWS.clear()
    parser.clear_spec_cache()
    catalog.clear()


# -- the step ------------------------------------------------------------------------------------

@dataclass
class Step:
    """One change to one instance; also the StepContext that registry handlers receive."""

    instance: ProcessInstance
    definition: catalog.Definition
    actor: object
    journal: Journal
    workflow: BpmnWorkflow | None = None
    origin_id: str | None = None  # the SpiffWorkflow task whose hooks or service run now (keys their effects)
    current_bpmn_id: str | None = None  # the element whose hooks run now, for the error state if one fails
    pending_variables: dict = field(default_factory=dict)
    current_task_data: dict = field(default_factory=dict)
    completed: dict | None = None  # {"spiff_id", "bpmn_id", "data"} of the task this step completes
    breached_task_ids: set = field(default_factory=set)
    new_rows: list = field(default_factory=list)
    memo: dict = field(default_factory=dict)  # for handlers: what they read once in this step (the case record)
    fired: int = 0  # timers that fired in this step
    ready_before: dict = field(default_factory=dict)  # spiff id -> spec of the READY manual tasks at load
    waiting_before: dict = field(default_factory=dict)  # spiff id -> deadline of the waiting timers at load
    ran_before: set = field(default_factory=set)  # timer tasks that had already fired at load
    noop: bool = False  # the act changed nothing (a timer another sweeper fired a moment ago): nothing is written
    task_keys: list = field(default_factory=list)  # keys taken for new task rows with the lock (RESERVED_TASK_KEYS)
    # The instance's open task rows read under its lock by whoever locked it (a timer sweep, for its
    # batch: projections.open_tasks), so that a breach is written with the save; None: not read.
    open_rows: dict | None = None

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

    @contextlib.contextmanager
    def origin(self, spiff_task_id: str | None, *, data: dict | None = None, bpmn_id: str | None = None):
        """Within the block, hooks and services run for this SpiffWorkflow task: the effects they
        queue are keyed by it, `task_variable` reads its data, a failure names its element."""
        saved = (self.origin_id, self.current_task_data, self.current_bpmn_id)
        self.origin_id = spiff_task_id
        self.current_task_data = data if data is not None else self.current_task_data
        self.current_bpmn_id = bpmn_id or self.current_bpmn_id
        try:
            yield
        except BaseException:
            self.origin_id, self.current_task_data = saved[:2]  # the failing element stays named for the error state
            raise
        self.origin_id, self.current_task_data, self.current_bpmn_id = saved

    def enqueue(self, channel: str, payload: dict, *, effect: str) -> str:
        return self.journal.enqueue(f"{self.instance.pk}:{self.origin_id or 'instance'}:{effect}", channel, payload)

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
        assignee = None
        if username:
            assignee = get_user_model().objects.filter(username=username, is_active=True).first()
            if assignee is None:
                raise InvalidState(_("No active user named '%(name)s'.") % {"name": username})
        tasks = HumanTask.objects.filter(instance=self.instance, bpmn_id=bpmn_id, status=TaskStatus.OPEN)
        if from_username is not None:
            tasks = tasks.filter(assignee__username=from_username)
        tasks = list(tasks)
        for task in tasks:
            if assignee is not None and not can_hold(assignee, task, any_village=any_village):
                raise InvalidState(_("%(user)s does not have the role or village this task needs.") % {"user": username})
        projections.reassign(tasks, assignee)
        for task in tasks:
            self.audit(AuditKind.ASSIGNED, {"task": task.name, "assignee": username, "reason": reason}, bpmn_id=bpmn_id, task=task)
        return len(tasks)

    def audit(self, kind: str, data: dict, *, bpmn_id: str = "", task: HumanTask | None = None) -> None:
        self.journal.audit(kind, data, bpmn_id=bpmn_id, task=task)

    def notify(self, username: str, about: str, *, overdue: bool = False, link: str = "") -> None:
        """A notice to one named person (see StepContext): an audit event the notices' listener turns
        into the person's notice, written with the step's save."""
        self.audit(AuditKind.NOTICE, {"to": str(username), "task": str(about)[:200], "overdue": bool(overdue), "link": str(link)},
                   bpmn_id=self.current_bpmn_id or "")

    def update_with_save(self, queryset, **values) -> None:
        """UPDATE the rows of `queryset` with `values` in the step's save (see StepContext): Django
        builds the statement, the save sends it with the instance's own UPDATE."""
        from django.db.models.sql import UpdateQuery

        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(values)
        if query.related_updates:
            raise ValueError("update_with_save changes the queryset's own table only")
        compiler = query.get_compiler(queryset.db)
        compiler.pre_sql_setup()  # a filter through a relation becomes a subquery, as in QuerySet.update
        sql, params = compiler.as_sql()
        if sql:
            self.journal.later(sql, list(params))

    # -- service tasks ------------------------------------------------------------------------
    def call_service(self, spiff_task, name: str, params: dict) -> str:
        handler = registry.service_handler(name)
        if handler is None:
            raise RuntimeError(f"service operation '{name}' is not registered")
        values = {key: param.get("value") for key, param in params.items()}
        spec = spiff_task.task_spec
        try:
            with self.origin(str(spiff_task.id), data=dict(spiff_task.data), bpmn_id=spec.bpmn_id):
                result = handler(self, values) or {}
                spiff_task.data.update(self.pending_variables)  # what the service decided, for later conditions
        finally:
            self.pending_variables = {}
        self.audit(AuditKind.SERVICE_CALLED, {"operation": name, "element": spec.bpmn_name or spec.bpmn_id, "result": result}, bpmn_id=spec.bpmn_id)
        return json.dumps(result)


    def queue_service(self, spiff_task, name: str, params: dict) -> bool:
        """An asynchronous operation: queue the call in the outbox (key `<instance>:<task>:service`,
        so a step run again queues it once) and let the task wait. False for an ordinary operation."""
        if not registry.is_asynchronous_service(name):
            return False
        spec = spiff_task.task_spec
        values = {key: param.get("value") for key, param in params.items()}
        with self.origin(str(spiff_task.id), bpmn_id=spec.bpmn_id):
            key = self.enqueue(SERVICE_CHANNEL_PREFIX + name, {
                "operation": name, "params": values, "task_id": str(spiff_task.id), "element": spec.bpmn_id,
                "element_name": spec.bpmn_name or spec.bpmn_id}, effect="service")
        self.audit(AuditKind.SERVICE_QUEUED, {"operation": name, "element": spec.bpmn_name or spec.bpmn_id, "key": key}, bpmn_id=spec.bpmn_id)
        return True


SERVICE_CHANNEL_PREFIX = "service:"


def continue_service(task_id: str, operation: str, result: dict) -> Callable[[Step], None]:
    """The act that hands an asynchronous service's result to its waiting task and lets the case go on.
    A task no longer waiting (continued already by an earlier delivery of the same call, or withdrawn)
    makes the step a no-op: the call was delivered at least once, the case moves on once."""

    def act(step: Step) -> None:
        task = _find_task(step.workflow, UUID(task_id))
        if task is None or task.state != TaskState.STARTED:
            step.noop = True
            return
        spec = task.task_spec
        problem = serializer.storable_problem(result)
        if problem:
            raise _Unstorable(spec.bpmn_id, f"Service task '{operation}' answered a value that cannot be stored: {problem}")
        task.data[spec.result_variable] = result
        step.audit(AuditKind.SERVICE_CALLED, {"operation": operation, "element": spec.bpmn_name or spec.bpmn_id, "result": result},
                   bpmn_id=spec.bpmn_id)
        task.complete()

    return act


def stop_with_error(instance_id: int, element: str, message: str) -> None:
    """Put a running instance into the visible error state at `element` (an asynchronous service that
    failed for good): the incidents page lists it, `retry_instance` queues the call again."""
    _stop_with_error(instance_id, element, message)


def write_audit(instance: ProcessInstance, kind: str, actor, data: dict, *, bpmn_id: str = "", task: HumanTask | None = None) -> None:
    """Append one audit event outside a step and tell the registry's listeners, in the caller's transaction."""
    from engine.journal import record_now

    record_now(instance, kind, actor, data, bpmn_id=bpmn_id, task=task)


def _script_engine(step: Step) -> scripting.ExpressionEngine:
    return scripting.ExpressionEngine(limits=_limits(), service_caller=step.call_service, service_queuer=step.queue_service)


def _spec_for(definition_id: int):
    from engine.models import ProcessDefinition

    key = catalog.definition(definition_id).checksum or definition_id
    return parser.cached_spec(key, lambda: ProcessDefinition.objects.values_list("spec", flat=True).get(pk=definition_id))


def load_workflow(instance: ProcessInstance, step: Step, state: dict | None = None) -> BpmnWorkflow:
    spec, subprocess_specs = _spec_for(instance.definition_id)
    return serializer.workflow_from_state(state if state is not None else instance.state, spec, subprocess_specs, _script_engine(step))


# -- the one way to change an instance -----------------------------------------------------------

def run_step(instance_id: int | None, actor, act: Callable[..., None], *, require_running: bool = True,
             task_id: int | None = None, precheck: Callable[[HumanTask], None] | None = None,
             locked: ProcessInstance | None = None) -> Step:
    """`_run_step` (below), timed into the step-latency histogram, with the instance and task ids bound
    to every log line written during the step (structlog context variables)."""
    name = metrics.act_name(act)
    started = time.perf_counter()
    outcome = "error"
    with structlog.contextvars.bound_contextvars(instance_id=instance_id if locked is None else locked.pk,
                                                 task_id=task_id, act=name):
        try:
            step = _run_step(instance_id, actor, act, require_running=require_running, task_id=task_id,
                             precheck=precheck, locked=locked)
            outcome = "ok"
            step_log.debug("step", ms=round((time.perf_counter() - started) * 1000, 2), noop=step.noop)
            return step
        except (AlreadyCompleted, ConcurrentUpdate):
            outcome = "conflict"
            raise
        except CaseflowError:
            outcome = "refused"
            raise
        finally:
            metrics.observe_step(name, outcome, time.perf_counter() - started)


def _run_step(instance_id: int | None, actor, act: Callable[..., None], *, require_running: bool = True,
              task_id: int | None = None, precheck: Callable[[HumanTask], None] | None = None,
              locked: ProcessInstance | None = None) -> Step:
    """Lock the instance (and load the task `task_id`, if given, in the same query), load its
    workflow, let `act` change it, run the engine, write projections, save.

    A step whose result cannot be stored (a value no database can hold), or whose process hook fails,
    is rolled back whole, and the instance is then put into the visible error state naming the
    element: the case stops where people can see it instead of failing the same way on every retry.

    `locked` is the instance's row, state included, that the caller locked in its own transaction
    (the timer sweep claims a batch in one query). The step then runs in that transaction without a
    savepoint of its own, and any failure is the caller's: it must roll the whole transaction back
    and step the instances again, each with `run_step(instance_id, ...)`, which handles failures."""
    if locked is not None:
        return _run_in_callers_transaction(locked, actor, act)
    step = None
    try:
        with transaction.atomic():
            instance, row = _lock(instance_id, task_id)
            instance_id = instance.pk
            structlog.contextvars.bind_contextvars(instance_id=instance_id)
            if row is not None and precheck is not None:
                precheck(row)  # "this task was completed by ..." says more than "the case is completed"
            if require_running and instance.status != InstanceStatus.RUNNING:
                raise InvalidState(_("The process instance is %(status)s.") % {"status": instance.get_status_display()})
            step = Step(instance=instance, definition=catalog.definition(instance.definition_id), actor=actor,
                        journal=Journal(instance, actor), task_keys=list(getattr(row or instance, "caseflow_task_keys", None) or ()))
            step.workflow = _load(instance, step)
            _remember_before(step)
            with _clock_timers(step):
                if row is not None:
                    act(step, row)
                else:
                    act(step)
                if not step.noop:
                    _advance_and_save(step)
            if step.noop:  # nothing changed: the workflow stays valid for the revision it was loaded at
                workflow, revision = step.workflow, instance.revision
                transaction.on_commit(lambda: WORKFLOWS.put(instance_id, revision, workflow))
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


def _run_in_callers_transaction(instance: ProcessInstance, actor, act: Callable[..., None]) -> Step:
    """`run_step` on a row the caller locked (see there): no savepoint, no error handling.

    The workflow is not kept in this process's cache afterwards. The caller is a timer sweep, and
    a swept case's next step is a person's, in a web process, or the next timer a day later: the
    sweeper would never use it. Kept, 512 cached workflows made each of the sweeper's full
    garbage-collection passes cost about 100 ms (1 ms a fired timer); not kept, 12 ms."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a pre-locked step needs its caller's transaction")
    if instance.status != InstanceStatus.RUNNING:
        raise InvalidState(_("The process instance is %(status)s.") % {"status": instance.get_status_display()})
    step = Step(instance=instance, definition=catalog.definition(instance.definition_id), actor=actor, journal=Journal(instance, actor),
                task_keys=list(getattr(instance, "caseflow_task_keys", None) or ()), open_rows=getattr(instance, "caseflow_open_tasks", None))
    step.workflow = _load(instance, step)
    _remember_before(step)
    with _clock_timers(step):
        act(step)
        if not step.noop:
            _advance_and_save(step, keep=False)
    return step


# New task rows a step usually opens (the child-protection intake opens two). On PostgreSQL the
# lock query (and the timer sweep's claim) takes that many keys of the task table's sequence, so the
# step's new rows go with its save instead of an INSERT … RETURNING of their own; a step that opens
# more inserts them itself.
# Keys taken and not used are gaps in the sequence, as a rolled-back INSERT leaves; keys stay in the
# order the steps took the instance's lock, as the rows' creation does.
RESERVED_TASK_KEYS = 2


def reserving_task_keys(queryset):
    """The instance rows of `queryset` (of ProcessInstance, or joined to it), each with its own
    RESERVED_TASK_KEYS keys as `caseflow_task_keys`. The sub-select names the instance row: one
    that names nothing outside it is run once for the whole query, and every row would get the
    same keys."""
    if connection.vendor != "postgresql":
        return queryset
    from django.db.models.expressions import RawSQL

    instances = connection.ops.quote_name(ProcessInstance._meta.db_table)
    sequence = _task_key_sequence(connection.settings_dict["NAME"]).replace("'", "''")
    return queryset.annotate(caseflow_task_keys=RawSQL(
        f"ARRAY(SELECT nextval('{sequence}'::regclass) FROM generate_series(1, %s) "
        f"WHERE {instances}.\"id\" IS NOT NULL)", [RESERVED_TASK_KEYS]))


@functools.cache
def _task_key_sequence(database: str) -> str:
    """The task table's key sequence, asked of the database once per process: named in the lock
    query, it is found when the statement is planned; `pg_get_serial_sequence` there looked it up
    in the catalog on every step (0.1 ms of the lock's 0.55)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [HumanTask._meta.db_table])
        return cursor.fetchone()[0]


_TASK_AND_INSTANCE = compiled.ByKey(lambda key: reserving_task_keys(
    HumanTask.objects.select_related("instance").select_for_update(of=("instance",)).defer("instance__state").filter(pk=key)))
_INSTANCE = compiled.ByKey(lambda key: reserving_task_keys(
    ProcessInstance.objects.select_for_update().defer("state").filter(pk=key)))


def _lock(instance_id: int | None, task_id: int | None) -> tuple[ProcessInstance, HumanTask | None]:
    """The instance row, locked, with the task row when a task is acted on: one query, compiled
    once (engine/compiled.py). The state column is left behind: when this process holds the
    workflow at that revision it is not needed. The task's holder and completer load only if asked."""
    if task_id is not None:
        row = _TASK_AND_INSTANCE.get(_key(task_id))
        if row is None:
            raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
        return row.instance, row
    instance = _INSTANCE.get(_key(instance_id))
    if instance is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    return instance, None


def _key(value) -> int:
    """A primary key as the database takes it; anything else names no row."""
    try:
        key = int(value)
    except (TypeError, ValueError):
        return 0
    return key if 0 < key < 2**63 else 0


def _load(instance: ProcessInstance, step: Step) -> BpmnWorkflow:
    workflow = WORKFLOWS.take(instance.pk, instance.revision)
    if workflow is not None:
        workflow.script_engine = _script_engine(step)
        return workflow
    state = None
    if "state" in instance.get_deferred_fields():
        state = ProcessInstance.objects.values_list("state", flat=True).get(pk=instance.pk)
    return load_workflow(instance, step, state)


def _remember_before(step: Step) -> None:
    """What the projections looked like at load: READY manual tasks (one open row each), waiting
    timers (one waiting row each) and timers that had fired — the step writes only the difference."""
    step.ready_before = {t.id: t.task_spec.bpmn_id for t in _scan(step.workflow, TaskState.READY, manual=True)}
    step.waiting_before = {tid: _timer_due(t) for tid, t in _waiting_timers(step.workflow).items()}
    step.ran_before = set(_fired_timers(step.workflow))


def start(definition_row, actor, variables: dict, hook_data: dict) -> Step:
    """Create an instance of a definition version and run it to its first wait state."""
    definition = catalog.definition(definition_row.pk)
    try:
        with transaction.atomic():
            instance = ProcessInstance.objects.create(
                definition_id=definition.id, process_key=definition.key, state={}, started_by=actor, started_at=clock.now(),
                village=str(hook_data.get("village") or ""),
            )
            step = Step(instance=instance, definition=definition, actor=actor, journal=Journal(instance, actor))
            spec, subprocess_specs = _spec_for(definition.id)
            step.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=_script_engine(step))
            step.audit(AuditKind.STARTED, {"element": definition.name, "data": hook_data, "version": definition.version},
                       bpmn_id=definition.start_event_id)
            with step.origin("start", bpmn_id=definition.start_event_id):
                for hook in registry.start_hooks(definition.key):
                    hook(step, hook_data)
            for task in step.workflow.get_tasks(state=TaskState.READY):
                task.data.update(variables)
                task.data.update(step.pending_variables)
            with _clock_timers(step):
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
        instance = ProcessInstance.objects.select_for_update().defer("state").filter(pk=instance_id).first()
        if instance is None or instance.status != InstanceStatus.RUNNING:
            return
        ProcessInstance.objects.filter(pk=instance.pk).update(
            status=InstanceStatus.ERROR, error_message=message[:1000], error_element=element[:128], revision=instance.revision + 1)
        write_audit(instance, AuditKind.ERROR, None, {"message": message[:1000]}, bpmn_id=element)
    log.warning("instance %s stopped: %s at %s", instance_id, message, element)


def _step_failed(element: str, why: str) -> StepFailed:
    return StepFailed(_("This step could not be saved and the case has stopped at %(element)s: %(why)s. An administrator "
                        "must correct the process; nothing of this step was applied.") % {"element": element or "?", "why": why})


def _advance_and_save(step: Step, expected_revision: int | None = None, keep: bool = True) -> None:
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
    pruning.prune(workflow)
    # SpiffWorkflow's converter has already copied every shared reference by the time the state is a
    # dict, so the budget is checked on the JSON text (json.dumps in C costs less than that copy);
    # what keeps a shared-reference bomb from reaching here is the sandbox's budget on each result.
    state = serializer.workflow_to_state(workflow)
    budget = _state_max_bytes()
    text, problem = serializer.encode_storable(state, max_chars=budget)
    if problem == serializer.TOO_LARGE:
        raise _Unstorable(_latest_element(workflow), f"the case's data would take more than {budget} bytes to store")
    if problem:
        raise _Unstorable(_unstorable_element(workflow), problem)
    # The instance row, and with it (one statement on PostgreSQL) the step's audit events, outbox
    # messages, new timers and closed ones.
    updated = step.journal.flush(save=lambda inserts, statements: compiled.update(ProcessInstance, instance.pk, {
        "state": compiled.Encoded(text), "revision": old_revision + 1, "status": instance.status, "ended_at": instance.ended_at,
        "error_message": instance.error_message, "error_element": instance.error_element,
        "subject": instance.subject, "village": instance.village, "definition": instance.definition_id,
    }, where={"revision": old_revision}, inserts=inserts, statements=statements))
    if updated != 1:
        raise ConcurrentUpdate(_("The case was changed by someone else at the same moment; nothing was saved. Please try again."))
    instance.revision = old_revision + 1
    instance.state = state
    if keep and instance.status in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
        revision = instance.revision
        transaction.on_commit(lambda: WORKFLOWS.put(instance.pk, revision, workflow))


def _latest_element(workflow: BpmnWorkflow) -> str:
    """The element of the task that changed last: where a step that grew the data too much stopped."""
    tasks = [t for t in workflow.get_tasks() if getattr(t.task_spec, "bpmn_id", None)]
    latest = max(tasks, key=lambda t: t.last_state_change or 0, default=None)
    return latest.task_spec.bpmn_id if latest is not None else ""


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


# -- timers in the workflow ------------------------------------------------------------------------

def _scan(workflow: BpmnWorkflow, states: int, *, manual: bool = False) -> list:
    """The tasks of the workflow and its subprocesses in any of `states` (manual ones only, if asked),
    in no particular order: a pass over each part's task dict, where `get_tasks` walks the whole tree
    with an iterator (a step asked it ten times; this is most of what those walks cost). Where the
    diagram's order matters (the rows of new tasks), the step still uses `get_tasks`."""
    parts = [workflow, *workflow.subprocesses.values()] if workflow.subprocesses else [workflow]
    return [task for part in parts for task in part.tasks.values()
            if task.state & states and (not manual or getattr(task.task_spec, "manual", False))]


def _timer_due(task) -> str | None:
    value = task.internal_data.get("event_value")
    if isinstance(value, dict):  # cycle timers keep {'cycles', 'next', 'duration'}
        value = value.get("next")
    return value


def _is_cycle(task) -> bool:
    """A cycle timer ("R/P1M"): SpiffWorkflow keeps {'cycles', 'next', 'duration'} as its value."""
    return isinstance(task.internal_data.get("event_value"), dict)


def _is_timer(task) -> bool:
    definition = getattr(task.task_spec, "event_definition", None)
    definitions = getattr(definition, "event_definitions", None) or [definition]
    return any(isinstance(d, TimerEventDefinition) for d in definitions)


def _is_reminder(step: Step, task) -> bool:
    """A timer the diagram marks as a reminder (parser.TIMER_PROPERTIES): not a deadline."""
    return bool(((step.definition.timers or {}).get(task.task_spec.bpmn_id) or {}).get("reminder"))


def _waiting_timers(workflow: BpmnWorkflow) -> dict[UUID, object]:
    return {task.id: task for task in workflow.event_manager.tasks.values()
            if task.state == TaskState.WAITING and _is_timer(task) and _timer_due(task)}


def _fired_timers(workflow: BpmnWorkflow) -> dict[UUID, object]:
    """Duration and date timer events that have fired (their tasks ran or are about to).
    SpiffWorkflow resets event_fired once the event has run; a timer task that ran (or is about
    to) and holds its deadline has fired — a cancelled one is CANCELLED, a waiting one WAITING."""
    return {task.id: task for task in _scan(workflow, TaskState.READY | TaskState.COMPLETED)
            if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition) and _timer_due(task)}


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


# The clock timers of the definition being stepped (bpmn id -> options), so that a timer whose clock
# starts at a moment in the data is armed from that moment when SpiffWorkflow first reaches it: left
# to SpiffWorkflow, a "PT0S from period_end" timer would be due at once (its clock started now) and
# fire inside the same engine loop, before the step could set its real deadline.
_CLOCK_TIMERS: contextvars.ContextVar[dict] = contextvars.ContextVar("caseflow_clock_timers", default={})
_spiff_duration_has_fired = DurationTimerEventDefinition.has_fired


def _has_fired(self, my_task):
    if my_task._get_internal_data("event_value") is None:
        options = _CLOCK_TIMERS.get().get(getattr(my_task.task_spec, "bpmn_id", None))
        if options:
            _arm_clock(my_task, options)
    return _spiff_duration_has_fired(self, my_task)


DurationTimerEventDefinition.has_fired = _has_fired


@contextlib.contextmanager
def _clock_timers(step: Step):
    token = _CLOCK_TIMERS.set(step.definition.timers or {})
    try:
        yield
    finally:
        _CLOCK_TIMERS.reset(token)


def _start_timer_clocks(step: Step) -> bool:
    """Timers whose deadline is not "the duration after the timer was reached": those whose clock
    starts at a moment in the workflow's data (`clock_starts_from`, e.g. the report's received_at),
    and those that count working days (`calendar = working_days`: the n-th working day after the
    start, engine/business_calendar.py). Each is set once, in the step that reaches it. Returns
    whether any was set."""
    settings_by_timer = step.definition.timers or {}
    if not settings_by_timer:
        return False
    changed = False
    for task in _waiting_timers(step.workflow).values():
        options = settings_by_timer.get(task.task_spec.bpmn_id) or {}
        if task.internal_data.get("caseflow_clock_started"):
            continue
        changed = _arm_clock(task, options) or changed
    return changed


def _arm_clock(task, options: dict) -> bool:
    """Set a timer's deadline from its clock option (a moment in the data, or working days); False
    when it has none, or no moment to start from (the timer keeps the clock it started when reached)."""
    variable = options.get("clock_starts_from")
    working_days = options.get("calendar") == business_calendar.WORKING_DAYS
    if not (variable or working_days):
        return False
    definition = task.task_spec.event_definition
    if not isinstance(definition, DurationTimerEventDefinition):
        return False
    started_at = None
    if variable:
        try:
            started_at = datetime.fromisoformat(str(task.data.get(variable)).replace("Z", "+00:00"))
        except ValueError:
            started_at = None
        if started_at is not None and started_at.tzinfo is None:
            started_at = None
    if started_at is None and not working_days:
        return False  # no moment to start from: the timer keeps the clock it started when reached
    started_at = started_at or clock.now()
    duration = TimerEventDefinition.parse_iso_duration(scripting.normalize_timer_literal(definition.expression))
    if working_days:
        due_at = business_calendar.add_working_days(started_at, int(duration.get("days", 0)))
    else:
        due_at = started_at.astimezone(timezone.utc) + TimerEventDefinition.get_timedelta_from_start(duration, started_at)
    task.internal_data["event_value"] = due_at.isoformat()
    task.internal_data["caseflow_clock_started"] = True
    return True


def _withdraw_moot_tasks(step: Step) -> bool:
    """Withdraw ready tasks whose `withdrawn_after` activity is no longer running (replacing a late
    reviewer once every review is in). Returns whether any was withdrawn."""
    watched = {bpmn_id: (info.get("properties") or {}).get("withdrawn_after") for bpmn_id, info in (step.definition.user_tasks or {}).items()}
    watched = {k: v for k, v in watched.items() if v}
    if not watched:
        return False
    running = {getattr(t.task_spec, "bpmn_id", None) for t in _scan(step.workflow, TaskState.READY | TaskState.WAITING | TaskState.STARTED)}
    withdrawn = False
    for task in _scan(step.workflow, TaskState.READY, manual=True):
        after = watched.get(task.task_spec.bpmn_id)
        if after and after not in running:
            task.cancel()
            withdrawn = True
    return withdrawn


# -- projections: the difference between before and after -----------------------------------------

def _sync_projections(step: Step) -> None:
    instance, workflow, now = step.instance, step.workflow, clock.now()

    # Human tasks: one open row per READY manual task. Rows exist for the ones READY at load.
    ready = {t.id: t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    done = step.completed["spiff_id"] if step.completed else None
    gone = set(step.ready_before) - set(ready) - {done}
    if gone:
        for row in projections.cancel_open(instance, gone, at=now):
            step.audit(AuditKind.CANCELLED, {"task": row.name}, bpmn_id=row.bpmn_id, task=row)
        if step.open_rows is not None:
            step.open_rows = {spiff_id: row for spiff_id, row in step.open_rows.items() if spiff_id not in gone}
    new_tasks = [t for tid, t in ready.items() if tid not in step.ready_before]

    # Timers: one row per waiting timer; rows exist for the ones waiting at load.
    waiting = _waiting_timers(workflow)
    due_by_host: dict[UUID, datetime] = {}
    for task in waiting.values():
        if _is_cycle(task) or _is_reminder(step, task):
            continue  # a recurrence (the next monthly visit) or a reminder, not a deadline of the task it hangs on
        due_at = datetime.fromisoformat(_timer_due(task))
        for host_id in _boundary_hosts(task):
            due_by_host[host_id] = min(due_at, due_by_host.get(host_id, due_at))

    fired_tasks = _fired_timers(workflow)
    gone_timers = set(step.waiting_before) - set(waiting)
    fired_ids = {tid for tid in gone_timers if tid in fired_tasks}
    newly_fired = [t for tid, t in fired_tasks.items() if tid not in step.ran_before and tid not in step.waiting_before]

    # New task rows go with the save, unless a timer that fired in this step guards one of them: its
    # breach is written to the rows of the tasks it guards, which must then be there already. (A
    # sweep's escalation opens a task for the supervisor; the task it breaches was open before.)
    new_ids = {t.id for t in new_tasks}
    with_save = not any(h in new_ids for tid in fired_ids for h in _boundary_hosts(fired_tasks[tid])) and not any(
        h in new_ids for t in newly_fired for h in _boundary_hosts(t))
    rows = _create_task_rows(step, new_tasks, due_by_host, now, with_save=with_save) if new_tasks else []
    rows_by_spiff_id = {row.spiff_task_id: row for row in rows}
    step.new_rows.extend(rows)
    new_timer_rows = [Timer(instance=instance, spiff_task_id=tid, bpmn_id=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name or "",
                            due_at=datetime.fromisoformat(_timer_due(task)),
                            attached_to=next((rows_by_spiff_id[h] for h in _boundary_hosts(task) if h in rows_by_spiff_id), None))
                      for tid, task in waiting.items() if tid not in step.waiting_before]
    # A timer can fire in the very step that reached it, never having been seen waiting: its clock
    # started long before (a report typed in a day after it was received). Record and escalate it too.
    new_timer_rows += [Timer(instance=instance, spiff_task_id=task.id, bpmn_id=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name or "",
                             due_at=datetime.fromisoformat(_timer_due(task)), status=TimerStatus.FIRED, fired_at=now,
                             attached_to=next((rows_by_spiff_id[h] for h in _boundary_hosts(task) if h in rows_by_spiff_id), None))
                       for task in newly_fired]
    projections.create_timers(new_timer_rows, journal=step.journal)
    projections.close_timers(instance, fired=fired_ids, cancelled=gone_timers - fired_ids, at=now, journal=step.journal)
    moved = {tid: datetime.fromisoformat(_timer_due(t)) for tid, t in waiting.items()
             if tid in step.waiting_before and _timer_due(t) != step.waiting_before[tid]}
    projections.move_timers(instance, moved)
    fired_now = [fired_tasks[tid] for tid in fired_ids] + newly_fired
    step.fired += len(fired_now)
    if fired_now:
        _timers_fired(step, fired_now, now, new_ids)
    # A cycle timer stays waiting after each firing, its deadline moved on to the next one: a
    # deadline that moved on from one already past is a firing (recorded; a recurrence breaches nothing).
    for tid in moved:
        task, before = waiting[tid], step.waiting_before[tid]
        if _is_cycle(task) and before and datetime.fromisoformat(before) <= now:
            step.fired += 1
            step.audit(AuditKind.TIMER_FIRED, {"element": task.task_spec.bpmn_name or task.task_spec.bpmn_id, "due_at": before},
                       bpmn_id=task.task_spec.bpmn_id)
    # A timer that armed (or moved) after its task opened (not a boundary timer armed with it): the
    # task's deadline is computed again. Hosts of timers that were waiting at load with the same
    # deadline already carry it (no query); a timer that fired breached its host, which keeps the
    # deadline it missed; a cancelled one went with its host.
    changed = {h for tid, t in waiting.items() if tid not in step.waiting_before or tid in moved for h in _boundary_hosts(t)}
    late = {h: d for h, d in due_by_host.items()
            if h in changed and h not in rows_by_spiff_id and h in step.ready_before and h not in gone}
    if late:
        existing = dict(HumanTask.objects.filter(instance=instance, spiff_task_id__in=list(late), status=TaskStatus.OPEN)
                        .values_list("spiff_task_id", "pk"))
        projections.set_due({existing[h]: d for h, d in late.items() if h in existing and existing[h] not in step.breached_task_ids})


def _create_task_rows(step: Step, tasks: list, due_by_host: dict, now: datetime, *, with_save: bool = False) -> list[HumanTask]:
    instance, user_tasks = step.instance, step.definition.user_tasks or {}
    routed = [_routing((user_tasks.get(t.task_spec.bpmn_id) or {}).get("properties") or {}, t.data,
                       (user_tasks.get(t.task_spec.bpmn_id) or {}).get("candidate_group", "")) for t in tasks]
    usernames = {name for _group, name in routed if name}
    people = {u.get_username(): u for u in get_user_model().objects.filter(username__in=usernames, is_active=True)} if usernames else {}
    holders = _follow_on_holders(step, {group for (group, name) in routed if not name})
    rows = []
    for task, (group, username) in zip(tasks, routed):
        bpmn_id = task.task_spec.bpmn_id
        info = user_tasks.get(bpmn_id, {})
        if username and username not in people:
            raise InvalidState(_("The task's assignee comes from '%(var)s': no active user '%(name)s'.") % {
                "var": (info.get("properties") or {}).get("assignee_from"), "name": username})
        assignee = people.get(username) if username else holders.get(group)
        rows.append(HumanTask(
            instance=instance, spiff_task_id=task.id, bpmn_id=bpmn_id,
            name=info.get("name") or task.task_spec.bpmn_name or bpmn_id, lane=info.get("lane", task.task_spec.lane or ""),
            candidate_group=group, assignee=assignee, process_key=instance.process_key, village=instance.village,
            created_at=now, named=bool(username), context=_task_context(info.get("properties") or {}, task.data),
            due_at=due_by_host.get(task.id), returned=_returned(step, bpmn_id),
        ))
    if with_save and len(rows) <= len(step.task_keys):
        projections.create(rows, keys=step.task_keys[:len(rows)], journal=step.journal)
        del step.task_keys[:len(rows)]
    else:
        projections.create(rows)
    for task, row in zip(tasks, rows):
        step.audit(AuditKind.TASK_READY, {"task": row.name, "candidate_group": row.candidate_group,
                                          "assignee": row.assignee.get_username() if row.assignee else None, "named": row.named,
                                          "returned": row.returned}, bpmn_id=row.bpmn_id, task=row)
    return rows


def _routing(properties: dict, data: dict, lane_group: str) -> tuple[str, str | None]:
    """(candidate group, username routed to) of a new task: the lane's role, unless the diagram
    routes the task by a workflow variable (assignee_from / candidate_group_from, see parser.TASK_PROPERTIES)."""
    def read(expression):
        try:
            return scripting.evaluate_expression(expression, data, _limits())
        except Exception:  # a missing variable or key: the same clear refusal as an empty value
            return None

    group, username = lane_group, None
    variable = properties.get("candidate_group_from")
    if variable:
        value = read(variable)
        if not isinstance(value, str) or not value:
            raise InvalidState(_("The task's group comes from '%(var)s', which is not set.") % {"var": variable})
        group = value
    variable = properties.get("assignee_from")
    if variable:
        username = str(read(variable) or "")
        if not username:
            raise InvalidState(_("The task's assignee comes from '%(var)s': no active user '%(name)s'.") % {"var": variable, "name": ""})
    return group, username


def _follow_on_holders(step: Step, groups: set[str]) -> dict:
    """Who gets a new task of the same case without being asked, per candidate group: the person
    who last did a task of that role in this case (if still active and of the role), else the
    person whose step made it — if they may hold it. At most one query, and none when the answer is
    known: the person who just completed a task of the role is the last one; a role no completed
    task of the workflow belonged to has no last one."""
    if not groups:
        return {}
    holders: dict = {}
    actor = step.actor
    may_hold = {g for g in groups if actor is not None and getattr(actor, "is_active", False) and g in user_groups(actor)
                and in_scope(actor, step.instance.village)}
    just_done = step.completed.get("candidate_group") if step.completed else None
    if just_done in may_hold:
        holders[just_done] = actor
    unknown = sorted(g for g in groups - set(holders) if _group_did_a_task(step, g))
    if unknown:
        for group, person in _last_completers(step.instance.pk, unknown):
            holders.setdefault(group, person)
    for group in (groups - set(holders)) & may_hold:
        holders[group] = actor
    return holders


_PERSON_FIELDS = ("id", "username", "first_name", "last_name", "is_active")


def _last_completers(instance_id: int, groups: list[str]) -> list[tuple[str, object]]:
    """(role, person) for the completed tasks of these roles in the case, latest first, done by
    people still active and still of the role. Written as the statement (a step's hot path: the
    ORM took longer to build it than the database to answer); the people come back with the fields
    tasks and pages name them by, the rest loaded only if asked."""
    users = get_user_model()
    quote = connection.ops.quote_name
    table = quote(users._meta.db_table)
    columns = ", ".join(f"u.{quote(users._meta.get_field(name).column)}" for name in _PERSON_FIELDS)
    sql = (f"SELECT h.candidate_group, {columns} FROM engine_humantask h JOIN {table} u ON u.id = h.completed_by_id "
           f"WHERE h.instance_id = %s AND h.status = %s AND h.candidate_group IN ({', '.join(['%s'] * len(groups))}) "
           f"AND u.is_active AND EXISTS (SELECT 1 FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id "
           f"WHERE ug.user_id = u.id AND g.name = h.candidate_group) ORDER BY h.completed_at DESC, h.id DESC")
    with compiled.step_cursor(connection) as cursor:  # prepared: planning it cost more than running it
        cursor.execute(sql, [instance_id, TaskStatus.COMPLETED.value, *groups])
        rows = cursor.fetchall()
    return [(row[0], users.from_db(connection.alias, list(_PERSON_FIELDS), row[1:])) for row in rows]


def _group_did_a_task(step: Step, group: str) -> bool:
    """Whether some task of this role may have been completed in the case, read from the workflow:
    a completed manual task in the role's lane, or one routed to a group at run time."""
    user_tasks = step.definition.user_tasks or {}
    done = [getattr(t.task_spec, "bpmn_id", None) for t in _scan(step.workflow, TaskState.COMPLETED, manual=True)]
    for bpmn_id in [*done, *pruning.done_specs(step.workflow)]:
        info = user_tasks.get(bpmn_id) or {}
        if info.get("candidate_group") == group or (info.get("properties") or {}).get("candidate_group_from"):
            return True
    return False


def _returned(step: Step, bpmn_id: str) -> bool:
    """Whether a new task is a step sent back: done before in this case, and the step just
    completed gave reasons to show on return (a completeness check that returned the application)."""
    from engine import forms

    if not step.completed:
        return False
    if bpmn_id not in pruning.done_specs(step.workflow) and not any(
            getattr(t.task_spec, "bpmn_id", None) == bpmn_id for t in step.workflow.get_tasks(state=TaskState.COMPLETED)):
        return False
    form = step.definition.form(step.completed["bpmn_id"])
    return any((step.completed["data"] or {}).get(c["key"]) not in (None, "", []) for c in forms.return_fields(form))


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


def _timers_fired(step: Step, tasks: list, now: datetime, new_ids: set = frozenset()) -> None:
    """Fired timers: an audit event each; a boundary timer whose guarded task is still open is an
    SLA breach — once per task, with an escalation event and an outbox notice — unless the diagram
    marks it a reminder. The guarded tasks are the activity's own (all instances of a review panel),
    found in the workflow."""
    for task in tasks:
        # The timer's row holds the same name and deadline: the spec's name, and the deadline it was
        # waiting for at load (or, for one that fired in the step that reached it, its own).
        name = task.task_spec.bpmn_name or ""
        due_at = datetime.fromisoformat(step.waiting_before.get(task.id) or _timer_due(task))
        step.audit(AuditKind.TIMER_FIRED, {"element": name or task.task_spec.bpmn_id, "due_at": due_at.isoformat()}, bpmn_id=task.task_spec.bpmn_id)
        if _is_reminder(step, task):
            continue  # a reminder on the way to the deadline: the task is not late yet
        host_ids = _boundary_hosts(task)
        # The rows read under the lock, if the step has them and no host is a row this step opened
        # (those were inserted a moment ago): the breach then goes with the save.
        known = step.open_rows if step.open_rows is not None and not any(h in new_ids for h in host_ids) else None
        hosts = {row.spiff_task_id: row for row in projections.breach_open(
            step.instance.pk, host_ids, at=now, missed=due_at, known=known, journal=step.journal if known is not None else None)}
        for host in [hosts[h] for h in host_ids if h in hosts]:
            step.breached_task_ids.add(host.pk)
            assignee = host.assignee_username
            step.audit(AuditKind.ESCALATED, {"task": host.name, "timer": name, "assignee": assignee}, bpmn_id=task.task_spec.bpmn_id, task=host)
            with step.origin(f"{task.id}:{host.pk}"):
                step.enqueue("sla.breach", {
                    "instance": step.instance.pk, "process": step.instance.process_key, "task": host.name,
                    "timer": name, "candidate_group": host.candidate_group,
                    "assignee": assignee, "village": step.instance.village,
                }, effect="sla_breach")


# -- acts ----------------------------------------------------------------------------------------

def _find_task(workflow: BpmnWorkflow, task_id):
    """The task with `task_id` in the workflow or any of its subprocesses, or None."""
    if task_id in workflow.tasks:
        return workflow.tasks[task_id]
    for subprocess in workflow.subprocesses.values():
        if task_id in subprocess.tasks:
            return subprocess.tasks[task_id]
    return None


def read_task_data(row: HumanTask) -> dict:
    """A copy of an open task's workflow data, read without a lock (for pages, never for changes)."""
    instance = row.instance
    step = Step(instance=instance, definition=catalog.definition(instance.definition_id), actor=None, journal=Journal(instance, None))
    state = ProcessInstance.objects.values_list("state", flat=True).get(pk=instance.pk) if "state" in instance.get_deferred_fields() else None
    workflow = load_workflow(instance, step, state)
    task = _find_task(workflow, row.spiff_task_id)
    return dict(task.data) if task is not None else {}


def read_case_data(instance: ProcessInstance) -> dict:
    """A copy of the workflow data as the case's latest task left it, read without a lock (for
    labelling what earlier forms chose from the case's own lists: this activity's roster)."""
    step = Step(instance=instance, definition=catalog.definition(instance.definition_id), actor=None, journal=Journal(instance, None))
    workflow = WORKFLOWS.take(instance.pk, instance.revision)
    if workflow is None:
        state = ProcessInstance.objects.values_list("state", flat=True).get(pk=instance.pk) if "state" in instance.get_deferred_fields() else None
        workflow = load_workflow(instance, step, state)
    else:
        WORKFLOWS.put(instance.pk, instance.revision, workflow)  # only read: it stays valid for this revision
    latest = max(workflow.get_tasks(), key=lambda task: task.last_state_change, default=None)
    return dict(latest.data) if latest is not None else {}


def task_data(step: Step, row: HumanTask) -> dict:
    """A copy of the workflow data the human task behind `row` sees."""
    workflow = step.workflow
    task = _find_task(workflow, row.spiff_task_id)
    return dict(task.data) if task is not None else {}


def complete_ready_task(step: Step, row: HumanTask, variables: dict) -> None:
    """Complete the SpiffWorkflow task behind `row` with `variables` (process variables only)."""
    workflow = step.workflow
    task = _find_task(workflow, row.spiff_task_id)
    if task is None or task.state != TaskState.READY:
        raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
    task.data.update(variables)
    task.data.update(step.pending_variables)
    task.run()


def fire_timers(step: Step) -> None:
    """Let SpiffWorkflow update waiting timers against the engine clock (set by the sweeper). If
    nothing was due after all (another sweeper fired it a moment ago), the step writes nothing."""
    step.workflow.refresh_timers()
    if {tid: _timer_due(t) for tid, t in _waiting_timers(step.workflow).items()} == step.waiting_before:
        step.noop = True


def cancel(step: Step, reason: str) -> None:
    # A cancelled workflow has no READY tasks and no waiting timers: the projections follow.
    step.workflow.cancel()
    step.instance.status = InstanceStatus.CANCELLED
    step.instance.ended_at = clock.now()
    step.audit(AuditKind.CANCELLED, {"reason": reason})


def peek(instance: ProcessInstance) -> BpmnWorkflow:
    """The instance's workflow as stored, for reading only (a migration preview): no lock, no cache."""
    spec, subprocess_specs = _spec_for(instance.definition_id)
    return serializer.workflow_from_state(instance.state, spec, subprocess_specs, scripting.ExpressionEngine(limits=_limits()))


def migration_plan(workflow: BpmnWorkflow, definition_id: int) -> migration.Plan:
    spec, subprocess_specs = _spec_for(definition_id)
    return migration.plan(workflow, spec, subprocess_specs)


def version_diff(old_definition_id: int, new_definition_id: int) -> dict:
    return migration.spec_diff(*_spec_for(old_definition_id), *_spec_for(new_definition_id))


def migrate(step: Step, definition_id: int, renamed: dict) -> None:
    """Move the instance onto another version of its process (a plan the caller accepted). Open
    task rows keep their ids, holders and drafts; `renamed` gives their new names and lanes."""
    old_version = step.definition.version
    spec, subprocess_specs = _spec_for(definition_id)
    migration.apply(step.workflow, spec, subprocess_specs)
    step.definition = catalog.definition(definition_id)
    step.instance.definition_id = definition_id
    if renamed:
        projections.relabel(step.instance, renamed)
    step.audit(AuditKind.MIGRATED, {"from_version": old_version, "to_version": step.definition.version})


def retry(step: Step) -> None:
    """Run tasks that failed again (after the cause was fixed): ERROR tasks go back to READY."""
    for task in step.workflow.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    # An asynchronous service that failed for good waits (STARTED) with its call `failed` in the
    # outbox: the call is queued again, due now, its attempts counted afresh.
    requeued = OutboxMessage.objects.filter(instance=step.instance, channel__startswith=SERVICE_CHANNEL_PREFIX,
                                            status=OutboxStatus.FAILED).update(
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=clock.now(), claim_token="", lease_until=None)
    if requeued:
        kick_after_commit()
    step.instance.status = InstanceStatus.RUNNING
    step.instance.error_message = ""
    step.instance.error_element = ""

