import os

from django.utils.translation import gettext_lazy as _

from engine.process_app import ProcessApp


class NeedsMatchingApp(ProcessApp):
    verbose_name = _("Needs and resources matching")
    roles = {"partner_office": _("Partner office")}
    # A partner office sees only the referrals addressed to it.
    involvement_only_roles = frozenset({"partner_office"})
    # The low-income monitoring line (yuan a year per person, the work plan's 12,000).
    settings_defaults = {"NEEDS_MATCHING": {"income_line": os.environ.get("NEEDS_INCOME_LINE", "12000")}}
    demo_users = (
        ("edu_office", "partner_office", "县教育局 联络员", None),
        ("dpf_office", "partner_office", "县残联 联络员", None),
    )
