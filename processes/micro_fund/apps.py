import os

from django.utils.translation import gettext_lazy as _

from engine.process_app import NavEntry, ProcessApp

STAFF = frozenset({"admin", "supervisor", "finance", "worker"})


class MicroFundApp(ProcessApp):
    verbose_name = _("Community micro-fund")
    roles = {"reviewer": _("Reviewer"), "applicant": _("Applicant organisation"), "finance": _("Finance")}
    # An applicant organisation sees its own applications, a reviewer the ones on their panel.
    involvement_only_roles = frozenset({"applicant", "reviewer"})
    settings_defaults = {
        # The year's budget, review rules, tranches.
        "MICRO_FUND": {
            "budget": os.environ.get("MICRO_FUND_BUDGET", "150000.00"),
            "max_per_project": "30000.00",
            "min_reviewers": 3,
            "weights": {"need": "0.30", "feasibility": "0.30", "participation": "0.20", "budget": "0.20"},
            "first_tranche": "0.60",
        },
    }
    nav = (NavEntry("fund", _("Fund"), STAFF),)
    demo_users = (
        ("finance", "finance", "财务 孙会计", None),
        ("reviewer1", "reviewer", "评审 周教授", None),
        ("reviewer2", "reviewer", "评审 吴老师", None),
        ("reviewer3", "reviewer", "评审 郑主任", None),
        ("reviewer4", "reviewer", "评审 冯律师", None),
        ("app_dongshan", "applicant", "东山村老年协会 王会长", None),
        ("app_xishui", "applicant", "西水村妇女互助会 李主任", None),
        ("app_nanling", "applicant", "南岭村乡贤理事会 张理事", None),
        ("app_beipo", "applicant", "北坡村志愿服务队 赵队长", None),
    )
