"""Timer sweep at township scale: 10,000 child-protection cases waiting for their 24-hour response,
all swept past the deadline with engine.api.fire_due_timers, by (a) one sweeper process, then (b)
two sweeper processes at once (each its own OS process and database connection) on a fresh set.

Set-up of each set: one case is started and its intake completed through the facade (so it waits
on Task_Respond with its 24-hour and 48-hour timers), then it is cloned set-based in SQL with fresh
ids — instance row and state, task rows, timer rows, audit events, case record
(common.clone_instances) — to BENCH_SWEEP_CASES instances in all. With BENCH_SWEEP_SETUP=facade
every case is instead started and taken through intake by the facade (slow: ~2 steps a case).

Each sweeper calls `fire_due_timers(as_of=<24h deadline + 1 min>, limit=BENCH_SWEEP_LIMIT)` in a
loop until a call claims nothing, timing every call. Timer.fired_at and the audit events' `at` are
the engine clock, frozen at as_of during a sweep, so they cannot time it: the cost per timer of
the first and the last 1,000 fired comes from the per-call wall times of all sweepers (each call's
timers spread over its duration: wall time until 1,000 had fired, and over the last 1,000).

Checks (counts through engine.models): every Timer_Response24h of the set fired exactly once (its
row is fired and it has exactly one timer_fired audit event), no 48-hour timer fired, each instance
has exactly one Task_SupervisorEscalation task, escalated audit events == 24-hour timers fired,
and the instances stepped more than once (revision rose by more than 1) or not at all.

Baseline in the same run: the bare durable step (common.Floor), per timer.

Before the first sweep, a probe fires a few timers inside a transaction that is rolled back: the
statements one sweep round issues per timer (kinds and tables; inside that outer transaction each
round's BEGIN/COMMIT shows as one more SAVEPOINT/RELEASE), and EXPLAIN ANALYZE of the claim with the
whole backlog due and again after the sweep, with nothing left (does it scan what was swept?).
Target from the issue: under 60 s for 10,000, flat cost per timer, no instance stepped twice.

Run: `make bench`, or `.venv/bin/python bench/sweep.py`. BENCH_SWEEP_CASES (default 10000) scales it;
BENCH_SWEEP_PROCESSES (default "1,2") chooses the runs; BENCH_SWEEP_LIMIT (500) is fire_due_timers' limit
(0: the facade's own default; then each call is one point of the first/last-1,000 windows).
"""
from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

from django.db.models import Count  # noqa: E402

CASES = int(os.environ.get("BENCH_SWEEP_CASES", "10000"))
MODES = [int(n) for n in os.environ.get("BENCH_SWEEP_PROCESSES", "1,2").split(",")]
LIMIT = int(os.environ.get("BENCH_SWEEP_LIMIT", "500"))
SETUP = os.environ.get("BENCH_SWEEP_SETUP", "clone")
WINDOW = int(os.environ.get("BENCH_SWEEP_WINDOW", "1000"))
TEST_DB_NAME = os.environ.get("BENCH_SWEEP_DB", "test_caseflow_bench_sweep")
TARGET_S = 60.0


def make_set(users, n: int) -> dict:
    """n cases waiting on Task_Respond; returns their ids, the revision they wait at and the sweep instant."""
    from engine.models import ProcessInstance, Timer

    started = time.perf_counter()
    if SETUP == "facade":
        ids = []
        for _ in range(n):
            instance_id = common.cp_start(users)
            common.cp_complete(users, instance_id, "Task_Intake")
            ids.append(instance_id)
        how = f"{n} started and taken through intake by the facade"
    else:
        instance_id = common.cp_start(users)
        common.cp_complete(users, instance_id, "Task_Intake")
        assert "Task_Respond" in {t.bpmn_id for t in common.open_tasks(instance_id)}
        ids = [instance_id] + (common.clone_instances(instance_id, n - 1) if n > 1 else [])
        how = f"1 started and taken through intake by the facade, {n - 1} cloned from it in SQL"
    revisions = set(ProcessInstance.objects.filter(pk__in=ids).values_list("revision", flat=True))
    assert len(revisions) == 1, revisions
    due = Timer.objects.filter(instance_id__in=ids, bpmn_id="Timer_Response24h", status="waiting")
    assert due.count() == n, due.count()
    deadline = max(due.values_list("due_at", flat=True))
    common.analyze()
    return {"ids": ids, "revision": revisions.pop(), "as_of": deadline + dt.timedelta(minutes=1), "how": how,
            "setup_seconds": round(time.perf_counter() - started, 1)}


