"""Cost of one sandboxed evaluation before and after the hard limits (ADR 0017), in the same run:

(a) baseline: main's interpreter before issue 11 (`git show <BENCH_SANDBOX_BASE>:engine/spiff/scripting.py`,
    loaded beside the current one), in this process;
(b) the current interpreter in this process (its static bounds only, `hard_seconds=None`);
(c) the current interpreter in the worker (the default: static bounds plus the killable worker).

Workloads: a gateway condition over typical task data, a short script, a comprehension over 300 rows.
Then the worst case over generated expressions and scripts (tests/engine/expression_grammar.py):
the longest wall time, and the peak resident memory of any worker (ru_maxrss of waited children).

Run: `.venv/bin/python bench/sandbox.py` (no database). BENCH_SANDBOX_N evaluations per workload
(default 2000), BENCH_SANDBOX_GENERATED generated examples (default 300). Prints numbers; asserts nothing.
"""
from __future__ import annotations

import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")

from engine.spiff import backstop, scripting  # noqa: E402

N = int(os.environ.get("BENCH_SANDBOX_N", "2000"))
GENERATED = int(os.environ.get("BENCH_SANDBOX_GENERATED", "300"))
BASE = os.environ.get("BENCH_SANDBOX_BASE", "main")

DATA = {"village": "dongshan", "risk": "high", "score": 7, "present_danger": True, "plan_decision": "approve",
        "child": {"name": "小明", "age": 9, "school": "第一小学"}, "situations": ["s1", "s4"],
        "rows": [{"age": i % 18, "name": str(i)} for i in range(300)],
        **{f"field_{i}": f"value {i}" for i in range(40)}}
WORKLOADS = [
    ("condition", "eval", "present_danger == True and risk in ['high', 'medium'] and child.get('age') < 14"),
    ("script", "exec", "level = 'red' if score > 5 else 'green'\nneeds_visit = present_danger and level == 'red'"),
    ("comprehension", "eval", "len([r for r in rows if r.get('age') < 14])"),
]


def _load_base():
    source = subprocess.run(["git", "show", f"{BASE}:engine/spiff/scripting.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    spec = importlib.util.spec_from_loader("engine.spiff._scripting_base", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "engine.spiff"
    sys.modules[spec.name] = module
    exec(compile(source, f"{BASE}:engine/spiff/scripting.py", "exec"), module.__dict__)  # noqa: S102 - our own file at another commit
    return module


def _time(run, mode, source, limits):
    call = run.evaluate_expression if mode == "eval" else run.execute_script
    call(source, DATA, limits)
    samples = []
    for _ in range(N):
        started = time.perf_counter()
        call(source, DATA, limits)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6, statistics.quantiles(samples, n=20)[-1] * 1e6


def main():
    base = _load_base()
    print(f"per evaluation, microseconds (median / p95 of {N}); ratios against (a)")
    print(f"{'workload':14} {'(a) base':>16} {'(b) in-process':>22} {'(c) worker':>22}")
    for name, mode, source in WORKLOADS:
        a = _time(base, mode, source, base.Limits())
        b = _time(scripting, mode, source, scripting.Limits(hard_seconds=None))
        c = _time(scripting, mode, source, scripting.Limits())
        print(f"{name:14} {a[0]:7.1f} / {a[1]:6.1f} {b[0]:7.1f} / {b[1]:6.1f} x{b[0] / a[0]:4.1f} "
              f"{c[0]:7.1f} / {c[1]:6.1f} x{c[0] / a[0]:4.1f}")

    from hypothesis import HealthCheck, given, settings, strategies as st

    from tests.engine.expression_grammar import EXPRESSIONS, NAMES, SCRIPTS

    worst = []

    @settings(max_examples=GENERATED, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(EXPRESSIONS.map(lambda s: ("eval", s)), SCRIPTS.map(lambda s: ("exec", s))))
    def run(example):
        mode, source = example
        started = time.perf_counter()
        try:
            (scripting.evaluate_expression if mode == "eval" else scripting.execute_script)(source, NAMES, scripting.Limits())
            outcome = "ok"
        except Exception as exc:  # noqa: BLE001
            outcome = f"{type(exc).__name__}: {str(exc)[:60]}"
        worst.append((time.perf_counter() - started, source, outcome))

    run()
    backstop.POOL.close()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    worst.sort(key=lambda w: w[0])
    times = [w[0] for w in worst]
    print(f"\ngenerated examples: {len(worst)}; wall time median {statistics.median(times) * 1e3:.1f} ms, "
          f"max {times[-1] * 1e3:.0f} ms; peak worker RSS {peak_kb / 1024:.0f} MB")
    for elapsed, source, outcome in worst[-3:]:
        print(f"  {elapsed * 1e3:7.0f} ms  {source[:90]!r} -> {outcome}")

    print("\nthe measured bombs of issue 11, default limits (in the worker):")
    big = list(range(100_000))
    for source, mode in [("b'%999999999d' % 1", "eval"), ("max([big] * 100000)", "eval"), ("a = [big] * 1000", "exec"),
                         ("int(Decimal('1e999999999'))", "eval")]:
        started = time.perf_counter()
        try:
            (scripting.evaluate_expression if mode == "eval" else scripting.execute_script)(source, {"big": big})
            outcome = "ran"
        except Exception as exc:  # noqa: BLE001
            outcome = f"{type(exc).__name__}: {exc}"
        print(f"  {(time.perf_counter() - started) * 1e3:6.0f} ms  {source!r} -> {outcome}")
    loose = scripting.Limits(max_work=10 ** 15)
    started = time.perf_counter()
    try:
        scripting.evaluate_expression("max([big] * 100000)", {"big": big}, loose)
    except Exception as exc:  # noqa: BLE001
        print(f"  {(time.perf_counter() - started) * 1e3:6.0f} ms  max([big] * 100000) with the work budget off -> {exc}")


if __name__ == "__main__":
    main()
