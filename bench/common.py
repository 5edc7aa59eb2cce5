"""Shared set-up for the benchmarks under bench/: Django bootstrapped against a benchmark's own test
database, users, the child-protection path driven through the public facade, timing summaries,
statement classification, the bare durable step ("floor") and forked worker processes.

Rules every benchmark here keeps:
- the measured work goes only through the facade (engine.api, engine.selectors), so a benchmark
  keeps working while the engine's internals change; engine.models is used for set-up (bulk rows)
  and for counts;
- every number is printed beside a baseline measured in the same run (this machine is noisy: read
  the ratios); nothing here asserts on time;
- each benchmark creates and drops its own test database (`test_caseflow_bench_<name>`), so a
  concurrent `make test` (test_caseflow) is never touched, and uses a scratch CASEFLOW_VAR_DIR.

Import this module before anything that touches Django: it configures the environment and calls
django.setup().

Outside effects: by default a step's outbox nudge (`deliver_outbox.delay()`) is published to an
in-process memory broker, as production publishes it to Redis, so a step is measured without the
delivery a Celery worker would do elsewhere. BENCH_OUTBOX_EAGER=1 delivers in the same process after
each commit, as the embedded mode (no broker) does.
"""
from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/caseflow")
os.environ.setdefault("CASEFLOW_VAR_DIR", "/tmp/var_bench")
# Benchmarks request pages over Django's plain-HTTP test client: no redirect to https (docs/adr/0018).
os.environ.setdefault("CASEFLOW_HTTPS", "0")
os.environ.setdefault("CASEFLOW_REQUIRE_2FA", "0")
os.environ.setdefault("CASEFLOW_LOG_LEVEL", "WARNING")  # per-step INFO lines would be measured too
OUTBOX_EAGER = os.environ.get("BENCH_OUTBOX_EAGER", "") not in ("", "0")
if not OUTBOX_EAGER:
    os.environ.setdefault("CELERY_BROKER_URL", "memory://localhost/")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

# The child-protection path in the order tests/processes/child_protection/flows.py completes it.
CP_ORDER = ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan",
            "Task_ApprovePlan", "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]
CP_ACTOR = {
    "Task_Intake": "intake", "Task_PoliceReceipt": "intake", "Task_Respond": "worker", "Task_Assessment": "worker",
    "Task_CasePlan": "worker", "Task_ApprovePlan": "supervisor", "Task_FollowUp": "worker", "Task_Closure": "worker",
    "Task_ApproveClosure": "supervisor", "Task_SupervisorEscalation": "supervisor", "Task_CivilAffairsEscalation": "civil",
}
FLOOR_STATE_BYTES = 7600
_LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]
FLOOR_SMALL_ROWS = 3


# -- environment and databases ---------------------------------------------------------------------

def configure() -> None:
    """What the test runner would do: locmem e-mail etc., fast password hashing, captured notices."""
    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CASEFLOW_NOTIFIER_BACKEND = "integrations.notifications.backends.LocmemNotifier"
    settings.DEBUG = False


