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
