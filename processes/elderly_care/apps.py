from django.utils.translation import gettext_lazy as _

from engine.process_app import NavEntry, ProcessApp


class ElderlyCareApp(ProcessApp):
    verbose_name = _("Left-behind elderly care")
    # The village doctor does the follow-up of a referral; it sees an elder only through a referral
    # addressed to its village's doctors, never the whole register.
    roles = {"village_doctor": _("Village doctor")}
    involvement_only_roles = frozenset({"village_doctor"})
    nav = (NavEntry("elderly-register", _("Elderly"), frozenset({"worker", "supervisor", "admin"})),)
    demo_users = (
        ("doctor_ds", "village_doctor", "东山村卫生室 王医生", ["dongshan"]),
        ("doctor_xs", "village_doctor", "西水村卫生室 陈医生", ["xishui"]),
    )
