"""Finished history dropped from a workflow, so a step of a long-lived case costs what it cost when
the case was young. SpiffWorkflow keeps every task a loop ever made (a thousand rounds of a gateway
loop: 3,000 tasks, 1.2 MB re-serialized on every step); what happened is already in the engine's own
rows (audit events, completed tasks), so the workflow needs only what can still run.

The cut: every unfinished task (ready, waiting, predicted) lies below one finished task — the
anchor — which is hung directly under the workflow's start; everything else goes. It is refused
while a join that counts its branches across the tree is pending (a parallel or inclusive join: it
looks for the finished tokens of its other branches). Boundary-event joins look up their split
among ancestors, which the cut keeps; the end join only waits for nothing to be unfinished.
Finished subprocesses hang under the tasks that started them and go with them; a subprocess still
running keeps its own history (its calling task is unfinished, so it is kept). The element ids of
the completed tasks dropped are kept (`done_specs`), so "was this step done before" still has an
answer."""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, _EndJoin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState

PRUNE_ABOVE = 150  # tasks in the tree before finished history is cut


def done_specs(workflow: BpmnWorkflow) -> set[str]:
    """Element ids of completed tasks already cut from this workflow."""
    return getattr(workflow, "caseflow_done", set())


def prune(workflow: BpmnWorkflow, *, above: int = PRUNE_ABOVE) -> int:
    """Cut finished history when the tree has grown past `above` tasks; returns how many were cut."""
    tasks = workflow.tasks
    if len(tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values()) <= above:
        return 0
    unfinished = [t for t in tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not unfinished:
        return 0
    for task in unfinished:
        spec = task.task_spec
        if isinstance(spec, Join) and not isinstance(spec, (_EndJoin, BoundaryEventJoin)):
            return 0
    anchor = _finished_common_ancestor(unfinished)
    root = workflow.task_tree
    start = root.children[0] if root is not None and root.children else None
    if anchor is None or start is None or anchor.id in (root.id, start.id):
        return 0
    keep = {root.id, start.id}
    stack = [anchor]
    while stack:
        task = stack.pop()
        keep.add(task.id)
        stack.extend(task.children)
    dropped = [t for tid, t in tasks.items() if tid not in keep]
    if not dropped:
        return 0
    done = set(done_specs(workflow))
    done.update(spec_id for t in dropped if t.has_state(TaskState.COMPLETED) and (spec_id := getattr(t.task_spec, "bpmn_id", None)))
    for task in dropped:
        if task.id in workflow.subprocesses:
            for gone in workflow.delete_subprocess(task):
                if gone.has_state(TaskState.COMPLETED) and (spec_id := getattr(gone.task_spec, "bpmn_id", None)):
                    done.add(spec_id)
    for task in dropped:
        del tasks[task.id]
        workflow.event_manager.tasks.pop(task.id, None)
    start.children = [anchor]
    anchor.parent = start
    if workflow.last_task is not None and workflow.last_task.id not in tasks:
        workflow.last_task = anchor
    workflow.caseflow_done = done
    return len(dropped)


def _finished_common_ancestor(tasks: list):
    """The deepest finished task that every one of `tasks` descends from (or is)."""
    def chain(task):
        path = []
        while task is not None:
            path.append(task)
            task = task.parent
        return path  # task first, root last

    first = chain(tasks[0])
    common = {t.id for t in first}
    for task in tasks[1:]:
        common &= {t.id for t in chain(task)}
    for task in first:  # deepest first
        if task.id in common and task.has_state(TaskState.FINISHED_MASK):
            return task
    return None
