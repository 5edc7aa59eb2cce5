"""The Celery app for production mode. Jobs live in engine/jobs.py and only nudge work along:
every guarantee (exactly-once timers, no lost completion) comes from the database."""
import os

import structlog
from celery import Celery
from celery.signals import task_postrun, task_prerun

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