def require_postgres(name: str) -> None:
    if connection.vendor != "postgresql":
        print(f"bench/{name}.py measures PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        raise SystemExit(2)


@contextlib.contextmanager
def test_database(name: str):
    """Create the benchmark's own test database (dropped afterwards, even on failure)."""
    if connection.vendor == "postgresql":  # SQLite's test database stays in memory
        connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def database_label() -> str:
    if connection.vendor == "postgresql":
        return f"postgresql {connection.pg_version // 10000}"
    return connection.vendor


def environment() -> dict:
    return {
        "database": database_label(),
        "test_database": connection.settings_dict["NAME"],
        "cpus": os.cpu_count(),
        "outbox_delivery": "eager, in-process (embedded mode)" if OUTBOX_EAGER else "queued to an in-memory broker (production-like)",
        "load_average_at_start": _LOAD_AT_START,
    }


def freeze_heap() -> None:
    """Keep the set-up's objects out of the timed garbage-collection passes."""
    gc.collect()
    gc.freeze()


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def emit(result: dict, summary: str) -> None:
    """One JSON object on stdout, then one human line. The load average says how busy the machine
    was with other work (other people's tests) while this ran."""
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    print(summary)
    sys.stdout.flush()


# -- people and processes --------------------------------------------------------------------------

DEFAULT_USERS = {
    "intake": (["intake_desk"], ["dongshan"]),
    "worker": (["worker"], ["dongshan"]),
    "worker2": (["worker"], ["dongshan"]),
    "supervisor": (["supervisor"], None),
    "civil": (["civil_affairs"], None),
    "admin": (["admin"], None),
}


def make_villages() -> None:
    """The station's villages (found by model name, wherever the project keeps the model)."""
    from django.apps import apps

    Village = next(m for m in apps.get_models() if m.__name__ == "Village")
    for position, (code, name) in enumerate(settings.CASEFLOW_VILLAGES.items()):
        Village.objects.get_or_create(code=code, defaults={"name": name, "position": position})


def make_users(spec: dict | None = None) -> dict:
    """Users with roles and villages (None = township-wide), as tests/conftest.py makes them."""
    from tests.conftest import make_user

    make_villages()
    spec = DEFAULT_USERS if spec is None else spec
    return {name: make_user(name, *roles, villages=villages) for name, (roles, villages) in spec.items()}


def deploy_bundled(users) -> dict:
    from engine import api

    return {d.key: d for d in api.deploy_bundled(actor=users["admin"])}


# -- the child-protection path through the facade -------------------------------------------------

def cp_start_data() -> dict:
    """The report's start data, with dates relative to now (forms refuse future dates)."""
    from tests.dates import local_minutes_ago

    return {"village": "dongshan", "received_at": local_minutes_ago(20), "channel": "phone"}


def cp_form(bpmn_id: str) -> dict:
    """Form data for a step, re-dated to now (the module-level FORMS are dated at import)."""
    from tests.dates import local_minutes_ago, today
    from tests.processes.child_protection.flows import FORMS

    data = dict(FORMS[bpmn_id])
    if bpmn_id == "Task_PoliceReceipt":
        data["police_reported_at"] = local_minutes_ago(10)
    elif bpmn_id == "Task_Respond":
        data["responded_at"] = local_minutes_ago(1)
    elif bpmn_id == "Task_FollowUp":
        data["followup_date"] = today()
    return data


def instance_id_of(result) -> int:
    """The instance id in what a facade write returned (InstanceInfo.id, or StepOutcome.instance_id)."""
    value = getattr(result, "instance_id", None)
    return value if value is not None else result.id


def open_tasks(instance_id: int) -> list:
    """The instance's open tasks, read through the facade (engine.api.get_instance)."""
    from engine import api

    return list(api.get_instance(instance_id=instance_id, viewer=api.SYSTEM, with_history=False).open_tasks)


def open_task_id(instance_id: int, bpmn_id: str | None = None) -> int:
    """The id of the instance's open task `bpmn_id` (or its only open task)."""
    tasks = open_tasks(instance_id)
    for task in tasks:
        if bpmn_id is None or task.bpmn_id == bpmn_id:
            return task.id
    raise LookupError(f"instance {instance_id} has no open {bpmn_id}: {[t.bpmn_id for t in tasks]}")


def cp_start(users, data: dict | None = None) -> int:
    """Start a child-protection case through the facade; returns its instance id."""
    from engine import api

    return instance_id_of(api.start_instance(process_key="child_protection", data=data or cp_start_data(), actor=users["intake"]))


def cp_complete(users, instance_id: int, bpmn_id: str, data: dict | None = None):
    """Complete the case's open `bpmn_id` through the facade (the task looked up first)."""
    from engine import api

    return api.complete_task(task_id=open_task_id(instance_id, bpmn_id), data=data if data is not None else cp_form(bpmn_id),
                             actor=users[CP_ACTOR[bpmn_id]])


# -- numbers ---------------------------------------------------------------------------------------

def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered))) - 1))]


