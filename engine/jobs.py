"""Celery jobs: thin, idempotent, no arguments but limits ("task" means a person's task here, so the
Celery side says "job"). Beat only nudges: a missed or doubled run changes nothing, because the
database decides what is due and what was done."""
from celery import shared_task

from engine import api

SWEEP_LIMIT = 20_000  # instances in one run; the next nudge continues (a run stays within the time limits)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def sweep_due_timers(limit: int = SWEEP_LIMIT) -> dict:
    result = api.fire_due_timers(limit=limit)
    return {"instances": result.instances, "timers_fired": result.timers_fired, "conflicts": result.conflicts}


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def deliver_outbox(limit: int = 100) -> int:
    """Outside messages and the calls of asynchronous service tasks (which continue their cases from
    here): claimed with a lease, sent outside any transaction, retried with back-off (ADR 0022)."""
    return api.deliver_outbox(limit=limit)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_periodic_jobs() -> dict:
    from engine import registry

    return {name: job() for name, job in registry.periodic_jobs().items()}


def kick_outbox() -> None:
    """After a commit that queued outside effects: deliver now (embedded mode runs jobs eagerly) or
    nudge a worker."""
    deliver_outbox.delay()
