"""The sandbox's hard limit (ADR 0017): every evaluation runs in a persistent worker process that is
killed when it overruns, so no single builtin call, hash or comparison can hold a step — and with
it the database's write lock on the embedded default — beyond `Limits.hard_seconds`.

The interpreter (scripting.py) bounds what it can before an operation runs; this is the part that
cannot be walked around. A worker is a plain `python -c` child with an address-space limit
(`RLIMIT_AS`), fed one pickled request at a time over a pipe. Workers are kept in a small pool per
process and reused; one that overruns is killed (SIGKILL) and a fresh one is started in the
background. What comes back is unpickled with a whitelist of classes: even a worker whose sandbox
were broken could not hand this process anything but plain data and exceptions.
"""
from __future__ import annotations

import io
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

_HEADER = struct.Struct("!Q")  # a request: its length
_ANSWER = struct.Struct("!Qd")  # an answer: its length, and the worker's CPU seconds when it answered
_CPU = struct.Struct("!d")
MAX_IDLE = 4  # workers kept warm per process
# An evaluation may use `hard_seconds` of its worker's own CPU time. On a machine busy with other work
# a worker may wait for the CPU far longer than it runs; that waiting is not the expression's doing,
# so the clock alone stops it only at this many times `hard_seconds`.
WALL_FACTOR = 8
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
STARTUP_SECONDS = 30.0  # a worker's imports, on a loaded machine
MEMORY_BYTES = 512 * 1024 * 1024  # address space a worker may add to what it needs at start
_ROOT = str(Path(__file__).resolve().parents[2])


class _Worker:
    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = _ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from engine.spiff.backstop import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=_ROOT, env=env, close_fds=True, start_new_session=True)
        self.out = self.proc.stdout.fileno()
        self.ready = False  # until it has said so, after its imports: start-up is not the expression's time
        self.cpu = None  # the CPU seconds it had used when it last answered (it has idled since)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()

    def ask(self, payload: bytes, timeout: float) -> tuple[str, bytes | None]:
        """("ok", the worker's answer), ("gone", None) when it was dead before it read the request,
        ("died", None) when it died on it, or ("late", None) when it did not answer in time."""
        if not self.ready:
            status, hello = self._read(1 + _CPU.size, time.monotonic() + STARTUP_SECONDS)
            if status != "ok":
                return "gone", None
            self.cpu, self.ready = _CPU.unpack(hello[1:])[0], True
        budget = _Budget(self.proc.pid, timeout, self.cpu)
        try:
            self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return "gone", None
        status, header = self._read(_ANSWER.size, budget.left)
        if header is None:
            return status, None
        size, self.cpu = _ANSWER.unpack(header)
        return self._read(size, budget.left)

    def _read(self, size: int, left_of) -> tuple[str, bytes | None]:
        """Read `size` bytes while `left_of()` gives time left (a deadline, or the evaluation's budget)."""
        if not callable(left_of):
            deadline = left_of
            left_of = lambda: deadline - time.monotonic()  # noqa: E731 - start-up waits on the clock alone
        chunks, left = [], size
        while left:
            wait = left_of()
            if wait <= 0:
                return "late", None
            if not select.select([self.out], [], [], wait)[0]:
                continue  # the budget is asked again: time the worker spent waiting for the CPU is given back
            chunk = os.read(self.out, min(left, 1 << 20))
            if not chunk:
                return "died", None
            chunks.append(chunk)
            left -= len(chunk)
        return "ok", b"".join(chunks)