def summary_ms(samples: list[float], digits: int = 2) -> dict:
    """Median, p95, mean, min and max of millisecond samples."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median_ms": round(statistics.median(samples), digits),
        "p95_ms": round(percentile(samples, 0.95), digits),
        "mean_ms": round(statistics.fmean(samples), digits),
        "min_ms": round(min(samples), digits),
        "max_ms": round(max(samples), digits),
    }


def ratio(a: float, b: float, digits: int = 3) -> float | None:
    return round(a / b, digits) if b else None


# -- SQL statements ----------------------------------------------------------------------------------

_KINDS = ("INSERT", "UPDATE", "DELETE", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT", "ROLLBACK")


def statement_kind(sql: str) -> str:
    s = sql.lstrip().upper()
    if s.startswith("WITH") and re.search(r"\bAS \((INSERT|UPDATE|DELETE)\b", s):
        return "WITH writes"  # a step's save: its rows in data-modifying WITH clauses, then its UPDATE
    if s.startswith("SELECT") or s.startswith("WITH"):
        return "SELECT FOR UPDATE" if re.search(r"\bFOR (NO KEY )?UPDATE\b", s) else "SELECT"
    for kind in _KINDS:
        if s.startswith(kind):
            return kind
    return s.split(None, 1)[0] if s else "?"


def statement_table(sql: str) -> str:
    s = sql.lstrip()
    m = re.match(r'(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', s, re.I) or re.search(r'\bFROM\s+"?(\w+)"?', s, re.I)
    return m.group(1) if m else ""


def statement_breakdown(queries: list[str]) -> dict:
    """Statement kinds, and kind + table, of one captured call."""
    kinds = Counter(statement_kind(q) for q in queries)
    by_table = Counter(f"{statement_kind(q)} {statement_table(q)}".strip() for q in queries)
    return {"total": len(queries), "kinds": dict(kinds.most_common()), "by_kind_and_table": dict(by_table.most_common())}


def abbreviate(sql: str, width: int = 240) -> str:
    """A statement as a reader needs it: column lists and long literals elided, WHERE kept."""
    s = re.sub(r"^SELECT (?:DISTINCT )?.+? FROM ", "SELECT … FROM ", sql.strip(), count=1, flags=re.S)
    s = re.sub(r"'(?:[^']|'')*'", lambda m: m.group(0) if len(m.group(0)) <= 40 else f"'<{len(m.group(0)) - 2} chars>'", s)
    s = re.sub(r'^(INSERT INTO "?\w+"?) \([^)]*\)', r"\1 (…)", s)
    return s if len(s) <= width else s[:width - 1] + "…"


def captured_sql(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


# -- the floor: the bare durable step transaction ---------------------------------------------------

def floor_state(size: int = FLOOR_STATE_BYTES) -> str:
    """A deterministic JSON document of `size` bytes shaped like a task tree (uuid -> task)."""
    import uuid

    tasks = {}
    i = 0
    while True:
        tid = str(uuid.UUID(int=i + 1))
        tasks[tid] = {"id": tid, "parent": str(uuid.UUID(int=i)), "children": [str(uuid.UUID(int=i + 2))],
                      "state": 64, "task_spec": f"Task_{i}", "last_state_change": 1.7e9 + i, "data": {"n": i}}
        text = json.dumps({"tasks": tasks, "format": "floor"})
        if len(text) >= size:
            break
        i += 1
    pad = size - len(json.dumps({"tasks": tasks, "format": "floor", "pad": ""}))
    if pad < 0:
        tasks.popitem()
        pad = size - len(json.dumps({"tasks": tasks, "format": "floor", "pad": ""}))
    text = json.dumps({"tasks": tasks, "format": "floor", "pad": "x" * pad})
    assert len(text) == size, len(text)
    return text


class Floor:
    """BEGIN; SELECT ... FOR UPDATE of one row; UPDATE it with a ~7.6 KB JSON state guarded by its
    revision; INSERT 3 small rows; COMMIT — through Django's connection, in the benchmark's database.
    What any durable step must pay at least; measured in the same run as the engine's step."""

    def __init__(self, rows: int = 1000, state_bytes: int = FLOOR_STATE_BYTES):
        self.rows = rows
        self.state = floor_state(state_bytes)
        self.next = 0
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor_instance (id bigserial PRIMARY KEY, "
                           "revision integer NOT NULL, state jsonb NOT NULL)")
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor_event (id bigserial PRIMARY KEY, instance_id bigint "
                           "NOT NULL REFERENCES bench_floor_instance(id), kind varchar(32) NOT NULL, at timestamptz NOT NULL, "
                           "data jsonb NOT NULL)")
            cursor.execute("CREATE INDEX IF NOT EXISTS bench_floor_event_instance ON bench_floor_event (instance_id, at)")
            cursor.execute("INSERT INTO bench_floor_instance (revision, state) SELECT 1, %s::jsonb FROM generate_series(1, %s) "
                           "RETURNING id", [self.state, rows])
            self.ids = [r[0] for r in cursor.fetchall()]
            cursor.execute("ANALYZE bench_floor_instance")

    def step(self) -> None:
        instance_id = self.ids[self.next % len(self.ids)]
        self.next += 1
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT id, revision FROM bench_floor_instance WHERE id = %s FOR UPDATE", [instance_id])
                _, revision = cursor.fetchone()
                cursor.execute("UPDATE bench_floor_instance SET state = %s::jsonb, revision = %s WHERE id = %s AND revision = %s",
                               [self.state, revision + 1, instance_id, revision])
                assert cursor.rowcount == 1
                for kind in ("completed", "task_ready", "timer"):
                    cursor.execute("INSERT INTO bench_floor_event (instance_id, kind, at, data) VALUES (%s, %s, now(), %s::jsonb)",
                                   [instance_id, kind, '{"task": "x"}'])

    def timed(self, n: int) -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            self.step()
            samples.append((time.perf_counter() - started) * 1000)
        return samples


