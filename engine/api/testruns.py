"""Test runs of a studio draft: the draft's workflow run in memory with sample data and a clock of its
own (ADR 0016). Nothing here writes a row: no instance, task, timer, audit event, outbox row or
notification. Services are logged with a stub result instead of called, process hooks are logged
instead of run, and the caller keeps the run's state (`SandboxState.stored`) wherever it likes (the
studio keeps one per administrator and draft) and hands it back with the next action.

Every action validates the draft with deploy's own checks first, so a run only ever executes what
could be deployed, and cleans form data exactly as a real start or completion does (only
`process_variable` fields enter the workflow's data)."""
from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from engine import clock, forms
from engine.api.definitions import _validated
from engine.api.instances import require_user
from engine.errors import InvalidState, NotPermitted
from engine.permissions import user_groups
from engine.spiff import sandbox
from engine.types import SandboxDraft, SandboxLogEntry, SandboxState, SandboxTask, SandboxTimer

MAX_JUMP_HOURS = 24 * 366


def _require_admin(actor) -> None:
    require_user(actor)
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may test-run a draft."))


def _parsed(bpmn_xml, forms_by_element):
    """The draft as deploy would take it; raises DefinitionInvalid naming elements."""
    return _validated(bpmn_xml, forms_by_element or {})[2]


def prepare_sandbox_run(*, bpmn_xml: bytes | str, forms_by_element: dict, actor) -> SandboxDraft:
    """What starting a test run of this draft asks for. Raises DefinitionInvalid (the problems deploy
    would refuse it for, each naming its element) and NotPermitted (not an administrator)."""
    _require_admin(actor)
    parsed = _parsed(bpmn_xml, forms_by_element)
    return SandboxDraft(key=parsed.process_id, name=parsed.name, start_event_id=parsed.start_event_id or "",
                        start_role=parsed.start_group or "", start_form=parsed.forms.get(parsed.start_event_id or ""),
                        warnings=tuple(parsed.warnings))


def start_sandbox_run(*, bpmn_xml: bytes | str, forms_by_element: dict, data: dict | None, actor,
                      now: dt.datetime | None = None) -> SandboxState:
    """Start the draft in memory with the start form's data (cleaned as `start_instance` cleans it);
    the run's clock starts at `now` (default: the engine clock). Raises DefinitionInvalid, FormInvalid."""
    _require_admin(actor)
    parsed = _parsed(bpmn_xml, forms_by_element)
    now = now or clock.now()
    form = parsed.forms.get(parsed.start_event_id or "")
    with clock.frozen_at(now), forms.acting_as(actor):
        cleaned = forms.clean_form_data(form, data or {}) if form is not None else forms.clean_form_data(None, data)
    variables = {k: v for k, v in cleaned.items() if form and k in forms.process_variables(form)}
    return _state(sandbox.start(parsed, variables, cleaned, now))


def sandbox_state(*, bpmn_xml: bytes | str, forms_by_element: dict, stored: dict, actor) -> SandboxState:
    """The stored run as it stands (nothing runs)."""
    _require_admin(actor)
    return _state(_restore(bpmn_xml, forms_by_element, stored))


def complete_sandbox_task(*, bpmn_xml: bytes | str, forms_by_element: dict, stored: dict, task_id: str, data: dict,
                          actor) -> SandboxState:
    """Complete a task of the run with sample data, cleaned exactly as `complete_task` cleans it (at the
    run's clock). Raises FormInvalid (nothing changes), InvalidState (no such open task, or the run has
    ended)."""
    _require_admin(actor)
    run = _restore(bpmn_xml, forms_by_element, stored)
    _require_running(run)
    task = sandbox.find_ready(run, task_id)
    if task is None:
        raise InvalidState(_("This task of the test run is no longer open."))
    form = run.parsed.forms.get(task.task_spec.bpmn_id)
    with clock.frozen_at(run.clock), forms.acting_as(actor, {**dict(task.data), "__forms__": run.parsed.forms}):
        cleaned = forms.clean_form_data(form, data)
    variables = {k: v for k, v in cleaned.items() if k in forms.process_variables(form or {})}
    sandbox.complete(run, task, variables, cleaned)
    return _state(run)


def advance_sandbox_clock(*, bpmn_xml: bytes | str, forms_by_element: dict, stored: dict, hours: float, actor) -> SandboxState:
    """Move the run's clock forward by `hours` (more than 0, at most a year), firing every timer due on
    the way, cycle timers once per cycle. Raises InvalidState for another amount or an ended run."""
    _require_admin(actor)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= MAX_JUMP_HOURS:
        raise InvalidState(_("Move the clock forward by more than 0 and at most %(n)d hours.") % {"n": MAX_JUMP_HOURS})
    run = _restore(bpmn_xml, forms_by_element, stored)
    _require_running(run)
    sandbox.jump(run, dt.timedelta(hours=hours))
    return _state(run)


def _restore(bpmn_xml, forms_by_element, stored) -> sandbox.SandboxRun:
    parsed = _parsed(bpmn_xml, forms_by_element)
    try:
        return sandbox.restore(parsed, stored)
    except Exception:  # noqa: BLE001 - a state of another format or another diagram: the run must start again
        raise InvalidState(_("This test run can no longer be read; restart it.")) from None


def _require_running(run: sandbox.SandboxRun) -> None:
    if run.status == "completed":
        raise InvalidState(_("This test run has ended; restart it to run it again."))
    if run.status != "running":
        raise InvalidState(_("This test run stopped with an error; restart it."))


def _state(run: sandbox.SandboxRun) -> SandboxState:
    stored = run.to_stored()  # first: a state that cannot be stored stops the run, and that must show
    done, active = run.diagram_marks()
    error = run.error or {}
    return SandboxState(
        status=run.status, clock=run.clock, started_clock=run.started_clock,
        tasks=tuple(SandboxTask(id=t["id"], bpmn_id=t["bpmn_id"], name=t["name"], lane=t["lane"], role=t["role"], assignee=t["assignee"],
                                form=t["form"], variables=t["data"]) for t in run.ready_tasks()),
        timers=tuple(SandboxTimer(element=t["element"], name=t["name"], due_at=dt.datetime.fromisoformat(t["due_at"]))
                     for t in run.waiting_timers()) if run.status == "running" else (),
        log=tuple(_entry(e) for e in stored["log"]),
        completed=tuple(done), active=tuple(active) if run.status == "running" else (),
        error_element=error.get("element", ""), error_message=error.get("message", ""), stored=stored,
        forms=run.parsed.forms,
    )


def _entry(entry: dict) -> SandboxLogEntry:
    details = {k: v for k, v in entry.items() if k not in ("kind", "at", "element", "name")}
    return SandboxLogEntry(kind=entry["kind"], at=dt.datetime.fromisoformat(entry["at"]), element=entry.get("element", ""),
                           name=entry.get("name", ""), details=details)