def sweeper(index: int, barrier, as_of: dt.datetime, limit: int) -> dict:
    """One sweeping process: calls fire_due_timers until a call claims nothing."""
    from engine import api

    from django.db import connection

    connection.ensure_connection()
    common.freeze_heap()
    barrier.wait()
    calls = []
    while True:
        started = time.monotonic()
        result = api.fire_due_timers(as_of=as_of, **({"limit": limit} if limit else {}))
        ended = time.monotonic()
        calls.append({"start": started, "end": ended, "instances": result.instances, "fired": result.timers_fired,
                      "conflicts": result.conflicts})
        if result.instances == 0:
            break
    return {"process": index, "pid": os.getpid(), "calls": calls}


def windows(calls: list[dict], window: int) -> dict:
    """Wall-clock cost per timer of the first and the last `window` timers fired, all sweepers
    together. Each call's timers are spread evenly over its own duration, so calls of two processes
    that overlap are counted where they ran: F(t) = timers fired by time t; the first window ends
    where F = window, the last begins where F = total - window."""
    calls = [c for c in calls if c["fired"]]
    if not calls:
        return {}
    begin, end = min(c["start"] for c in calls), max(c["end"] for c in calls)
    total = sum(c["fired"] for c in calls)
    window = min(window, total)

    def fired_by(t: float) -> float:
        return sum(c["fired"] * min(1.0, max(0.0, (t - c["start"]) / max(1e-9, c["end"] - c["start"]))) for c in calls)

    def when(target: float) -> float:
        lo, hi = begin, end
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fired_by(mid) < target else (lo, mid)
        return hi

    first_s, last_s = when(window) - begin, end - when(total - window)
    first = {"timers": window, "seconds": round(first_s, 3), "ms_per_timer": round(first_s * 1000 / window, 3)}
    last = {"timers": window, "seconds": round(last_s, 3), "ms_per_timer": round(last_s * 1000 / window, 3)}
    return {"first": first, "last": last, "ratio_last_to_first": common.ratio(last["ms_per_timer"], first["ms_per_timer"], 2)}


def checks(the_set: dict) -> dict:
    from engine.models import AuditEvent, HumanTask, ProcessInstance, Timer

    ids, r0 = the_set["ids"], the_set["revision"]
    n = len(ids)
    timers = Timer.objects.filter(instance_id__in=ids)
    fired_24h = timers.filter(bpmn_id="Timer_Response24h", status="fired").count()
    fired_events = (AuditEvent.objects.filter(instance_id__in=ids, kind="timer_fired", bpmn_id="Timer_Response24h")
                    .values("instance_id").annotate(n=Count("id")))
    events_per_instance = [row["n"] for row in fired_events]
    escalations = (HumanTask.objects.filter(instance_id__in=ids, bpmn_id="Task_SupervisorEscalation")
                   .values("instance_id").annotate(n=Count("id")))
    escalation_counts = {row["instance_id"]: row["n"] for row in escalations}
    escalated = AuditEvent.objects.filter(instance_id__in=ids, kind="escalated", bpmn_id="Timer_Response24h").count()
    revisions = ProcessInstance.objects.filter(pk__in=ids)
    result = {
        "instances": n,
        "timer_24h_rows_fired": fired_24h,
        "timer_24h_rows_still_waiting": timers.filter(bpmn_id="Timer_Response24h", status="waiting").count(),
        "timer_fired_events_24h": sum(events_per_instance),
        "timers_with_more_than_one_fired_event": sum(1 for k in events_per_instance if k > 1),
        "timer_48h_fired_too_early": timers.filter(bpmn_id="Timer_Response48h").exclude(status="waiting").count(),
        "instances_with_exactly_one_supervisor_escalation": sum(1 for k in escalation_counts.values() if k == 1),
        "instances_with_more_than_one_supervisor_escalation": sum(1 for k in escalation_counts.values() if k > 1),
        "escalated_events_24h": escalated,
        "instances_stepped_more_than_once": revisions.filter(revision__gt=r0 + 1).count(),
        "instances_not_stepped": revisions.filter(revision=r0).count(),
        "instances_in_error": revisions.filter(status="error").count(),
    }
    # Each due timer fired once, with one escalation; no other timer touched.
    result["exactly_once"] = (
        fired_24h == n and result["timer_fired_events_24h"] == n and result["timers_with_more_than_one_fired_event"] == 0
        and result["instances_with_exactly_one_supervisor_escalation"] == n and escalated == fired_24h
        and result["timer_48h_fired_too_early"] == 0)
    # The target beyond correctness: one step per instance (an extra step fires nothing but rewrites the state).
    result["one_step_per_instance"] = result["instances_stepped_more_than_once"] == 0 and result["instances_not_stepped"] == 0
    return result


