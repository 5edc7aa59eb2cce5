from django.utils.translation import gettext_lazy as _

from engine.process_app import NavEntry, ProcessApp


class HomeVisitsApp(ProcessApp):
    verbose_name = _("Home visits")
    roles = {"visitor": _("Home visitor")}
    settings_defaults = {"HOME_VISITS": {"longest_minutes": 240}}
    nav = (NavEntry("home-visits", _("Visits"), frozenset({"visitor", "supervisor"})),)
    demo_users = (("visitor1", "visitor", "探访员 钱多多", ["dongshan"]),)
