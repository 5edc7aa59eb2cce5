"""Admins maintain the resource catalogue here; a resource with a bad rule is refused on save with
the rule's number and what is wrong (Resource.clean)."""
from django.contrib import admin

from .models import Household, Member, Resource


class MemberInline(admin.TabularInline):
    model = Member
    extra = 1


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    """The list shows numbers and villages only. A household with a child is a minor's file here too
    (ADR 0020 addendum): its change page passes the same gate as its portal page — a reason from its
    holders, a supervisor's approval for anyone else — and the read is logged."""

    list_display = ("code", "village", "monitoring_status")
    list_filter = ("village", "monitoring_status")
    inlines = [MemberInline]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from urllib.parse import urlencode

        from django.shortcuts import redirect
        from django.urls import reverse

        from engine import api

        from . import access

        household = Household.objects.prefetch_related("members").filter(pk=object_id).first() if str(object_id).isdigit() else None
        if household is not None:
            missing = api.open_record(record=access.as_record(household), viewer=request.user, session=request.session,
                                      view="admin-household")
            if missing:
                target = reverse("record-access", args=[access.KIND, household.pk])
                return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "provider", "capacity_left", "capacity_unit", "valid_to", "active")
    list_filter = ("kind", "active")
