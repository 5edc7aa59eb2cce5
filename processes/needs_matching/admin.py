"""Admins maintain the resource catalogue here; a resource with a bad rule is refused on save with
the rule's number and what is wrong (Resource.clean)."""
from django.contrib import admin

from .models import Household, Member, Resource


class MemberInline(admin.TabularInline):
    model = Member
    extra = 1


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    list_display = ("code", "village", "monitoring_status")
    list_filter = ("village", "monitoring_status")
    inlines = [MemberInline]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "provider", "capacity_left", "capacity_unit", "valid_to", "active")
    list_filter = ("kind", "active")
