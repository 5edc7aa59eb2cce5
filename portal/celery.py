"""The Celery app for production mode. Jobs live in engine/jobs.py and only nudge work along:
every guarantee (exactly-once timers, no lost completion) comes from the database."""
import functools
import os

import structlog
from celery import Celery
from celery.signals import task_postrun, task_prerun
from celery.worker.consumer import Consumer as CeleryConsumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
app = Celery("caseflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["engine"])


@task_prerun.connect
def _bind_job_to_logs(task_id=None, task=None, **_):
    """Every log line a job writes (and the steps it runs) names the job and its Celery id."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job=getattr(task, "name", ""), job_id=task_id)


@task_postrun.connect
def _unbind_job(**_):
    structlog.contextvars.clear_contextvars()


class Consumer(CeleryConsumer):
    """The worker's consumer, reconnecting to a broker that went away every second instead of
    kombu's 2, 4, 6 … 30 s back-off: after a minute of Redis outage the default had the workers
    retry about 12 s after Redis was back, and every timer due in the outage waited for that. The
    database, not the broker, says what is due, so a prompt reconnection is all a sweep needs
    (settings: CELERY_WORKER_CONSUMER)."""

    RETRY = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 1.0}

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(conn.ensure_connection, **self.RETRY)
        try:
            return super().ensure_connected(conn)
        finally:
            del conn.ensure_connection  # the connection's own method again
