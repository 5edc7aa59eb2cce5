from django.utils.translation import gettext_lazy as _

from engine.process_app import NavEntry, ProcessApp


class ActivitiesApp(ProcessApp):
    """Sessions of every kind the station runs — after-school classes at the village points,
    child-protection awareness sessions, skills trainings, coaching of community organisations —
    planned, recorded with attendance and reviewed by the supervisor."""

    verbose_name = _("Activities")
    nav = (NavEntry("activities", _("Activities"), frozenset({"worker", "supervisor", "admin"})),)
