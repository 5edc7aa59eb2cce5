"""Engine benchmark: numbers and ratios measured in one run (machines here are noisy).

1. raw SpiffWorkflow, in memory: whole child-protection cases per second (SpiffWorkflow's own
   script engine, no database) — the baseline;
2. the same path in memory with Caseflow's sandboxed expression engine;
3. the same path through engine/api.py with persistence on the configured database;
4. the inbox of one user with 10,000 open tasks in the database (median and p95 of 100 calls).

Run: `make bench` (PostgreSQL from TEST_DATABASE_URL), or
`DATABASE_URL=sqlite:///var/bench.sqlite3 python bench/run.py`. It creates and drops its own
test database; nothing else is touched.
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "40"))
RAW_CASES = int(os.environ.get("BENCH_RAW_CASES", "300"))
INBOX_TASKS = int(os.environ.get("BENCH_INBOX_TASKS", "10000"))
ORDER = ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan",
         "Task_ApprovePlan", "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]


def in_memory_cases(n: int, sandboxed: bool) -> float:
    """Whole cases per second, SpiffWorkflow alone (parsed spec reused, as the engine does)."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.util.task import TaskState

    from engine.spiff.scripting import ExpressionEngine
    from tests.processes.child_protection.flows import FORMS

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(ROOT / "processes" / "bpmn" / "child_protection.bpmn"))
    spec, subs = parser.get_spec("child_protection"), parser.get_subprocess_specs("child_protection")

    class RawEngine(PythonScriptEngine):
        def call_service(self, task, **kwargs):
            return "{}"

    variables = {"present_danger": True, "plan_decision": "approve", "needs_more_followup": False}
    started = time.perf_counter()
    for _ in range(n):
        engine = ExpressionEngine(service_caller=lambda task, name, params: "{}") if sandboxed else RawEngine()
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.do_engine_steps()
        for bpmn_id in ORDER:
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)
            task.data.update({k: v for k, v in FORMS[bpmn_id].items() if k in variables})
            task.run()
            wf.do_engine_steps()
        assert wf.is_completed()
    return n / (time.perf_counter() - started)


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

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CASEFLOW_NOTIFIER_BACKEND = "integrations.notifications.backends.LocmemNotifier"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
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
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