# -- worker processes --------------------------------------------------------------------------------

def _child(target, args, barrier, results, index):
    try:
        connections.close_all()  # never share the parent's socket; the first query connects anew
        value = target(index, barrier, *args)
        results.put((index, "ok", value))
    except BaseException as exc:  # noqa: BLE001 - report any failure to the parent
        import traceback

        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        connections.close_all()


def run_processes(target, args_per_process: list[tuple], timeout: float = 3600) -> list:
    """Run `target(index, barrier, *args)` in one forked OS process per entry (each with its own
    database connection); `barrier.wait()` inside lets them start the measured part together.
    Returns their return values in order; raises if any failed."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(args_per_process))
    results = ctx.Queue()
    connections.close_all()  # the children must not inherit an open connection
    procs = [ctx.Process(target=_child, args=(target, args, barrier, results, i)) for i, args in enumerate(args_per_process)]
    for p in procs:
        p.start()
    out, errors = {}, []
    deadline = time.monotonic() + timeout
    for _ in procs:
        index, status, value = results.get(timeout=max(1.0, deadline - time.monotonic()))
        if status == "ok":
            out[index] = value
        else:
            errors.append(f"process {index}: {value}")
    for p in procs:
        p.join(timeout=60)
    if errors:
        raise RuntimeError("\n".join(errors))
    return [out[i] for i in range(len(procs))]


# -- cloning instances (set-up only) ----------------------------------------------------------------

def _cols(model, exclude=("id",)) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column not in exclude]


def clone_instances(template_id: int, n: int) -> list[int]:
    """`n` copies of one instance, with fresh ids, in a few set-based INSERT ... SELECT statements:
    the instance row (state, revision), its task rows, timer rows (attached to the copy's own task
    row), audit events and, for child protection, the case record (numbered after the new id).
    Columns come from the models, so a column added later is copied too. Outbox rows and
    notifications are not copied. Returns the new instance ids."""
    from engine.models import AuditEvent, HumanTask, ProcessInstance, Timer

    q = connection.ops.quote_name
    pi, ht, tm, ae = (m._meta.db_table for m in (ProcessInstance, HumanTask, Timer, AuditEvent))

    def select(alias: str, columns: list[str], overrides: dict[str, str]) -> str:
        return ", ".join(overrides.get(c, f"{alias}.{q(c)}") for c in columns)

    def task_of_copy(alias: str, column: str) -> str:
        # the copy's own task row for the template's task row `alias.column` (same spiff task id)
        return (f"(SELECT c.id FROM {q(ht)} c JOIN {q(ht)} o ON o.spiff_task_id = c.spiff_task_id "
                f"WHERE o.id = {alias}.{q(column)} AND c.instance_id = n.id)")

    renumber = "regexp_replace({col}, '-[0-9]+$', '-' || lpad(n.id::text, 5, '0'))"
    with transaction.atomic(), connection.cursor() as cursor:
        columns = _cols(ProcessInstance)
        cursor.execute(f"INSERT INTO {q(pi)} ({', '.join(map(q, columns))}) SELECT {select('t', columns, {})} "
                       f"FROM {q(pi)} t, generate_series(1, %s) WHERE t.id = %s RETURNING id", [n, template_id])
        ids = sorted(r[0] for r in cursor.fetchall())
        cursor.execute(f"UPDATE {q(pi)} n SET subject = {renumber.format(col='n.subject')} WHERE n.id = ANY(%s) AND n.subject <> ''",
                       [ids])
        columns = _cols(HumanTask)
        cursor.execute(f"INSERT INTO {q(ht)} ({', '.join(map(q, columns))}) SELECT {select('h', columns, {'instance_id': 'n.id'})} "
                       f"FROM {q(ht)} h CROSS JOIN unnest(%s::bigint[]) AS n(id) WHERE h.instance_id = %s", [ids, template_id])
        columns = _cols(Timer)
        overrides = {"instance_id": "n.id", "attached_to_id": task_of_copy("t", "attached_to_id")}
        cursor.execute(f"INSERT INTO {q(tm)} ({', '.join(map(q, columns))}) SELECT {select('t', columns, overrides)} "
                       f"FROM {q(tm)} t CROSS JOIN unnest(%s::bigint[]) AS n(id) WHERE t.instance_id = %s", [ids, template_id])
        columns = _cols(AuditEvent)
        overrides = {"instance_id": "n.id", "task_id": task_of_copy("a", "task_id")}
        cursor.execute(f"INSERT INTO {q(ae)} ({', '.join(map(q, columns))}) SELECT {select('a', columns, overrides)} "
                       f"FROM {q(ae)} a CROSS JOIN unnest(%s::bigint[]) AS n(id) WHERE a.instance_id = %s ORDER BY n.id, a.id",
                       [ids, template_id])
        try:
            from processes.child_protection.models import ChildProtectionCase
        except ImportError:  # pragma: no cover - the package is part of the project
            ChildProtectionCase = None
        if ChildProtectionCase is not None:
            cp = ChildProtectionCase._meta.db_table
            columns = _cols(ChildProtectionCase)
            overrides = {"instance_id": "n.id", "case_no": renumber.format(col="c.case_no")}
            cursor.execute(f"INSERT INTO {q(cp)} ({', '.join(map(q, columns))}) SELECT {select('c', columns, overrides)} "
                           f"FROM {q(cp)} c CROSS JOIN unnest(%s::bigint[]) AS n(id) WHERE c.instance_id = %s", [ids, template_id])
    return ids


# -- bulk rows (set-up only) ----------------------------------------------------------------------

def copy_rows(model, rows) -> int:
    """Write dict rows ({attname: value}) into the model's table with PostgreSQL COPY. Fields a row
    leaves out get the model's default (or NULL); JSON fields are dumped once per distinct object.
    Returns the number of rows written."""
    from django.db import models

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    missing = object()
    defaults = {f.attname: (f.get_default() if f.has_default() else None) for f in fields}
    json_attnames = {f.attname for f in fields if isinstance(f, models.JSONField)}
    dumped: dict[int, tuple[object, str]] = {}

    def as_json(value):
        hit = dumped.get(id(value))
        if hit is None or hit[0] is not value:
            hit = (value, json.dumps(value, ensure_ascii=False))
            dumped[id(value)] = hit
        return hit[1]

    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(f"COPY {q(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = []
                for f in fields:
                    value = row.get(f.attname, missing)
                    if value is missing:
                        value = defaults[f.attname]
                    if value is not None and f.attname in json_attnames:
                        value = as_json(value)
                    values.append(value)
                copy.write_row(values)
                written += 1
    return written


def collect_static() -> None:
    """Pages name fingerprinted static files: collect them into the scratch CASEFLOW_VAR_DIR."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
