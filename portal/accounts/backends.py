"""The sign-in backend: Django's ModelBackend (passwords, permissions), except that the user behind a
session is read with what every request asks of it next — the staff profile (the page's language)
and whether a confirmed second-factor device exists (the second-factor check) — in one query
instead of three. Every page pays for this read, `/healthz` included."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Exists, OuterRef

HAS_DEVICE = "_caseflow_has_device"


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        devices = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        try:
            user = (get_user_model()._default_manager.select_related("staff_profile")
                    .annotate(**{HAS_DEVICE: Exists(devices)}).get(pk=user_id))
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
