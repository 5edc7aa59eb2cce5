"""The Django project: settings, URLs, the Celery app, and (later) the web portal apps."""
from .celery import app as celery_app

__all__ = ["celery_app"]
