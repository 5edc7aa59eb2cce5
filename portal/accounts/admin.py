from django.contrib import admin

from engine.station import StaffProfile, Village


@admin.register(Village)
class VillageAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "position")


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "township_wide", "language")
    filter_horizontal = ("villages",)


# Lock-out (django-axes): the administrator unlocks from "Access attempts" — select the rows, then
# "Unlock the selected sign-ins" (deleting the rows does the same).
from axes.admin import AccessAttemptAdmin as _AxesAccessAttemptAdmin  # noqa: E402
from axes.models import AccessAttempt  # noqa: E402
from django.contrib import messages  # noqa: E402
from django.utils.translation import gettext, gettext_lazy as _  # noqa: E402

if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(_AxesAccessAttemptAdmin):
    actions = ["unlock", *_AxesAccessAttemptAdmin.actions]

    @admin.action(description=_("Unlock the selected sign-ins"))
    def unlock(self, request, queryset):
        from axes.utils import reset

        pairs = set(queryset.values_list("username", "ip_address"))
        for username, ip_address in pairs:
            reset(username=username, ip=ip_address)
        self.message_user(request, gettext("Unlocked: %(names)s") % {"names": ", ".join(sorted({u or "?" for u, _ip in pairs}))},
                          messages.SUCCESS)
