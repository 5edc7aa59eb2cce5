from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from engine.station import StaffProfile


@login_required
@require_POST
def set_language(request):
    """Switch the portal's language for this user (kept in their profile and a cookie)."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    profile, _created = StaffProfile.objects.get_or_create(user=request.user)
    profile.language = language
    profile.save(update_fields=["language"])
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language)
    translation.activate(language)
    return response


# --- Second factor (TOTP): enrolment and verification at sign-in (docs/adr/0018) ----------------

def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return default
    return target


def _token(request) -> str:
    return "".join(ch for ch in request.POST.get("token", "") if ch.isdigit())[:8]


@login_required
def otp_enrol(request):
    """Set up an authenticator app: the QR code (and, for typing in, the otpauth URI and the secret),
    then one code from the app confirms the device and verifies this session. Someone already
    enrolled sees that, and may remove it unless their role requires it."""
    from base64 import b32encode

    import segno
    from django.contrib import messages
    from django.shortcuts import redirect, render
    from django.utils.translation import gettext as _
    from django_otp import login as otp_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from portal.accounts.security import new_recovery_codes, recovery_codes_left, reset_second_factor, second_factor_required

    confirmed = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if confirmed is not None:
        if not request.user.is_verified():
            return redirect(f"{reverse('otp-verify')}?{urlencode({'next': _safe_next(request)})}")
        required = second_factor_required(request.user)
        if request.method == "POST" and request.POST.get("_action") == "remove" and not required:
            reset_second_factor(request.user)
            messages.success(request, _("Two-step sign-in is off."))
            return redirect("otp-enrol")
        if request.method == "POST" and request.POST.get("_action") == "new_codes":
            return _show_recovery_codes(request, new_recovery_codes(request.user), next_url="")
        return render(request, "portal/otp_enrol.html", {"enrolled": True, "required": required,
                                                         "codes_left": recovery_codes_left(request.user)})
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name="authenticator", confirmed=False)
    error = ""
    if request.method == "POST":
        if device.verify_token(_token(request)):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
            otp_login(request, device)
            messages.success(request, _("Two-step sign-in is on. From now on, you will be asked for a code from your app at every sign-in."))
            return _show_recovery_codes(request, new_recovery_codes(request.user), next_url=_safe_next(request))
        error = _("That code is not right. Check the time on your phone and enter the code now shown.")
    uri = device.config_url
    return render(request, "portal/otp_enrol.html", {
        "enrolled": False, "required": second_factor_required(request.user), "uri": uri,
        "secret": b32encode(device.bin_key).decode(), "qr_svg": segno.make(uri, error="m").svg_inline(scale=4, omitsize=False),
        "error": error, "next": _safe_next(request, "")}, status=400 if error else 200)


def _show_recovery_codes(request, codes: list[str], *, next_url: str):
    """The one time the codes are shown (never stored in the session, never shown again)."""
    from django.shortcuts import render

    response = render(request, "portal/otp_recovery_codes.html", {
        "codes": [" ".join(code[i:i + 4] for i in range(0, len(code), 4)) for code in codes], "next": next_url or reverse("otp-enrol")})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def otp_verify(request):
    """The second step of signing in: a code from the enrolled authenticator app."""
    from django.shortcuts import redirect, render
    from django.utils.translation import gettext as _
    from django_otp import login as otp_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if request.user.is_verified():
        return redirect(_safe_next(request))
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if device is None:
        return redirect(f"{reverse('otp-enrol')}?{urlencode({'next': _safe_next(request)})}")
    from portal.accounts.security import spend_recovery_code

    error = ""
    recovery = request.method == "POST" and bool(request.POST.get("recovery", "").strip())
    if recovery:  # a lost phone: one of the recovery codes, spent by this sign-in
        spent = spend_recovery_code(request.user, request.POST.get("recovery", ""))
        if spent is not None:
            otp_login(request, spent)
            from django.contrib import messages

            messages.warning(request, _("You signed in with a recovery code; it cannot be used again. "
                                        "Make new codes, or ask the administrator to reset your second step if the phone is lost."))
            return redirect(_safe_next(request))
        error = _("That recovery code is not right or was already used (or too many wrong codes: wait a minute).")
    elif request.method == "POST":
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            error = _("Too many wrong codes. Wait a minute, then enter the code now shown.")
        elif device.verify_token(_token(request)):
            otp_login(request, device)
            return redirect(_safe_next(request))
        else:
            error = _("That code is not right. Enter the code now shown in your authenticator app.")
    return render(request, "portal/otp_verify.html", {"error": error, "next": _safe_next(request, ""), "recovery": recovery},
                  status=400 if error else 200)
