"""One persisted step of the child-protection path through the facade, beside its baselines
measured in the same run on the same database:

(a) raw SpiffWorkflow in memory: the same path (start, then the 9 tasks in the order of
    tests/processes/child_protection/flows.py), parsed spec reused, SpiffWorkflow's own script
    engine, no database — "SpiffWorkflow's own ms per step";
(a') the same, stored between the steps: after each step the workflow is turned into the state
    Caseflow stores (SpiffWorkflow's converters without the spec) and JSON text, and the next step
    starts from that text — SpiffWorkflow's engine, serializing and deserializing, the three parts
    in which the issue that set the target measured "SpiffWorkflow itself" (0.4 + 0.5 + 0.4 ms
    then). Nothing is pruned from this state. Caseflow's step keeps the live workflow between
    steps (engine/spiff/runtime.py, WORKFLOWS), so it pays no deserializing unless another process
    stepped the case;
(b) the floor: the bare durable step transaction through Django's connection — BEGIN; SELECT ...
    FOR UPDATE of one row; UPDATE that row with a 7.6 KB JSON state guarded by its revision; INSERT 3
    small rows; COMMIT (bench/common.py, Floor).

The engine's step is `engine.api.start_instance` / `engine.api.complete_task`, each call timed
alone; the next open task is found with `engine.api.get_instance` between the timed calls. Rounds interleave one persisted case, one
floor step per persisted step, and a few raw cases, so load from elsewhere shifts all three alike.

Prints: ms per step (median, p95; each facade call timed alone), SQL statements per step (Django's
CaptureQueriesContext around each call, in separate counting cases so capture never inflates the
timings: mean, max, and the kinds and tables of one step with its statements), persisted cases/s,
the ratio to raw in memory, ms per step / (floor ms + SpiffWorkflow's own ms per step in memory)
and ms per step / (floor ms + SpiffWorkflow's own ms per stored step, (a')) (target <= 2).

Run: `make bench`, or `.venv/bin/python bench/step.py` (PostgreSQL at DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/caseflow; its own database test_caseflow_bench_step).
BENCH_STEP_CASES (default 40) persisted cases, BENCH_STEP_RAW_PER_ROUND (5) raw cases per round.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

CASES = int(os.environ.get("BENCH_STEP_CASES", "40"))
WARMUP_CASES = 3
COUNT_CASES = int(os.environ.get("BENCH_STEP_COUNT_CASES", "3"))
RAW_PER_ROUND = int(os.environ.get("BENCH_STEP_RAW_PER_ROUND", "5"))
TEST_DB_NAME = os.environ.get("BENCH_STEP_DB", "test_caseflow_bench_step")
BREAKDOWN_STEP = os.environ.get("BENCH_STEP_BREAKDOWN", "Task_Assessment")
STEPS = ["start", *common.CP_ORDER]
# What a raw in-memory case puts into task data (the conditions read only these).
RAW_VARIABLES = {"present_danger": True, "plan_decision": "approve", "needs_more_followup": False,
                 "closure_decision": "approve"}


class RawSpiff:
    """The same path in memory with SpiffWorkflow alone (its own script engine, no database)."""

    def __init__(self, sandboxed: bool = False):
        from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
        from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(common.ROOT / "processes" / "bpmn" / "child_protection.bpmn"))
        self.spec = parser.get_spec("child_protection")
        self.subs = parser.get_subprocess_specs("child_protection")
        self.sandboxed = sandboxed

        class RawEngine(PythonScriptEngine):
            def call_service(self, task, **kwargs):
                return "{}"

        self.engine_class = RawEngine
        from tests.processes.child_protection.flows import FORMS

        self.data = {bpmn_id: {k: v for k, v in FORMS[bpmn_id].items() if k in RAW_VARIABLES} for bpmn_id in common.CP_ORDER}

    def case(self) -> None:
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        if self.sandboxed:
            from engine.spiff.scripting import ExpressionEngine  # only for run.py's sandboxed figure

            engine = ExpressionEngine(service_caller=lambda task, name, params: "{}")
        else:
            engine = self.engine_class()
        wf = BpmnWorkflow(self.spec, self.subs, script_engine=engine)
        wf.do_engine_steps()
        for bpmn_id in common.CP_ORDER:
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)
            task.data.update(self.data[bpmn_id])
            task.run()
            wf.do_engine_steps()
        assert wf.is_completed()

    def stored_case(self) -> tuple[float, float, float]:
        """(a'): the case stored between its steps: (engine, serialize, deserialize) ms for the
        whole case. The state is the one Caseflow stores (SpiffWorkflow's converters without the
        spec, engine/spiff/serializer.py) as JSON text, nothing pruned from it."""
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        from engine.spiff import serializer

        engine_ms = serialize_ms = deserialize_ms = 0.0
        started = time.perf_counter()
        wf = BpmnWorkflow(self.spec, self.subs, script_engine=self.engine_class())
        wf.do_engine_steps()
        engine_ms += time.perf_counter() - started
        for bpmn_id in [None, *common.CP_ORDER]:
            if bpmn_id is not None:
                started = time.perf_counter()
                task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)
                task.data.update(self.data[bpmn_id])
                task.run()
                wf.do_engine_steps()
                engine_ms += time.perf_counter() - started
            started = time.perf_counter()
            text = json.dumps(serializer.workflow_to_state(wf))
            serialize_ms += time.perf_counter() - started
            if bpmn_id != common.CP_ORDER[-1]:
                started = time.perf_counter()
                wf = serializer.workflow_from_state(json.loads(text), self.spec, self.subs, self.engine_class())
                deserialize_ms += time.perf_counter() - started
        assert wf.is_completed()
        self.stored_bytes = len(text)
        return engine_ms * 1000, serialize_ms * 1000, deserialize_ms * 1000

    def timed_cases(self, n: int) -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            self.case()
            samples.append((time.perf_counter() - started) * 1000)
        return samples


def persisted_case(users, capture: bool = False) -> dict:
    """One whole case through the facade: {step: ms} and, when capturing, {step: [sql, ...]}. Each
    facade write is timed alone; finding the next open task (engine.api.get_instance) is not."""
    from engine import api

    timings, queries = {}, {}

    def call(step, fn):
        ctx = CaptureQueriesContext(connection) if capture else contextlib.nullcontext()
        with ctx:
            started = time.perf_counter()
            result = fn()
            timings[step] = (time.perf_counter() - started) * 1000
        if capture:
            queries[step] = common.captured_sql(ctx)
        return result

    data = common.cp_start_data()
    instance_id = common.instance_id_of(call("start", lambda: api.start_instance(
        process_key="child_protection", data=data, actor=users["intake"])))
    result = None
    for bpmn_id in common.CP_ORDER:
        task_id, form, actor = common.open_task_id(instance_id, bpmn_id), common.cp_form(bpmn_id), users[common.CP_ACTOR[bpmn_id]]
        result = call(bpmn_id, lambda: api.complete_task(task_id=task_id, data=form, actor=actor))  # noqa: B023 - called at once
    assert result.status == "completed", result.status
    return {"ms": timings, "sql": queries, "instance_id": instance_id}


def main() -> int:
    common.configure()
    common.require_postgres("step")
    with common.test_database(TEST_DB_NAME):
        set_up_started = time.perf_counter()
        users = common.make_users()
        common.deploy_bundled(users)
        floor = common.Floor()
        raw = RawSpiff()
        for _ in range(WARMUP_CASES):  # spec caches, connections, the floor's table
            persisted_case(users)
            floor.timed(10)
            raw.timed_cases(RAW_PER_ROUND)
            raw.stored_case()
        common.analyze()
        common.freeze_heap()
        set_up_s = time.perf_counter() - set_up_started

        step_ms: dict[str, list[float]] = {s: [] for s in STEPS}
        case_ms, floor_ms, raw_case_ms, stored_cases = [], [], [], []
        run_started = time.perf_counter()
        for _ in range(CASES):
            floor_ms += floor.timed(len(STEPS))
            raw_case_ms += raw.timed_cases(RAW_PER_ROUND)
            stored_cases.append(raw.stored_case())
            case = persisted_case(users)
            for step, ms in case["ms"].items():
                step_ms[step].append(ms)
            case_ms.append(sum(case["ms"].values()))
        run_s = time.perf_counter() - run_started

        # Statements per step, in separate cases (capture costs a little per statement).
        counted = [persisted_case(users, capture=True) for _ in range(COUNT_CASES)]
        per_step_counts = {s: [len(c["sql"][s]) for c in counted] for s in STEPS}
        complete_counts = [n for s in common.CP_ORDER for n in per_step_counts[s]]
        breakdown_sql = counted[-1]["sql"][BREAKDOWN_STEP]
        state_bytes = _state_sizes(counted[-1]["instance_id"])

        all_steps = [ms for s in STEPS for ms in step_ms[s]]
        complete_steps = [ms for s in common.CP_ORDER for ms in step_ms[s]]
        raw_case_median = statistics.median(raw_case_ms)
        raw_step_ms = raw_case_median / len(STEPS)
        stored_step = {part: statistics.median(c[i] for c in stored_cases) / len(STEPS)
                       for i, part in enumerate(("engine", "serialize", "deserialize"))}
        stored_step_ms = sum(stored_step.values())
        floor_median = statistics.median(floor_ms)
        step_median = statistics.median(all_steps)
        persisted_cases_per_s = len(case_ms) / (sum(case_ms) / 1000)
        raw_cases_per_s = 1000 / statistics.fmean(raw_case_ms)
        result = {
            **common.environment(),
            "cases": CASES,
            "steps_per_case": len(STEPS),
            "setup_seconds": round(set_up_s, 1),
            "run_seconds": round(run_s, 1),
            "engine_step": {
                "all_steps": common.summary_ms(all_steps),
                "complete_task": common.summary_ms(complete_steps),
                "start_instance": common.summary_ms(step_ms["start"]),
                "median_ms_by_step": {s: round(statistics.median(step_ms[s]), 2) for s in STEPS},
            },
            "floor_step": {"what": "BEGIN; SELECT .. FOR UPDATE; UPDATE .. 7.6 KB jsonb WHERE id AND revision; 3 x INSERT; COMMIT",
                           "state_bytes": common.FLOOR_STATE_BYTES, **common.summary_ms(floor_ms, 3)},
            "raw_spiffworkflow_in_memory": {
                "ms_per_case": common.summary_ms(raw_case_ms, 3),
                "ms_per_step": round(raw_step_ms, 3),
                "cases_per_s": round(raw_cases_per_s, 1),
            },
            "spiffworkflow_stored_step": {
                "what": "the same path, the spec-less state serialized to JSON text after each step and deserialized before the next",
                "ms_per_step": round(stored_step_ms, 3), **{f"{part}_ms": round(ms, 3) for part, ms in stored_step.items()},
                "state_json_bytes_at_end": raw.stored_bytes,
            },
            "persisted_cases_per_s": round(persisted_cases_per_s, 2),
            "ratio_persisted_to_raw_cases_per_s": common.ratio(persisted_cases_per_s, raw_cases_per_s, 4),
            "ratio_step_to_floor": common.ratio(step_median, floor_median, 2),
            "ratio_step_to_floor_plus_spiff": common.ratio(step_median, floor_median + raw_step_ms, 2),
            "ratio_step_to_floor_plus_spiff_stored": common.ratio(step_median, floor_median + stored_step_ms, 2),
            "ratio_step_to_floor_plus_spiff_target": "<= 2",
            "sql_statements": {
                "complete_task_mean": round(statistics.fmean(complete_counts), 1),
                "complete_task_max": max(complete_counts),
                "complete_task_max_step": max(common.CP_ORDER, key=lambda s: max(per_step_counts[s])),
                "start_instance": max(per_step_counts["start"]),
                "by_step": {s: max(per_step_counts[s]) for s in STEPS},
                "floor_step": 2 + 1 + 1 + common.FLOOR_SMALL_ROWS,  # BEGIN, SELECT, UPDATE, 3 INSERT, COMMIT
                "one_step": {"step": BREAKDOWN_STEP, **common.statement_breakdown(breakdown_sql),
                             "statements": [common.abbreviate(q) for q in breakdown_sql]},
            },
            "state_after_whole_case": state_bytes,
        }
    common.emit(result, (
        f"step: {step_median:.1f} ms/step median (p95 {common.percentile(all_steps, 0.95):.1f}), floor {floor_median:.2f} ms, "
        f"SpiffWorkflow {raw_step_ms:.3f} ms/step in memory, {stored_step_ms:.3f} stored -> ratio to floor+spiff "
        f"{result['ratio_step_to_floor_plus_spiff']} in memory, {result['ratio_step_to_floor_plus_spiff_stored']} stored (target <= 2); "
        f"{result['sql_statements']['complete_task_mean']} statements/complete_task (max {result['sql_statements']['complete_task_max']}); "
        f"{persisted_cases_per_s:.2f} cases/s persisted vs {raw_cases_per_s:.0f} in memory"))
    return 0


def _state_sizes(instance_id: int) -> dict:
    """Stored state of a completed case: JSON text length and its on-disk (possibly compressed) size."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT octet_length(state::text), pg_column_size(state) FROM engine_processinstance WHERE id = %s",
                       [instance_id])
        text_bytes, column_bytes = cursor.fetchone()
    return {"json_bytes": text_bytes, "pg_column_size": column_bytes}


if __name__ == "__main__":
    sys.exit(main())
