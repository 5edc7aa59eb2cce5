"""Administrators maintain the elders and the rules here. A rule version is never edited: saving
the form stores the next version (with who and why), after the same checks the process applies, so
a bad rule is refused with its number and what is wrong (RuleSet.clean)."""
from django.contrib import admin

from .models import ElderlyPerson, RuleSet


@admin.register(ElderlyPerson)
class ElderlyPersonAdmin(admin.ModelAdmin):
    list_display = ("code", "village", "household_code", "birth_year", "tier", "active")
    list_filter = ("village", "tier", "active")
    exclude = ("screening_answers", "cycle_instance_id", "tier_confirmed_at")


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ("kind", "version", "note", "created_by", "created_at")
    list_filter = ("kind",)
    fields = ("kind", "rules", "note")

    def has_delete_permission(self, request, obj=None):
        return False  # screenings and referrals name the version they used

    def save_model(self, request, obj, form, change):
        new = RuleSet.publish(obj.kind, obj.rules, note=obj.note, by=request.user)
        obj.pk, obj.version = new.pk, new.version
