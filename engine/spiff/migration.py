"""Moving a running instance to another version of its process, on SpiffWorkflow's own diff.

SpiffWorkflow 3.2.0 aligns the specs of two versions (`SpecDiff`: by element id first, then by
structure) and maps each task of a workflow onto the new spec (`WorkflowDiff`). This module reads
that diff as the people deciding a migration need it — where each waiting token lands, and why a
token cannot land — and applies it the way Caseflow's projections expect:

- a token (a READY or WAITING task) whose element the new version removes cannot land: refused;
- a ready user task keeps its SpiffWorkflow id, so its open row, holder and draft stay as they are;
  it is reset in place so what it will do next is predicted from the new version;
- a waiting timer whose definition changed is re-armed (its clock starts again, or from the case
  moment named by `clock_starts_from`); an unchanged one keeps its deadline;
- a running subprocess whose process the new version drops cannot land.

The checks that need the database (a changed form an open task's draft no longer fits, a user
task moving to another role) are the caller's: `plan` answers with the ready user tasks whose
element changed, for it to check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff

from engine.spiff.serializer import _REGISTRY

TOKENS = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# Spec attributes that say nothing about behaviour: a renamed element or a moved shape is not a change.
COSMETIC = {"bpmn_name", "documentation", "description"}


@dataclass(frozen=True)
class Landing:
    """Where one token of the running instance would be after the migration."""

    state: str  # ready, waiting, started, error
    old_id: str
    old_name: str
    new_id: str | None  # None: the new version has no such element
    new_name: str
    changed: list[str] = field(default_factory=list)  # attributes of the element that differ
    rearmed: bool = False  # a waiting timer whose definition changed starts its clock again


@dataclass
class Plan:
    landings: list[Landing]
    problems: list[tuple[str, str]]  # (element id, why it cannot land) — refusal reasons
    changed_user_tasks: dict[str, str]  # old element id -> new element id, ready user tasks whose element changed


def _bpmn_id(spec) -> str:
    return getattr(spec, "bpmn_id", None) or spec.name


def _state_name(task) -> str:
    return TaskState.get_name(task.state).lower()


def _is_timer(spec) -> bool:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    definition = getattr(spec, "event_definition", None)
    definitions = getattr(definition, "event_definitions", None) or [definition]
    return any(isinstance(d, TimerEventDefinition) for d in definitions)


def _diffs(workflow, new_spec, new_subprocess_specs):
    """SpiffWorkflow's diff of the top-level workflow and of each running subprocess (None where
    the new version has no spec for it)."""
    top = WorkflowDiff(workflow, SpecDiff(_REGISTRY, workflow.spec, new_spec))
    subs = {}
    for sp_id, sub in workflow.subprocesses.items():
        new = new_subprocess_specs.get(sub.spec.name)
        subs[sp_id] = WorkflowDiff(sub, SpecDiff(_REGISTRY, sub.spec, new)) if new is not None else None
    return top, subs


def _behaviour_changes(old_spec, new_spec) -> list[str]:
    old, new = _REGISTRY.convert(old_spec), _REGISTRY.convert(new_spec)
    if old.get("typename") != new.get("typename"):
        return ["typename"]
    return sorted(k for k, v in old.items() if k not in COSMETIC and new.get(k) != v and k not in ("inputs", "outputs"))


def plan(workflow, new_spec, new_subprocess_specs) -> Plan:
    top, subs = _diffs(workflow, new_spec, new_subprocess_specs)
    landings, problems, changed_user_tasks = [], [], {}
    parts = [(workflow, top)] + [(workflow.subprocesses[sp_id], diff) for sp_id, diff in subs.items()]
    for part, diff in parts:
        if diff is None:
            problems.append((part.spec.name, "removed_subprocess"))
            continue
        for task in part.get_tasks(state=TOKENS, skip_subprocesses=True):
            spec = task.task_spec
            if getattr(spec, "bpmn_id", None) is None:
                continue  # SpiffWorkflow's own bookkeeping tasks (splits, start, end) carry no token people see
            new = diff.alignment.get(task)
            if new is None:
                problems.append((_bpmn_id(spec), "removed"))
                landings.append(Landing(_state_name(task), _bpmn_id(spec), spec.bpmn_name or "", None, ""))
                continue
            changes = _behaviour_changes(spec, new)
            rearmed = task.state == TaskState.WAITING and bool(changes) and _is_timer(spec)
            if task.state == TaskState.WAITING and changes and not rearmed and isinstance(spec, CatchingEvent):
                rearmed = True  # a message or signal catch whose definition changed waits anew
            if getattr(spec, "manual", False) and task.state == TaskState.READY and (
                    changes or _bpmn_id(spec) != _bpmn_id(new) or spec.lane != new.lane):
                changed_user_tasks[_bpmn_id(spec)] = _bpmn_id(new)
            landings.append(Landing(_state_name(task), _bpmn_id(spec), spec.bpmn_name or "", _bpmn_id(new),
                                    new.bpmn_name or "", changes, rearmed))
    return Plan(landings, problems, changed_user_tasks)


def apply(workflow, new_spec, new_subprocess_specs) -> None:
    """Move the workflow onto the new spec (refused plans never get here). Mirrors SpiffWorkflow's
    `migrate_workflow`, resetting only what must be predicted again: ready tasks (in place, same
    ids) and waiting events whose definition changed — never an unchanged timer, whose deadline a
    reset would silently push back."""
    top, subs = _diffs(workflow, new_spec, new_subprocess_specs)
    parts = [(workflow, top, new_spec)] + [
        (workflow.subprocesses[sp_id], diff, new_subprocess_specs[workflow.subprocesses[sp_id].spec.name])
        for sp_id, diff in subs.items()]
    for part, diff, spec in parts:
        to_reset = [task for task in part.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)
                    if task.state == TaskState.READY
                    or (diff.alignment.get(task) is not None and _behaviour_changes(task.task_spec, diff.alignment[task]))]
        part.spec = spec
        for task in part.tasks.values():
            new = diff.alignment.get(task)
            if new is not None:
                task.task_spec = new
        for task in to_reset:
            if task.id in part.tasks and task.parent is not None:
                task.reset_branch(None)
        if part.last_task not in part.tasks.values():
            part.last_task = None
    workflow.subprocess_specs = dict(new_subprocess_specs)


def spec_diff(old_spec, old_subprocess_specs, new_spec, new_subprocess_specs) -> dict:
    """Elements added, removed and changed between two versions: {"added": [(id, name)],
    "removed": [(id, name)], "changed": [(id, name, [attributes])]} over the process and the
    subprocesses both versions have."""
    added, removed, changed = [], [], []
    pairs = [(old_spec, new_spec)] + [(s, new_subprocess_specs[n]) for n, s in old_subprocess_specs.items() if n in new_subprocess_specs]
    for old, new in pairs:
        diff = SpecDiff(_REGISTRY, old, new)
        added += [(_bpmn_id(s), s.bpmn_name or "") for s in diff.added if getattr(s, "bpmn_id", None)]
        removed += [(_bpmn_id(s), s.bpmn_name or "") for s in diff.removed if getattr(s, "bpmn_id", None)]
        for s, target in diff.alignment.items():
            if target is not None and getattr(s, "bpmn_id", None):
                changes = _behaviour_changes(s, target)
                if changes or (s.bpmn_name or "") != (target.bpmn_name or ""):
                    changed.append((_bpmn_id(s), target.bpmn_name or s.bpmn_name or "",
                                    changes + (["name"] if (s.bpmn_name or "") != (target.bpmn_name or "") else [])))
    for name, s in old_subprocess_specs.items():
        if name not in new_subprocess_specs:
            removed.append((name, getattr(s, "description", "") or name))
    for name, s in new_subprocess_specs.items():
        if name not in old_subprocess_specs:
            added.append((name, getattr(s, "description", "") or name))
    return {"added": sorted(added), "removed": sorted(removed), "changed": sorted(changed)}
