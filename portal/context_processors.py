"""What every page's header needs: the unread-notification badge and the user's roles."""
from django.conf import settings


def portal(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from engine import api
    from engine.station import Village
    from portal.notifications.models import Notification

    return {
        "unread_count": Notification.objects.filter(user=user, read_at__isnull=True).count(),
        "languages": settings.LANGUAGES,
        "village_names": dict(Village.objects.values_list("code", "name")),
        "process_names": api.process_names(),
        "show_fund": user.groups.filter(name__in=["admin", "supervisor", "finance", "worker"]).exists(),
    }
