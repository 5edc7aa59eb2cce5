"""Real production processes for the guarantee tests (tests/engine/test_production_guarantees.py)
and the fault benchmarks (bench/production.py): a Redis server of our own on a free port (so a test
can stop it without touching anyone else's), Celery workers and beats as OS processes against the
test database, and a notifier that appends every delivered key to a file, so sends made in other
processes can be counted."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from integrations.notifications.backends import BaseNotifier

ROOT = Path(__file__).resolve().parents[1]


class FileNotifier(BaseNotifier):
    """Appends `channel key` to the file named by CASEFLOW_TEST_NOTICES, one line per send (O_APPEND:
    whole lines even from many processes)."""

    def send(self, *, channel: str, payload: dict, key: str, done: tuple[str, ...] = ()) -> str:
        fd = os.open(os.environ["CASEFLOW_TEST_NOTICES"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{channel} {key}\n".encode())
        finally:
            os.close(fd)
        return f"file:{key}"


def notices(path: str | Path) -> Counter:
    """How many times each (channel, key) was sent."""
    path = Path(path)
    if not path.exists():
        return Counter()
    return Counter(tuple(line.split(" ", 1)) for line in path.read_text().splitlines() if line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of our own, without persistence (the worst case: what was queued is lost when
    it stops), that can be stopped and started again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="caseflow-redis-")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def environment(db: dict, broker: str, notices_file: str | Path, *, sweep_seconds: float = 2, outbox_seconds: float = 2, **extra) -> dict:
    """The environment of a worker or beat: the test database, this broker, the file notifier."""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return {
        **os.environ, "CELERY_BROKER_URL": broker, "SECRET_KEY": os.environ.get("SECRET_KEY", "worker-test"),
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CASEFLOW_NOTIFIER_BACKEND": "tests.production.FileNotifier", "CASEFLOW_TEST_NOTICES": str(notices_file),
        "CASEFLOW_SWEEP_SECONDS": str(sweep_seconds), "CASEFLOW_OUTBOX_SECONDS": str(outbox_seconds),
        "CASEFLOW_LOG_LEVEL": "WARNING", "LOG_LEVEL": "WARNING", **{k: str(v) for k, v in extra.items()},
    }


class Process:
    """A worker or beat in its own session, so SIGKILL reaches it and its pool children at once."""

    def __init__(self, argv: list[str], env: dict, log: Path):
        self.argv, self.env, self.log = argv, env, log
        self.popen = None
        self.start()

    def start(self):
        out = open(self.log, "ab")
        self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """The whole process group at once, as a machine or OOM kill does."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            self.popen.wait(30)

    def stop(self):
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def worker(env: dict, name: str, logdir: Path, *, concurrency: int = 1, pool: str = "prefork") -> Process:
    return Process([sys.executable, "-m", "celery", "-A", "portal", "worker", f"--pool={pool}", f"--concurrency={concurrency}",
                    "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle", f"--hostname={name}@%h"],
                   env, Path(logdir) / f"{name}.log")


def beat(env: dict, name: str, logdir: Path) -> Process:
    return Process([sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel=WARNING",
                    f"--schedule={Path(logdir) / (name + '-schedule')}"], env, Path(logdir) / f"{name}.log")


def wait_for(predicate, seconds: float = 60, every: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def sweeping(db: dict) -> bool:
    """Whether another connection to this database is inside a transaction on the engine's tables
    right now (a worker in the middle of a sweep batch): the moment a kill is meant to hit."""
    import psycopg

    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], password=db.get("PASSWORD") or None,
                         autocommit=True) as conn:
        return bool(conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND xact_start IS NOT NULL AND query ILIKE %s LIMIT 1", [db["NAME"], "%engine_%"]).fetchone())
