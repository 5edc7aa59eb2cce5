"""Administrators maintain the screening scales here (name, items, range, cut-off, direction): data,
not code. A scale that groups already screened with keeps its range and cut-off for those scores'
meaning only as long as it is not edited, so a scale in use is marked inactive and a new one made."""
from django.contrib import admin

from .models import Scale


@admin.register(Scale)
class ScaleAdmin(admin.ModelAdmin):
    list_display = ("name", "items", "min_score", "max_score", "cutoff", "direction", "active")
    list_filter = ("active", "direction")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.screenings.exists():
            return ("name", "items", "min_score", "max_score", "cutoff", "direction")
        return ()

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.screenings.exists()
