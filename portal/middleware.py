"""A database that stays busy past its lock timeout (SQLite in the embedded default, under a burst
of writes) answers with a page that says so — nothing was saved, try again — never a 500."""
from __future__ import annotations

from django.db import OperationalError
from django.shortcuts import render
from django.utils.translation import gettext as _


class BusyDatabaseMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError) and "locked" in str(exception).lower():
            response = render(request, "portal/error.html", {
                "title": _("Busy"), "message": _("Many people are saving at this moment; nothing was saved. Please submit again.")}, status=503)
            response["Retry-After"] = "5"
            return response
        return None
