"""Production mode at full size, under load and faults: real Celery workers and beats (OS
processes), a Redis server of our own (tests/production.py starts it on a free port, so stopping it
touches nobody else's), PostgreSQL. Prints one JSON object; nothing here asserts on time, but every
guarantee's count is printed (and a broken one makes the run exit 1).

1. throughput: BENCH_PROD_CASES (1000) child-protection reports whose 24-hour response timer is
   past due, escalated by 1, 2 and 4 worker processes (prefork, one job at a time each; one sweep
   job sent per worker, beat nudging every second): escalations per second (each a persisted step:
   lock, workflow, escalation task, breach notice, audit, save), beside raw SpiffWorkflow in memory
   (whole child-protection cases, bench/step.py's RawSpiff) measured in the same run;
2. lag: under steady load (this process completing tasks all along), BENCH_PROD_LAG_PER_MINUTE (50)
   timers come due at each of the next BENCH_PROD_LAG_MINUTES (2) whole minutes; two workers and one
   beat sweeping every CASEFLOW_SWEEP_SECONDS (the default, 3): lag from due to fired, median, p95
   and max (target < 5 s);
3. timers due at one moment, two workers and two beats: every timer fired once, every escalation
   task and notice once, every instance advanced by exactly one step;
4. kills: workers SIGKILLed (the whole process group) while advancing BENCH_PROD_CASES instances, at
   least BENCH_PROD_KILLS (20) times: afterwards all advanced, nothing lost, sends repeated (the
   outbox is at least once with an idempotency key: a kill between a send and its commit repeats it);
5. Redis stopped for BENCH_PROD_OUTAGE_SECONDS (60) while timers come due and people complete tasks:
   nothing lost, seconds from Redis's return to the last due timer fired (one sweep is the target);
0. race: BENCH_PROD_RACERS (100) threads completing one child-protection intake at the same moment,
   BENCH_PROD_ROUNDS (20) rounds, at most BENCH_PROD_RACE_CONNECTIONS (40) database connections at
   once (PostgreSQL here allows 100 for everyone on the machine): one success and 99 clear refusals
   each round, the step applied once;
6. every worker down at the 24-hour escalation's due time, back BENCH_PROD_DOWN_SECONDS (20) later:
   how late the escalation fired (target: at most 60 s).

Run: `.venv/bin/python bench/production.py` with DATABASE_URL (PostgreSQL); BENCH_PROD_ONLY=lag,kills
runs some parts. It takes about 15 minutes on a quiet 2-core machine (the waits for whole minutes
are part of it).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

CASES = int(os.environ.get("BENCH_PROD_CASES", "1000"))
KILLS = int(os.environ.get("BENCH_PROD_KILLS", "20"))
LAG_MINUTES = int(os.environ.get("BENCH_PROD_LAG_MINUTES", "2"))
LAG_PER_MINUTE = int(os.environ.get("BENCH_PROD_LAG_PER_MINUTE", "50"))
OUTAGE_SECONDS = float(os.environ.get("BENCH_PROD_OUTAGE_SECONDS", "60"))
DOWN_SECONDS = float(os.environ.get("BENCH_PROD_DOWN_SECONDS", "20"))
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_PROD_WORKERS", "1,2,4").split(",")]
RACERS = int(os.environ.get("BENCH_PROD_RACERS", "100"))
ROUNDS = int(os.environ.get("BENCH_PROD_ROUNDS", "20"))
RACE_CONNECTIONS = int(os.environ.get("BENCH_PROD_RACE_CONNECTIONS", "40"))
ONLY = {p for p in os.environ.get("BENCH_PROD_ONLY", "").split(",") if p}
TEST_DB_NAME = os.environ.get("BENCH_PROD_DB", "test_caseflow_bench_production")
broken: list[str] = []


def part(name: str) -> bool:
    return not ONLY or name in ONLY


def check(ok: bool, what: str) -> bool:
    if not ok:
        broken.append(what)
    return ok


# -- set-up ------------------------------------------------------------------------------------------

def cases_due_at(users, count: int, due: dt.datetime) -> list[int]:
    """Reports whose 24-hour timer comes due at `due` (a whole minute), intake recorded."""
    import time_machine
    from django.utils import timezone

    received = due - dt.timedelta(hours=24)
    text = timezone.localtime(received).strftime("%Y-%m-%dT%H:%M")
    ids = []
    with time_machine.travel(received + dt.timedelta(seconds=5), tick=True):
        for _ in range(count):
            instance_id = common.cp_start(users, {"village": "dongshan", "received_at": text, "channel": "phone"})
            common.cp_complete(users, instance_id, "Task_Intake")
            ids.append(instance_id)
    return ids


def past_minute() -> dt.datetime:
    from django.utils import timezone

    return (timezone.now() - dt.timedelta(minutes=80)).replace(second=0, microsecond=0)


def next_minute(at_least_seconds: float) -> dt.datetime:
    from django.utils import timezone

    return (timezone.now() + dt.timedelta(seconds=at_least_seconds + 60)).replace(second=0, microsecond=0)


def sleep_until(moment: dt.datetime) -> None:
    from django.utils import timezone

    time.sleep(max(0.0, (moment - timezone.now()).total_seconds()))


def waiting(ids) -> int:
    from engine.models import Timer

    return Timer.objects.filter(instance_id__in=ids, bpmn_id="Timer_Response24h", status="waiting").count()


def fired_times(ids) -> list[dt.datetime]:
    from engine.models import Timer

    return list(Timer.objects.filter(instance_id__in=ids, bpmn_id="Timer_Response24h", status="fired").values_list("fired_at", flat=True))


def exactly_once(ids, revisions: dict[int, int]) -> dict:
    """The per-instance counts a guarantee is about (each should be len(ids), 0 or 1 as named)."""
    from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance

    now = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
    steps = [now[pk] - revisions[pk] for pk in ids]
    return {
        "instances": len(ids),
        "timers_unfired": waiting(ids),
        "escalation_tasks": HumanTask.objects.filter(instance_id__in=ids, bpmn_id="Task_SupervisorEscalation").count(),
        "breach_notices_queued": OutboxMessage.objects.filter(instance_id__in=ids, channel="sla.breach").count(),
        "timer_fired_audit_events": AuditEvent.objects.filter(instance_id__in=ids, kind="timer_fired", bpmn_id="Timer_Response24h").count(),
        "instances_advanced_by_exactly_one_step": sum(1 for s in steps if s == 1),
        "instances_half_or_twice_advanced": sum(1 for s in steps if s != 1),
    }


def all_once(counts: dict) -> bool:
    n = counts["instances"]
    return (counts["timers_unfired"] == 0 and counts["escalation_tasks"] == n and counts["breach_notices_queued"] == n
            and counts["timer_fired_audit_events"] == n and counts["instances_advanced_by_exactly_one_step"] == n)


def sends(notices_file, ids) -> dict:
    from engine.models import OutboxMessage
    from tests import production

    keys = set(OutboxMessage.objects.filter(instance_id__in=ids, channel="sla.breach").values_list("key", flat=True))
    sent = {key: n for (channel, key), n in production.notices(notices_file).items() if key in keys}
    return {"breach_notices_delivered": len(sent), "breach_sends_total": sum(sent.values()),
            "breach_sends_repeated": sum(sent.values()) - len(sent)}


class Fleet:
    """Our Redis, and the workers and beats started against it (stopped by close)."""

    def __init__(self, name: str):
        from django.db import connection

        from tests import production

        self.dir = Path(tempfile.mkdtemp(prefix=f"caseflow-bench-{name}-"))
        self.redis = production.OwnRedis().start()
        self.notices = self.dir / "notices.txt"
        self.env = production.environment(connection.settings_dict, self.redis.url, self.notices,
                                          sweep_seconds=float(os.environ.get("CASEFLOW_SWEEP_SECONDS", "3")), outbox_seconds=2)
        self.processes = []

    def worker(self, name: str):
        from tests import production

        process = production.worker(self.env, name, self.dir)
        self.processes.append(process)
        return process

    def beat(self, name: str, sweep_seconds: float | None = None):
        from tests import production

        env = self.env if sweep_seconds is None else {**self.env, "CASEFLOW_SWEEP_SECONDS": str(sweep_seconds)}
        process = production.beat(env, name, self.dir)
        self.processes.append(process)
        return process

    def send_sweeps(self, n: int):
        from celery import Celery

        client = Celery(broker=self.redis.url, set_as_current=False)
        for _ in range(n):
            client.send_task("engine.jobs.sweep_due_timers")

    def close(self):
        for process in self.processes:
            process.stop()
        self.redis.stop()


def wait_for(predicate, seconds: float) -> bool:
    from tests import production

    return production.wait_for(predicate, seconds, every=0.1)


def steady_load(users, stop: threading.Event, done: list) -> None:
    """People at work all along: start a report and record its intake, again and again."""
    from django.db import connection

    try:
        while not stop.is_set():
            instance_id = common.cp_start(users)
            common.cp_complete(users, instance_id, "Task_Intake")
            done.append(instance_id)
    finally:
        connection.close()


# -- the parts ---------------------------------------------------------------------------------------

def race(users) -> dict:
    from engine import api
    from engine.errors import AlreadyCompleted, ConcurrentUpdate
    from engine.models import AuditEvent, HumanTask, OutboxMessage, ProcessInstance
    from tests.threads import race as run_race

    rounds, seconds = [], []
    form = common.cp_form("Task_Intake")
    for _ in range(ROUNDS):
        instance_id = common.cp_start(users)
        task_id = common.open_task_id(instance_id, "Task_Intake")
        revision = ProcessInstance.objects.get(pk=instance_id).revision
        started = time.monotonic()
        outcomes = run_race(RACERS, lambda i: api.complete_task(task_id=task_id, data=form, actor=users["intake"]),
                            connections=RACE_CONNECTIONS)
        seconds.append(time.monotonic() - started)
        refusals = [v for k, v in outcomes if k == "error"]
        rounds.append({
            "successes": sum(1 for k, _ in outcomes if k == "ok"),
            "clear_refusals": sum(1 for v in refusals if isinstance(v, (AlreadyCompleted, ConcurrentUpdate)) and str(v)),
            "other_errors": [repr(v)[:200] for v in refusals if not isinstance(v, (AlreadyCompleted, ConcurrentUpdate))][:3],
            "steps_applied": ProcessInstance.objects.get(pk=instance_id).revision - revision,
            "completion_events": AuditEvent.objects.filter(instance_id=instance_id, kind="completed", task_id=task_id).count(),
            "police_notices": OutboxMessage.objects.filter(instance_id=instance_id, channel="partner.police").count(),
            "receipt_tasks": HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_PoliceReceipt").count(),
        })
    good = [r for r in rounds if r["successes"] == 1 and r["clear_refusals"] == RACERS - 1 and r["steps_applied"] == 1
            and r["completion_events"] == 1 and r["police_notices"] == 1 and r["receipt_tasks"] == 1]
    check(len(good) == ROUNDS, "race: a round without exactly one winner and clear refusals")
    return {"racers": RACERS, "rounds": ROUNDS, "max_connections": RACE_CONNECTIONS, "rounds_exactly_one_winner": len(good),
            "seconds_per_round_median": round(statistics.median(seconds), 2),
            "rounds_not_right": [r for r in rounds if r not in good][:3]}


def throughput(users) -> dict:
    from bench.step import STEPS, RawSpiff
    from engine.models import Timer

    raw = RawSpiff()
    raw.timed_cases(5)
    raw_ms = statistics.median(raw.timed_cases(50))
    result = {"raw_spiffworkflow_in_memory": {"ms_per_case": round(raw_ms, 3), "steps_per_case": len(STEPS) + 1,
                                              "steps_per_s": round(1000 * (len(STEPS) + 1) / raw_ms, 1)}}
    for count in WORKER_COUNTS:
        ids = cases_due_at(users, CASES, past_minute())
        fleet = Fleet(f"throughput{count}")
        try:
            workers = [fleet.worker(f"w{i}") for i in range(count)]
            time.sleep(8)  # let them boot before the clock starts
            started = time.monotonic()
            fleet.send_sweeps(count)
            fleet.beat("b1", sweep_seconds=1)
            done = wait_for(lambda: waiting(ids) == 0, 1800)
            elapsed = time.monotonic() - started
            fired = sorted(fired_times(ids))
            span = (fired[-1] - fired[0]).total_seconds() if len(fired) > 1 else elapsed
            check(done, f"throughput with {count} workers: timers left unfired")
            result[f"workers_{count}"] = {"escalations": len(fired), "seconds_from_send": round(elapsed, 1),
                                          "escalations_per_s": round(len(fired) / span, 1) if span else None,
                                          "alive": sum(w.alive() for w in workers)}
        finally:
            fleet.close()
        Timer.objects.filter(instance_id__in=ids).delete()  # keep later parts' sweeps to their own cases
    one = result.get("workers_1", {}).get("escalations_per_s")
    for count in WORKER_COUNTS[1:]:
        result[f"ratio_{count}_to_1_workers"] = common.ratio(result[f"workers_{count}"]["escalations_per_s"], one, 2)
    if one:
        result["ratio_1_worker_to_raw_steps_per_s"] = common.ratio(one, result["raw_spiffworkflow_in_memory"]["steps_per_s"], 4)
    return result


def lag(users) -> dict:
    fleet = Fleet("lag")
    stop, done = threading.Event(), []
    try:
        first = next_minute(at_least_seconds=40 + LAG_PER_MINUTE * 0.2)
        dues = [first + dt.timedelta(minutes=m) for m in range(LAG_MINUTES)]
        ids_by_due = {due: cases_due_at(users, LAG_PER_MINUTE, due) for due in dues}
        fleet.worker("w1")
        fleet.worker("w2")
        fleet.beat("b1")
        load = threading.Thread(target=steady_load, args=(users, stop, done))
        load.start()
        sleep_until(dues[-1])
        all_ids = [i for ids in ids_by_due.values() for i in ids]
        finished = wait_for(lambda: waiting(all_ids) == 0, 300)
        stop.set()
        load.join(120)
        check(finished, "lag: timers left unfired")
        from engine.models import Timer

        lags = [(fired - due).total_seconds() for due, ids in ids_by_due.items()
                for fired in Timer.objects.filter(instance_id__in=ids, bpmn_id="Timer_Response24h", status="fired").values_list("fired_at", flat=True)]
        return {"timers": len(lags), "due_moments": len(dues), "sweep_seconds": fleet.env["CASEFLOW_SWEEP_SECONDS"],
                "steady_load_cases_started_and_recorded": len(done),
                "lag_s": {"median": round(statistics.median(lags), 2), "p95": round(common.percentile(lags, 0.95), 2),
                          "max": round(max(lags), 2)} if lags else None,
                "target_s": "< 5"}
    finally:
        stop.set()
        fleet.close()


def one_moment(users) -> dict:
    from engine.models import ProcessInstance

    ids = cases_due_at(users, CASES, past_minute())
    revisions = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
    fleet = Fleet("one-moment")
    try:
        for name in ("w1", "w2"):
            fleet.worker(name)
        started = time.monotonic()
        for name in ("b1", "b2"):
            fleet.beat(name)
        check(wait_for(lambda: waiting(ids) == 0, 1800), "one moment: timers left unfired")
        elapsed = time.monotonic() - started
        wait_for(lambda: sends(fleet.notices, ids)["breach_notices_delivered"] == len(ids), 300)
        counts = exactly_once(ids, revisions) | sends(fleet.notices, ids)
        check(all_once(counts) and counts["breach_sends_repeated"] == 0 and counts["breach_notices_delivered"] == len(ids),
              "one moment: not exactly once")
        return {"workers": 2, "beats": 2, "seconds_to_fire_all_from_start": round(elapsed, 1), **counts}
    finally:
        fleet.close()


def kills(users) -> dict:
    from engine.models import ProcessInstance

    ids = cases_due_at(users, CASES, past_minute())
    revisions = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
    fleet = Fleet("kills")
    rng = random.Random(20)
    killed = 0
    try:
        fleet.beat("b1", sweep_seconds=1)
        worker = fleet.worker("w1")
        started = time.monotonic()
        from django.db import connection

        from tests import production

        while killed < KILLS and waiting(ids) > 0:
            # Kill this life of the worker while a sweep batch's transaction is open (sometimes a
            # little later, so batches also commit between kills).
            if not wait_for(lambda: production.sweeping(connection.settings_dict), 120):
                break
            time.sleep(rng.uniform(0.0, 1.5))
            worker.kill()
            killed += 1
            worker.start()
        check(wait_for(lambda: waiting(ids) == 0, 1800), "kills: timers left unfired")
        elapsed = time.monotonic() - started
        wait_for(lambda: sends(fleet.notices, ids)["breach_notices_delivered"] == len(ids), 300)
        counts = exactly_once(ids, revisions) | sends(fleet.notices, ids)
        check(all_once(counts) and counts["breach_notices_delivered"] == len(ids), "kills: lost or doubled")
        check(counts["breach_sends_repeated"] <= killed, "kills: more repeated sends than kills")
        return {"sigkills": killed, "steps": len(ids), "seconds": round(elapsed, 1), **counts}
    finally:
        fleet.close()


def redis_outage(users) -> dict:
    from django.utils import timezone

    from engine.models import HumanTask, ProcessInstance

    fleet = Fleet("redis")
    stop, done = threading.Event(), []
    try:
        fleet.worker("w1")
        fleet.worker("w2")
        fleet.beat("b1")
        # Timers that come due in the middle of the outage (a whole minute), and steady work all along.
        due = next_minute(at_least_seconds=30 + 0.1 * CASES / 4 + OUTAGE_SECONDS / 2)
        ids = cases_due_at(users, max(1, CASES // 4), due)
        revisions = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
        load = threading.Thread(target=steady_load, args=(users, stop, done))
        load.start()
        sleep_until(due - dt.timedelta(seconds=OUTAGE_SECONDS / 2))
        fleet.redis.stop()
        time.sleep(OUTAGE_SECONDS)
        fleet.redis.start()
        back = timezone.now()
        finished = wait_for(lambda: waiting(ids) == 0, 600)
        stop.set()
        load.join(120)
        check(finished, "redis: timers left unfired")
        wait_for(lambda: sends(fleet.notices, ids)["breach_notices_delivered"] == len(ids), 300)
        counts = exactly_once(ids, revisions) | sends(fleet.notices, ids)
        check(all_once(counts) and counts["breach_notices_delivered"] == len(ids), "redis: lost or doubled")
        intakes_lost = len(done) - HumanTask.objects.filter(instance_id__in=done, bpmn_id="Task_Intake", status="completed").count()
        check(intakes_lost == 0, "redis: a completion during the outage was lost")
        times = fired_times(ids)
        first, last = min(times), max(times)
        return {"outage_s": OUTAGE_SECONDS, "sweep_seconds": fleet.env["CASEFLOW_SWEEP_SECONDS"],
                # the first says when sweeping resumed (reconnection + the next beat); the last adds firing them all
                "seconds_from_redis_back_to_first_timer_fired": round((first - back).total_seconds(), 1),
                "seconds_from_redis_back_to_last_timer_fired": round((last - back).total_seconds(), 1),
                "lateness_of_last_timer_s": round((last - due).total_seconds(), 1),
                "completions_during_the_run": len(done), "completions_lost": intakes_lost, **counts}
    finally:
        stop.set()
        fleet.close()


def workers_down(users) -> dict:
    from engine.models import ProcessInstance

    fleet = Fleet("down")
    try:
        due = next_minute(at_least_seconds=40)
        ids = cases_due_at(users, 20, due)
        revisions = dict(ProcessInstance.objects.filter(pk__in=ids).values_list("pk", "revision"))
        workers = [fleet.worker("w1"), fleet.worker("w2")]
        fleet.beat("b1")
        sleep_until(due - dt.timedelta(seconds=5))
        for worker in workers:
            worker.kill()
        sleep_until(due + dt.timedelta(seconds=DOWN_SECONDS))
        for worker in workers:
            worker.start()
        check(wait_for(lambda: waiting(ids) == 0, 300), "workers down: timers left unfired")
        lateness = [(fired - due).total_seconds() for fired in fired_times(ids)]
        counts = exactly_once(ids, revisions)
        check(all_once(counts), "workers down: not exactly once")
        check(max(lateness) <= 60, "workers down: escalation more than 60 s late")
        return {"workers_back_after_due_s": DOWN_SECONDS, "sweep_seconds": fleet.env["CASEFLOW_SWEEP_SECONDS"],
                "lateness_s": {"min": round(min(lateness), 1), "max": round(max(lateness), 1)}, "target_max_s": 60, **counts}
    finally:
        fleet.close()


def main() -> int:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop our workers, beats and Redis
    common.require_postgres("production")
    common.configure()
    with common.test_database(TEST_DB_NAME):
        users = common.make_users()
        common.deploy_bundled(users)
        result = {"environment": common.environment(), "cases": CASES}
        for name, run in [("kills", kills), ("one_moment", one_moment), ("redis_outage", redis_outage), ("workers_down", workers_down),
                          ("lag", lag), ("throughput", throughput), ("race", race)]:
            if part(name):
                started = time.monotonic()
                result[name] = run(users)
                result[name]["bench_seconds"] = round(time.monotonic() - started, 1)
                print(f"# {name}: " + json.dumps(result[name], default=str, ensure_ascii=False), file=sys.stderr, flush=True)
        result["broken_guarantees"] = broken
        common.emit(result, "production: " + ("all guarantees held" if not broken else "BROKEN: " + "; ".join(broken)))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
