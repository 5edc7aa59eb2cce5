"""Helpers of the accounts hardening (docs/adr/0018): who must use a second factor, the client's
address for the lock-out, and the TOTP device of a user."""
from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    """The address the lock-out counts failures by: the peer, or, behind a trusted TLS proxy
    (CASEFLOW_TRUST_X_FORWARDED_PROTO), the address that proxy saw (the last X-Forwarded-For hop)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR")


def needs_second_factor(user) -> bool:
    """Whether this user must pass a one-time code after the password: anyone who enrolled one, and,
    when CASEFLOW_REQUIRE_2FA is on, every administrator and civil-affairs officer."""
    if not getattr(user, "is_authenticated", False):
        return False
    if has_device(user):
        return True
    return second_factor_required(user)


def second_factor_required(user) -> bool:
    if not getattr(settings, "CASEFLOW_REQUIRE_2FA", False):
        return False
    if user.is_superuser:
        return True
    roles = set(settings.CASEFLOW_2FA_ROLES)
    return user.groups.filter(name__in=roles).exists()


def has_device(user) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