def _cpu_seconds(pid: int) -> float | None:
    """The user and system CPU time a process has used, from /proc (None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime and stime, fields 14 and 15 of stat(5)


class _Budget:
    """What an evaluation may still take: `seconds` of the worker's CPU time, and at most
    WALL_FACTOR x `seconds` on the clock (the clock alone where the CPU time cannot be read).

    The worker's CPU time at the start is what it reported with its last answer (it has idled since),
    and a single-threaded worker cannot use more CPU than time has passed: so nothing is read from
    /proc until the clock has run through `seconds` (a read costs 30-60 µs here, more while the worker
    allocates) — an evaluation that answers in time costs nothing extra."""

    def __init__(self, pid: int, seconds: float, cpu_at_start: float | None):
        self.pid, self.seconds, self.cpu = pid, seconds, cpu_at_start
        self.started = time.monotonic()

    def left(self) -> float:
        elapsed = time.monotonic() - self.started
        if elapsed < self.seconds:
            return self.seconds - elapsed
        now_cpu = _cpu_seconds(self.pid) if self.cpu is not None else None
        used = elapsed if now_cpu is None else now_cpu - self.cpu
        return min(self.seconds - used, self.seconds * WALL_FACTOR - elapsed)


class _Pool:
    def __init__(self):
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.pid = os.getpid()

    def take(self) -> _Worker:
        with self.lock:
            if self.pid != os.getpid():  # forked (a server's worker): the parent's pipes are not ours
                self.idle, self.pid = [], os.getpid()
            while self.idle:
                worker = self.idle.pop()
                if worker.alive():
                    return worker
        return _Worker()

    def give(self, worker: _Worker) -> None:
        with self.lock:
            if len(self.idle) < MAX_IDLE and self.pid == os.getpid():
                self.idle.append(worker)
                return
        worker.kill()

    def refill(self) -> None:
        """Start a replacement in the background, so the next evaluation does not wait for one."""
        def start():
            self.give(_Worker())
        threading.Thread(target=start, name="sandbox-worker-start", daemon=True).start()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()


POOL = _Pool()


def run(mode: str, source, names: dict, limits):
    """Evaluate (mode "eval") or execute ("exec") in a worker; the result, or the sandbox's error."""
    from .scripting import ExpressionLimitExceeded, ExpressionRefused

    try:
        payload = pickle.dumps((mode, source, names, limits), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - whatever cannot be pickled cannot be case data either
        raise ExpressionRefused(f"the data cannot be handed to the sandbox: {exc}") from None
    for _attempt in range(2):
        worker = POOL.take()
        status, answer = worker.ask(payload, limits.hard_seconds)
        if status != "gone":
            break
        worker.kill()  # it had died idle (killed from outside): a fresh one takes the request
    if answer is None:
        worker.kill()
        POOL.refill()
        if status == "died":
            raise ExpressionLimitExceeded("expression ran out of memory and was stopped")
        raise ExpressionLimitExceeded(f"expression exceeded {limits.hard_seconds}s and was stopped")
    status, value = _SafeUnpickler(io.BytesIO(answer)).load()
    if status == "fatal":
        worker.kill()  # it ran out of memory: its heap is not to be trusted with the next request
        POOL.refill()
    else:
        POOL.give(worker)
    if status != "ok":
        raise value
    return value


_ALLOWED = {
    "builtins": {"set", "frozenset", "bytearray", "complex", "slice", "range"},
    "decimal": {"Decimal"},
    "datetime": {"date", "datetime", "time", "timedelta", "timezone"},
    "engine.spiff.scripting": {"ExpressionRefused", "ExpressionLimitExceeded"},
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        import builtins
        import decimal

        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        found = getattr({"builtins": builtins, "decimal": decimal}.get(module), name, None)
        if isinstance(found, type) and issubclass(found, Exception):
            return found  # NameError, ZeroDivisionError, decimal.InvalidOperation ...
        raise pickle.UnpicklingError(f"the sandbox may not return {module}.{name}")


# -- the worker's side ------------------------------------------------------------------------------

def serve() -> None:
    """The worker's loop: read a request, answer it, forever; exit when the parent goes away."""
    import resource

    from . import scripting

    with open("/proc/self/statm") as statm:
        start = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (start + MEMORY_BYTES, start + MEMORY_BYTES))
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed may corrupt the answers
    out.write(b"R" + _CPU.pack(time.process_time()))
    out.flush()
    while True:
        header = inp.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        mode, source, names, limits = pickle.loads(inp.read(_HEADER.unpack(header)[0]))
        fatal = False
        try:
            if mode == "eval":
                value = scripting._evaluate_here(source, names, limits)
            else:
                value = scripting._execute_here(source, names, limits)
            if callable(value):
                raise scripting.ExpressionRefused("a function is not a value")
            answer = ("ok", value)
        except MemoryError:
            answer, fatal = ("fatal", scripting.ExpressionLimitExceeded("expression ran out of memory")), True
        except RecursionError:
            answer = ("err", scripting.ExpressionRefused("expression nested too deeply"))
        except Exception as exc:  # noqa: BLE001 - the caller raises it in its own process
            answer = ("err", exc)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps(("err", scripting.ExpressionRefused(f"the result cannot leave the sandbox: {type(exc).__name__}")))
        out.write(_ANSWER.pack(len(data), time.process_time()) + data)
        out.flush()
        if fatal:
            return