class _Rollback(Exception):
    pass


def probe(as_of: dt.datetime, limit: int = 5) -> dict:
    """What one sweep round costs in statements, and how the claim is planned with the whole
    backlog due: a few timers fired inside a transaction that is then rolled back (nothing stays)."""

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from engine import api

    out: dict = {}
    try:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as ctx:
                result = api.fire_due_timers(as_of=as_of, **({"limit": limit} if limit else {}))
            sqls = common.captured_sql(ctx)
            fired = max(1, result.timers_fired)
            claims = [q for q in sqls if common.statement_kind(q) == "SELECT FOR UPDATE" and "engine_timer" in q]
            out = {
                "timers_fired": result.timers_fired,
                "statements": len(sqls),
                "statements_per_timer": round(len(sqls) / fired, 1),
                **{k: v for k, v in common.statement_breakdown(sqls).items() if k != "total"},
            }
            if claims:
                out["claim_statement"] = common.abbreviate(claims[0], 600)
                out["_claim_sql"] = claims[0]
                out["claim_explain"] = explain_claim(claims[0])
            out["_selects"] = list(dict.fromkeys(q for q in sqls if common.statement_kind(q).startswith("SELECT")))
            out["selects_explained_before_sweep"] = explain_statements(out["_selects"])
            raise _Rollback
    except _Rollback:
        pass
    return out


def explain_statements(sqls: list[str], top: int = 5, big: int = 1000) -> list[dict]:
    """EXPLAIN ANALYZE of each SELECT a sweep round issued (rolled back), grouped by shape (literals
    and numbers elided): the slowest shapes, and every shape whose plan filters away `big` rows or
    more (a scan that grows with a table)."""
    import re

    groups: dict[str, dict] = {}
    for sql in sqls:
        info = explain_claim(sql)
        shape = re.sub(r"N(?:, N)+", "N…", re.sub(r"\b\d+\b", "N", re.sub(r"'(?:[^']|'')*'", "?", sql)))
        g = groups.setdefault(shape, {"statement": common.abbreviate(sql, 300), "times_in_probe": 0, "max_execution_ms": 0.0,
                                      "seq_scan": info["seq_scan"], "max_rows_removed_by_filter": 0, "indexes": info["indexes"]})
        g["times_in_probe"] += 1
        g["max_execution_ms"] = max(g["max_execution_ms"], info["execution_ms"] or 0.0)
        g["max_rows_removed_by_filter"] = max(g["max_rows_removed_by_filter"], info["rows_removed_by_filter"])
    rows = sorted(groups.values(), key=lambda g: -g["max_execution_ms"])
    return [g for i, g in enumerate(rows) if i < top or g["max_rows_removed_by_filter"] >= big]


