import os

from django.utils.translation import gettext_lazy as _

from engine.process_app import NavEntry, ProcessApp

STAFF = frozenset({"worker", "supervisor", "admin"})


class TimeBankApp(ProcessApp):
    verbose_name = _("Time bank")
    settings_defaults = {
        # The pilot (the work plan: three villages), and the written rules: an hour of service is an
        # hour in the bank; caps per visit and per day send a service to the supervisor before it is
        # deposited; an account holds at most `balance_cap_hours` (the excess goes to the pool).
        "TIME_BANK": {
            "pilot_villages": [v for v in os.environ.get("TIME_BANK_PILOT_VILLAGES", "dongshan,xishui,nanling").split(",") if v],
            "visit_cap_hours": "4",
            "day_cap_hours": "8",
            "balance_cap_hours": "1500",
            # The same volunteer serving the same elder on this many of the last `same_pair_window_days` days.
            "same_pair_days": 5,
            "same_pair_window_days": 7,
            "min_volunteer_age": 18,
        },
    }
    # A volunteer's own sign-in: their passbook and the services they give, nothing else — no case,
    # no inbox, no village (involvement only, and no task is ever routed to the role).
    roles = {"volunteer": _("Time-bank volunteer")}
    involvement_only_roles = frozenset({"volunteer"})
    home_pages = {"volunteer": "time-bank-mine"}
    # A volunteer's sign-in to try (no villages: a volunteer has none); demo_time_bank links it to a
    # dongshan volunteer's passbook, as a worker's "give a sign-in" would with an existing account.
    demo_users = (("volunteer", "volunteer", "时间银行志愿者", []),)
    nav = (NavEntry("time-bank", _("Time bank"), STAFF), NavEntry("time-bank-mine", _("My passbook"), frozenset({"volunteer"})))
