"""Test runs: a draft's workflow run in memory, with a clock of its own, touching nothing real.

A test run is what an administrator does before deploying: start the draft with sample data, complete
its tasks, move time forward and see which timers fire and which tasks open. It must never look like a
case to anyone, so it has no ProcessInstance, no task or timer rows, no audit events, no outbox rows and
no notifications: the workflow lives only in the JSON this module hands back (`SandboxRun.to_stored`).
Service tasks do not call their handlers and process hooks do not run (both write real records and send
real messages); each is written to the run's log instead, a service with the stub result the rest of the
diagram then sees. Everything else is the engine's own: the parsed draft, SpiffWorkflow, the sandboxed
expression interpreter with its budgets, the engine clock (frozen at the run's clock, so SpiffWorkflow's
timers and the forms' "not after now" agree with it), and the runtime's helpers for timer clocks that
start from the case's data and for tasks withdrawn once their activity ends.

What the runtime has and a run does not: a bound on the engine steps of one action. A step of a real
case trusts a deployed diagram; a draft is exactly what has not been trusted yet, so a loop of script
tasks that never waits stops the run (`MAX_ENGINE_TASKS`, `MAX_ENGINE_SECONDS`) with the element named.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import clock, registry

from . import parser, runtime, scripting, serializer

FORMAT = "caseflow-testrun/1"
MAX_ENGINE_TASKS = 2_000  # engine tasks (gateways, scripts, services) one action may run
MAX_ENGINE_SECONDS = 5.0  # and the wall-clock time they may take together
MAX_TIMER_FIRINGS = 200  # timers one jump may fire (a cycle of every minute over three days stops here)
MAX_LOG_ENTRIES = 400  # the oldest are dropped beyond this
MAX_JUMP = dt.timedelta(days=366)
STUB_RESULT = {"test_run": True}


class RunStopped(Exception):
    """The run cannot go on: the diagram failed at an element (its message says why)."""

    def __init__(self, element: str, message: str):
        super().__init__(message)
        self.element, self.message = element, message


class _Budget(Exception):
    pass


@dataclass
class SandboxRun:
    """One test run, live: the workflow and what the run knows beside it (its clock, its log)."""

    parsed: parser.ParsedDefinition
    workflow: BpmnWorkflow
    clock: dt.datetime
    started_clock: dt.datetime
    log: list[dict] = field(default_factory=list)
    status: str = "running"  # running, completed, error
    error: dict | None = None  # {"element", "message"} when status is error

    # -- what the portal shows ------------------------------------------------------------------
    def ready_tasks(self) -> list[dict]:
        """READY user and manual tasks, each with its role (the lane's, or the one the diagram routes
        it to at run time), its form and a copy of its data (for forms whose choices or limits read
        workflow variables)."""
        if self.status != "running":
            return []
        result = []
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            bpmn_id = task.task_spec.bpmn_id
            info = self.parsed.user_tasks.get(bpmn_id)
            group, assignee = _route(info, dict(task.data))
            result.append({"id": str(task.id), "bpmn_id": bpmn_id, "name": (info.name if info else "") or task.task_spec.bpmn_name or bpmn_id,
                           "lane": (info.lane if info else "") or task.task_spec.lane or "", "role": group, "assignee": assignee,
                           "form": self.parsed.forms.get(bpmn_id), "data": dict(task.data)})
        return result

    def waiting_timers(self) -> list[dict]:
        """Timers the run is waiting for, soonest first: what a jump of time would fire."""
        rows = [{"element": t.task_spec.bpmn_id, "name": t.task_spec.bpmn_name or t.task_spec.bpmn_id, "due_at": runtime._timer_due(t)}
                for t in _pending_timers(self.workflow).values()]
        return sorted(rows, key=lambda r: r["due_at"])

    def diagram_marks(self) -> tuple[list[str], list[str]]:
        """(element ids done, element ids open or waiting), for the diagram viewer."""
        done, active = [], []
        for task in self.workflow.get_tasks():
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if not bpmn_id:
                continue
            if task.state == TaskState.COMPLETED and bpmn_id not in done:
                done.append(bpmn_id)
            elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED) and bpmn_id not in active:
                active.append(bpmn_id)
        return done, active

    # -- storing --------------------------------------------------------------------------------
    def to_stored(self) -> dict:
        """The run as JSON-ready data. A workflow whose data cannot be stored ends the run with the
        element named; the log and clock are kept either way."""
        state = None
        try:
            state = serializer.workflow_to_state(self.workflow)
            _text, problem = serializer.encode_storable(state)
        except Exception as exc:  # noqa: BLE001 - a state SpiffWorkflow cannot serialize: the run stops, visibly
            problem = _first_line(exc)
        if problem:
            self.stop(runtime._unstorable_element(self.workflow), problem)
            state = None
        return {"format": FORMAT, "workflow": state, "clock": self.clock.isoformat(), "started_clock": self.started_clock.isoformat(),
                "log": self.log[-MAX_LOG_ENTRIES:], "status": self.status, "error": self.error}

    # -- the log ----------------------------------------------------------------------------------
    def record(self, kind: str, *, element: str = "", name: str = "", at: dt.datetime | None = None, **data) -> None:
        self.log.append({"kind": kind, "at": (at or self.clock).isoformat(),
                         "element": element, "name": name, **data})

    def stop(self, element: str, message: str) -> None:
        if self.status == "error":
            return
        self.status = "error"
        self.error = {"element": element, "message": message[:500]}
        self.record("error", element=element, name=_element_name(self, element), at=self.clock, message=message[:500])

    # -- service tasks: logged, never called ---------------------------------------------------
    def call_service(self, spiff_task, name: str, params: dict) -> str:
        values = {key: param.get("value") for key, param in params.items()}
        spec = spiff_task.task_spec
        self.record("service", element=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, at=self.clock,
                    operation=name, params=_shown(values), result=STUB_RESULT)
        return json.dumps(STUB_RESULT)


def _pending_timers(workflow) -> dict:
    """The runtime's waiting timers, less cycle timers that have run all their cycles (SpiffWorkflow
    keeps their last deadline until the next refresh ends them: nothing fires then)."""
    return {t_id: t for t_id, t in runtime._waiting_timers(workflow).items()
            if not (isinstance(t.internal_data.get("event_value"), dict) and t.internal_data["event_value"].get("cycles") == 0)}


def _shown(value):
    """A value for the log: what JSON can hold, cut short if long."""
    text, problem = serializer.encode_storable(value)
    if problem:
        return repr(value)[:500]
    return value if len(text) <= 2000 else text[:2000] + "…"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:500] or type(exc).__name__


def _element_name(run: SandboxRun, element: str) -> str:
    info = run.parsed.user_tasks.get(element)
    if info is not None and info.name:
        return info.name
    spec = next((t.task_spec for t in run.workflow.get_tasks() if getattr(t.task_spec, "bpmn_id", None) == element), None)
    return (getattr(spec, "bpmn_name", None) or element) if spec is not None else element


def _route(info, data: dict) -> tuple[str, str | None]:
    """The task's role and named person as the runtime would route it; the lane's role when the
    variable the diagram routes by is not set (the run says so by showing no person)."""
    lane_group = info.candidate_group if info else ""
    try:
        return runtime._routing((info.properties if info else None) or {}, data, lane_group or "")
    except Exception:  # noqa: BLE001 - an unset routing variable: shown as the lane's role
        return lane_group or "", None


def _script_engine(run: SandboxRun) -> scripting.ExpressionEngine:
    return scripting.ExpressionEngine(limits=runtime._limits(), service_caller=run.call_service)


def _spec(parsed: parser.ParsedDefinition):
    """The spec restored from a copy: SpiffWorkflow's restore changes the dict it reads, and
    `parsed.spec_dict` is the parser's cached result that a deploy of the same draft stores."""
    return serializer.spec_from_dict(copy.deepcopy(parsed.spec_dict))


