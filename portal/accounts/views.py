from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
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
