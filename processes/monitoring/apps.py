import os

from django.utils.translation import gettext_lazy as _, pgettext_lazy

from engine.process_app import NavEntry, ProcessApp


class MonitoringApp(ProcessApp):
    """Low-income families monitored month by month (the work plan's I.3.1): each month's incomes,
    rigid spending and events, the per-capita income against the 12,000-yuan line and the local
    minimum-living standard, warning rules as data, a verification visit for each warning and, once
    a supervisor confirms it, one chain of aid through needs matching."""

    verbose_name = _("Low-income monitoring")
    # Yuan: the work plan's line is a year's per-capita income; the local minimum-living standard
    # (低保标准) is published per person and month.
    settings_defaults = {"MONITORING": {
        "income_line": os.environ.get("MONITORING_INCOME_LINE", "12000"),
        "living_standard_monthly": os.environ.get("MONITORING_LIVING_STANDARD", "750"),
        "grace_days": 5,
        "upload_max_bytes": 2 * 1024 * 1024,
        "upload_max_rows": 2000,
    }}
    nav = (NavEntry("monitoring", pgettext_lazy("header link", "Monitoring"), frozenset({"worker", "supervisor", "admin"})),)
