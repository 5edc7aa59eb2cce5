"""The engine's own Prometheus instruments that live in a process (the database-backed gauges are
read at scrape time: engine.selectors.operations). A step's latency is observed where it runs — a
web process or a Celery worker — so /metrics of one process shows its own steps, or every process's
on the machine when they share PROMETHEUS_MULTIPROC_DIR (README, "Production mode")."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

STEP_SECONDS = Histogram(
    "caseflow_step_seconds", "Time of one step of an instance: lock, load, act, engine, projections, save.",
    ["act", "outcome"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
)
STEP_FAILURES = Counter(
    "caseflow_step_failures_total", "Steps that did not commit, by what stopped them (a conflict, a refusal, an error).",
    ["act", "reason"],
)


def act_name(act) -> str:
    """A short, bounded label for what a step did (the act's function name; lambdas are 'act')."""
    func = getattr(act, "func", act)
    name = getattr(func, "__name__", "act")
    return "act" if name == "<lambda>" else name.lstrip("_")[:40]


def observe_step(act: str, outcome: str, seconds: float) -> None:
    STEP_SECONDS.labels(act=act, outcome=outcome).observe(seconds)
    if outcome != "ok":
        STEP_FAILURES.labels(act=act, reason=outcome).inc()
