"""Pages under many users on loopback, with locust (bench/locustfile.py), against gunicorn as
production runs it (deploy/gunicorn.conf.py) on PostgreSQL.

1. pages: BENCH_WEB_USERS (100) social workers reading the inbox (mine, group) and task pages for
   BENCH_WEB_SECONDS (60): median and p95 per page (target p95 < 300 ms on a 2-core machine), and,
   as the baseline measured in the same run, /healthz (no database work beyond the session and
   the user) under the same load. Once for each pace in BENCH_WEB_PACES ("low-high" seconds between
   a person's answer and their next click; "1-5,0.5-1.5" by default): "1-5", locust's own example
   pace and still brisk for someone reading a case, asks for about 33 pages/s; "0.5-1.5" for about
   100 pages/s, more than 2 cores serve (about 80), so there every answer queues. The two show the
   pages' cost when the server keeps up and how they wait when it cannot;
2. race: the same number of people for the same time claiming and completing the group's open
   response tasks (90 %) and supervisors reassigning them (10 %), all on the same BENCH_WEB_TASKS
   (200) tasks: no 5xx, no lost update (every completion the server confirmed is the task's one
   completion, by that person, with one audit event), no task in two people's inboxes.

Numbers are of the steady state: locust starts BENCH_WEB_USERS / 5 people a second and its figures
are reset once all have started (`--reset-stats`); while it starts them, locust itself takes most
of a core and every answer looks slow.

The server: WEB_CONCURRENCY (4) gunicorn sync workers on a free port; locust runs beside it on the
same 2 cores (read the numbers with that in mind, and with the load average printed).

Run: `.venv/bin/python bench/web.py` with DATABASE_URL (PostgreSQL). Scale down with BENCH_WEB_USERS,
BENCH_WEB_SECONDS, BENCH_WEB_TASKS.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

USERS = int(os.environ.get("BENCH_WEB_USERS", "100"))
SECONDS = int(os.environ.get("BENCH_WEB_SECONDS", "60"))
TASKS = int(os.environ.get("BENCH_WEB_TASKS", "200"))
WEB_CONCURRENCY = os.environ.get("WEB_CONCURRENCY", "4")
TEST_DB_NAME = os.environ.get("BENCH_WEB_DB", "test_caseflow_bench_web")
PACES = [p.strip() for p in os.environ.get("BENCH_WEB_PACES", "1-5,0.5-1.5").split(",") if p.strip()]
ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def people() -> dict:
    spec = {"intake": (["intake_desk"], ["dongshan"]), "admin": (["admin"], None)}
    spec |= {f"w{i:03d}": (["worker"], ["dongshan"]) for i in range(USERS)}
    spec |= {f"s{i:02d}": (["supervisor"], None) for i in range(max(2, USERS // 10))}
    return spec


def plan(users, workdir: Path) -> dict:
    from tests.conftest import PASSWORD

    task_ids = []
    for _ in range(TASKS):
        instance_id = common.cp_start(users)
        common.cp_complete(users, instance_id, "Task_Intake")
        task_ids.append(common.open_task_id(instance_id, "Task_Respond"))
    respond = {k: v for k, v in common.cp_form("Task_Respond").items()}
    respond = {k: ("true" if v is True else v) for k, v in respond.items()}
    # Signed in before the clock starts: a sign-in costs a deliberately slow password hash (Django's
    # PBKDF2), which would otherwise fill the minute on 2 cores; the pages are what is measured.
    from django.contrib.auth import get_user_model
    from django.test import Client

    sessions = {}
    for user in get_user_model().objects.filter(username__regex=r"^(w\d{3}|s\d{2})$"):
        client = Client()
        client.force_login(user)
        sessions[user.username] = client.cookies["sessionid"].value
    result = {"password": PASSWORD, "sessions": sessions, "tasks": task_ids, "respond_form": respond,
              "workers": [n for n in users if n.startswith("w")], "supervisors": [n for n in users if n.startswith("s")]}
    (workdir / "plan.json").write_text(json.dumps(result, ensure_ascii=False))
    return result


def serve(workdir: Path, port: int) -> subprocess.Popen:
    from django.db import connection

    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "CASEFLOW_HTTPS": "0", "CASEFLOW_REQUIRE_2FA": "0", "ALLOWED_HOSTS": "127.0.0.1",
           "CASEFLOW_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": WEB_CONCURRENCY, "CASEFLOW_LOGIN_FAILURE_LIMIT": "100000",
           "CASEFLOW_LOG_LEVEL": "WARNING", "CASEFLOW_NOTIFIER_BACKEND": "integrations.notifications.backends.LogNotifier"}
    env.pop("CELERY_BROKER_URL", None)
    log = open(workdir / "gunicorn.log", "ab")
    server = subprocess.Popen([str(VENV_BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "portal.wsgi:application"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start: " + (workdir / "gunicorn.log").read_text()[-2000:])


def run_locust(workdir: Path, port: int, name: str, classes: list[str], think: str = "0.5-1.5") -> dict:
    env = {**os.environ, "BENCH_WEB_PLAN": str(workdir / "plan.json"), "BENCH_WEB_LOG": str(workdir / f"{name}.jsonl"),
           "BENCH_WEB_THINK": think}
    subprocess.run([str(VENV_BIN / "locust"), "-f", "bench/locustfile.py", "--headless", "-u", str(USERS), "-r", str(max(1, USERS // 5)),
                    "-t", f"{SECONDS}s", "--host", f"http://127.0.0.1:{port}", "--csv", str(workdir / name), "--only-summary", "--reset-stats",
                    "--loglevel", "WARNING", *classes], cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stats = {}
    with open(workdir / f"{name}_stats.csv") as f:
        for row in csv.DictReader(f):
            stats[row["Name"]] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                                  "median_ms": float(row["Median Response Time"] or 0), "p95_ms": float(row["95%"] or 0),
                                  "requests_per_s": round(float(row["Requests/s"] or 0), 1)}
    failures = []
    if (workdir / f"{name}_failures.csv").exists():
        with open(workdir / f"{name}_failures.csv") as f:
            failures = [dict(row) for row in csv.DictReader(f)]
    return {"stats": stats, "failures": failures[:10]}


def race_checks(workdir: Path) -> dict:
    from django.contrib.auth import get_user_model

    from engine import selectors
    from engine.models import AuditEvent, HumanTask

    lines = [json.loads(line) for line in (workdir / "race.jsonl").read_text().splitlines()] if (workdir / "race.jsonl").exists() else []
    confirmed = [line for line in lines if line["kind"] == "completed"]
    by_task = Counter(line["task"] for line in confirmed)
    rows = {t.pk: t for t in HumanTask.objects.filter(pk__in=by_task).select_related("completed_by")}
    lost = [line for line in confirmed if rows[line["task"]].status != "completed" or rows[line["task"]].completed_by.username != line["user"]]
    audits = Counter(AuditEvent.objects.filter(task_id__in=by_task, kind="completed").values_list("task_id", flat=True))
    seen: Counter = Counter()
    for user in get_user_model().objects.filter(username__startswith="w"):
        page = selectors.inbox(user, tab="mine", per_page=200)
        seen.update(t.id for t in page.tasks)
    return {"completions_confirmed": len(confirmed), "tasks_confirmed_twice": sum(1 for n in by_task.values() if n > 1),
            "lost_updates": len(lost), "tasks_with_more_than_one_completion_event": sum(1 for n in audits.values() if n > 1),
            "tasks_in_two_inboxes": sum(1 for n in seen.values() if n > 1),
            "reassign_attempts": sum(1 for line in lines if line["kind"] == "reassigned")}


def main() -> int:
    from django.core.management import call_command

    from tests import production

    common.require_postgres("web")
    common.configure()
    workdir = Path(tempfile.mkdtemp(prefix="caseflow-bench-web-"))
    with common.test_database(TEST_DB_NAME):
        call_command("collectstatic", interactive=False, verbosity=0)
        users = common.make_users(people())
        common.deploy_bundled(users)
        the_plan = plan(users, workdir)
        common.analyze()
        port = production.free_port()
        server = serve(workdir, port)
        try:
            pages = {pace: run_locust(workdir, port, f"pages-{pace}", ["PageReader"], think=pace) for pace in PACES}
            race = run_locust(workdir, port, "race", ["TaskWorker", "Supervisor"])
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)
        checks = race_checks(workdir)
        server_errors = sum(1 for line in (workdir / "gunicorn.log").read_text(errors="replace").splitlines() if '" 50' in line)
        p95, ratios = {}, {}
        for pace, run in pages.items():
            stats = run["stats"]
            p95[pace] = {name: stats[name]["p95_ms"] for name in ("inbox mine", "inbox group", "task page") if name in stats}
            p95[pace]["pages/s"] = stats.get("Aggregated", {}).get("requests_per_s")
            ratios[pace] = {name: common.ratio(v, stats.get("healthz (baseline)", {}).get("p95_ms") or None, 2)
                            for name, v in p95[pace].items() if name != "pages/s"}
        result = {
            "environment": common.environment(), "users": USERS, "seconds": SECONDS, "tasks": len(the_plan["tasks"]),
            "gunicorn_workers": int(WEB_CONCURRENCY), "pages_by_think_time_s": pages, "race": race, "race_checks": checks,
            "server_5xx_in_access_log": server_errors, "p95_ms_by_think_time_s": p95,
            "ratio_p95_to_healthz_p95": ratios, "target_p95_ms": "< 300", "workdir": str(workdir),
        }
        ok = (server_errors == 0 and checks["lost_updates"] == 0 and checks["tasks_in_two_inboxes"] == 0
              and checks["tasks_with_more_than_one_completion_event"] == 0)
        common.emit(result, f"web: p95 ms by think time (s) {p95} with {USERS} users; race: {checks}; 5xx {server_errors}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
