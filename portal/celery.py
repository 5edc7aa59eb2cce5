"""The Celery app for production mode. Jobs live in engine/jobs.py and only nudge work along:
every guarantee (exactly-once timers, no lost completion) comes from the database."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
app = Celery("caseflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["engine"])
