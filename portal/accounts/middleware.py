"""The portal speaks Simplified Chinese unless the user chose English (kept in their profile, or in
a cookie before signing in). The browser's Accept-Language is not consulted: on the station's
shared and second-hand phones it says little about who is reading."""
from django.conf import settings
from django.utils import translation


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = ""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = getattr(getattr(user, "staff_profile", None), "language", "") or ""
        if not language:
            language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()  # template responses render lazily: do it in this language
        response.headers.setdefault("Content-Language", language)
        return response


class SessionLimitsMiddleware:
    """A session ends CASEFLOW_SESSION_IDLE_SECONDS after its last request, and in any case
    CASEFLOW_SESSION_MAX_SECONDS after sign-in. The last-seen time is written at most once a minute,
    so reading pages does not turn every request into a database write."""

    STARTED = "_caseflow_signed_in_at"
    SEEN = "_caseflow_last_seen"
    WRITE_EVERY = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import time

        from django.contrib import messages
        from django.contrib.auth import logout
        from django.utils.translation import gettext as _

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            session = request.session
            started = session.get(self.STARTED)
            seen = session.get(self.SEEN)
            if started is None:
                session[self.STARTED] = started = now
            if seen is None:
                session[self.SEEN] = seen = now
            if now - seen > settings.CASEFLOW_SESSION_IDLE_SECONDS:
                logout(request)
                messages.info(request, _("You were signed out after %(minutes)d minutes without activity. Please sign in again.") % {
                    "minutes": settings.CASEFLOW_SESSION_IDLE_SECONDS // 60})
            elif now - started > settings.CASEFLOW_SESSION_MAX_SECONDS:
                logout(request)
                messages.info(request, _("Your session ended after %(hours)d hours. Please sign in again.") % {
                    "hours": settings.CASEFLOW_SESSION_MAX_SECONDS // 3600})
            elif now - seen >= self.WRITE_EVERY:
                session[self.SEEN] = now
        return self.get_response(request)


class SecondFactorMiddleware:
    """After the password, those who need a second factor (portal.accounts.security) reach nothing
    but the enrolment and verification pages, signing out, the language switch and static files
    until they have entered a valid one-time code in this session."""

    ALLOWED = ("accounts/2fa/", "accounts/logout/", "language/", "static/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.shortcuts import redirect
        from django.urls import reverse

        from portal.accounts.security import has_device, needs_second_factor

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_verified():
            path = request.path_info.lstrip("/")
            if not path.startswith(self.ALLOWED) and needs_second_factor(user):
                target = reverse("otp-verify") if has_device(user) else reverse("otp-enrol")
                if request.htmx:
                    from django.http import HttpResponse

                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = target
                    return response
                if request.method == "GET":
                    from django.utils.http import urlencode

                    target = f"{target}?{urlencode({'next': request.get_full_path()})}"
                return redirect(target)
        return self.get_response(request)
