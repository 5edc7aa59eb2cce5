"""Workflow state <-> JSON for the database, without the spec.

SpiffWorkflow embeds the whole spec in every serialized instance (about 55% of it). The spec
belongs to the immutable definition version, so instances store only their task tree and data and
are restored against the definition's cached spec (parser.py). The script engine is not part of
the state either: it is re-attached on every load."""
from __future__ import annotations

import json
import math
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
SERIALIZER = BpmnWorkflowSerializer(_REGISTRY)
STATE_FORMAT = "caseflow-spiff-3.2.0/1"


def spec_to_dict(spec, subprocess_specs) -> dict:
    return {
        "spec": SERIALIZER.to_dict(spec),
        "subprocess_specs": {name: SERIALIZER.to_dict(s) for name, s in subprocess_specs.items()},
    }


def spec_from_dict(dct: dict):
    spec = SERIALIZER.from_dict(dct["spec"])
    subprocess_specs = {name: SERIALIZER.from_dict(s) for name, s in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def workflow_to_state(workflow: BpmnWorkflow) -> dict:
    """JSON-ready state of one instance, spec left out.

    Mirrors BpmnWorkflowConverter.to_dict without converting the spec and the subprocess specs:
    that converter turns the whole spec into a dict on every call (more than half of the call's
    time), only for it to be thrown away here."""
    _REGISTRY._encoder_mode = False
    converter = _WORKFLOW_CONVERTER
    dct = WorkflowConverter.to_dict(converter, workflow)
    dct["subprocesses"] = converter.mapping_to_dict(workflow.subprocesses)
    dct["bpmn_events"] = _REGISTRY.convert(workflow.bpmn_events)
    dct["typename"] = _REGISTRY.typenames[type(workflow)]
    dct["format"] = STATE_FORMAT
    done = getattr(workflow, "caseflow_done", None)
    if done:
        dct["caseflow_done"] = sorted(done)  # element ids of completed tasks cut from the tree (pruning.py)
    return dct


def workflow_from_state(state: dict, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
    """Rebuild an instance from its state and the (shared, cached) spec of its definition version.

    Mirrors BpmnWorkflowConverter.from_dict, taking the spec objects instead of restoring them."""
    state = dict(state)
    done = set(state.pop("caseflow_done", None) or ())
    found = state.pop("format", None)
    if found != STATE_FORMAT:
        raise ValueError(f"instance state is in format {found!r}, this engine reads {STATE_FORMAT!r}: migrate it first")
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
    workflow_converter = _WORKFLOW_CONVERTER
    workflow.tasks = workflow_converter.mapping_from_dict(_parents_first(state["tasks"], state["root"]), UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(state["root"]))
    workflow_converter.set_default_attributes(workflow, state)
    workflow_converter.subprocesses_from_dict(state["subprocesses"], workflow)
    workflow.bpmn_events = _REGISTRY.restore(state.pop("bpmn_events", []))
    if done:
        workflow.caseflow_done = done
    return workflow


def _parents_first(tasks: dict, root: str) -> dict:
    """Tasks in tree order. SpiffWorkflow stores each task's data as a delta against its parent and
    rebuilds it while restoring, so a parent must be restored before its children — and PostgreSQL's
    jsonb does not keep the key order the state was written in."""
    ordered, queue = {}, [root]
    while queue:
        task_id = queue.pop(0)
        if task_id in ordered or task_id not in tasks:
            continue
        ordered[task_id] = tasks[task_id]
        queue.extend(tasks[task_id]["children"])
    ordered.update((k, v) for k, v in tasks.items() if k not in ordered)  # unreachable ones, if any, last
    return ordered


def _converter_for(cls):
    # The registry keeps partial(_obj_to_dict, typename, converter.to_dict) per class.
    return _REGISTRY.convert_to_dict[_REGISTRY.typenames[cls]].args[1].__self__


_WORKFLOW_CONVERTER = _converter_for(BpmnWorkflow)


def storable_problem(value, *, max_depth: int = 200) -> str | None:
    """Why `value` cannot be stored as the JSON a database column holds, or None when it can.

    Only plain data survives a save and a reload unchanged: text, whole and finite numbers,
    booleans, None, lists and dicts with text keys. Bytes, Decimal, sets, NaN, objects and
    self-referencing containers are refused here, before the database refuses the whole step."""
    stack, seen = [(value, 0)], set()
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return "nested too deeply"
        if isinstance(item, (str, int, bool)) or item is None:
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return "a number that is not finite (NaN or infinity)"
            continue
        if isinstance(item, (list, tuple, dict)):
            if id(item) in seen:
                continue  # shared or cyclic: json.dumps below tells the two apart
            seen.add(id(item))
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return f"a dict key of type {type(key).__name__}"
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
            continue
        return f"a value of type {type(item).__name__}"
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return "a list or dict that contains itself"
    except (TypeError, RecursionError) as exc:
        return str(exc)[:200]
    return None


TOO_LARGE = "larger than the budget"


def encode_storable(value, *, max_chars: int | None = None) -> tuple[str | None, str | None]:
    """(the JSON text of `value`, None), or (None, why it cannot be stored): `TOO_LARGE` when the
    text is longer than `max_chars` (then it is not decoded again). One encode and one decode in C
    decide the common case; the walk above runs only to explain a refusal, or when the decoded copy
    differs (keys that were not text, tuples) to tell which."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None, storable_problem(value) or "a value JSON cannot hold"
    if max_chars is not None and len(text) > max_chars:
        return None, TOO_LARGE
    if json.loads(text) != value:
        problem = storable_problem(value)
        if problem:
            return None, problem
    return text, None
