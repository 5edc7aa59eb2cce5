"""Three adjustments to SpiffWorkflow 3.2.0, made once, here, and pinned to that exact version.

1. Task look-ups stop at depth 1000 by default, which silently stalls a gateway loop after about
   333 rounds (measured on 3.2.0): follow-ups and revision rounds loop, so the depth is
   lifted. The iterator is iterative (no recursion), so a deep tree costs time, not stack.
2. Timer events read `datetime.now(timezone.utc)` themselves; they are pointed at engine.clock so a
   sweep "as of" an instant and tests agree with the engine on what time it is.
3. A multi-instance activity over a collection (one child per item, each with a copy of the data)
   reads its input without the script engine, so the sandbox's bound on cardinality never saw it:
   the collection's size is checked against the same bound before any child is made.
4. A service task whose operation is registered as asynchronous is queued instead of called: the
   script engine's `queue_service` writes the call to the outbox and the task waits (STARTED, which
   SpiffWorkflow's own `Task.run` makes of a `None` answer) until a worker continues the instance
   with the result (`runtime.continue_service`).
"""
import datetime as _dt

import SpiffWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.spiff.specs.mixins.service_task import ServiceTask as _SpiffServiceTask
from SpiffWorkflow.util.task import TaskIterator

from engine import clock

EXPECTED_VERSION = "3.2.0"
UNBOUNDED_DEPTH = 10**9


def _check_version():
    from importlib.metadata import version

    found = version("SpiffWorkflow")
    if found != EXPECTED_VERSION:  # pragma: no cover - guarded by the exact pin in pyproject.toml
        raise RuntimeError(f"engine/spiff is written for SpiffWorkflow {EXPECTED_VERSION}, found {found}")


def _lift_max_depth(cls):
    defaults = list(cls.__init__.__defaults__)
    # (end_at_spec, max_depth, ...): max_depth is the second default in both iterators.
    defaults[1] = UNBOUNDED_DEPTH
    cls.__init__.__defaults__ = tuple(defaults)


class _EngineClockDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.replace(tzinfo=None)


_check_version()
_lift_max_depth(TaskIterator)
_lift_max_depth(BpmnTaskIterator)
_timer.datetime = _EngineClockDatetime


def _bounded_update_hook(self, my_task):
    result = super(MultiInstanceTask, self)._update_hook(my_task)  # (the task takes its data here)
    if self.data_input is not None and self.data_input.exists(my_task):
        items = self.data_input.get(my_task)
        limits = getattr(getattr(my_task.workflow, "script_engine", None), "limits", None)
        limit = getattr(limits, "max_cardinality", 200)
        if hasattr(items, "__len__") and len(items) > limit:
            raise WorkflowTaskException(
                f"Multi-instance input '{self.data_input.bpmn_id}' has {len(items)} items, more than the {limit} allowed", task=my_task)
    return result


MultiInstanceTask._update_hook = _bounded_update_hook


_called_service = _SpiffServiceTask._execute


def _queue_or_call_service(self, task):
    queue = getattr(task.workflow.script_engine, "queue_service", None)
    if queue is not None and queue(task, self.operation_name, self.evaluate_params(task)):
        return None  # queued: the task waits (STARTED) for the worker's result
    return _called_service(self, task)


_SpiffServiceTask._execute = _queue_or_call_service
