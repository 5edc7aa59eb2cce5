"""Throughput of persisted steps with 1, 2 and 4 OS processes, each completing tasks of its own
cases on its own database connection: does the step path scale across processes, or does it
serialize on something shared?

Set-up: for every run, BENCH_THROUGHPUT_CASES (default 60) child-protection cases per process are
started through the facade (engine.api.start_instance) by the parent. Each forked process then
completes 2 warm-up intakes of its own, waits at a barrier with the others, and completes the
intake (Task_Intake, with its two service tasks and queued notices) of each of its cases through
engine.api.complete_task. Tasks/s = all tasks completed / (last end - first start).

Baseline in the same run: the bare durable step (common.Floor) with the same 1, 2 and 4 processes,
each on its own rows — how far this machine (2 cores, PostgreSQL on the same box) lets any durable
step scale.

The sequence 1, 2, 4 processes is repeated BENCH_THROUGHPUT_REPEATS (default 3) times, so other
load on the machine hits every configuration alike; each configuration reports the median and the
best of its repeats.

Prints tasks/s for 1, 2 and 4 processes and the ratios 2/1 and 4/1 (target: 2 processes >= 1.8x
one) of the medians and of the bests, with the floor's.

Run: `make bench`, or `.venv/bin/python bench/throughput.py`.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

CASES_PER_PROCESS = int(os.environ.get("BENCH_THROUGHPUT_CASES", "60"))
REPEATS = int(os.environ.get("BENCH_THROUGHPUT_REPEATS", "3"))
FLOOR_STEPS_PER_PROCESS = int(os.environ.get("BENCH_THROUGHPUT_FLOOR_STEPS", "1000"))
PROCESS_COUNTS = [int(n) for n in os.environ.get("BENCH_THROUGHPUT_PROCESSES", "1,2,4").split(",")]
WARMUP = 2
TEST_DB_NAME = os.environ.get("BENCH_THROUGHPUT_DB", "test_caseflow_bench_throughput")
TASK = "Task_Intake"


def intake_worker(index: int, barrier, users, warmup: list, measured: list) -> dict:
    from django.db import connection

    from engine import api

    form = common.cp_form(TASK)
    actor = users[common.CP_ACTOR[TASK]]
    connection.ensure_connection()
    for task_id in warmup:
        api.complete_task(task_id=task_id, data=form, actor=actor)
    common.freeze_heap()
    barrier.wait()
    samples = []
    started = time.monotonic()
    for task_id in measured:
        t0 = time.perf_counter()
        api.complete_task(task_id=task_id, data=form, actor=actor)
        samples.append((time.perf_counter() - t0) * 1000)
    return {"start": started, "end": time.monotonic(), "tasks": len(measured), "median_ms": statistics.median(samples)}


def floor_worker(index: int, barrier, floor, processes: int, steps: int) -> dict:
    from django.db import connection

    floor.next = index * (floor.rows // processes)  # its own rows: no lock waits between processes
    connection.ensure_connection()
    floor.timed(20)
    barrier.wait()
    started = time.monotonic()
    floor.timed(steps)
    return {"start": started, "end": time.monotonic(), "tasks": steps}


def rate(results: list[dict]) -> float:
    begin, end = min(r["start"] for r in results), max(r["end"] for r in results)
    return sum(r["tasks"] for r in results) / (end - begin)


def main() -> int:
    from engine.models import HumanTask

    common.configure()
    common.require_postgres("throughput")
    with common.test_database(TEST_DB_NAME):
        users = common.make_users()
        common.deploy_bundled(users)
        floor = common.Floor(rows=4000)
        common.analyze()
        runs: dict[int, list[dict]] = {p: [] for p in PROCESS_COUNTS}
        floor_runs: dict[int, list[float]] = {p: [] for p in PROCESS_COUNTS}
        for _ in range(REPEATS):
            for processes in PROCESS_COUNTS:
                floor_runs[processes].append(rate(common.run_processes(
                    floor_worker, [(floor, processes, FLOOR_STEPS_PER_PROCESS)] * processes)))
                args = []
                set_up = time.perf_counter()
                for _ in range(processes):
                    tasks = [common.open_task_id(common.cp_start(users), TASK) for _ in range(WARMUP + CASES_PER_PROCESS)]
                    args.append((users, tasks[:WARMUP], tasks[WARMUP:]))
                set_up_s = time.perf_counter() - set_up
                results = common.run_processes(intake_worker, args)
                all_ids = [t for a in args for t in a[1] + a[2]]
                done = HumanTask.objects.filter(pk__in=all_ids, status="completed").count()
                assert done == len(all_ids), (done, len(all_ids))
                runs[processes].append({
                    "tasks_per_s": round(rate(results), 2),
                    "tasks": sum(r["tasks"] for r in results),
                    "seconds": round(max(r["end"] for r in results) - min(r["start"] for r in results), 2),
                    "median_ms_per_task_by_process": [round(r["median_ms"], 2) for r in results],
                    "setup_seconds": round(set_up_s, 1),
                })
        median = {p: statistics.median(r["tasks_per_s"] for r in runs[p]) for p in PROCESS_COUNTS}
        best = {p: max(r["tasks_per_s"] for r in runs[p]) for p in PROCESS_COUNTS}
        floor_median = {p: statistics.median(floor_runs[p]) for p in PROCESS_COUNTS}
        floor_best = {p: max(floor_runs[p]) for p in PROCESS_COUNTS}
        one = PROCESS_COUNTS[0]
        result = {
            **common.environment(),
            "task": TASK,
            "cases_per_process": CASES_PER_PROCESS,
            "repeats": REPEATS,
            "tasks_per_s": {f"{p}_processes": {"median": round(median[p], 2), "best": round(best[p], 2),
                                               "each": [r["tasks_per_s"] for r in runs[p]]} for p in PROCESS_COUNTS},
            "ratios_of_medians": {f"{p}/{one}": common.ratio(median[p], median[one], 2) for p in PROCESS_COUNTS[1:]},
            "ratios_of_bests": {f"{p}/{one}": common.ratio(best[p], best[one], 2) for p in PROCESS_COUNTS[1:]},
            "floor_steps_per_s": {f"{p}_processes": {"median": round(floor_median[p], 1), "best": round(floor_best[p], 1)}
                                  for p in PROCESS_COUNTS},
            "floor_ratios_of_medians": {f"{p}/{one}": common.ratio(floor_median[p], floor_median[one], 2) for p in PROCESS_COUNTS[1:]},
            "floor_ratios_of_bests": {f"{p}/{one}": common.ratio(floor_best[p], floor_best[one], 2) for p in PROCESS_COUNTS[1:]},
            "median_ms_per_task_inside_each_process": {f"{p}_processes": [r["median_ms_per_task_by_process"] for r in runs[p]]
                                                       for p in PROCESS_COUNTS},
            "target": "2 processes >= 1.8x one",
        }
    common.emit(result, "throughput (median of repeats): " + ", ".join(f"{p} proc {median[p]:.1f} tasks/s" for p in PROCESS_COUNTS)
                + f"; ratios {result['ratios_of_medians']} (best {result['ratios_of_bests']}; floor {result['floor_ratios_of_medians']}); "
                "target 2/1 >= 1.8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