def _step_view(run: SandboxRun) -> SimpleNamespace:
    """What runtime's timer-clock and withdrawal helpers read of a step: the definition's timer
    settings and task properties, and the workflow."""
    user_tasks = {k: {"name": v.name, "lane": v.lane, "candidate_group": v.candidate_group, "properties": v.properties}
                  for k, v in run.parsed.user_tasks.items()}
    return SimpleNamespace(workflow=run.workflow, definition=SimpleNamespace(timers=run.parsed.timers or {}, user_tasks=user_tasks))


# -- the acts ------------------------------------------------------------------------------------

def start(parsed: parser.ParsedDefinition, variables: dict, start_data: dict, now: dt.datetime) -> SandboxRun:
    """A new run of the parsed draft at `now`, with the start form's process variables."""
    spec, subprocess_specs = _spec(parsed)
    run = SandboxRun(parsed=parsed, workflow=None, clock=now, started_clock=now)  # type: ignore[arg-type]
    run.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=_script_engine(run))
    with clock.frozen_at(run.clock):
        run.record("started", element=parsed.start_event_id or "", name=parsed.name, at=now, data=_shown(start_data))
        _log_skipped_hooks(run, [h for h in registry.start_hooks(parsed.process_id)], parsed.start_event_id or "")
        for task in run.workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
        _advance(run, ready_before=set())
    return run


