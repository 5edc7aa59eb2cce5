"""Celery entry points: thin, idempotent, no arguments but limits. Beat only nudges: a missed or
doubled run changes nothing, because the database decides what is due and what was done."""
from celery import shared_task

from engine import api


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def sweep_due_timers(limit: int = 500) -> dict:
    result = api.fire_due_timers(limit=limit)
    return {"instances": result.instances, "timers_fired": result.timers_fired, "conflicts": result.conflicts}


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def deliver_outbox(limit: int = 100) -> int:
    return api.deliver_outbox(limit=limit)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_periodic_jobs() -> dict:
    from engine import registry

    return {name: job() for name, job in registry.periodic_jobs().items()}