def explain_claim(sql: str) -> dict:
    """EXPLAIN ANALYZE of the sweep's claim statement (in a transaction rolled back at once)."""
    import re

    from django.db import connection, transaction

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = [r[0] for r in cursor.fetchall()]
            raise _Rollback
    except _Rollback:
        pass
    text = "\n".join(plan)
    execution = re.search(r"Execution Time: ([\d.]+) ms", text)
    return {
        "execution_ms": float(execution.group(1)) if execution else None,
        "seq_scan": sorted(set(re.findall(r"Seq Scan on (\w+)", text))),
        "indexes": sorted(set(re.findall(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)", text))),
        "rows_removed_by_filter": sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", text)),
        "plan": plan,
    }


def run_sweep(users, processes: int, floor_ms: float, with_probe: bool = False) -> dict:
    the_set = make_set(users, CASES)
    probed = probe(the_set["as_of"]) if with_probe else None
    results = common.run_processes(sweeper, [(the_set["as_of"], LIMIT)] * processes)
    if probed and probed.get("_claim_sql"):
        # The same claim once the backlog is gone: what a sweep pays to find that nothing is left.
        probed["claim_explain_after_sweep"] = explain_claim(probed.pop("_claim_sql"))
    if probed and probed.get("_selects"):
        # The same statements against the tables the sweep grew (audit events, notifications, ...).
        probed["selects_explained_after_sweep"] = explain_statements(probed.pop("_selects"))
    calls = [c for r in results for c in r["calls"]]
    begin, end = min(c["start"] for c in calls), max(c["end"] for c in calls)
    total_s = end - begin
    fired = sum(c["fired"] for c in calls)
    per_call = [round((c["end"] - c["start"]) * 1000 / c["fired"], 2) for c in sorted(calls, key=lambda c: c["end"]) if c["fired"]]
    win = windows(calls, WINDOW)
    return {
        "processes": processes,
        "setup": the_set["how"],
        "setup_seconds": the_set["setup_seconds"],
        "total_seconds": round(total_s, 2),
        "timers_fired": fired,
        "instances_stepped": sum(c["instances"] for c in calls),
        "extra_steps": sum(c["instances"] for c in calls) - len(the_set["ids"]),
        "conflicts": sum(c["conflicts"] for c in calls),
        "calls": len(calls),
        "timers_per_s": round(fired / total_s, 1) if total_s else None,
        "ms_per_timer": round(total_s * 1000 / fired, 3) if fired else None,
        "ratio_ms_per_timer_to_floor_step": common.ratio(total_s * 1000 / fired, floor_ms, 1) if fired else None,
        f"first_{WINDOW}": win.get("first"),
        f"last_{WINDOW}": win.get("last"),
        "ratio_last_to_first_ms_per_timer": win.get("ratio_last_to_first"),
        "ms_per_timer_of_each_call": per_call,
        "call_log_start_end_s_fired_process": [
            [round(c["start"] - begin, 3), round(c["end"] - begin, 3), c["fired"], i]
            for i, r in enumerate(results) for c in r["calls"]],
        "fired_per_process": [sum(c["fired"] for c in r["calls"]) for r in results],
        "checks": checks(the_set),
        **({"probe_before_sweep": probed} if probed is not None else {}),
    }


def main() -> int:
    common.configure()
    common.require_postgres("sweep")
    with common.test_database(TEST_DB_NAME):
        users = common.make_users()
        common.deploy_bundled(users)
        floor = common.Floor()
        floor.timed(50)
        floors = [statistics.median(floor.timed(300))]
        runs = {}
        for processes in MODES:
            runs[processes] = run_sweep(users, processes, floors[-1], with_probe=not runs)
            floors.append(statistics.median(floor.timed(300)))
        floor_ms = statistics.median(floors)
        for i, r in enumerate(runs.values()):  # against the floor measured just before and just after that run
            around = (floors[i] + floors[i + 1]) / 2
            r["floor_step_ms_around_run"] = round(around, 3)
            r["ratio_ms_per_timer_to_floor_step"] = common.ratio(r["ms_per_timer"], around, 1) if r["ms_per_timer"] else None
        names = {1: "one_sweeper", 2: "two_sweepers"}
        result = {
            **common.environment(),
            "cases_per_set": CASES,
            "limit_per_call": LIMIT,
            "floor_step_median_ms_before_between_after": [round(f, 3) for f in floors],
            **{names.get(p, f"{p}_sweepers"): r for p, r in runs.items()},
            "target": f"< {TARGET_S:.0f} s for 10,000, flat cost per timer (ratio last/first ~1), no instance stepped twice",
        }
        if 1 in runs:
            result["meets_target_seconds_one_sweeper"] = runs[1]["total_seconds"] * 10000 / CASES < TARGET_S
        for p in runs:
            if p != 1 and 1 in runs:
                result[f"ratio_{p}_to_1_throughput"] = common.ratio(runs[1]["total_seconds"], runs[p]["total_seconds"], 2)
    common.emit(result, f"sweep of {CASES} (floor step {floor_ms:.2f} ms): " + "; ".join(
        f"{p} sweeper(s) {r['total_seconds']} s, {r['ms_per_timer']} ms/timer, last/first {r['ratio_last_to_first_ms_per_timer']}, "
        f"{r['conflicts']} conflicts, exactly once: {r['checks']['exactly_once']}, stepped twice: "
        f"{r['checks']['instances_stepped_more_than_once']}" for p, r in runs.items()))
    return 0 if all(r["checks"]["exactly_once"] for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
