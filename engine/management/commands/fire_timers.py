"""One timer sweep: `python manage.py fire_timers [--as-of ISO-8601]`."""
from django.core.management.base import BaseCommand

from engine import api

from .caseflow import _parse_time


class Command(BaseCommand):
    help = "Fire every timer due by now (or --as-of), exactly once, give the deadline warnings due, then deliver queued notifications."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO-8601 instant with offset, e.g. 2026-12-01T09:00:00+08:00")

    def handle(self, *args, **options):
        as_of = _parse_time(options["as_of"]) if options["as_of"] else None
        result = api.fire_due_timers(as_of=as_of)
        warned = api.warn_before_deadlines(as_of=as_of)
        delivered = api.deliver_outbox()
        self.stdout.write(f"timers fired: {result.timers_fired} in {result.instances} instance(s); "
                          f"conflicts: {result.conflicts}; deadline warnings: {warned}; notifications delivered: {delivered}")
