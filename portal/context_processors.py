"""What every page's header needs: the unread-notification badge, names, and the links the process
apps add for this user's roles."""
from django.conf import settings


def portal(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from engine import api, registry
    from engine.station import Village
    from portal.notifications.models import Notification

    from engine.selectors import roles_of

    groups = roles_of(user)
    decides = "supervisor" in groups
    return {
        "decides_access": decides,
        "pending_access": len(api.access_requests_to_decide(user)) if decides else 0,
        "reads_audit": api.may_read_minors_audit(user),
        "sees_year": bool(groups & {"worker", "supervisor", "civil_affairs", "admin"}) or user.is_superuser,
        "unread_count": Notification.objects.filter(user=user, read_at__isnull=True).count(),
        "languages": settings.LANGUAGES,
        "village_names": dict(Village.objects.values_list("code", "name")),
        "process_names": api.process_names(),
        "nav_entries": _nav_entries(user, registry.nav_entries()),
        # Someone who works only on a page of their own (a volunteer): the header links only there.
        "home_only": registry.home_page(groups) is not None,
        "calendar_warning": _calendar_warning(user),
    }


def _calendar_warning(user) -> str:
    """For administrators: a year within reach that the holiday package does not know yet."""
    from engine import api

    if not api.may_edit_calendar(user):
        return ""
    years = api.unknown_calendar_years()
    return api.unknown_calendar_message(years) if years else ""


def _nav_entries(user, entries) -> list[dict]:
    if not entries:
        return []
    from django.urls import NoReverseMatch, reverse

    from engine.selectors import roles_of

    groups = roles_of(user)
    shown = []
    for entry in entries:
        if entry.roles and not groups & entry.roles:
            continue
        try:
            shown.append({"url": reverse(entry.url_name), "label": entry.label, "name": entry.url_name})
        except NoReverseMatch:
            continue
    return shown
