"""Operations endpoints, answered without a session (probes and Prometheus have none).

- `/healthz`: the process is up and serving (liveness). Touches nothing else.
- `/readyz`: this process can do its work (readiness): the database answers, the broker answers
  when one is configured, and the sweep is not behind (the oldest waiting timer is not past due by
  more than CASEFLOW_READY_MAX_SWEEP_LAG_SECONDS). JSON; 200 when all pass, 503 naming what failed.
- `/metrics`: Prometheus text: django-prometheus's request and database metrics, the engine's step
  latency, and the engine's counts read from the database at scrape time. Not public: allowed from
  the addresses in CASEFLOW_METRICS_ALLOW, or with `Authorization: Bearer <CASEFLOW_METRICS_TOKEN>`."""
from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from engine import selectors
from portal.accounts.security import client_ip


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {}
    problem = selectors.database_problem()
    checks["database"] = {"ok": problem is None} | ({"error": problem} if problem else {})
    if broker_configured():
        problem = broker_problem()
        checks["broker"] = {"ok": problem is None} | ({"error": problem} if problem else {})
    if checks["database"]["ok"]:
        lag = selectors.sweep_lag_seconds()
        limit = settings.CASEFLOW_READY_MAX_SWEEP_LAG_SECONDS
        checks["sweep"] = {"ok": lag <= limit, "lag_seconds": round(lag, 1), "max_lag_seconds": limit}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def broker_configured() -> bool:
    return not settings.CELERY_TASK_ALWAYS_EAGER


def broker_problem() -> str | None:
    """None when the broker accepts a connection within a couple of seconds, else why not."""
    from portal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", and says which
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


@never_cache
@require_GET
def metrics(request):
    if not metrics_allowed(request):
        return HttpResponseForbidden(_("Metrics are open only to the monitoring system."), content_type="text/plain; charset=utf-8")
    body = generate_latest(_process_registry()) + generate_latest(ENGINE_REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def metrics_allowed(request) -> bool:
    token = settings.CASEFLOW_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[len("Bearer "):].encode(), token.encode()):
            return True
    address = client_ip(request)
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(peer in network for network in allowed_networks())


def allowed_networks() -> list:
    networks = []
    for entry in settings.CASEFLOW_METRICS_ALLOW:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a typo allows nothing rather than everything
    return networks


def _process_registry():
    """This process's instruments, or every process's on the machine when they write to a shared
    PROMETHEUS_MULTIPROC_DIR (gunicorn workers and Celery workers started by `make prod`)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class EngineCollector:
    """The engine's counts, read from the database when Prometheus scrapes (one process answers for
    the whole installation: every web process reports the same numbers)."""

    def collect(self):
        numbers = selectors.operational_numbers()
        for name, value, help_text in [
            ("caseflow_open_tasks", numbers.open_tasks, "Human tasks open now."),
            ("caseflow_overdue_tasks", numbers.overdue_tasks, "Open human tasks past their due time."),
            ("caseflow_timers_due", numbers.timers_due, "Waiting timers whose due time has passed (not yet fired)."),
            ("caseflow_sweep_lag_seconds", numbers.sweep_lag_seconds, "How long the oldest waiting timer has been past due."),
            ("caseflow_outbox_backlog", numbers.outbox_backlog, "Outbox messages waiting to be delivered."),
            ("caseflow_outbox_oldest_seconds", numbers.outbox_oldest_seconds, "Age of the oldest outbox message waiting."),
            ("caseflow_outbox_failed", numbers.outbox_failed, "Outbox messages that failed for good."),
            ("caseflow_instances_in_error", numbers.instances_in_error, "Instances stopped in the error state."),
        ]:
            yield GaugeMetricFamily(name, help_text, value=value)


ENGINE_REGISTRY = CollectorRegistry(auto_describe=False)
ENGINE_REGISTRY.register(EngineCollector())