def restore(parsed: parser.ParsedDefinition, stored: dict) -> SandboxRun:
    """The run `stored` (from `to_stored`) against the same parsed draft. Raises ValueError for data
    that is not a stored run of this format."""
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise ValueError("not a stored test run")
    run = SandboxRun(parsed=parsed, workflow=None, clock=_instant(stored["clock"]),  # type: ignore[arg-type]
                     started_clock=_instant(stored.get("started_clock") or stored["clock"]),
                     log=list(stored.get("log") or []), status=stored.get("status") or "running", error=stored.get("error"))
    spec, subprocess_specs = _spec(parsed)
    if stored.get("workflow") is not None:
        run.workflow = serializer.workflow_from_state(stored["workflow"], spec, subprocess_specs, _script_engine(run))
    else:  # a run that stopped on a state it could not store: nothing more can happen in it
        run.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=_script_engine(run))
        run.status = "error"
    return run


def _instant(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a stored clock without an offset")
    return moment


def find_ready(run: SandboxRun, task_id: str):
    """The READY manual task with this id, or None."""
    for task in run.workflow.get_tasks(state=TaskState.READY, manual=True):
        if str(task.id) == str(task_id):
            return task
    return None


def complete(run: SandboxRun, task, variables: dict, cleaned: dict) -> None:
    """Complete a READY task with its form's process variables (the cleaned data goes to the log)."""
    spec = task.task_spec
    ready_before = _ready_ids(run)
    with clock.frozen_at(run.clock):
        info = run.parsed.user_tasks.get(spec.bpmn_id)
        run.record("completed", element=spec.bpmn_id, name=(info.name if info else "") or spec.bpmn_name or spec.bpmn_id,
                   at=run.clock, data=_shown(cleaned))
        _log_skipped_hooks(run, registry.task_hooks(run.parsed.process_id, spec.bpmn_id), spec.bpmn_id)
        task.data.update(variables)
        try:
            task.run()
        except Exception as exc:  # noqa: BLE001 - the diagram failed on leaving the task: the run's error
            run.stop(spec.bpmn_id, _first_line(exc))
            return
        _advance(run, ready_before=ready_before - {task.id})


def jump(run: SandboxRun, by: dt.timedelta) -> None:
    """Move the run's clock forward by `by`, firing every timer due on the way in deadline order, each
    at its own deadline (so what it opens and the next timers it arms are as they would be)."""
    target = run.clock + by
    run.record("clock", at=run.clock, to=target.isoformat(), hours=round(by.total_seconds() / 3600, 2))
    fired = 0
    while run.status == "running":
        due = [t for t in run.waiting_timers() if _instant(t["due_at"]) < target]
        if not due:
            break
        if fired >= MAX_TIMER_FIRINGS:
            run.record("limit", at=run.clock, count=MAX_TIMER_FIRINGS)
            target = run.clock  # the clock stays where the firings stopped: nothing due is skipped silently
            break
        run.clock = max(run.clock, _instant(due[0]["due_at"]) + dt.timedelta(microseconds=1))
        fired += _fire(run)
    if run.status == "running":
        run.clock = max(run.clock, target)
        with clock.frozen_at(run.clock):
            _advance(run, ready_before=_ready_ids(run))


def _fire(run: SandboxRun) -> int:
    """Fire what is due at the run's clock (SpiffWorkflow decides, against the frozen engine clock)
    and run on to the next wait. Returns how many timers fired."""
    ready_before = _ready_ids(run)
    tasks = _pending_timers(run.workflow)
    before = {t_id: runtime._timer_due(t) for t_id, t in tasks.items()}
    with clock.frozen_at(run.clock):
        try:
            run.workflow.refresh_timers()
        except Exception as exc:  # noqa: BLE001
            run.stop(_failed_element(exc), _first_line(exc))
            return 0
        after = {t_id: runtime._timer_due(t) for t_id, t in runtime._waiting_timers(run.workflow).items()}
        fired = [t_id for t_id, due in before.items() if after.get(t_id) != due and _instant(due) < run.clock]
        for t_id in fired:
            spec = tasks[t_id].task_spec
            run.record("timer", element=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, at=run.clock, due_at=before[t_id])
        _advance(run, ready_before=ready_before)
    return max(len(fired), 1)  # a refresh that fired nothing still counts, so a stuck timer cannot loop forever


def _ready_ids(run: SandboxRun) -> set:
    return {t.id for t in run.workflow.get_tasks(state=TaskState.READY, manual=True)}


def _advance(run: SandboxRun, *, ready_before: set) -> None:
    """Run the engine to its next wait, within the run's budget (the caller froze the engine clock),
    as the runtime does: engine steps, timer clocks that start from the case's data, tasks withdrawn
    once their activity ended. Then log what opened, what was withdrawn and whether the run ended."""
    view = _step_view(run)
    try:
        _engine_steps(run)
        if runtime._start_timer_clocks(view):
            _fire_at_once(run)
        if runtime._withdraw_moot_tasks(view):
            _engine_steps(run)
    except RunStopped as exc:
        run.stop(exc.element, exc.message)
    except Exception as exc:  # noqa: BLE001 - any failure inside the diagram is the run's error, named
        run.stop(_failed_element(exc), _first_line(exc))
    _log_changes(run, ready_before)


def _fire_at_once(run: SandboxRun) -> None:
    """Timers whose clock started long before (a report received a day ago) may be due at once."""
    before = {t_id: (t, runtime._timer_due(t)) for t_id, t in _pending_timers(run.workflow).items()}
    run.workflow.refresh_timers()
    after = {t_id: runtime._timer_due(t) for t_id, t in runtime._waiting_timers(run.workflow).items()}
    for t_id, (task, due) in before.items():
        if after.get(t_id) != due and _instant(due) < run.clock:
            run.record("timer", element=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name or task.task_spec.bpmn_id, at=run.clock, due_at=due)
    _engine_steps(run)


def _engine_steps(run: SandboxRun) -> None:
    """`do_engine_steps` with a budget of tasks and time: a draft that loops without waiting stops."""
    started, count = time.monotonic(), [0]

    def counted(task):
        count[0] += 1
        if count[0] > MAX_ENGINE_TASKS or time.monotonic() - started > MAX_ENGINE_SECONDS:
            raise RunStopped(getattr(task.task_spec, "bpmn_id", None) or "", "budget")

    try:
        run.workflow.do_engine_steps(did_complete_task=counted)
    except RunStopped as exc:
        if exc.message == "budget":
            raise RunStopped(exc.element, f"the diagram ran more than {MAX_ENGINE_TASKS} steps or {MAX_ENGINE_SECONDS:g} s without waiting "
                                          "for a person or a timer (an endless loop?)") from None
        raise


def _failed_element(exc: BaseException) -> str:
    task = getattr(exc, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None) or ""


def _log_changes(run: SandboxRun, ready_before: set) -> None:
    ready = {t.id: t for t in run.workflow.get_tasks(state=TaskState.READY, manual=True)}
    for t_id, task in ready.items():
        if t_id not in ready_before:
            info = run.parsed.user_tasks.get(task.task_spec.bpmn_id)
            group, assignee = _route(info, dict(task.data))
            run.record("task_ready", element=task.task_spec.bpmn_id, name=(info.name if info else "") or task.task_spec.bpmn_name or "",
                       at=run.clock, role=group, assignee=assignee)
    for t_id in ready_before - set(ready):
        task = runtime._find_task(run.workflow, t_id)
        if task is not None and task.state == TaskState.CANCELLED:
            info = run.parsed.user_tasks.get(task.task_spec.bpmn_id)
            run.record("withdrawn", element=task.task_spec.bpmn_id, name=(info.name if info else "") or task.task_spec.bpmn_name or "",
                       at=run.clock)
    if run.status == "running" and run.workflow.is_completed():
        run.status = "completed"
        run.record("ended", at=run.clock)


def _log_skipped_hooks(run: SandboxRun, hooks, element: str) -> None:
    names = [getattr(h, "__qualname__", None) or getattr(h, "__name__", "?") for h in hooks]
    if names:
        run.record("hooks", element=element, at=run.clock, hooks=names)
