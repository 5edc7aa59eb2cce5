"""Helpers of the accounts hardening (docs/adr/0018): who must use a second factor, the client's
address for the lock-out, the TOTP device of a user and their single-use recovery codes."""
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
    """Whether the user has a confirmed device: as the session's user was read with it
    (portal.accounts.backends), or asked of the database for any other user object."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from portal.accounts.backends import HAS_DEVICE

    known = getattr(user, HAS_DEVICE, None)
    if known is not None:
        return known

    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


RECOVERY_CODES = 10  # shown once at enrolment; each signs in once


def normalised_code(text: str) -> str:
    """A recovery code as typed: spaces, dashes and case do not matter."""
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())[:16]


def stored_code(code: str) -> str:
    """What the database keeps of a recovery code: a keyed hash (HMAC-SHA256 under SECRET_KEY, 64 bits
    in hex, the width of django-otp's token column), never the code. A copy of the database does not
    sign anybody in; changing SECRET_KEY makes the codes unusable (new ones are made on the 2FA page)."""
    from django.utils.crypto import salted_hmac

    return salted_hmac("caseflow.recovery-code", normalised_code(code), algorithm="sha256").hexdigest()[:16]


def new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODES new ones (django-otp's static device)
    and answer them, to be shown once: only their holder sees them, on that one page."""
    from django.db import transaction
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
        codes = []
        while len(codes) < RECOVERY_CODES:
            code = StaticToken.random_token()
            if code not in codes:
                codes.append(code)
        StaticToken.objects.bulk_create([StaticToken(device=device, token=stored_code(code)) for code in codes])
    return codes


def recovery_codes_left(user) -> int:
    from django_otp.plugins.otp_static.models import StaticToken

    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def spend_recovery_code(user, text: str):
    """The user's recovery device if `text` is one of their unspent codes, which is spent now (one
    DELETE: of two sign-ins racing with the same code, only one gets the row); None otherwise.
    Wrong codes count towards django-otp's growing wait, like wrong app codes."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    code = normalised_code(text)
    if device is None or not code:
        return None
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        return None
    deleted, _rows = StaticToken.objects.filter(device=device, token=stored_code(code)).delete()
    if not deleted:
        device.throttle_increment()
        return None
    device.throttle_reset(commit=False)
    device.set_last_used_timestamp(commit=False)
    device.save()
    return device


def reset_second_factor(user) -> int:
    """Remove the user's authenticator app and recovery codes (a lost phone): they enrol again at
    their next sign-in if their role requires it. Answers how many devices were removed."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    removed, _rows = TOTPDevice.objects.filter(user=user).delete()
    static, _rows = StaticDevice.objects.filter(user=user).delete()
    return removed + (1 if static else 0)
