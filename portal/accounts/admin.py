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


# Second factor (ADR 0018 addendum): a user who lost their phone and their recovery codes is reset
# here — "Reset two-step sign-in" on the selected users removes their authenticator app and recovery
# codes (they enrol again at the next sign-in if their role requires it); each reset is an
# append-only audit event (who, whom, when) and a line in the admin's own history of the user.
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.admin import UserAdmin as _DjangoUserAdmin  # noqa: E402
from django.db import transaction  # noqa: E402

from engine import api  # noqa: E402
from portal.accounts.security import reset_second_factor  # noqa: E402

_User = get_user_model()
if admin.site.is_registered(_User):
    admin.site.unregister(_User)


@admin.register(_User)
class UserAdmin(_DjangoUserAdmin):
    actions = ["reset_second_factor", *(_DjangoUserAdmin.actions or [])]

    @admin.action(description=_("Reset two-step sign-in (lost phone)"), permissions=["change"])
    def reset_second_factor(self, request, queryset):
        names = []
        for user in queryset:
            with transaction.atomic():
                removed = reset_second_factor(user)
                api.record_second_factor_reset(actor=request.user, username=user.get_username(), devices=removed)
                self.log_change(request, user, gettext("Two-step sign-in reset"))
            names.append(user.get_username())
        self.message_user(request, gettext("Two-step sign-in reset for: %(names)s. They set it up again at their next sign-in.")
                          % {"names": ", ".join(sorted(names))}, messages.SUCCESS)
