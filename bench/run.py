"""Engine benchmark: numbers and ratios measured in one run (machines here are noisy).

1. raw SpiffWorkflow, in memory: whole child-protection cases per second (SpiffWorkflow's own
   script engine, no database) — the baseline;
2. the same path in memory with Caseflow's sandboxed expression engine;
3. the same path through engine/api.py with persistence on the configured database;
4. the inbox of one user with 10,000 open tasks in the database (median and p95 of 100 calls).

Run: `make bench` (PostgreSQL from TEST_DATABASE_URL), or
`DATABASE_URL=sqlite:///var/bench.sqlite3 python bench/run.py`. It creates and drops its own
test database (test_caseflow_bench_run, so a concurrent `make test` is never clobbered); nothing
else is touched. bench/step.py measures one step in detail (floor, statements, ratios).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import common  # noqa: E402  (sets up Django: scratch CASEFLOW_VAR_DIR, outbox queued to a memory broker)

from django.db import connection  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "40"))
RAW_CASES = int(os.environ.get("BENCH_RAW_CASES", "300"))
INBOX_TASKS = int(os.environ.get("BENCH_INBOX_TASKS", "10000"))
TEST_DB_NAME = os.environ.get("BENCH_RUN_DB", "test_caseflow_bench_run")
ORDER = ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan",
         "Task_ApprovePlan", "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]


def in_memory_cases(n: int, sandboxed: bool) -> float:
    """Whole cases per second, SpiffWorkflow alone (parsed spec reused, as the engine does): the
    same in-memory path as bench/step.py (RawSpiff), with SpiffWorkflow's or Caseflow's script engine."""
    from bench.step import RawSpiff

    raw = RawSpiff(sandboxed=sandboxed)
    raw.timed_cases(min(n, 5))  # warm
    return n / (sum(raw.timed_cases(n)) / 1000)


def persisted_cases(n: int, users) -> float:
    from tests.processes.child_protection.flows import run_whole_case

    run_whole_case(users)  # warm the spec cache and connections
    started = time.perf_counter()
    for _ in range(n):
        run_whole_case(users)
    return n / (time.perf_counter() - started)


def inbox_timings(users, total: int) -> tuple[float, float, int]:
    """Median and p95 (ms) of listing a worker's inbox with `total` open tasks in the table."""
    import datetime as dt

    from django.utils import timezone

    from engine import selectors
    from engine.models import HumanTask, ProcessDefinition, ProcessInstance

    definition = ProcessDefinition.objects.get(key="child_protection")
    now = timezone.now()
    instances = ProcessInstance.objects.bulk_create(
        ProcessInstance(definition=definition, process_key="child_protection", state={}, started_at=now, village="dongshan")
        for _ in range(total // 10)
    )
    groups = ["worker", "supervisor", "intake_desk", "civil_affairs", "reviewer"]
    rows = []
    for i in range(total):
        import uuid

        rows.append(HumanTask(
            instance=instances[i % len(instances)], spiff_task_id=uuid.uuid4(), bpmn_id="Task_Respond", name="24小时内响应",
            lane="社工 (worker)", candidate_group=groups[i % len(groups)], process_key="child_protection", village="dongshan",
            assignee=users["worker2"] if i % 7 == 0 else None, created_at=now, due_at=now + dt.timedelta(minutes=i),
        ))
    HumanTask.objects.bulk_create(rows, batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE engine_humantask")
    open_count = HumanTask.objects.filter(status="open").count()
    worker = users["worker"]
    samples = []
    for _ in range(100):
        started = time.perf_counter()
        page = selectors.tasks_for_user(worker, limit=50)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(page) == 50
    samples.sort()
    return statistics.median(samples), samples[94], open_count


def main() -> None:
    from engine import api
    from tests.conftest import make_user

    common.configure()
    with common.test_database(TEST_DB_NAME):
        users = {name: make_user(name, *roles) for name, roles in {
            "intake": ["intake_desk"], "worker": ["worker"], "worker2": ["worker"], "supervisor": ["supervisor"],
            "civil": ["civil_affairs"], "admin": ["admin"]}.items()}
        api.deploy_bundled(actor=users["admin"])

        raw = in_memory_cases(RAW_CASES, sandboxed=False)
        sandboxed = in_memory_cases(RAW_CASES, sandboxed=True)
        persisted = persisted_cases(CASES, users)
        median_ms, p95_ms, open_count = inbox_timings(users, INBOX_TASKS)
        result = {
            "database": connection.vendor,
            "raw_spiffworkflow_cases_per_s": round(raw, 1),
            "sandboxed_in_memory_cases_per_s": round(sandboxed, 1),
            "persisted_api_cases_per_s": round(persisted, 2),
            "ratio_persisted_to_raw": round(persisted / raw, 4),
            "ratio_sandboxed_to_raw": round(sandboxed / raw, 3),
            "steps_per_case": len(ORDER) + 1,
            "persisted_ms_per_step": round(1000 / persisted / (len(ORDER) + 1), 2),
            "inbox_open_tasks": open_count,
            "inbox_median_ms": round(median_ms, 2),
            "inbox_p95_ms": round(p95_ms, 2),
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
