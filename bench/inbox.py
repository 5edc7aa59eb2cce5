"""Inbox benchmark: server time of the inbox page ("/") through Django's test client and of the
facade's selector (engine.selectors.inbox) alone, with a realistic task table, read as ratios
against a trivial request measured in the same run.

1. its own test database (created, then dropped even on failure), villages, users, the bundled
   processes deployed;
2. 100,000 open human tasks and 1,000,000 completed ones over (open + done) / 10 instances, spread
   over the 7 villages and 5 candidate groups, ~10% of the open ones assigned, due dates in the
   past and the future (some overdue); the measured worker holds enough open and completed tasks
   for a 50th page of "mine" and "done". Rows are written with PostgreSQL COPY; then VACUUM ANALYZE
   (what autovacuum would have done on a live table);
3. 100 requests per inbox scenario as the worker of village dongshan — page 1 and page 50 of each
   tab (mine, group, overdue, done; page 50 reached by the pages' "next" cursors, and again by its
   bare number, `_offset`) and a filtered group page: median and p95 (ms) of the page and
   of `selectors.inbox` alone (a fresh user object each call, as a request has), SQL queries per
   request (page 1 and page 50 of a tab must issue the same number), the scenario's main
   (task-list) query timed alone, and its EXPLAIN ANALYZE (which index it uses, whether it scans);
4. baselines in the same run: the login page while logged out, and a `SELECT 1` round trip.
   Scenarios and baselines run interleaved, one of each per round, so that load from elsewhere on
   the machine shifts them alike: read the ratios, not the absolute milliseconds.

Run: `make bench`, or `.venv/bin/python bench/inbox.py` (PostgreSQL at DATABASE_URL).
Prints one JSON object. BENCH_INBOX_OPEN / BENCH_INBOX_DONE / BENCH_INBOX_REQUESTS scale it down.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

OPEN_TASKS = int(os.environ.get("BENCH_INBOX_OPEN", "100000"))
DONE_TASKS = int(os.environ.get("BENCH_INBOX_DONE", "1000000"))
INSTANCES = max(1, (OPEN_TASKS + DONE_TASKS) // 10)
PER_PAGE = 25
DEEP_PAGE = 50
# The measured worker holds at least this many open and completed tasks, so page 50 has rows.
WORKER_MIN_ROWS = int(os.environ.get("BENCH_INBOX_WORKER_MIN", str(DEEP_PAGE * PER_PAGE + 50)))
REQUESTS = int(os.environ.get("BENCH_INBOX_REQUESTS", "100"))
WARMUP = 5
SLOW_P95_MS = 50.0
SEED = 20260401
# Its own database name, so a concurrent `make test` (test_caseflow) is never clobbered.
TEST_DB_NAME = os.environ.get("BENCH_INBOX_DB", "test_caseflow_bench_inbox")

# Bigger and smaller villages; a few township-level cases have no village ("").
VILLAGE_WEIGHTS = {"dongshan": 22, "xishui": 18, "nanling": 15, "zhongxin": 14, "beipo": 13, "hetang": 10, "qingshi": 8}
TOWNSHIP_LEVEL_SHARE = 0.02
GROUP_WEIGHTS = {"worker": 45, "supervisor": 15, "intake_desk": 15, "civil_affairs": 15, "reviewer": 10}
ASSIGNED_SHARE = 0.10

TABS = ("mine", "group", "overdue", "done")
SCENARIOS = {}
for _tab in TABS:
    SCENARIOS[_tab] = f"/?tab={_tab}"
    SCENARIOS[f"{_tab}_page_{DEEP_PAGE}"] = f"/?tab={_tab}&page={DEEP_PAGE}"
SCENARIOS["group_dongshan_due_soon"] = "/?tab=group&village=dongshan&sla=due_soon"


def _selector_args(url: str) -> dict:
    from urllib.parse import parse_qs, urlsplit

    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return {"tab": q.get("tab", "mine"), "village": q.get("village", ""), "sla": q.get("sla", ""),
            "page": int(q.get("page", 1)), "per_page": PER_PAGE, "after": q.get("after", "")}


def follow_cursors(worker) -> None:
    """Page 50 as people reach it: by the "next" links, each carrying the last row's cursor. Walk
    pages 1-49 of each tab once (untimed) and measure page 50 with that cursor; the same page by
    its bare number (offset, as a typed address still works) is kept as `<tab>_page_50_offset`."""
    from urllib.parse import quote

    from engine import selectors

    for tab in TABS:
        page = selectors.inbox(worker, tab=tab, per_page=PER_PAGE)
        while page.page < DEEP_PAGE - 1 and page.next_cursor:
            page = selectors.inbox(worker, tab=tab, per_page=PER_PAGE, page=page.page + 1, after=page.next_cursor)
        deep = f"{tab}_page_{DEEP_PAGE}"
        SCENARIOS[deep + "_offset"] = SCENARIOS[deep]
        if page.next_cursor:
            SCENARIOS[deep] = f"/?tab={tab}&page={DEEP_PAGE}&after={quote(page.next_cursor)}"


def _ms(samples: list[float]) -> dict:
    samples = sorted(samples)
    p95 = samples[max(0, int(round(0.95 * len(samples))) - 1)]
    return {"median_ms": round(statistics.median(samples), 2), "p95_ms": round(p95, 2)}


def make_users():
    spec = {
        "worker": (["worker"], ["dongshan"]),  # the measured user
        "worker2": (["worker"], ["dongshan"]),
        "worker_xishui": (["worker"], ["xishui"]),
        "worker_nanling": (["worker"], ["nanling", "beipo"]),
        "worker_east": (["worker"], ["zhongxin", "hetang", "qingshi"]),
        "intake": (["intake_desk"], ["dongshan", "xishui", "nanling"]),
        "intake2": (["intake_desk"], ["beipo", "zhongxin", "hetang", "qingshi"]),
        "supervisor": (["supervisor"], None),
        "civil": (["civil_affairs"], None),
        "reviewer": (["reviewer"], None),
        "admin": (["admin"], None),
    }
    return common.make_users(spec)


def populate(users) -> dict:
    """Bulk-insert instances (bulk_create), open and completed tasks (COPY); VACUUM ANALYZE; return
    what was made."""
    from django.utils import timezone

    from engine.models import HumanTask, ProcessDefinition, ProcessInstance, TaskStatus
    from tests.processes.child_protection.flows import FORMS

    rng = random.Random(SEED)
    now = timezone.now()
    definition = ProcessDefinition.objects.filter(key="child_protection").order_by("-version").first()
    # Realistic task names per group from the deployed definition; reviewer has no lane there.
    by_group: dict[str, list[tuple[str, str, str]]] = {}
    for bpmn_id, info in definition.user_tasks.items():
        by_group.setdefault(info["candidate_group"], []).append((bpmn_id, info["name"], info["lane"]))
    by_group.setdefault("reviewer", [("Task_Review", "复核个案", "复核 (reviewer)")])
    for group in GROUP_WEIGHTS:
        by_group.setdefault(group, [(f"Task_{group}", group, group)])

    villages, v_weights = list(VILLAGE_WEIGHTS), list(VILLAGE_WEIGHTS.values())
    groups, g_weights = list(GROUP_WEIGHTS), list(GROUP_WEIGHTS.values())
    # Who may hold a task of (group, village): the people of that role working there.
    holders: dict[tuple[str, str], list] = {}
    for user in users.values():
        user_roles = set(user.groups.values_list("name", flat=True))
        profile = user.staff_profile
        scope = None if profile.township_wide else set(profile.villages.values_list("code", flat=True))
        for group in user_roles & set(groups):
            for village in villages + [""]:
                if scope is None or village in scope or village == "":
                    holders.setdefault((group, village), []).append(user.pk)
    everyone = [u.pk for u in users.values()]
    worker_id = users["worker"].pk

    started = time.perf_counter()
    instances = []
    for i in range(INSTANCES):
        village = "" if rng.random() < TOWNSHIP_LEVEL_SHARE else rng.choices(villages, v_weights)[0]
        started_at = now - dt.timedelta(days=rng.uniform(0, 120))
        instances.append(ProcessInstance(
            definition=definition, process_key="child_protection", state={}, village=village,
            subject=f"CP-2026-{i + 1:05d}", started_by=users["intake"], started_at=started_at,
        ))
    instances = [(p.pk, p.village) for p in ProcessInstance.objects.bulk_create(instances, batch_size=5000)]
    instances_s = time.perf_counter() - started

    def due_offset() -> dt.timedelta | None:
        r = rng.random()
        if r < 0.05:
            return None  # no deadline
        if r < 0.30:
            return -dt.timedelta(minutes=rng.uniform(1, 14 * 24 * 60))  # overdue, up to two weeks
        if r < 0.45:
            return dt.timedelta(minutes=rng.uniform(1, 24 * 60))  # due within a day
        return dt.timedelta(minutes=rng.uniform(24 * 60, 30 * 24 * 60))

    def task(instance, status) -> dict:
        group = rng.choices(groups, g_weights)[0]
        bpmn_id, name, lane = rng.choice(by_group[group])
        return {"instance_id": instance[0], "spiff_task_id": uuid.UUID(int=rng.getrandbits(128), version=4), "bpmn_id": bpmn_id,
                "name": name, "lane": lane, "candidate_group": group, "process_key": "child_protection",
                "village": instance[1], "status": status}

    started = time.perf_counter()
    rows = []
    assigned_to_worker = 0
    worker_claimable = []
    for i in range(OPEN_TASKS):
        row = task(instances[i % len(instances)], TaskStatus.OPEN)
        offset = due_offset()
        row["due_at"] = None if offset is None else now + offset
        created = (row["due_at"] or now) - dt.timedelta(hours=rng.choice([24, 72, 168, 336]))
        row["created_at"] = min(created, now - dt.timedelta(minutes=1))
        if row["due_at"] is not None and row["due_at"] < now and rng.random() < 0.8:
            row["sla_breached_at"] = row["due_at"]
        if rng.random() < ASSIGNED_SHARE:
            row["assignee_id"] = rng.choice(holders.get((row["candidate_group"], row["village"])) or everyone)
            assigned_to_worker += row["assignee_id"] == worker_id
        elif row["candidate_group"] == "worker" and row["village"] in ("dongshan", ""):
            worker_claimable.append(row)
        if rng.random() < 0.05:  # a saved draft: the list must not pay for it
            row["draft_data"] = FORMS.get(row["bpmn_id"], {"note": "草稿"})
        rows.append(row)
    # Enough of the worker's own for a 50th page of "mine" (taken from what the worker could claim).
    rng.shuffle(worker_claimable)
    while assigned_to_worker < WORKER_MIN_ROWS and worker_claimable:
        worker_claimable.pop()["assignee_id"] = worker_id
        assigned_to_worker += 1
    common.copy_rows(HumanTask, rows)
    open_s = time.perf_counter() - started

    started = time.perf_counter()
    done_by_worker = 0
    worker_share = min(1.0, WORKER_MIN_ROWS / max(1, DONE_TASKS))  # at least enough for page 50 of "done"

    def done_rows():
        nonlocal done_by_worker
        for i in range(DONE_TASKS):
            instance = instances[(i * 7) % len(instances)]
            completed_at = now - dt.timedelta(minutes=rng.uniform(5, 180 * 24 * 60))
            row = task(instance, TaskStatus.COMPLETED)
            row["created_at"] = completed_at - dt.timedelta(hours=rng.uniform(1, 72))
            row["completed_at"] = completed_at
            row["form_data"] = FORMS.get(row["bpmn_id"], {"decision": "approve", "note": "同意"})
            row["due_at"] = row["created_at"] + dt.timedelta(hours=rng.choice([24, 72, 168]))
            if rng.random() < worker_share:
                row["completed_by_id"] = worker_id
            else:
                row["completed_by_id"] = rng.choice(holders.get((row["candidate_group"], row["village"])) or everyone)
            row["assignee_id"] = row["completed_by_id"]
            done_by_worker += row["completed_by_id"] == worker_id
            yield row

    common.copy_rows(HumanTask, done_rows())
    done_s = time.perf_counter() - started

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (HumanTask._meta.db_table, ProcessInstance._meta.db_table):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
        cursor.execute("ANALYZE")
        cursor.execute("SELECT pg_total_relation_size('engine_humantask'), pg_relation_size('engine_humantask')")
        total_bytes, heap_bytes = cursor.fetchone()
    vacuum_s = time.perf_counter() - started
    open_qs = HumanTask.objects.filter(status=TaskStatus.OPEN)
    return {
        "instances": len(instances),
        "open_tasks": open_qs.count(),
        "completed_tasks": HumanTask.objects.filter(status=TaskStatus.COMPLETED).count(),
        "open_assigned": open_qs.filter(assignee__isnull=False).count(),
        "open_overdue": open_qs.filter(due_at__lt=now).count(),
        "worker_assigned_open": assigned_to_worker,
        "worker_claimable_open": open_qs.filter(assignee__isnull=True, candidate_group="worker", village__in=["dongshan", ""]).count(),
        "worker_completed": done_by_worker,
        "humantask_table_mb": round(total_bytes / 2**20), "humantask_heap_mb": round(heap_bytes / 2**20),
        "seconds": {"instances": round(instances_s, 1), "open_copy": round(open_s, 1), "done_copy": round(done_s, 1),
                    "vacuum_analyze": round(vacuum_s, 1)},
    }


def _main_queries(queries: list[str]) -> list[str]:
    """The task-list queries of a request: one, or two when a page runs past the last row with a
    deadline into those without one (each part is its own index range)."""
    sqls = [q for q in queries if 'FROM "engine_humantask"' in q and " LIMIT " in q]
    assert len(sqls) in (1, 2), f"expected one or two task-list queries, got {len(sqls)}"
    return sqls


def explain(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [r[0] for r in cursor.fetchall()]
    text = "\n".join(plan)
    task_indexes = sorted(set(re.findall(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)", text)))
    execution = re.search(r"Execution Time: ([\d.]+) ms", text)
    return {
        "indexes": task_indexes,
        "seq_scan_on_humantask": bool(re.search(r"Seq Scan on engine_humantask", text)),
        "uses_open_task_index": any(i.startswith("open_task_") for i in task_indexes),
        "sort": sorted(set(re.findall(r"Sort Method: (top-N heapsort|quicksort|external merge|external sort)", text))),
        "execution_ms": float(execution.group(1)) if execution else None,
        "plan": plan,
    }


def _run_sql(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.fetchall()


def measure(users) -> dict:
    """Interleaved rounds (every scenario and both baselines once per round), so a noisy neighbour
    slows all of them alike and the ratios stay readable."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from engine import selectors

    worker = users["worker"]
    follow_cursors(get_user_model().objects.get(pk=worker.pk))
    anon = Client()
    client = Client()
    client.force_login(worker)

    def login_page():
        response = anon.get("/accounts/login/")
        assert response.status_code == 200, response.status_code

    def select_1():
        _run_sql("SELECT 1")

    def getter(url):
        def get():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response
        return get

    def selector(url):
        kwargs = _selector_args(url)

        def call():
            user = get_user_model().objects.get(pk=worker.pk)  # fresh, as each request has (untimed)
            started = time.perf_counter()
            selectors.inbox(user, **kwargs)
            return (time.perf_counter() - started) * 1000
        return call

    # The first request of a fresh login writes its session once (BEGIN, UPDATE django_session,
    # COMMIT): a cost of the login, not of the page it happens to be, so it is made before counting.
    getter("/")()
    # One captured request per scenario: light checks, queries per request, the main SQL.
    info = {}
    for name, url in SCENARIOS.items():
        with CaptureQueriesContext(connection) as captured:
            response = getter(url)()
        queries = [q["sql"] for q in captured.captured_queries]  # read now: the next request resets the log
        page = response.context["page"]
        assert response.content.count(b'class="task"') == len(page.tasks), f"rows not rendered for {url}"
        sqls = _main_queries(queries)
        info[name] = {"url": url, "queries_per_request": len(queries),
                      "query_tables": [re.search(r'FROM "(\w+)"', q).group(1) if 'FROM "' in q else q[:30] for q in queries],
                      "tab_shown": page.tab, "page": page.page, "rows_on_page": len(page.tasks), "has_next": page.has_next,
                      "task_list_queries": len(sqls), "_sql": sqls}

    calls = {"login_page": login_page, "select_1": select_1}
    for name, url in SCENARIOS.items():
        calls[name] = getter(url)
        calls[name + "/selector"] = selector(url)
        calls[name + "/main_query"] = (lambda sqls: lambda: [_run_sql(sql) for sql in sqls])(info[name]["_sql"])
    samples: dict[str, list[float]] = {key: [] for key in calls}
    for round_no in range(WARMUP + REQUESTS):
        for key, fn in calls.items():
            started = time.perf_counter()
            own = fn()
            elapsed = (time.perf_counter() - started) * 1000
            if round_no >= WARMUP:
                samples[key].append(own if isinstance(own, float) else elapsed)

    baseline_login = _ms(samples["login_page"])
    results = {}
    for name in SCENARIOS:
        r = info[name]
        timing, db, sel = _ms(samples[name]), _ms(samples[name + "/main_query"]), _ms(samples[name + "/selector"])
        plan = explain(r.pop("_sql")[0])
        if name != "group" and timing["p95_ms"] <= SLOW_P95_MS and plan["execution_ms"] < 5:
            plan.pop("plan")  # full plans only for the group tab and where time goes
        results[name] = {
            "url": r["url"], **timing,
            "ratio_median_to_login_page": round(timing["median_ms"] / baseline_login["median_ms"], 2),
            "selector_median_ms": sel["median_ms"], "selector_p95_ms": sel["p95_ms"],
            "main_query_median_ms": db["median_ms"], "main_query_p95_ms": db["p95_ms"],
            "rest_of_request_median_ms": round(timing["median_ms"] - db["median_ms"], 2),
            **{k: v for k, v in r.items() if k != "url"},
            "explain": plan,
        }

    deep = f"_page_{DEEP_PAGE}"
    per_page = {tab: {"page_1": results[tab]["queries_per_request"], f"page_{DEEP_PAGE}": results[tab + deep]["queries_per_request"]}
                for tab in TABS}
    return {
        "baseline": {"login_page_logged_out": baseline_login, "select_1_round_trip": _ms(samples["select_1"])},
        "scenarios": results,
        "table": {name: {k: results[name][k] for k in ("median_ms", "p95_ms", "selector_median_ms", "selector_p95_ms",
                                                        "main_query_median_ms", "rows_on_page")}
                  | {"indexes": results[name]["explain"]["indexes"], "seq_scan": results[name]["explain"]["seq_scan_on_humantask"],
                     "sort": results[name]["explain"]["sort"], "explain_ms": results[name]["explain"]["execution_ms"]}
                  for name in SCENARIOS},
        "queries_per_request_by_tab": per_page,
        "queries_page_1": results["group"]["queries_per_request"],
        "queries_page_50": results["group" + deep]["queries_per_request"],
        # page 50 may add the second part of a page that runs past the last deadline, nothing else
        "queries_fixed_per_page": all(v[f"page_{DEEP_PAGE}"] - v["page_1"] in (0, 1) for v in per_page.values()),
        "slow_scenarios_p95_over_50ms": [n for n, r in results.items() if r["p95_ms"] > SLOW_P95_MS],
        "deep_pages_without_rows": [n for n, r in results.items() if n.endswith(deep) and not r["rows_on_page"]],
    }


def main() -> int:
    from engine import api

    common.configure()
    common.require_postgres("inbox")
    common.collect_static()
    with common.test_database(TEST_DB_NAME):
        started = time.perf_counter()
        users = make_users()
        api.deploy_bundled(actor=users["admin"])
        data = populate(users)
        common.freeze_heap()  # the set-up's objects are not a server's heap: keep them out of the timed GC passes
        setup_s = time.perf_counter() - started
        result = {
            **common.environment(),
            "requests_per_scenario": REQUESTS,
            "data": data,
            "setup_seconds": round(setup_s, 1),
            **measure(users),
        }
    table = result["table"]
    common.emit(result, "inbox over {open} open / {done} done: ".format(open=data["open_tasks"], done=data["completed_tasks"]) + "; ".join(
        f"{name} {t['median_ms']}/{t['p95_ms']} ms (selector {t['selector_median_ms']})" for name, t in table.items())
        + f"; login page {result['baseline']['login_page_logged_out']['median_ms']} ms; fixed queries per page: "
        f"{result['queries_fixed_per_page']}")
    return 0 if result["queries_fixed_per_page"] else 1


if __name__ == "__main__":
    sys.exit(main())
