"""The embedded default: Django's server plus an in-process loop that fires due timers and delivers
queued notifications every few seconds, so no broker or worker is needed. Production runs gunicorn
(or similar) with Celery worker and beat instead; see README.md."""
import logging
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from engine import api, journal, registry

log = logging.getLogger("caseflow.sweeper")


def sweep_forever(interval: float, stop: threading.Event, kicked: threading.Event | None = None) -> None:
    """Every `interval` seconds: fire due timers, deliver the outbox, run the periodic jobs. When a
    step has queued a message (`kicked`), deliver at once — here, not in the request's thread, so a
    slow SMS gateway never keeps a person's page waiting."""
    kicked = kicked or threading.Event()
    next_sweep = time.monotonic() + interval
    while not stop.is_set():
        kicked.wait(max(0.0, next_sweep - time.monotonic()))
        if stop.is_set():
            break
        full = time.monotonic() >= next_sweep
        kicked.clear()
        close_old_connections()
        try:
            if full:
                result = api.fire_due_timers()
            api.deliver_outbox()
            if full:
                for job in registry.periodic_jobs().values():
                    job()
                if result.timers_fired:
                    log.info("fired %d timer(s)", result.timers_fired)
        except Exception:  # keep sweeping: a bad instance must not stop every other timer
            log.exception("timer sweep failed")
        finally:
            close_old_connections()
        if full:
            next_sweep = time.monotonic() + interval


class Command(BaseCommand):
    help = "Run the portal with timers swept in-process (embedded default, no broker needed)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        stop, kicked = threading.Event(), threading.Event()
        interval = settings.CASEFLOW_INPROCESS_SWEEP_SECONDS
        journal.set_outbox_kicker(kicked.set)  # after a step's commit: wake the sweeper, do not deliver in the request
        threading.Thread(target=sweep_forever, args=(interval, stop, kicked), daemon=True, name="timer-sweeper").start()
        self.stdout.write(f"Timers are swept every {interval:g}s in this process.")
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            stop.set()
