"""Who may see and do what, object by object: a declarative access matrix over every page and action
of the portal, for every role, on objects of the user's own and of another village, organisation,
review panel, provider group and case.

Access is decided per object, not per role. The world below has two of everything: two villages
(dongshan, xishui), two child-protection reports (the dongshan one escalated to its supervisor and to
civil affairs by its timers), two micro-fund applications of two organisations reviewed by two
disjoint panels (plus a reviewer on no panel, and a fresh application of each organisation), two
needs-matching cases whose referrals go to two provider groups (and one referral to a resource
without a provider account, which must become a task for the case's worker), a shared case, and
uploaded attachments.

The expectations are data: who may complete each task, who may open it, who may open each case,
which villages' households each person sees... `MATRIX` expands them over every user into rows
``(action, object, user) -> expected``. Outcomes:

  reads   "200" / "404" (not yours reads like a missing id) / "login" (anonymous)
          "act" / "view" on a task page: the form is offered, or the task is only shown
          "shown" / "hidden" for a private part of a page; a set of objects for lists
  writes  "ok" (the intended change happened), "404", "403", "409", "400" (a form error),
          "msg" (redirected with an error message). Every refused write must also leave the
          database exactly as it was (tasks, instances, audit trail, grants, files, money).

The world is built once for the module, through the public API and the portal, inside a
transaction rolled back when the module ends; every cell runs in a savepoint rolled back after it,
so an allowed write never leaks into the next cell. Each section fails with a table of the cells
that broke."""
from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO

import pytest
from django.contrib.messages import constants as message_levels
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone, translation
from lxml import html as lxml_html

from engine import api
from engine.business_calendar import CalendarDay
from engine.models import (
    AuditEvent, HumanTask, InstanceGroupObjectPermission, InstanceUserObjectPermission, OutboxMessage, ProcessDefinition,
    ProcessInstance,
)
from portal.cases.models import Attachment
from processes.activities.models import Roster, RosterMember
from processes.micro_fund.models import Application, Fund, LedgerEntry
from processes.needs_matching.models import Household, Member, Referral, Resource
from processes.time_bank.models import ServiceSession
from tests.conftest import make_user
from tests.dates import local_minutes_ago, today
from tests.processes.child_protection import flows as cp
from tests.processes.micro_fund import flows as mf
from tests.processes.needs_matching.test_process import BELOW_LINE

pytestmark = pytest.mark.django_db

DS, XS = "dongshan", "xishui"
MATRIX_MESSAGE = "matrix:police:failed"  # the key of the one undelivered message in the world

# -- the people ---------------------------------------------------------------------------------------
# name: (roles and groups, villages (None: township-wide), organisation they belong to)
PEOPLE = {
    "intake_ds": (["intake_desk"], [DS], None),
    "intake_xs": (["intake_desk"], [XS], None),
    "worker_ds": (["worker"], [DS], None),
    "worker_xs": (["worker"], [XS], None),
    "worker_xs2": (["worker"], [XS], None),
    "sup_ds": (["supervisor"], [DS], None),
    "sup_xs": (["supervisor"], [XS], None),
    "civil": (["civil_affairs"], None, None),
    "finance": (["finance"], None, None),
    "rA1": (["reviewer"], None, None),  # panel A (application app_A)
    "rA2": (["reviewer"], None, None),
    "rA3": (["reviewer"], None, None),
    "rB1": (["reviewer"], None, None),  # panel B (application app_B)
    "rB2": (["reviewer"], None, None),
    "rB3": (["reviewer"], None, None),
    "r_none": (["reviewer"], None, None),  # on no panel
    "doc_ds": (["village_doctor"], [DS], None),  # elderly care: sees an elder only through a referral to its village
    "doc_xs": (["village_doctor"], [XS], None),
    "appl_A": (["applicant"], None, "org_A"),
    "appl_B": (["applicant"], None, "org_B"),
    "partner_edu": (["partner_office", "prov-edu"], None, None),
    "partner_health": (["partner_office", "prov-health"], None, None),
    "admin": (["admin"], None, None),
    "norole": ([], [DS], None),  # signed in, works in dongshan, has no role at all
    # Time-bank volunteers with their own sign-in (no staff profile, no village): an approved one, and
    # one whose membership a supervisor suspended.
    "vol_ds": (["volunteer"], [], None),
    "vol_off": (["volunteer"], [], None),
}
USERS = ["anon", *PEOPLE]
SUPERVISES = {DS: {"sup_ds", "admin"}, XS: {"sup_xs", "admin"}}  # assign, release, share in the village

TITLES = {"app_A": "东山垃圾分类", "new_A": "东山敬老食堂", "app_B": "西水妇女互助", "new_B": "西水儿童之家"}
HOUSEHOLDS = {"hh_ds": "HH-DS-001", "hh_ds2": "HH-DS-002", "hh_xs": "HH-XS-001", "hh_xs2": "HH-XS-002"}


# -- the objects and who may reach them -------------------------------------------------------------

@dataclass(frozen=True)
class Open:
    """An open task: who may complete it (`act`), who else may open it besides the village's
    supervisors and administrators (`view`), who holds it, whether it is routed to them by name."""
    village: str
    act: frozenset
    holder: str | None = None
    named: bool = False
    view: frozenset = frozenset()
    overdue: bool = False

    @property
    def openers(self):
        return self.act | self.view | SUPERVISES[self.village]


@dataclass(frozen=True)
class Done:
    """A completed task: who did it, and who else of its role and village may open it."""
    village: str
    by: str
    view: frozenset = frozenset()

    @property
    def openers(self):
        return {self.by} | self.view | SUPERVISES[self.village]


def O(village, act, **kw):  # short names keep the tables readable
    return Open(village, frozenset(act), **{k: frozenset(v) if k == "view" else v for k, v in kw.items()})


def D(village, by, view=()):
    return Done(village, by, frozenset(view))


OPEN = {
    "cp_ds:PoliceReceipt": O(DS, {"intake_ds"}, holder="intake_ds"),  # follows the desk that took the report
    "cp_ds:Respond": O(DS, {"worker_ds"}, overdue=True),  # 24 h passed: escalated, still the workers'
    "cp_ds:SupervisorEscalation": O(DS, {"sup_ds"}),
    "cp_ds:CivilAffairsEscalation": O(DS, {"civil"}),
    "cp_xs:PoliceReceipt": O(XS, {"intake_xs"}, holder="intake_xs"),
    "cp_xs:Respond": O(XS, {"worker_xs"}, holder="worker_xs", view={"worker_xs2"}),  # claimed by worker_xs
    "app_A:Review@rA2": O(DS, {"rA2"}, holder="rA2", named=True),  # never rA1/rA3 of the same panel
    "app_A:Review@rA3": O(DS, {"rA3"}, holder="rA3", named=True),
    "app_B:WorkerEvaluation": O(XS, {"worker_xs"}, holder="worker_xs", view={"worker_xs2"}),
    "app_B:ReviewerEvaluation": O(XS, {"rB1"}, holder="rB1", named=True),  # the panel member who scored first
    "new_A:Application": O(DS, {"appl_A"}, holder="appl_A"),
    "new_B:Application": O(XS, {"appl_B"}, holder="appl_B"),
    "nm_ds:ProviderResponse#edu": O(DS, {"partner_edu"}),  # addressed to the group prov-edu
    "nm_ds:ProviderResponse#charity": O(DS, {"worker_ds"}, holder="worker_ds"),  # no provider account: the case's worker
    "nm_xs:ProviderResponse#health": O(XS, {"partner_health"}),
    # A joint home visit with the school for dongshan's child: a task of the office it names (prov-edu), no other.
    "jv_ds:PartnerVisit": O(DS, {"partner_edu"}),
    # Time-bank services waiting for their volunteers: the sign-in and sign-out the worker records for
    # a volunteer without a phone (it follows the worker who matched the volunteer).
    "tbs_vol:Service": O(DS, {"worker_ds"}, holder="worker_ds"),
    "tbs_other:Service": O(DS, {"worker_ds"}, holder="worker_ds"),
}
DONE = {
    "cp_ds:Intake": D(DS, "intake_ds"),
    "cp_xs:Intake": D(XS, "intake_xs"),
    "app_A:Application": D(DS, "appl_A"),
    "app_A:CheckCompleteness": D(DS, "worker_ds"),
    "app_A:SelectPanel": D(DS, "sup_ds"),
    "app_A:Review@rA1": D(DS, "rA1"),
    "app_B:Application": D(XS, "appl_B"),
    "app_B:CheckCompleteness": D(XS, "worker_xs", {"worker_xs2"}),
    "app_B:SelectPanel": D(XS, "sup_xs"),
    "app_B:Review@rB1": D(XS, "rB1"),
    "app_B:Review@rB2": D(XS, "rB2"),
    "app_B:Review@rB3": D(XS, "rB3"),
    "app_B:Decide": D(XS, "sup_xs"),
    "app_B:Tranche1": D(XS, "finance"),
    "app_B:ProgressReport": D(XS, "appl_B"),
    "app_B:SiteVisit": D(XS, "worker_xs", {"worker_xs2"}),
    "app_B:FinalReport": D(XS, "appl_B"),
    "nm_ds:NeedsAssessment": D(DS, "worker_ds"),
    "nm_ds:ConfirmPlan": D(DS, "worker_ds"),
    "nm_xs:NeedsAssessment": D(XS, "worker_xs", {"worker_xs2"}),  # not worker_ds: a shared case opens no task
    "nm_xs:ConfirmPlan": D(XS, "worker_xs", {"worker_xs2"}),
    "tbs_vol:Match": D(DS, "worker_ds"),
    "tbs_other:Match": D(DS, "worker_ds"),
}
TASKS = {**OPEN, **DONE}

CASE_VIEWERS = {
    # civil affairs is township-wide and has a lane in child protection: it sees every report
    # (docs/architecture.md, known limit 3), never a fund application or a household.
    "cp_ds": {"intake_ds", "worker_ds", "sup_ds", "civil", "admin"},
    "cp_xs": {"intake_xs", "worker_xs", "worker_xs2", "sup_xs", "civil", "admin"},
    "app_A": {"worker_ds", "sup_ds", "finance", "rA1", "rA2", "rA3", "appl_A", "admin"},
    "app_B": {"worker_xs", "worker_xs2", "sup_xs", "finance", "rB1", "rB2", "rB3", "appl_B", "admin"},
    "new_A": {"worker_ds", "sup_ds", "finance", "appl_A", "admin"},
    "new_B": {"worker_xs", "worker_xs2", "sup_xs", "finance", "appl_B", "admin"},
    # A provider group's unclaimed referral does not open the household's case to the office.
    "nm_ds": {"worker_ds", "sup_ds", "admin"},
    "nm_xs": {"worker_xs", "worker_xs2", "sup_xs", "admin", "worker_ds"},  # shared with worker_ds by sup_xs
}
# Minors' files (ADR 0020): among a child-protection case's viewers, its holders give a reason; the
# others need a supervisor's approval. The world approves the others once (so the sections above test
# visibility as before); the "minors" section takes those approvals away and tests the gate itself.
HOLDERS = {
    "cp_ds": {"intake_ds", "worker_ds", "sup_ds", "civil"},  # civil: the 48-hour escalation is in its inbox
    "cp_xs": {"intake_xs", "worker_xs", "sup_xs"},  # worker_xs2 (the response is worker_xs's) and civil are not
}
APPROVED = {"cp_ds": {"admin": "sup_ds"}, "cp_xs": {"admin": "sup_xs", "worker_xs2": "sup_xs", "civil": "sup_xs"}}
# A household with a child (hh_ds, hh_xs) is a minor's file too: its holders are the village's supervisor
# and the holders of its needs case; the other staff who see it need an approval (given once, as above).
HH_HOLDERS = {"hh_ds": {"worker_ds", "sup_ds"}, "hh_xs": {"worker_xs", "sup_xs"}}
HH_APPROVED = {"hh_ds": {"admin": "sup_ds"}, "hh_xs": {"admin": "sup_xs", "worker_xs2": "sup_xs"}}
AUDIT_READERS = {"admin", "civil"}
CASE_VILLAGE = {"cp_ds": DS, "cp_xs": XS, "app_A": DS, "app_B": XS, "new_A": DS, "new_B": XS, "nm_ds": DS, "nm_xs": XS}
FILES = {"att_A": "app_A", "att_B": "app_B"}  # uploaded with each application, through the task page

# Private parts of a case page: (case, what, marker) -> who among the case's viewers reads it.
PRIVATE_ON_CASE = {
    # A field restricted to named roles is not opened to administrators either (engine/forms.py).
    ("cp_ds", "reporter's identity", "张老师东"): {"intake_ds", "sup_ds"},
    ("cp_xs", "reporter's identity", "张老师西"): {"intake_xs", "sup_xs"},
    ("app_A", "rA1's sealed review", "评审意见A1"): {"rA1"},  # sealed while rA2 and rA3 still score
    ("app_B", "the panel's reviews", "评审意见B1"): {"rB1", "rB2", "rB3", "sup_xs", "admin"},
    ("nm_ds", "the household's needs", "房屋漏雨东"): {"worker_ds", "sup_ds", "admin"},
    ("nm_xs", "the household's needs", "慢性病药费西"): {"worker_xs", "worker_xs2", "sup_xs", "admin", "worker_ds"},
}
# Private parts of a task page: (task, what, marker) -> who reads it (only the users listed are checked).
PRIVATE_ON_TASK = {
    ("cp_ds:Respond", "reporter's identity", "张老师东"): {"worker_ds": "hidden", "sup_ds": "shown", "admin": "hidden"},
    ("cp_xs:Respond", "reporter's identity", "张老师西"): {"worker_xs": "hidden", "worker_xs2": "hidden", "sup_xs": "shown"},
    ("nm_ds:ProviderResponse#edu", "the other need", "房屋漏雨东"): {"partner_edu": "hidden", "sup_ds": "shown"},
    ("nm_ds:ProviderResponse#edu", "the other referral's resource", "爱心修房基金"): {"partner_edu": "hidden"},
    ("nm_ds:ProviderResponse#edu", "the head of household", "王东户主"): {"partner_edu": "hidden"},
    ("nm_ds:ProviderResponse#edu", "the need referred", "小东学费困难"): {"partner_edu": "shown"},
    ("nm_xs:ProviderResponse#health", "the household's members", "小西"): {"partner_health": "hidden"},
    ("nm_xs:ProviderResponse#health", "the need referred", "慢性病药费西"): {"partner_health": "shown"},
    # The school sees what the visit needs (the child's name, the purpose), never the rest of the archive.
    ("jv_ds:PartnerVisit", "the child's name", "儿童ch_ds"): {"partner_edu": "shown"},
    ("jv_ds:PartnerVisit", "the visit's purpose", "矩阵家访目的"): {"partner_edu": "shown"},
    ("jv_ds:PartnerVisit", "the child's health in the archive", "哮喘矩阵"): {"partner_edu": "hidden", "sup_ds": "hidden"},
    ("app_A:Review@rA2", "rA1's sealed review", "评审意见A1"): {"rA2": "hidden", "sup_ds": "hidden"},
    ("app_B:ReviewerEvaluation", "the panel's reviews", "评审意见B2"): {"rB1": "shown"},
}

# Who is notified about each open task (a new task for the people of its role and village, or for
# the one person it is given to; a breach for the village's supervisors). Nobody else, ever.
NOTIFIED = {
    "cp_ds:PoliceReceipt": set(),  # the desk's own next step: it is taken there, no notice
    "cp_ds:Respond": {"worker_ds", "sup_ds"},  # new task for the village's workers; the breach to its supervisor
    "cp_ds:SupervisorEscalation": {"sup_ds"},
    "cp_ds:CivilAffairsEscalation": {"civil"},
    "cp_xs:PoliceReceipt": set(),
    "cp_xs:Respond": {"worker_xs", "worker_xs2"},
    "app_A:Review@rA1": {"rA1"},
    "app_A:Review@rA2": {"rA2"},
    "app_A:Review@rA3": {"rA3"},
    "app_B:WorkerEvaluation": {"worker_xs"},
    "app_B:ReviewerEvaluation": {"rB1"},
    "app_B:Tranche1": {"finance"},
    "new_A:Application": set(),
    "new_B:Application": set(),
    "nm_ds:ProviderResponse#edu": {"partner_edu"},
    "nm_ds:ProviderResponse#charity": set(),  # the worker's own next step; never a partner office
    "nm_xs:ProviderResponse#health": {"partner_health"},
    "jv_ds:PartnerVisit": {"partner_edu"},
}

# Assignments a village's supervisor may make (someone who can hold the task, from any village),
# and ones nobody may make (the person lacks the task's role).
ASSIGN_OK = [
    ("cp_ds:Respond", "worker_xs"),  # a worker of another village covering sick leave
    ("cp_ds:Respond", "sup_ds"),  # the supervisor takes it over
    ("cp_ds:PoliceReceipt", "intake_xs"),
    ("cp_xs:Respond", "worker_xs2"),
    ("app_A:Review@rA2", "r_none"),  # a reviewer replaced
    ("app_B:ReviewerEvaluation", "rB2"),
    ("nm_ds:ProviderResponse#edu", "partner_edu"),
    ("nm_ds:ProviderResponse#charity", "worker_xs"),
    ("nm_xs:ProviderResponse#health", "partner_health"),
    ("jv_ds:PartnerVisit", "partner_edu"),
]
ASSIGN_REFUSED = [
    ("cp_ds:Respond", target) for target in ["appl_A", "rA1", "partner_edu", "civil", "intake_ds", "finance", "norole", "sup_xs"]
] + [
    ("app_A:Review@rA2", target) for target in ["appl_A", "worker_ds", "finance"]
] + [
    ("nm_ds:ProviderResponse#edu", target) for target in ["partner_health", "worker_ds", "worker_xs"]
] + [
    ("nm_xs:ProviderResponse#health", target) for target in ["partner_edu", "worker_xs"]
] + [
    ("jv_ds:PartnerVisit", target) for target in ["partner_health", "worker_ds", "worker_xs"]
]
# Who the assign form offers (only to the village's supervisors and administrators).
ASSIGN_OPTIONS = {
    "cp_ds:Respond": {"sup_ds": {"worker_ds", "worker_xs", "worker_xs2", "sup_ds"},
                      "admin": {"worker_ds", "worker_xs", "worker_xs2", "admin"}},
    "app_B:WorkerEvaluation": {"sup_xs": {"worker_ds", "worker_xs2", "sup_xs"}, "admin": {"worker_ds", "worker_xs2", "admin"}},
    "nm_ds:ProviderResponse#edu": {"sup_ds": {"partner_edu", "sup_ds"}, "admin": {"partner_edu", "admin"}},
    "nm_xs:ProviderResponse#health": {"sup_xs": {"partner_health", "sup_xs"}, "admin": {"partner_health", "admin"}},
}

# Sharing: with staff of a role the case's process involves, by a supervisor of its village.
SHARE_OK = [("cp_xs", "worker_ds"), ("cp_xs", "civil"), ("app_A", "worker_xs"), ("nm_ds", "worker_xs")]
SHARE_REFUSED = {  # never with an organisation, a reviewer, an outside office or another process's staff
    "cp_xs": ["rA1", "appl_A", "partner_edu", "finance", "norole"],
    "app_A": ["rB1", "r_none", "appl_B", "partner_edu", "civil", "intake_ds", "norole"],
    "nm_ds": ["partner_edu", "partner_health", "appl_A", "rA1", "civil", "finance", "intake_ds"],
}
SHARE_OPTIONS = {
    "cp_xs": {"sup_xs": {"intake_ds", "intake_xs", "worker_ds", "worker_xs", "worker_xs2", "sup_ds", "civil"}},
    "app_A": {"sup_ds": {"worker_ds", "worker_xs", "worker_xs2", "sup_xs", "finance"}},
    "nm_ds": {"sup_ds": {"worker_ds", "worker_xs", "worker_xs2", "sup_xs"}},
}

STARTS = {"intake_ds": {"child_protection"}, "intake_xs": {"child_protection"},
          "worker_ds": {"needs_matching", "elderly_care", "time_bank", "activities", "monitoring", "children", "children_joint_visit"},
          "worker_xs": {"needs_matching", "elderly_care", "time_bank", "activities", "monitoring", "children", "children_joint_visit"},
          "worker_xs2": {"needs_matching", "elderly_care", "time_bank", "activities", "monitoring", "children", "children_joint_visit"}, "appl_A": {"micro_fund"}, "appl_B": {"micro_fund"},
          "admin": {"incident_matrix"}}  # the world's failing process starts in the administrators' lane
START_POSTS = {  # (process, what is submitted) -> outcome per user; everyone else: 404 (may not start it)
    ("child_protection", "village=dongshan"): {"intake_ds": "ok", "intake_xs": "400"},
    ("child_protection", "village=xishui"): {"intake_xs": "ok", "intake_ds": "400"},
    ("micro_fund", "organisation=org_A"): {"appl_A": "ok", "appl_B": "400"},
    ("micro_fund", "organisation=org_B"): {"appl_B": "ok", "appl_A": "400"},
    ("needs_matching", "household=hh_ds2"): {"worker_ds": "ok", "worker_xs": "400", "worker_xs2": "400"},
    ("needs_matching", "household=hh_xs2"): {"worker_xs": "ok", "worker_xs2": "ok", "worker_ds": "400"},
    ("needs_matching", "household=hh_xs"): {"worker_xs": "400", "worker_xs2": "400", "worker_ds": "400"},  # case open; shared ≠ own village
}
START_OPTIONS = {
    ("micro_fund", "organisation"): {"appl_A": {"org_A"}, "appl_B": {"org_B"}},
    ("needs_matching", "household"): {"worker_ds": {"hh_ds", "hh_ds2"}, "worker_xs": {"hh_xs", "hh_xs2"},
                                      "worker_xs2": {"hh_xs", "hh_xs2"}},
}

# The fund page: the fund's staff, each their villages' applications; nobody else.
FUND = {"worker_ds": {"app_A", "new_A"}, "sup_ds": {"app_A", "new_A"}, "worker_xs": {"app_B", "new_B"},
        "worker_xs2": {"app_B", "new_B"}, "sup_xs": {"app_B", "new_B"}, "finance": set(TITLES), "admin": set(TITLES)}
# Household pages: staff (worker, supervisor, admin), each their villages.
HH = {"worker_ds": {"hh_ds", "hh_ds2"}, "sup_ds": {"hh_ds", "hh_ds2"}, "worker_xs": {"hh_xs", "hh_xs2"},
      "worker_xs2": {"hh_xs", "hh_xs2"}, "sup_xs": {"hh_xs", "hh_xs2"}, "admin": set(HOUSEHOLDS)}
HH_VILLAGE = {"hh_ds": DS, "hh_ds2": DS, "hh_xs": XS, "hh_xs2": XS}
# The station's year (/year/): staff over their own villages; its targets edited by administrators only.
YEAR_STAFF = {"worker_ds", "worker_xs", "worker_xs2", "sup_ds", "sup_xs", "civil", "admin"}
# Activities and their standing groups (children's names): staff (worker, supervisor, admin), each their villages.
ROSTERS = {"grp_ds": DS, "grp_xs": XS}
GRP = {"worker_ds": {"grp_ds"}, "sup_ds": {"grp_ds"}, "worker_xs": {"grp_xs"}, "worker_xs2": {"grp_xs"}, "sup_xs": {"grp_xs"},
       "admin": set(ROSTERS)}
# Each group run by one worker (xishui's second worker does not run its group) and the village's
# supervisors (ADR 0041): they see its members' names, change it and take its attendance.
ROSTER_WORKER = {"grp_ds": "worker_ds", "grp_xs": "worker_xs"}
ROSTER_RUNS = {"grp_ds": {"worker_ds", "sup_ds"}, "grp_xs": {"worker_xs", "sup_xs"}}
SUPERVISOR_OF = {DS: "sup_ds", XS: "sup_xs"}
# Elderly care: two elders; the dongshan one has a risk-flag referral to dongshan's village doctors.
ELDERS = {"el_ds": DS, "el_xs": XS}
ELDER_STAFF = {"worker_ds": {"el_ds"}, "sup_ds": {"el_ds"}, "worker_xs": {"el_xs"}, "worker_xs2": {"el_xs"}, "sup_xs": {"el_xs"},
               "admin": {"el_ds", "el_xs"}}
ELDER_PAGES = {**ELDER_STAFF, "doc_ds": {"el_ds"}}  # a doctor: only the elder referred to its village
# -- low-income monitoring (processes/monitoring) ----------------------------------------------------
MONITORED = {"mon_ds": "hh_ds2", "mon_xs": "hh_xs2"}  # households without a child: no reason asked first
MON_STAFF = {"worker_ds": {"mon_ds"}, "sup_ds": {"mon_ds"}, "worker_xs": {"mon_xs"}, "worker_xs2": {"mon_xs"}, "sup_xs": {"mon_xs"},
             "admin": {"mon_ds", "mon_xs"}}
# -- end of low-income monitoring --------------------------------------------------------------------
ADMIN_URLS = ["/admin/", "/admin/auth/user/", "/admin/auth/group/", "/admin/engine/staffprofile/",
              "/admin/needs_matching/household/", "/admin/needs_matching/resource/", "/admin/elderly_care/elderlyperson/",
              "/admin/elderly_care/ruleset/"]
# The process studio: administrators only, every page and action (GETs on child_protection's v1).
STUDIO_PAGES = ["/studio/", "/studio/child_protection/v1/", "/studio/child_protection/v1/diagram/",
                "/studio/child_protection/v1/export/", "/studio/child_protection/v1/archive/", "/studio/child_protection/edit/",
                "/studio/child_protection/diff/?from=1&to=1", "/studio/child_protection/migrate/",
                "/studio/child_protection/migrate/?to=1&case=1", "/studio/child_protection/test/",
                "/studio/child_protection/test/diagram/", "/studio/child_protection/forms/Task_Intake/", "/studio/new/"]
# The time bank: members of dongshan (a pilot village). tb_vol is vol_ds's own membership, tb_off
# vol_off's (suspended), tb_other another volunteer with hours; tb_elder an elder they serve.
TB_MEMBERS = {"tb_vol": "vol_ds", "tb_off": "vol_off", "tb_other": None, "tb_elder": None}
TB_SERVICES = {"tbs_vol": "tb_vol", "tbs_other": "tb_other"}  # a service matched to that volunteer, for tb_elder
TB_STAFF = {"worker_ds", "worker_xs", "worker_xs2", "sup_ds", "sup_xs", "admin"}  # the pilot villages' staff
TB_STAFF_DS = {"worker_ds", "sup_ds", "admin"}  # read and act on dongshan's members
TB_SUP_DS = {"sup_ds", "admin"}
VOLUNTEERS = {"vol_ds", "vol_off"}
CHILDREN_STAFF = {"worker_ds", "worker_xs", "worker_xs2", "sup_ds", "sup_xs", "admin"}  # children in difficulty: staff only
# A child's archive (one per village, no case yet): staff of its village see it exists; its holders (the
# village's supervisors) give a reason, the village's workers and the administrator ask; correcting it is
# for the holders' roles (workers, supervisors), not the administrator.
CHILDREN_VILLAGE = {"ch_ds": DS, "ch_xs": XS}
CHILDREN_SEE = {"ch_ds": {"worker_ds", "sup_ds", "admin"}, "ch_xs": {"worker_xs", "worker_xs2", "sup_xs", "admin"}}
CHILDREN_HOLDERS = {"ch_ds": {"sup_ds"}, "ch_xs": {"sup_xs"}}
# A children's group in each village, with that village's child: run by one worker (xishui's second
# worker does not run its group) and the village's supervisors (ADR 0039).
CHILD_GROUPS = {"grp_ds": "ch_ds", "grp_xs": "ch_xs"}
CHILD_GROUP_WORKER = {"grp_ds": "worker_ds", "grp_xs": "worker_xs"}
CHILD_GROUP_RUNS = {"grp_ds": {"worker_ds", "sup_ds"}, "grp_xs": {"worker_xs", "sup_xs"}}
COMPLETED_POSTS = ["cp_ds:Intake", "app_A:Review@rA1", "app_B:Tranche1", "nm_ds:ConfirmPlan"]


# -- the matrix ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    section: str
    action: str  # what is done; {obj} is the world object, {arg} the extra argument
    obj: str
    user: str
    expected: object  # an outcome, a set of object keys, or "a|b" for either
    arg: object = None

    def label(self) -> str:
        arg = self.arg[0] if isinstance(self.arg, tuple) else self.arg
        return self.action.replace("{obj}", "{" + self.obj + "}").replace("{arg}", str(arg))


def _read(user, allowed: bool) -> str:
    return "login" if user == "anon" else "200" if allowed else "404"


def _rows() -> list[Row]:
    rows: list[Row] = []
    add = rows.append

    # Inbox tabs: exactly the tasks each person may take up, holds, or did.
    for user in USERS:
        mine = {k for k, t in OPEN.items() if t.holder == user}
        group = {k for k, t in OPEN.items() if t.holder is None and user in t.act}
        expected = {
            "mine": mine, "group": group, "overdue": {k for k in mine | group if OPEN[k].overdue},
            "done": {k for k, t in DONE.items() if t.by == user},
        }
        for tab, keys in expected.items():
            # A volunteer has no inbox: every tab sends them to their own passbook.
            add(Row("inbox", "GET /?tab={arg}", "-", user, "login" if user == "anon" else "home" if user in VOLUNTEERS else frozenset(keys), tab))

    # Task pages and what may be done on them.
    for key, task in TASKS.items():
        for user in USERS:
            if user == "anon":
                expected = "login"
            elif isinstance(task, Open) and user in task.act:
                expected = "act"
            else:
                expected = "view" if user in task.openers else "404"
            add(Row("task-read", "GET /tasks/{obj}/", key, user, expected))
    for (key, what, marker), readers in PRIVATE_ON_TASK.items():
        for user, expected in readers.items():
            add(Row("task-read", "GET /tasks/{obj}/ shows {arg}", key, user, expected, (what, marker)))
    for key, task in OPEN.items():
        for user in USERS:
            if user == "anon":
                complete = draft = "login"
            elif user in task.act:
                complete = draft = "ok"
            else:
                complete = draft = "403" if user in task.openers else "404"
            add(Row("task-write", "POST /tasks/{obj}/ (complete)", key, user, complete))
            if user in task.openers:  # (a draft of a task one cannot open is the same 404, asserted just above)
                add(Row("task-write", "POST /tasks/{obj}/ (draft)", key, user, draft))
    for key in COMPLETED_POSTS:
        for user in USERS:
            expected = "login" if user == "anon" else "409" if user in DONE[key].openers else "404"
            add(Row("task-write", "POST /tasks/{obj}/ (complete)", key, user, expected))
    for user in USERS:  # a file of another case cannot be slipped into a form
        expected = "login" if user == "anon" else "ok-without-it" if user == "appl_A" else "403" if user in OPEN["new_A:Application"].openers else "404"
        add(Row("task-write", "POST /tasks/{obj}/ (complete, attaching {arg})", "new_A:Application", user, expected, "att_B"))

    for key, task in OPEN.items():
        for user in USERS:
            if user == "anon":
                claim = release = "login"
            elif user not in task.openers:
                claim = release = "404"
            else:
                claim = "ok" if user in task.act else "msg"
                release = "msg" if task.named or not (user == task.holder or user in SUPERVISES[task.village]) else "ok"
            add(Row("claim-release", "POST /tasks/{obj}/claim/", key, user, claim))
            if task.holder:
                add(Row("claim-release", "POST /tasks/{obj}/release/", key, user, release))
    for key, target in ASSIGN_OK + ASSIGN_REFUSED:
        task = OPEN[key]
        for user in USERS if (key, target) in ASSIGN_OK else sorted(task.openers):
            if user == "anon":
                expected = "login"
            elif user not in task.openers:
                expected = "404"
            else:
                expected = "ok" if user in SUPERVISES[task.village] and (key, target) in ASSIGN_OK else "msg"
            add(Row("assign", "POST /tasks/{obj}/assign/ to {arg}", key, user, expected, target))
    for key, offered in ASSIGN_OPTIONS.items():  # (whoever else gets a 404 for the page, asserted above)
        for user in sorted(OPEN[key].openers):
            add(Row("assign", "GET /tasks/{obj}/ assign options", key, user, frozenset(offered.get(user, set()))))

    # Cases, their diagrams, their private parts, sharing.
    for case, viewers in CASE_VIEWERS.items():
        for user in USERS:
            add(Row("cases", "GET /cases/{obj}/", case, user, _read(user, user in viewers)))
            add(Row("cases", "GET /cases/{obj}/diagram/", case, user, _read(user, user in viewers)))
    for (case, what, marker), readers in PRIVATE_ON_CASE.items():  # for the case's viewers; the rest get a 404
        for user in sorted(CASE_VIEWERS[case]):
            add(Row("cases", "GET /cases/{obj}/ shows {arg}", case, user, "shown" if user in readers else "hidden", (what, marker)))
    for case, target in SHARE_OK:
        for user in USERS:
            if user == "anon":
                expected = "login"
            elif user not in CASE_VIEWERS[case]:
                expected = "404"
            else:
                expected = "ok" if user in SUPERVISES[CASE_VILLAGE[case]] else "msg"
            add(Row("share", "POST /cases/{obj}/share/ with {arg}", case, user, expected, target))
    for case, targets in SHARE_REFUSED.items():
        for target in targets:
            for user in sorted(SUPERVISES[CASE_VILLAGE[case]]):
                add(Row("share", "POST /cases/{obj}/share/ with {arg}", case, user, "msg", target))
    for case, offered in SHARE_OPTIONS.items():  # for the case's viewers; the rest get a 404
        for user in sorted(CASE_VIEWERS[case] - {"admin"}):
            add(Row("share", "GET /cases/{obj}/ share options", case, user, frozenset(offered.get(user, set()))))

    # Minors' files: without today's reason or an approval in force, the case page sends each viewer to
    # the access page — "reason" for its holders, "approval" for everyone else (logged as refused).
    for case, viewers in HOLDERS.items():
        for user in USERS:
            if user == "anon":
                gate, ask = "login", "login"
            elif user not in CASE_VIEWERS[case]:
                gate = ask = "404"
            else:
                gate = "reason" if user in viewers else "approval"
                ask = "reason-kept" if user in viewers else "ok"  # a holder's answer is their reason for the day
            add(Row("minors", "GET /cases/{obj}/ (no reason given, no approval)", case, user, gate))
            add(Row("minors", "GET /cases/{obj}/diagram/ (no reason given, no approval)", case, user,
                    "403" if gate in ("reason", "approval") else gate))
            add(Row("minors", "POST /cases/{obj}/access/ (ask for access)", case, user, ask))
            add(Row("minors", "POST /access/requests/{{admin's request for {obj}}}/decide/ (approve)", case, user,
                    "login" if user == "anon" else "ok" if user in SUPERVISES[CASE_VILLAGE[case]] - {"admin"} else "404"))
            add(Row("minors", "POST /access/requests/{{admin's request for {obj}}}/decide/ (refuse without a note)", case, user,
                    "login" if user == "anon" else "msg" if user in SUPERVISES[CASE_VILLAGE[case]] - {"admin"} else "404"))
    for hh in HOUSEHOLDS:  # households: a child among the members makes the page a minor's file
        for user in USERS:
            if user == "anon":
                gate = ask = "login"
            elif hh not in HH.get(user, set()):
                gate = ask = "404"
            elif hh not in HH_HOLDERS:
                gate, ask = "200", "none"  # no child: opens as before, nothing to ask for
            else:
                gate = "reason" if user in HH_HOLDERS[hh] else "approval"
                ask = "reason-kept" if user in HH_HOLDERS[hh] else "ok"
            add(Row("minors", "GET /households/{obj}/ (no reason given, no approval)", hh, user, gate))
            add(Row("minors", "POST /records/household/{obj}/access/ (ask for access)", hh, user, ask))
    for user in USERS:
        add(Row("minors", "GET /access/requests/", "-", user, _read(user, user in {"sup_ds", "sup_xs"})))
        add(Row("minors", "GET /audit/minors/", "-", user, _read(user, user in AUDIT_READERS)))
        add(Row("minors", "GET /audit/minors/export.xlsx", "-", user, _read(user, user in AUDIT_READERS)))
        add(Row("minors", "GET /audit/history/", "-", user, _read(user, user == "admin")))

    # Files: only with the case they belong to.
    for name, case in FILES.items():
        for user in USERS:
            add(Row("files", "GET /files/{obj}/", name, user, _read(user, user in CASE_VIEWERS[case])))
    for user in USERS:
        add(Row("files", "GET /files/{obj}/", "no-such-token", user, _read(user, False)))

    # Starting a process: only its start role, only in one's own villages and organisations.
    for user in USERS:
        add(Row("start", "GET /start/ offers", "-", user, "login" if user == "anon" else frozenset(STARTS.get(user, set()))))
        for key in ("child_protection", "micro_fund", "needs_matching", "elderly_care", "time_bank", "activities"):
            add(Row("start", "GET /start/{obj}/", key, user, _read(user, key in STARTS.get(user, set()))))
    for (key, field), offered in START_OPTIONS.items():
        for user, choices in offered.items():
            add(Row("start", "GET /start/{obj}/ options of {arg}", key, user, frozenset(choices), field))
    for (key, submitted), outcomes in START_POSTS.items():
        for user in USERS:
            add(Row("start", "POST /start/{obj}/ ({arg})", key, user, "login" if user == "anon" else outcomes.get(user, "404"), submitted))

    # Notifications: about the right tasks only, and only tasks the person may open.
    for user in USERS:
        about = {k for k, people in NOTIFIED.items() if user in people}
        add(Row("notifications", "GET /notifications/ about", "-", user, "login" if user == "anon" else frozenset(about)))
        add(Row("notifications", "GET /notifications/ tasks that do not open", "-", user,
                "login" if user == "anon" else frozenset()))

    # The fund: the fund's staff, their villages' projects only (also in the ledger and the spreadsheet).
    for user in USERS:
        allowed = user in FUND
        add(Row("fund", "GET /fund/", "-", user, _read(user, allowed)))
        add(Row("fund", "GET /fund/export.xlsx", "-", user, _read(user, allowed)))
        if allowed:
            add(Row("fund", "GET /fund/ projects listed", "-", user, frozenset(FUND[user])))
            add(Row("fund", "GET /fund/ project titles anywhere (ledger too)", "-", user, frozenset(FUND[user])))
            add(Row("fund", "GET /fund/export.xlsx Projects sheet", "-", user, frozenset(FUND[user])))
            add(Row("fund", "GET /fund/export.xlsx titles anywhere (Ledger too)", "-", user, frozenset(FUND[user])))

    # Households and the gaps report: staff, their villages.
    for user in USERS:
        allowed = user in HH
        add(Row("households", "GET /households/", "-", user, _read(user, allowed)))
        add(Row("households", "GET /resources/gaps/", "-", user, _read(user, allowed)))
        if allowed:
            add(Row("households", "GET /households/ lists", "-", user, frozenset(HH[user])))
            add(Row("households", "GET /resources/gaps/ villages", "-", user, frozenset(HH_VILLAGE[h] for h in HH[user])))
        for hh in HOUSEHOLDS:
            add(Row("households", "GET /households/{obj}/", hh, user, _read(user, hh in HH.get(user, set()))))

    # Activities and standing groups: staff, their villages. A group's names, changes to it and its
    # attendance only for those who run it; other staff of the village see it without names and get 403.
    for user in USERS:
        allowed = user in GRP
        add(Row("activities", "GET /activities/", "-", user, _read(user, allowed)))
        add(Row("activities", "GET /activities/groups/", "-", user, _read(user, allowed)))
        if allowed:
            add(Row("activities", "GET /activities/groups/ lists", "-", user, frozenset(GRP[user])))
        if user != "anon":
            add(Row("activities", "option list activity_rosters", "-", user,
                    frozenset(g for g, runners in ROSTER_RUNS.items() if user in runners)))
        for group in ROSTERS:
            mine = group in GRP.get(user, set())
            runs = user in ROSTER_RUNS[group]
            add(Row("activities", "GET /activities/groups/{obj}/", group, user, _read(user, mine)))
            add(Row("activities", "GET /activities/groups/{obj}/ names its members", group, user,
                    "names" if runs else "no names" if mine else _read(user, False)))
            if user != "anon":
                add(Row("activities", "option list roster_members of {obj}", group, user, "names" if runs else "nobody"))
            add(Row("activities", "POST /activities/groups/{obj}/ (add a member)", group, user,
                    "login" if user == "anon" else "ok" if runs else "403" if mine else "404"))
            if user != "anon":  # a worker of any village may be handed the task; a supervisor, their villages'
                holds = user.startswith("worker") or user == "admin" or user == SUPERVISOR_OF[ROSTERS[group]]
                add(Row("activities", "the attendance of a session of {obj}, handed to the user", group, user,
                        "ok" if runs else "400" if holds else "not given"))

    # The station's year: figures for staff; the targets for administrators.
    for user in USERS:
        for url in ("/year/", "/year/export.xlsx", "/year/report.pdf"):
            add(Row("year", "GET {arg}", "-", user, _read(user, user in YEAR_STAFF), url))
        add(Row("year", "GET {arg}", "-", user, _read(user, user == "admin"), "/year/targets/"))
        add(Row("year", "POST /year/targets/ (a target)", "-", user, "login" if user == "anon" else "ok" if user == "admin" else "404"))
        for code, own in ((DS, {"worker_ds", "sup_ds", "civil", "admin"}), (XS, {"worker_xs", "worker_xs2", "sup_xs", "civil", "admin"})):
            add(Row("year", "GET {arg}", "-", user, _read(user, user in own), f"/villages/{code}/"))
    # Search: the year's staff search; each finds only the households of their own villages (civil
    # affairs, who see no household, find none).
    for user in USERS:
        add(Row("search", "GET /search/", "-", user, _read(user, user in YEAR_STAFF)))
        if user in YEAR_STAFF:
            add(Row("search", "GET /search/?q=HH- finds households", "-", user, frozenset(HH.get(user, set()))))
    # Elderly care: the register and the report for staff of the village; a person's page also for the
    # village doctor a referral was addressed to; the option list other processes use; screening starts.
    for user in USERS:
        staff = user in ELDER_STAFF
        add(Row("elderly", "GET /elderly/", "-", user, _read(user, staff)))
        add(Row("elderly", "GET /elderly/report/", "-", user, _read(user, staff)))
        add(Row("elderly", "GET /elderly/report.xlsx", "-", user, _read(user, staff)))
        if staff:
            add(Row("elderly", "GET /elderly/ lists", "-", user, frozenset(ELDER_STAFF[user])))
        if user != "anon":
            add(Row("elderly", "option list elderly_people", "-", user, frozenset(ELDER_PAGES.get(user, set()))))
        for elder in ELDERS:
            add(Row("elderly", "GET /elderly/{obj}/", elder, user, _read(user, elder in ELDER_PAGES.get(user, set()))))
            add(Row("elderly", "GET /elderly/{obj}/ shows the phone", elder, user,
                    "shown" if elder in ELDER_STAFF.get(user, set()) else _read(user, False) if elder not in ELDER_PAGES.get(user, set()) else "hidden"))
            screen = ("ok" if user.startswith("worker") and elder in ELDER_STAFF.get(user, set())
                      else "msg" if elder in ELDER_PAGES.get(user, set()) else "login" if user == "anon" else "404")
            add(Row("elderly", "POST /elderly/{obj}/screen/", elder, user, screen))

    # -- low-income monitoring: the list, its export and each household for staff of the village; the
    # rules page for administrators; a worker of another village sees nothing, not even a guessed id.
    for user in USERS:
        staff = user in MON_STAFF
        add(Row("monitoring", "GET /monitoring/", "-", user, _read(user, staff)))
        add(Row("monitoring", "GET /monitoring/list.xlsx", "-", user, _read(user, staff)))
        add(Row("monitoring", "GET /monitoring/import/", "-", user, _read(user, staff)))
        add(Row("monitoring", "GET /monitoring/rules/", "-", user, _read(user, user == "admin")))
        if staff:
            add(Row("monitoring", "GET /monitoring/ lists", "-", user, frozenset(MON_STAFF[user])))
        for household in MONITORED:
            add(Row("monitoring", "GET /monitoring/{obj}/", household, user, _read(user, household in MON_STAFF.get(user, set()))))
    # -- end of low-income monitoring

    # Incidents (/studio/incidents/): the cases in error, retry, cancel with a reason — administrators only.
    for user in USERS:
        refused = "login" if user == "anon" else "403"
        add(Row("incidents", "GET /studio/incidents/", "-", user, "200" if user == "admin" else refused))
        add(Row("incidents", "POST /studio/incidents/{obj}/retry/", "err", user, "ok" if user == "admin" else refused))
        add(Row("incidents", "POST /studio/incidents/{obj}/cancel/ (with a reason)", "err", user, "ok" if user == "admin" else refused))
        add(Row("incidents", "POST /studio/incidents/{obj}/cancel/ (without a reason)", "err", user, "msg" if user == "admin" else refused))
    add(Row("incidents", "GET /studio/incidents/ lists", "-", "admin", frozenset({"err"})))
    # Undelivered messages (/studio/incidents/messages/): the failed and stuck outbox rows, and Retry — administrators only.
    for user in USERS:
        refused = "login" if user == "anon" else "403"
        add(Row("incidents", "GET /studio/incidents/messages/", "-", user, "200" if user == "admin" else refused))
        add(Row("incidents", "POST /studio/incidents/messages/{obj}/retry/", MATRIX_MESSAGE, user, "ok" if user == "admin" else refused))
    add(Row("incidents", "GET /studio/incidents/messages/ lists", "-", "admin", frozenset({MATRIX_MESSAGE})))

    # Deadlines (/sla/): the compliance report for supervisors (their villages) and administrators; the
    # working-day calendar for administrators only.
    for user in USERS:
        add(Row("deadlines", "GET /sla/", "-", user, _read(user, user in {"sup_ds", "sup_xs", "admin"})))
        add(Row("deadlines", "GET /sla/export.xlsx", "-", user, _read(user, user in {"sup_ds", "sup_xs", "admin"})))
        add(Row("deadlines", "GET /sla/calendar/", "-", user, _read(user, user == "admin")))
        refused = "login" if user == "anon" else "404"
        add(Row("deadlines", "POST /sla/calendar/ (a day off)", "-", user, "ok" if user == "admin" else refused))
        add(Row("deadlines", "POST /sla/calendar/remove/", "-", user, "ok" if user == "admin" else refused))
    for user, villages in {"sup_ds": {DS}, "sup_xs": {XS}, "admin": {DS, XS}}.items():
        add(Row("deadlines", "GET /sla/ villages", "-", user, frozenset(villages)))

    # The Django admin: administrators only.
    for url in ADMIN_URLS:
        for user in USERS:
            add(Row("admin", "GET {arg}", "-", user, "200" if user == "admin" else "login", url))

    # The process studio: administrators only; everyone else the usual "not yours" 404.
    for user in USERS:
        for url in STUDIO_PAGES:
            add(Row("studio", "GET {arg}", "-", user, _read(user, user == "admin"), url))
        add(Row("studio", "POST /studio/{obj}/save/", "child_protection", user, _read(user, user == "admin")))
        # A new process from a template: the write is its draft (nothing is deployed).
        add(Row("studio", "POST /studio/new/ ({obj} from a template)", "linear_approval", user,
                "login" if user == "anon" else "ok" if user == "admin" else "404"))
        add(Row("studio", "POST /studio/{obj}/discard/", "child_protection", user, "login" if user == "anon" else "ok" if user == "admin" else "404"))
        for action in ("POST /studio/{obj}/deploy/", "POST /studio/import/ ({obj})", "POST /studio/import-archive/ ({obj}, diagram and forms)"):
            add(Row("studio", action, "child_protection", user, "login" if user == "anon" else "ok" if user == "admin" else "404"))
        # The form editor: saving a step's form into the draft, and its server-rendered preview.
        add(Row("studio", "POST /studio/{obj}/forms/Task_Intake/save/", "child_protection", user,
                "login" if user == "anon" else "ok" if user == "admin" else "404"))
        add(Row("studio", "POST /studio/{obj}/forms/Task_Intake/preview/", "child_protection", user, _read(user, user == "admin")))
        # Comparing versions and moving a running case to a new one (deployed in the cell, rolled back after).
        add(Row("studio", "GET /studio/child_protection/diff/ of a new version", "child_protection", user, _read(user, user == "admin")))
        # Test runs of the draft (ADR 0016): each cell starts from the administrator's own run where one is needed.
        for action in ("POST /studio/{obj}/test/start/", "POST /studio/{obj}/test/clock/ (+24 h)", "POST /studio/{obj}/test/restart/",
                       "POST /studio/{obj}/test/tasks/ (the intake, with sample data)"):
            add(Row("studio", action, "child_protection", user, "login" if user == "anon" else "ok" if user == "admin" else "404"))
        add(Row("studio", "GET /studio/{obj}/test/tasks/ (the intake)", "child_protection", user, _read(user, user == "admin")))
        add(Row("studio", "POST /studio/child_protection/migrate/ ({obj} to a new version)", "cp_ds", user,
                "login" if user == "anon" else "ok" if user == "admin" else "404"))

    # Scenarios: a partner office that answered its referral still sees nothing else of the household.
    for user, key, marker in [("partner_edu", "nm_ds", "房屋漏雨东"), ("partner_edu", "nm_ds", "爱心修房基金"),
                              ("partner_health", "nm_xs", "小西")]:
        add(Row("scenarios", "claim the referral, then GET /cases/{obj}/ shows {arg}", key, user, "404|hidden", marker))
        add(Row("scenarios", "answer the referral, then GET /cases/{obj}/ shows {arg}", key, user, "404|hidden", marker))
    # Deadline warnings (the periodic job): each person is warned about exactly the open tasks of their
    # inbox (those they hold, and unheld ones of their role and villages) — never a named colleague's.
    for user in PEOPLE:
        warned = {k for k, t in OPEN.items() if t.holder == user or (t.holder is None and user in t.act)}
        add(Row("scenarios", "every open task has used 90 % of its time, the deadline-warning sweep runs; then warned about", "-", user,
                frozenset(warned)))
    # A reviewer's conflict-of-interest reason is on a form only reviewers and supervisors read, even
    # when the application comes back to the applicant (returned without reasons of the supervisor's own).
    for action in ("rA2 declares a conflict, the panel is completed, the application is returned; then GET /tasks/{returned}/ shows {arg}",
                   "rA2 declares a conflict, the panel is completed, the application is returned; then GET /cases/{obj}/ shows {arg}"):
        add(Row("scenarios", action, "app_A", "appl_A", "hidden", "冲突理由A2"))
    # Replacing a late reviewer: the reason is typed on a form only workers and supervisors read.
    for user, expected in [("appl_A", "hidden"), ("r_none", "hidden"), ("rA1", "hidden"), ("sup_ds", "shown"), ("worker_ds", "shown")]:
        add(Row("scenarios", "rA3 misses the deadline and sup_ds replaces them; then GET /cases/{obj}/ shows {arg}", "app_A", user,
                expected, "替换理由rA3出差"))

    # ---- children in difficulty (processes/children/) -------------------------------------------------
    # The archive list and the groups: the station's staff (worker, supervisor, admin) only, each their
    # villages; the screening scales in the admin: administrators only. (Each archive's need-to-know
    # gate and another village's 404 are in tests/processes/children/test_pages.py.)
    for user in USERS:
        for url in ("/children/", "/children/groups/", "/children/contacts/"):
            add(Row("children", "GET {arg}", "-", user, _read(user, user in CHILDREN_STAFF), url))
        add(Row("children", "GET {arg}", "-", user, "200" if user == "admin" else "login", "/admin/children/scale/"))
    for kid in CHILDREN_VILLAGE:
        for user in USERS:
            if user == "anon":
                page = edit = "login"
            elif user not in CHILDREN_SEE[kid]:
                page = edit = "404"
            else:
                page = "reason" if user in CHILDREN_HOLDERS[kid] else "approval"
                edit = "404" if user == "admin" else page
            add(Row("children", "GET /children/{obj}/ (no reason given, no approval)", kid, user, page))
            add(Row("children", "GET /children/{obj}/edit/ (no reason given, no approval)", kid, user, edit))
            add(Row("children", "POST /children/{obj}/edit/ (no reason given, no approval) changes", kid, user,
                    "login" if user == "anon" else "nothing"))
            add(Row("children", "POST /children/{obj}/ a family letter (no reason given, no approval)", kid, user,
                    "login" if user == "anon" else "404" if user not in CHILDREN_SEE[kid] else "nothing saved"))
    # A group's page: its children by name, and its work recorded, only by those who run it; other staff
    # of the village see archive numbers and record nothing; anyone else finds no such group.
    for group, kid in CHILD_GROUPS.items():
        for user in USERS:
            if user == "anon":
                shown = post = "login"
            elif user not in CHILDREN_SEE[kid]:
                shown = post = "404"
            elif user in CHILD_GROUP_RUNS[group]:
                shown, post = "names", "ok"
            else:
                shown, post = "numbers", "403"
            add(Row("children", "GET /children/groups/{obj}/ names the children or numbers them", group, user, shown))
            add(Row("children", "POST /children/groups/{obj}/ (a session)", group, user, post))
    # ---- end of children in difficulty -----------------------------------------------------------------

    # ---- the time bank and its volunteers' own sign-in (processes/time_bank/) ---------------------------
    # A volunteer reads their own passbook (on screen and on paper) and nothing else: no member's page,
    # not even their own staff page, no list, no ledger, no household, case or search (the other sections
    # hold those cells for vol_ds and vol_off too). A suspended volunteer gets the refusal page (403).
    # Staff give a sign-in to an approved volunteer of their villages; supervisors suspend.
    for user in USERS:
        own = "login" if user == "anon" else "200" if user == "vol_ds" else "403" if user == "vol_off" else "404"
        for url in ("/time-bank/me/", "/time-bank/me/print/", "/time-bank/me/password/"):
            add(Row("time bank", "GET {arg}", "-", user, own, url))
        add(Row("time bank", "GET /time-bank/me/ shows {arg}", "tb_vol", user, "shown" if user == "vol_ds" else own, "志愿者tb_vol"))
        add(Row("time bank", "GET /time-bank/me/ shows {arg}", "tb_other", user, "hidden" if user == "vol_ds" else own, "志愿者tb_other"))
        for url in ("/time-bank/", "/time-bank/members/new/"):
            add(Row("time bank", "GET {arg}", "-", user, _read(user, user in TB_STAFF), url))
        for url in ("/time-bank/ledger/", "/time-bank/anomalies/"):
            add(Row("time bank", "GET {arg}", "-", user, _read(user, user in {"sup_ds", "sup_xs", "admin"}), url))
        for member in TB_MEMBERS:
            add(Row("time bank", "GET /time-bank/members/{obj}/", member, user, _read(user, user in TB_STAFF_DS)))
            add(Row("time bank", "GET /time-bank/members/{obj}/print/", member, user, _read(user, user in TB_STAFF_DS)))
        refused = "login" if user == "anon" else "404"
        add(Row("time bank", "POST /time-bank/members/{obj}/login/ (a new sign-in)", "tb_other", user,
                "ok" if user in TB_STAFF_DS else refused))
        add(Row("time bank", "POST /time-bank/members/{obj}/status/ (suspend)", "tb_vol", user,
                "ok" if user in TB_SUP_DS else refused))
        add(Row("time bank", "POST /time-bank/members/{obj}/donate/ (1 hour)", "tb_vol", user,
                "ok" if user in TB_STAFF_DS else refused))
        # Signing in and out of a service on the phone: only the service's own volunteer (tbs_vol is
        # vol_ds's; tbs_other another volunteer's, who has no sign-in). The suspended one is refused.
        for service in TB_SERVICES:
            own_service = "ok" if user == "vol_ds" and service == "tbs_vol" else "403" if user == "vol_off" else refused
            add(Row("time bank", "POST /time-bank/me/services/{obj}/sign-in/", service, user, own_service))
            add(Row("time bank", "POST /time-bank/me/services/{obj}/sign-out/ (signed in 2 hours ago)", service, user, own_service))
    # ---- end of the time bank ---------------------------------------------------------------------------
    # ---- a household's page across the processes (registry.person_facets) ------------------------------
    # dongshan's child-protection report and its child's archive belong to hh_ds. The report shows, by its
    # number, to whoever may open it under the need-to-know gate (its holders, or an approval in force),
    # and to nobody else — no row, no count, no label; the archive likewise (its holders, or an approval).
    for user in sorted(HH_HOLDERS["hh_ds"] | {"admin"}):
        add(Row("person-page", "GET /households/{obj}/ shows the child-protection case", "hh_ds", user, "shown"))
        add(Row("person-page", "GET /households/{obj}/ shows the child's archive", "hh_ds", user,
                "shown" if user in CHILDREN_HOLDERS["ch_ds"] | {"worker_ds"} else "no trace"))
    for user in ("admin",):  # outside the report's holders: once the approval has lapsed, nothing of it is left
        add(Row("person-page", "GET /households/{obj}/ shows the child-protection case (the case's approval lapsed)", "hh_ds", user,
                "no trace"))
    return rows


MATRIX = _rows()
SECTIONS = sorted({row.section for row in MATRIX}, key=[r.section for r in MATRIX].index)


# -- the world ------------------------------------------------------------------------------------

@dataclass
class World:
    users: dict
    instances: dict
    tasks: dict
    files: dict
    households: dict
    orgs: dict
    resources: dict
    rosters: dict = field(default_factory=dict)
    elders: dict = None
    monitored: dict = None  # low-income monitoring
    children: dict = None
    child_groups: dict = None
    members: dict = None  # the time bank's

    def __post_init__(self):
        self.task_names = {pk: key for key, pk in self.tasks.items()}
        self.instance_names = {pk: key for key, pk in self.instances.items()}

    def task_name(self, pk: int) -> str:
        return self.task_names.get(pk) or f"task#{pk}"


def application_form(**extra) -> dict:
    """Task_Application as the browser posts it: the budget as rows of inputs."""
    data = {k: str(v) for k, v in mf.FORMS["Task_Application"].items() if k != "budget_lines"}
    for i, line in enumerate(mf.FORMS["Task_Application"]["budget_lines"]):
        for column, value in line.items():
            data[f"budget_lines-{i}-{column}"] = value
    return {**data, "_action": "complete", **extra}


def task_form(bpmn: str) -> dict:
    """A valid submission of each open task, as the page posts it (fresh times: no future dates)."""
    forms = {
        "Task_PoliceReceipt": {**cp.FORMS["Task_PoliceReceipt"], "police_reported_at": local_minutes_ago(2)},
        "Task_Respond": {**cp.FORMS["Task_Respond"], "responded_at": local_minutes_ago(1), "child_seen": "on"},
        "Task_SupervisorEscalation": {"action": "note_only", "reason": "已电话督促"},
        "Task_CivilAffairsEscalation": {"oversight_action": "电话督促站长当日家访"},
        "Task_Review": {k: str(v) for k, v in mf.FORMS["Task_Review"].items()},
        "Task_WorkerEvaluation": {"score": "88", "conclusion": "good"},
        "Task_ReviewerEvaluation": {"score": "85", "conclusion": "good"},
        "Task_Application": application_form(),
        "Task_ProviderResponse": {"response": "accept", "expected_start": today(5)},
        "Task_PartnerVisit": {"outcome": "visited", "visited_on": today(), "visitors": "王老师、东山社工", "findings": "矩阵家访发现"},
        "Task_Service": {"signed_in_at": local_minutes_ago(90), "signed_out_at": local_minutes_ago(5), "done": "矩阵：代购降压药"},
    }
    return {**forms[bpmn], "_action": "complete"}


def build_world() -> World:
    from django.conf import settings

    from engine.station import Village

    for position, (code, name) in enumerate(settings.CASEFLOW_VILLAGES.items()):
        Village.objects.get_or_create(code=code, defaults={"name": name, "position": position})
    orgs = {"org_A": mf.make_organisation("东山村老年协会", village=DS, kind="old_age"),
            "org_B": mf.make_organisation("西水村妇女互助会", village=XS, kind="women")}
    users = {}
    for name, (roles, villages, org) in PEOPLE.items():
        users[name] = make_user(name, *roles, villages=villages)
        if org:
            mf.join(users[name], orgs[org])
    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True  # as seed_demo makes the administrator
    admin.save()
    api.deploy_bundled(actor=admin)
    instances, files = {}, {}

    def done(instance_id, bpmn, who, data=None, assignee=None):
        task_id = mf.open_task(instance_id, bpmn, assignee)
        api.complete_task(task_id=task_id, data=data if data is not None else mf.FORMS[bpmn], actor=users[who])

    # Child protection: dongshan's report came in 30 hours ago and nobody has responded. Its 24-hour
    # timer counts from the report's arrival, so it fires in the very step that reaches it (the
    # supervisor's escalation); the sweep as of 19 hours on fires the 48-hour one (civil affairs).
    instances["cp_ds"] = api.start_instance(process_key="child_protection", actor=users["intake_ds"], data={
        "village": DS, "received_at": local_minutes_ago(30 * 60), "channel": "phone"}).id
    done(instances["cp_ds"], "Task_Intake", "intake_ds", {**cp.FORMS["Task_Intake"], "reporter_name": "张老师东", "child_name": "小红东"})
    api.fire_due_timers(as_of=timezone.now())
    api.fire_due_timers(as_of=timezone.now() + dt.timedelta(hours=19))
    instances["cp_xs"] = api.start_instance(process_key="child_protection", actor=users["intake_xs"], data={
        "village": XS, "received_at": local_minutes_ago(20), "channel": "school"}).id
    done(instances["cp_xs"], "Task_Intake", "intake_xs", {**cp.FORMS["Task_Intake"], "reporter_name": "张老师西", "child_name": "小刚西"})
    api.claim_task(task_id=cp.open_task(instances["cp_xs"], "Task_Respond"), actor=users["worker_xs"])

    # The micro-fund: two organisations, two panels.
    def apply(key, who, org):
        instances[key] = api.start_instance(process_key="micro_fund", actor=users[who], data={
            "organisation": str(orgs[org].pk), "title": TITLES[key], "village": orgs[org].village, "category": "environment"}).id
        return instances[key]

    def submit_application_in_the_portal(instance_id, who, file_key):
        task_id = mf.open_task(instance_id, "Task_Application")
        client = Client()
        client.force_login(users[who])
        upload = SimpleUploadedFile(f"{file_key}.txt", f"计划书 {file_key}".encode(), content_type="text/plain")
        response = client.post(f"/tasks/{task_id}/", application_form(attachments=upload))
        assert response.status_code == 302, response.content.decode()[:3000]
        files[file_key] = Attachment.objects.get(task_id=task_id).token

    app_a = apply("app_A", "appl_A", "org_A")
    submit_application_in_the_portal(app_a, "appl_A", "att_A")
    done(app_a, "Task_CheckCompleteness", "worker_ds")
    done(app_a, "Task_SelectPanel", "sup_ds", {"reviewers": ["rA1", "rA2", "rA3"]})
    done(app_a, "Task_Review", "rA1", {**mf.FORMS["Task_Review"], "comments": "评审意见A1"}, assignee="rA1")

    app_b = apply("app_B", "appl_B", "org_B")
    submit_application_in_the_portal(app_b, "appl_B", "att_B")
    done(app_b, "Task_CheckCompleteness", "worker_xs")
    done(app_b, "Task_SelectPanel", "sup_xs", {"reviewers": ["rB1", "rB2", "rB3"]})
    for reviewer in ("rB1", "rB2", "rB3"):
        done(app_b, "Task_Review", reviewer, {**mf.FORMS["Task_Review"], "comments": f"评审意见{reviewer[1:]}"}, assignee=reviewer)
    done(app_b, "Task_Decide", "sup_xs")
    done(app_b, "Task_Tranche1", "finance")
    done(app_b, "Task_ProgressReport", "appl_B")
    done(app_b, "Task_SiteVisit", "worker_xs")
    done(app_b, "Task_FinalReport", "appl_B")
    apply("new_A", "appl_A", "org_A")
    apply("new_B", "appl_B", "org_B")

    # Needs matching: two households with cases, two without; three resources.
    def resource(name, provider, group, category):
        return Resource.objects.create(name=name, kind="policy", provider=provider, provider_group=group, categories=[category],
                                       rules=[BELOW_LINE], capacity_left=Decimal("10"), capacity_total=Decimal("10"))

    resources = {"edu": resource("教育补贴", "教育办", "prov-edu", "education"),
                 "charity": resource("爱心修房基金", "县慈善会", "", "housing"),
                 "health": resource("医疗救助金", "卫健办", "prov-health", "medical_aid")}
    households = {}
    for key, village, head, income, children in [("hh_ds", DS, "王东户主", "20000", [("小东", 12)]), ("hh_ds2", DS, "李东户主", "8000", []),
                                                 ("hh_xs", XS, "赵西户主", "9000", [("小西", 10)]), ("hh_xs2", XS, "钱西户主", "6000", [])]:
        household = Household.objects.create(code=HOUSEHOLDS[key], village=village, head_name=head, annual_income=Decimal(income))
        Member.objects.create(household=household, name=head, relation="户主", age=50, sex="male", chronic_illness=True)
        for name, age in children:
            Member.objects.create(household=household, name=name, relation="子女", age=age, sex="male", school_enrolled=True)
        households[key] = household.pk

    def needs_case(key, who, household, needs, plan):
        instances[key] = api.start_instance(process_key="needs_matching", actor=users[who], data={
            "household": str(households[household]), "visit_date": today()}).id
        done(instances[key], "Task_NeedsAssessment", who, {"needs": needs})
        done(instances[key], "Task_ConfirmPlan", who, {"plan": [
            {"need_no": n, "resource": str(resources[r].pk), "responsible": "李明"} for n, r in plan]})

    needs_case("nm_ds", "worker_ds", "hh_ds", [
        {"category": "education", "description": "小东学费困难", "urgency": "high", "member": "小东"},
        {"category": "housing", "description": "房屋漏雨东", "urgency": "medium"}], [(1, "edu"), (2, "charity")])
    needs_case("nm_xs", "worker_xs", "hh_xs", [
        {"category": "medical_aid", "description": "慢性病药费西", "urgency": "high", "member": "赵西户主"}], [(1, "health")])
    api.share_instance(instance_id=instances["nm_xs"], username="worker_ds", actor=users["sup_xs"])

    # A case in error (the incidents page): a process whose partner service is down stops at its service task.
    from engine import registry
    from tests.engine import samples

    registry.register_service("matrix.partner_down", lambda ctx, params: (_ for _ in ()).throw(ConnectionError("partner down")))
    xml, forms = samples.service("incident_matrix", "matrix.partner_down")
    samples.deploy((xml.replace("社工 (worker)", "管理员 (admin)"), forms), admin)
    instances["err"] = api.start_instance(process_key="incident_matrix", data={}, actor=admin).id
    # ... and a message to the same partner that failed for good (the undelivered-messages page).
    now = timezone.now()
    OutboxMessage.objects.create(key=MATRIX_MESSAGE, channel="partner.police", payload={}, instance_id=instances["err"],
                                 status="failed", attempts=8, last_error="ConnectionError: partner down", created_at=now,
                                 next_attempt_at=now, last_attempt_at=now)

    # Minors' files: the viewers outside each report's holders hold an approval from its village's supervisor.
    from tests.minors import approve_access

    for case, approvals in APPROVED.items():
        for who, approver in approvals.items():
            approve_access(users[who], instances[case], approver=users[approver])
    from tests.minors import approve_record_access

    for hh, approvals in HH_APPROVED.items():
        for who, approver in approvals.items():
            approve_record_access(users[who], "household", households[hh], approver=users[approver])

    # Children in difficulty: an archive in each village. dongshan's worker, approved to open its child's
    # archive, asks the school (prov-edu) for a joint home visit: a task for partner_edu's office alone.
    from processes.children.handlers import new_child

    children = {key: new_child(village=village, name=f"儿童{key}").pk for key, village in CHILDREN_VILLAGE.items()}
    from processes.children.models import Child

    from processes.children.models import Group, GroupMember

    child_groups = {}
    for key, kid in CHILD_GROUPS.items():
        group = Group.objects.create(village=CHILDREN_VILLAGE[kid], name=f"矩阵小组{key}", goal="矩阵目标", facilitator="矩阵社工")
        group.workers.add(users[CHILD_GROUP_WORKER[key]])
        GroupMember.objects.create(group=group, child_id=children[kid], joined_on=dt.date(2026, 1, 5))
        child_groups[key] = group.pk
    marked = Child.objects.get(pk=children["ch_ds"])
    marked.health = "哮喘矩阵"
    marked.save(update_fields=["health"])
    approve_record_access(users["worker_ds"], "child", children["ch_ds"], approver=users["sup_ds"])
    instances["jv_ds"] = api.start_instance(process_key="children_joint_visit", actor=users["worker_ds"], data={
        "child": str(children["ch_ds"]), "office": "prov-edu", "planned_on": today(2), "purpose": "矩阵家访目的"}).id
    approve_access(users["admin"], instances["jv_ds"], approver=users["sup_ds"])  # as for every minors' case the administrator opens
    # A household's page gathers the processes (registry.person_facets): dongshan's report and child are of hh_ds.
    from processes.child_protection.models import ChildProtectionCase

    report = ChildProtectionCase.objects.get(instance_id=instances["cp_ds"])
    report.household_code = HOUSEHOLDS["hh_ds"]
    report.save(update_fields=["household_code"])
    marked.household_code = HOUSEHOLDS["hh_ds"]
    marked.save(update_fields=["household_code"])

    # -- the time bank: dongshan's members, two volunteers with their own sign-in (one suspended)
    from processes.time_bank.models import Member as TbMember
    from tests.processes.time_bank import flows as tb

    members = {}
    for key, login in TB_MEMBERS.items():
        member = tb.member("elder" if key == "tb_elder" else "volunteer", by=users["worker_ds"], name=f"志愿者{key}")
        if login:
            TbMember.objects.filter(pk=member.pk).update(user=users[login])
        members[key] = member.pk
    tb.give_hours(TbMember.objects.get(pk=members["tb_vol"]), 4, users["worker_ds"])
    tb.give_hours(TbMember.objects.get(pk=members["tb_other"]), 9, users["worker_ds"])
    for key, volunteer in TB_SERVICES.items():
        members[key] = instances[key] = tb.request(users["worker_ds"], TbMember.objects.get(pk=members["tb_elder"]),
                                                   TbMember.objects.get(pk=members[volunteer]))
    TbMember.objects.filter(pk=members["tb_off"]).update(status="suspended", status_note="核实中")

    # Name every task row after its case and step (a review after its reviewer, a referral after its resource).
    by_instance = {pk: key for key, pk in instances.items()}
    by_referral = {str(r.pk): name for r in Referral.objects.select_related("resource")
                   for name, res in resources.items() if res.pk == r.resource_id}
    tasks = {}
    for row in HumanTask.objects.select_related("assignee").order_by("pk"):
        key = f"{by_instance[row.instance_id]}:{row.bpmn_id.removeprefix('Task_')}"
        if row.bpmn_id == "Task_Review":
            key += f"@{row.assignee.username}"
        if row.bpmn_id == "Task_ProviderResponse":
            key += f"#{by_referral.get(str(row.context), row.context)}"
        assert key not in tasks, f"two tasks named {key}"
        tasks[key] = row.pk
    rosters = {}
    for key, village in ROSTERS.items():
        roster = Roster.objects.create(village=village, name=f"课后课堂-{key}")
        roster.workers.add(users[ROSTER_WORKER[key]])
        RosterMember.objects.create(roster=roster, name=f"小组成员{key}", guardian_consent=True, joined_on=dt.date(2026, 9, 1))
        rosters[key] = roster.pk
    from processes.elderly_care.models import ElderlyPerson, Referral as ElderReferral

    elders = {}
    for key, village in ELDERS.items():
        elders[key] = ElderlyPerson.objects.create(code=f"EC-{key}", village=village, birth_year=1940, sex="female", name=f"老人{key}",
                                                   phone=f"电话{key}", living="alone").pk
    ElderReferral.objects.create(person_id=elders["el_ds"], instance_id=0, village=DS, rules_version=1, created_at=timezone.now(),
                                 flags=[{"code": "high_bp", "label": "收缩压≥160", "value": "171"}])
    # -- low-income monitoring: two monitored households, one a village
    from processes.monitoring.models import MonitoredHousehold

    monitored = {key: MonitoredHousehold.objects.create(household_id=households[hh], code=HOUSEHOLDS[hh], village=HH_VILLAGE[hh],
                                                        category="edge", since=dt.date(2026, 1, 5)).pk for key, hh in MONITORED.items()}
    # -- end of low-income monitoring
    return World(users, instances, tasks, files, households, orgs, resources, rosters=rosters, elders=elders, monitored=monitored,
                 children=children, child_groups=child_groups, members=members)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once, inside a transaction that is rolled back when the module is done: the database
    is left as it was found, for whichever tests run next."""
    media = override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("matrix-media")))
    with django_db_blocker.unblock():
        media.enable()
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with translation.override("en"):
                built = build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            media.disable()
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)
        media.disable()


# -- running the cells ----------------------------------------------------------------------------

class _Undo(Exception):
    def __init__(self, result):
        super().__init__("undo")
        self.result = result


TASK_LINK = re.compile(r"/tasks/(\d+)/")


class Runner:
    def __init__(self, world: World):
        self.w = world
        self.clients = {}
        for user in USERS:  # sessions made here, outside the cells' savepoints
            client = Client(raise_request_exception=False)
            if user != "anon":
                client.force_login(world.users[user])
            self.clients[user] = client
        from tests.minors import give_reason

        for case, holders in HOLDERS.items():  # today's reason, as each holder gives it on the form
            for user in holders:
                give_reason(self.clients[user], world.instances[case])
        from tests.minors import give_record_reason

        for hh, holders in HH_HOLDERS.items():
            for user in holders:
                pk = world.households[hh]
                give_record_reason(self.clients[user], "household", pk, next_url=f"/households/{pk}/")

    def run(self, row: Row):
        """The cell's actual outcome; whatever it did is rolled back."""
        action = ACTIONS[row.action]
        try:
            with transaction.atomic():
                raise _Undo(action(self, row))
        except _Undo as undo:
            result = undo.result
        except Exception as exc:  # a crash is an outcome too, shown in the table
            result = (f"crash: {type(exc).__name__}: {exc}"[:160], "")
        self.clients[row.user].cookies.pop("messages", None)
        return result if isinstance(result, tuple) else (result, "")

    # helpers
    def get(self, row, url):
        return self.clients[row.user].get(url)

    def post(self, row, url, data=None):
        return self.clients[row.user].post(url, data or {})

    def task_id(self, key):
        return self.w.tasks[key]

    def instance_id(self, key):
        return self.w.instances[key]


def status(response) -> str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith(("/accounts/login/", "/admin/login/")):
            return "login"
        if location == "/time-bank/me/":
            return "home"
    return str(response.status_code)


SNAPSHOT = [  # (model, columns) whose rows a write could change; reads only add access-log rows and mark notices read
    (HumanTask, ["id", "status", "assignee_id", "completed_by_id", "draft_data"]),
    (ProcessInstance, ["id", "revision", "status"]),
    (AuditEvent, ["id"]),
    (InstanceUserObjectPermission, ["id"]),
    (InstanceGroupObjectPermission, ["id"]),
    (Attachment, ["id"]),
    (Referral, ["id", "status"]),
    (Resource, ["id", "capacity_left"]),
    (Fund, ["id", "committed", "disbursed", "returned"]),
    (LedgerEntry, ["id"]),
    (Application, ["id", "stage"]),
    (ProcessDefinition, ["id"]),
    (RosterMember, ["id", "active"]),
    (OutboxMessage, ["id", "status", "attempts", "next_attempt_at"]),
    (CalendarDay, ["id", "is_working_day"]),
    (ServiceSession, ["id", "arrived_at", "status"]),
]


def snapshot():
    """Everything a write could change, in one round trip on PostgreSQL."""
    if connection.vendor == "postgresql":
        parts = []
        for model, columns in SNAPSHOT:
            cols = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) + "::text" for c in columns)
            parts.append(f"(SELECT md5(coalesce(string_agg(concat_ws('|', {cols}), ';' ORDER BY id), '')) "
                         f"FROM {connection.ops.quote_name(model._meta.db_table)})")
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(parts))
            return cursor.fetchone()
    return [list(model.objects.order_by("pk").values_list(*columns)) for model, columns in SNAPSHOT]


def error_shown(response) -> bool:
    queued = getattr(getattr(response.wsgi_request, "_messages", None), "_queued_messages", [])
    return any(m.level == message_levels.ERROR for m in queued)


def write_outcome(response, before, effect: bool) -> tuple[str, str]:
    """ok if the intended change happened; else the refusal — which must have changed nothing."""
    code = status(response)
    if code == "login":
        changed = snapshot() != before
        return ("login" if not changed else "login, but it changed something!"), ""
    if effect:
        return "ok", code
    if snapshot() != before:
        return f"refused ({code}) but changed something!", ""
    if code in ("403", "404", "409", "400"):
        return code, ""
    if code == "302" and error_shown(response):
        return "msg", ""
    return f"{code} without an error message", ""


def marker(response, text) -> str:
    code = status(response)
    if code != "200":
        return code
    return "shown" if text in response.content.decode() else "hidden"


def options(response, name) -> frozenset | str:
    code = status(response)
    if code != "200":
        return code
    doc = lxml_html.fromstring(response.content)
    return frozenset(o.get("value") for o in doc.xpath(f'//select[@name="{name}"]//option') if o.get("value"))


# -- actions ------------------------------------------------------------------------------------------

def a_inbox(r: Runner, row):
    response = r.get(row, f"/?tab={row.arg}")
    if status(response) != "200":
        return status(response)
    return frozenset(r.w.task_name(int(pk)) for pk in TASK_LINK.findall(response.content.decode()))


def a_task_read(r: Runner, row):
    response = r.get(row, f"/tasks/{r.task_id(row.obj)}/")
    if status(response) != "200":
        return status(response)
    return "act" if 'value="complete"' in response.content.decode() else "view"


def a_task_private(r: Runner, row):
    return marker(r.get(row, f"/tasks/{r.task_id(row.obj)}/"), row.arg[1])


def _complete(r: Runner, row, data, extra_check=None):
    task_id = r.task_id(row.obj)
    user = r.w.users.get(row.user)
    before = snapshot()
    response = r.post(row, f"/tasks/{task_id}/", data)
    task = HumanTask.objects.get(pk=task_id)
    effect = user is not None and task.status == "completed" and task.completed_by_id == user.pk and status(response) == "302"
    outcome = write_outcome(response, before, effect)
    if effect and extra_check:
        return extra_check(task)
    return outcome


def a_complete(r: Runner, row):
    bpmn = HumanTask.objects.get(pk=r.task_id(row.obj)).bpmn_id
    return _complete(r, row, task_form(bpmn) if row.obj in OPEN else {"_action": "complete"})


def a_complete_with_foreign_file(r: Runner, row):
    token = r.w.files[row.arg]

    def kept_out(task):
        attached = task.form_data.get("attachments") or []
        return ("ok-without-it", "") if token not in attached else ("ok, and the other case's file is now in this form!", "")

    return _complete(r, row, application_form(attachments=[token]), kept_out)


def a_draft(r: Runner, row):
    task_id = r.task_id(row.obj)
    before = snapshot()
    data = {**task_form(HumanTask.objects.get(pk=task_id).bpmn_id), "_action": "draft"}
    response = r.post(row, f"/tasks/{task_id}/", data)
    task = HumanTask.objects.get(pk=task_id)
    return write_outcome(response, before, task.status == "open" and task.draft_data is not None and status(response) == "302")


def a_claim(r: Runner, row):
    task_id = r.task_id(row.obj)
    user = r.w.users.get(row.user)
    before = snapshot()
    response = r.post(row, f"/tasks/{task_id}/claim/")
    task = HumanTask.objects.get(pk=task_id)
    return write_outcome(response, before, user is not None and task.assignee_id == user.pk and not error_shown(response))


def a_release(r: Runner, row):
    task_id = r.task_id(row.obj)
    before = snapshot()
    response = r.post(row, f"/tasks/{task_id}/release/", {"reason": "外出培训"})
    return write_outcome(response, before, HumanTask.objects.get(pk=task_id).assignee_id is None)


def a_assign(r: Runner, row):
    task_id = r.task_id(row.obj)
    target = r.w.users[row.arg]
    before = snapshot()
    response = r.post(row, f"/tasks/{task_id}/assign/", {"assignee": row.arg, "reason": "病假顶岗"})
    held = HumanTask.objects.get(pk=task_id).assignee_id
    return write_outcome(response, before, held == target.pk and before[0] != snapshot()[0])


def a_assign_options(r: Runner, row):
    return options(r.get(row, f"/tasks/{r.task_id(row.obj)}/"), "assignee")


def a_case(r: Runner, row):
    return status(r.get(row, f"/cases/{r.instance_id(row.obj)}/"))


def a_diagram(r: Runner, row):
    response = r.get(row, f"/cases/{r.instance_id(row.obj)}/diagram/")
    code = status(response)
    if code == "200" and "definitions" not in response.json().get("xml", ""):
        return "200 without the diagram"
    return code


def a_case_private(r: Runner, row):
    return marker(r.get(row, f"/cases/{r.instance_id(row.obj)}/"), row.arg[1])


def _granted(instance_id, user) -> bool:
    return InstanceUserObjectPermission.objects.filter(content_object_id=instance_id, user=user,
                                                       permission__codename="view_processinstance").exists()


def a_share(r: Runner, row):
    instance_id = r.instance_id(row.obj)
    target = r.w.users[row.arg]
    before = snapshot()
    response = r.post(row, f"/cases/{instance_id}/share/", {"username": row.arg})
    effect = _granted(instance_id, target) and not error_shown(response)
    outcome = write_outcome(response, before, effect)
    reached = r.clients[row.arg].get(f"/cases/{instance_id}/")
    # A minor's file opens to the colleague through the need-to-know gate (ADR 0020): its access page.
    if effect and status(reached) != "200" and not (status(reached) == "302" and "/access/" in reached["Location"]):
        return "ok, but the colleague still cannot open the case", ""
    return outcome


def a_share_options(r: Runner, row):
    return options(r.get(row, f"/cases/{r.instance_id(row.obj)}/"), "username")


def _without_clearance(r: Runner, row) -> Client:
    """A fresh session of the user (no reason given today) after the world's approvals have lapsed."""
    from engine.station import AccessRequest

    AccessRequest.objects.filter(status="approved").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client = Client(raise_request_exception=False)
    if row.user != "anon":
        client.force_login(r.w.users[row.user])
    return client


def a_minors_gate(r: Runner, row):
    from engine.station import AccessLog

    client = _without_clearance(r, row)
    instance_id = r.instance_id(row.obj)
    refused = AccessLog.objects.filter(instance_id=instance_id, outcome="refused").count()
    response = client.get(f"/cases/{instance_id}/")
    if status(response) != "302" or not response["Location"].startswith(f"/cases/{instance_id}/access/"):
        return status(response)
    page = client.get(response["Location"])
    need = re.search(r'data-need="(\w+)"', page.content.decode())
    if need is None:
        return f"access page {status(page)} without a form"
    logged = AccessLog.objects.filter(instance_id=instance_id, outcome="refused").count() - refused
    if need.group(1) == "approval" and logged != 1:
        return "approval, but the refusal was not logged", ""
    return need.group(1)


def a_minors_diagram(r: Runner, row):
    return status(_without_clearance(r, row).get(f"/cases/{r.instance_id(row.obj)}/diagram/"))


def a_minors_ask(r: Runner, row):
    from engine.station import AccessRequest

    client = _without_clearance(r, row)
    instance_id = r.instance_id(row.obj)
    before = snapshot()
    response = client.post(f"/cases/{instance_id}/access/", {"purpose": "cover", "reason": "顶岗需要了解个案"})
    user = r.w.users.get(row.user)
    made = user is not None and AccessRequest.objects.filter(user=user, instance_id=instance_id, status="pending").exists()
    if not made and status(response) == "302" and response["Location"] == f"/cases/{instance_id}/" and snapshot() == before:
        return "reason-kept" if status(client.get(response["Location"])) == "200" else "302 but the case still does not open"
    return write_outcome(response, before, made and status(response) == "302")


def a_minors_decide(r: Runner, row):
    from engine.station import AccessRequest

    instance_id = r.instance_id(row.obj)
    request = AccessRequest.objects.create(user=r.w.users["admin"], instance_id=instance_id, process_key="child_protection",
                                           village=CASE_VILLAGE[row.obj], purpose="support", reason="排查报错")
    approve = "(approve)" in row.action
    before = snapshot()
    response = r.post(row, f"/access/requests/{request.pk}/decide/", {"decision": "approve" if approve else "refuse", "note": ""})
    decided = AccessRequest.objects.get(pk=request.pk).status != "pending"
    return write_outcome(response, before, decided)


def a_household_gate(r: Runner, row):
    from engine.station import AccessLog

    client = _without_clearance(r, row)
    pk = r.w.households[row.obj]
    refused = AccessLog.objects.filter(record=f"household:{pk}", outcome="refused").count()
    response = client.get(f"/households/{pk}/")
    if status(response) != "302" or not response["Location"].startswith(f"/records/household/{pk}/access/"):
        return status(response)
    page = client.get(response["Location"])
    need = re.search(r'data-need="(\w+)"', page.content.decode())
    if need is None:
        return f"access page {status(page)} without a form"
    logged = AccessLog.objects.filter(record=f"household:{pk}", outcome="refused").count() - refused
    if need.group(1) == "approval" and logged != 1:
        return "approval, but the refusal was not logged", ""
    return need.group(1)


def a_child_gate(r: Runner, row):
    """The archive page or its edit page without a reason or an approval: what the gate asks for."""
    from engine.station import AccessLog

    client = _without_clearance(r, row)
    pk = r.w.children[row.obj]
    url = f"/children/{pk}/edit/" if "/edit/" in row.action else f"/children/{pk}/"
    refused = AccessLog.objects.filter(record=f"child:{pk}", outcome="refused").count()
    response = client.get(url)
    if status(response) != "302" or not response["Location"].startswith(f"/records/child/{pk}/access/"):
        return status(response)
    page = client.get(response["Location"])
    need = re.search(r'data-need="(\w+)"', page.content.decode())
    if need is None:
        return f"access page {status(page)} without a form"
    logged = AccessLog.objects.filter(record=f"child:{pk}", outcome="refused").count() - refused
    if need.group(1) == "approval" and logged != 1:
        return "approval, but the refusal was not logged", ""
    return need.group(1)


def a_child_edit_post(r: Runner, row):
    """A correction posted past the gate changes nothing, whoever sends it."""
    from processes.children.models import Child

    client = _without_clearance(r, row)
    pk = r.w.children[row.obj]
    response = client.post(f"/children/{pk}/edit/", {"school": "改过的学校", "grade": "九年级"})
    if status(response) == "login":
        return "login"
    return "changed" if Child.objects.get(pk=pk).school == "改过的学校" else "nothing"


def a_child_contact_post(r: Runner, row):
    """A family letter posted to the archive page past the gate is not saved, whoever sends it."""
    from processes.children.models import FamilyContact

    client = _without_clearance(r, row)
    pk = r.w.children[row.obj]
    before = FamilyContact.objects.filter(child_id=pk).count()
    response = client.post(f"/children/{pk}/", {"_action": "contact", "kind": "letter", "held_on": "2026-01-05",
                                                 "people": "社工", "summary": "矩阵家书"})
    if status(response) in ("login", "404"):
        return status(response)
    return "saved" if FamilyContact.objects.filter(child_id=pk).count() > before else "nothing saved"


def a_child_group(r: Runner, row):
    """Whom the group's page names: its child by name, or by archive number only."""
    response = r.get(row, f"/children/groups/{r.w.child_groups[row.obj]}/")
    if response.status_code != 200:
        return status(response)
    page = response.content.decode()
    named, numbered = f"儿童{CHILD_GROUPS[row.obj]}" in page, 'data-testid="numbers-only"' in page
    return "names" if named and not numbered else "numbers" if numbered and not named else f"names {named}, numbers {numbered}"


def a_child_group_session(r: Runner, row):
    """A session recorded on the group's page."""
    from processes.children.models import GroupSession

    pk = r.w.child_groups[row.obj]
    count = GroupSession.objects.filter(group_id=pk).count()
    before = snapshot()
    response = r.post(row, f"/children/groups/{pk}/", {"_action": "session", "held_on": today(), "content": "矩阵活动",
                                                        "present": [r.w.children[CHILD_GROUPS[row.obj]]], "_token": str(uuid.uuid4())})
    return write_outcome(response, before, GroupSession.objects.filter(group_id=pk).count() == count + 1)


def a_household_ask(r: Runner, row):
    from engine.station import AccessRequest

    client = _without_clearance(r, row)
    pk = r.w.households[row.obj]
    before = snapshot()
    url = f"/households/{pk}/"
    response = client.post(f"/records/household/{pk}/access/", {"purpose": "cover", "reason": "顶岗需要了解家庭情况", "next": url})
    user = r.w.users.get(row.user)
    made = user is not None and AccessRequest.objects.filter(user=user, record=f"household:{pk}", status="pending").exists()
    if not made and status(response) == "302" and response["Location"] == url and snapshot() == before:
        if row.obj not in HH_HOLDERS:
            return "none"  # nothing to ask for: sent straight to the page
        return "reason-kept" if status(client.get(url)) == "200" else "302 but the household still does not open"
    return write_outcome(response, before, made and status(response) == "302")


def a_get_status(r: Runner, row):
    return status(r.get(row, row.action.split(" ")[1]))


def a_file(r: Runner, row):
    token = r.w.files.get(row.obj, "0" * 32)
    return status(r.get(row, f"/files/{token}/"))


def a_start_list(r: Runner, row):
    response = r.get(row, "/start/")
    if status(response) != "200":
        return status(response)
    return frozenset(re.findall(r'href="/start/([a-z_]+)/"', response.content.decode()))


def a_start_form(r: Runner, row):
    return status(r.get(row, f"/start/{row.obj}/"))


def a_start_options(r: Runner, row):
    found = options(r.get(row, f"/start/{row.obj}/"), row.arg)
    if isinstance(found, str):
        return found
    if row.arg == "organisation":
        names = {str(org.pk): key for key, org in r.w.orgs.items()}
    else:
        names = {str(pk): key for key, pk in r.w.households.items()}
    return frozenset(names.get(v, f"#{v}") for v in found)


def a_start_post(r: Runner, row):
    _field, value = row.arg.split("=")
    if row.obj == "child_protection":
        data = {"village": value, "received_at": local_minutes_ago(5), "channel": "phone"}
    elif row.obj == "micro_fund":
        org = r.w.orgs[value]
        data = {"organisation": str(org.pk), "title": "新申报项目", "village": org.village, "category": "culture"}
    else:
        data = {"household": str(r.w.households[value]), "visit_date": today()}
    before = snapshot()
    count = ProcessInstance.objects.filter(process_key=row.obj).count()
    response = r.post(row, f"/start/{row.obj}/", data)
    return write_outcome(response, before, ProcessInstance.objects.filter(process_key=row.obj).count() == count + 1)


def _notified_ids(r: Runner, row):
    response = r.get(row, "/notifications/")
    if status(response) != "200":
        return status(response)
    return {int(pk) for pk in TASK_LINK.findall(response.content.decode())}


def a_notified_about(r: Runner, row):
    ids = _notified_ids(r, row)
    if isinstance(ids, str):
        return ids
    return frozenset(r.w.task_name(pk) for pk in ids if r.w.task_name(pk) in NOTIFIED)


def a_notified_unopenable(r: Runner, row):
    ids = _notified_ids(r, row)
    if isinstance(ids, str):
        return ids
    client = r.clients[row.user]
    return frozenset(r.w.task_name(pk) for pk in ids if client.get(f"/tasks/{pk}/").status_code != 200)


def _titles_in(text: str) -> frozenset:
    return frozenset(key for key, title in TITLES.items() if title in text)


def a_fund(r: Runner, row):
    return status(r.get(row, "/fund/"))


def a_fund_projects(r: Runner, row):
    response = r.get(row, "/fund/")
    if status(response) != "200":
        return status(response)
    names = r.w.instance_names
    return frozenset(names.get(int(pk), f"case#{pk}") for pk in re.findall(r'href="/cases/(\d+)/"', response.content.decode()))


def a_fund_titles(r: Runner, row):
    response = r.get(row, "/fund/")
    return status(response) if status(response) != "200" else _titles_in(response.content.decode())


def _workbook(r: Runner, row):
    from openpyxl import load_workbook

    response = r.get(row, "/fund/export.xlsx")
    if status(response) != "200":
        return status(response)
    return load_workbook(BytesIO(response.content))


def a_export(r: Runner, row):
    return status(r.get(row, "/fund/export.xlsx"))


def a_export_projects(r: Runner, row):
    book = _workbook(r, row)
    if isinstance(book, str):
        return book
    titles = {cells[0] for cells in list(book.worksheets[1].iter_rows(values_only=True))[1:]}
    return frozenset(key for key, title in TITLES.items() if title in titles)


def a_export_titles(r: Runner, row):
    book = _workbook(r, row)
    if isinstance(book, str):
        return book
    text = " ".join(str(v) for sheet in book.worksheets for cells in sheet.iter_rows(values_only=True) for v in cells if v is not None)
    return _titles_in(text)


# -- low-income monitoring --

def a_monitoring_status(r: Runner, row):
    url = row.action.split(" ")[1].replace("{obj}", str(r.w.monitored.get(row.obj, "")))
    return status(r.get(row, url))


def a_monitoring_list(r: Runner, row):
    response = r.get(row, "/monitoring/")
    if status(response) != "200":
        return status(response)
    shown = set(re.findall(r'data-household="(\d+)"', response.content.decode()))
    return frozenset(key for key, pk in r.w.monitored.items() if str(pk) in shown)

# -- end of low-income monitoring --


def a_tb_status(r: Runner, row):
    url = row.action.split(" ")[1].replace("{obj}", str(r.w.members.get(row.obj, ""))).replace("{arg}", str(row.arg))
    return status(r.get(row, url))


def a_tb_shows(r: Runner, row):
    return marker(r.get(row, "/time-bank/me/"), row.arg)


def a_tb_login(r: Runner, row):
    from processes.time_bank.models import Member as TbMember

    before = snapshot()
    response = r.post(row, f"/time-bank/members/{r.w.members[row.obj]}/login/")
    if response.status_code == 200:  # the one-time password's page
        return "ok" if TbMember.objects.get(pk=r.w.members[row.obj]).user_id else "200 without a sign-in"
    return write_outcome(response, before, False)


def a_tb_suspend(r: Runner, row):
    from processes.time_bank.models import Member as TbMember

    before = snapshot()
    response = r.post(row, f"/time-bank/members/{r.w.members[row.obj]}/status/", {"action": "suspend", "note": "矩阵"})
    return write_outcome(response, before, TbMember.objects.get(pk=r.w.members[row.obj]).status == "suspended")


def a_tb_donate(r: Runner, row):
    from processes.time_bank.models import LedgerEntry as TbEntry

    count = TbEntry.objects.count()
    before = snapshot()
    agreed = timezone.localtime().strftime("%Y-%m-%dT%H:%M")  # the member's own consent, as the form records it
    response = r.post(row, f"/time-bank/members/{r.w.members[row.obj]}/donate/", {"hours": "1", "consent_how": "signed", "consent_at": agreed})
    return write_outcome(response, before, TbEntry.objects.count() > count)


def a_tb_sign_in(r: Runner, row):
    from processes.time_bank.models import ServiceSession

    before = snapshot()
    response = r.post(row, f"/time-bank/me/services/{r.w.members[row.obj]}/sign-in/")
    return write_outcome(response, before, ServiceSession.objects.filter(instance_id=r.w.members[row.obj], arrived_at__isnull=False).exists())


def a_tb_sign_out(r: Runner, row):
    from processes.time_bank.models import ServiceSession

    ServiceSession.objects.filter(instance_id=r.w.members[row.obj]).update(arrived_at=timezone.now() - dt.timedelta(hours=2))
    before = snapshot()
    response = r.post(row, f"/time-bank/me/services/{r.w.members[row.obj]}/sign-out/", {"done": "矩阵：陪老人聊天"})
    return write_outcome(response, before, ServiceSession.objects.filter(instance_id=r.w.members[row.obj], status="served").exists())


def a_elder_status(r: Runner, row):
    url = row.action.split(" ")[1].replace("{obj}", str(r.w.elders.get(row.obj, "")))
    return status(r.get(row, url))


def a_elder_list(r: Runner, row):
    response = r.get(row, "/elderly/")
    if status(response) != "200":
        return status(response)
    names = {pk: key for key, pk in r.w.elders.items()}
    return frozenset(names.get(int(pk), f"elder#{pk}") for pk in re.findall(r'href="/elderly/(\d+)/"', response.content.decode()))


def a_elder_phone(r: Runner, row):
    return marker(r.get(row, f"/elderly/{r.w.elders[row.obj]}/"), f"电话{row.obj}")


def a_elder_options(r: Runner, row):
    from engine import registry

    names = {f"elderly_care:{pk}": key for key, pk in r.w.elders.items()}
    return frozenset(names.get(value, value) for value, _label in registry.option_source("elderly_people", r.w.users[row.user]))


def a_elder_screen(r: Runner, row):
    before = snapshot()
    count = ProcessInstance.objects.filter(process_key="elderly_care").count()
    response = r.post(row, f"/elderly/{r.w.elders[row.obj]}/screen/")
    return write_outcome(response, before, ProcessInstance.objects.filter(process_key="elderly_care").count() == count + 1)


def a_households(r: Runner, row):
    return status(r.get(row, "/households/"))


def a_household_list(r: Runner, row):
    response = r.get(row, "/households/")
    if status(response) != "200":
        return status(response)
    names = {pk: key for key, pk in r.w.households.items()}
    return frozenset(names.get(int(pk), f"household#{pk}") for pk in re.findall(r'href="/households/(\d+)/', response.content.decode()))


def a_search(r: Runner, row):
    return status(r.get(row, "/search/?q=HH-"))


def a_search_households(r: Runner, row):
    response = r.get(row, "/search/?q=HH-")
    names = {pk: key for key, pk in r.w.households.items()}
    return frozenset(names.get(int(pk), f"household#{pk}") for pk in re.findall(r'href="/households/(\d+)/', response.content.decode()))


def a_household(r: Runner, row):
    return status(r.get(row, f"/households/{r.w.households[row.obj]}/"))


def a_household_facet(r: Runner, row):
    """What the household's page tells this viewer of a linked record: "shown" (its number among the
    facets), "no trace" (neither its number anywhere on the page nor its process's label among the
    facets), or what else was found."""
    from engine.station import AccessRequest
    from processes.child_protection.models import ChildProtectionCase
    from processes.children.models import Child

    if "child-protection" in row.action:
        marker, label = ChildProtectionCase.objects.get(instance_id=r.w.instances["cp_ds"]).case_no, "儿童保护"
    else:
        marker, label = Child.objects.get(pk=r.w.children["ch_ds"]).code, "困境儿童"
    if "lapsed" in row.action:
        AccessRequest.objects.filter(instance_id=r.w.instances["cp_ds"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = r.get(row, f"/households/{r.w.households[row.obj]}/")
    if status(response) != "200":
        return status(response)
    page = response.content.decode()
    facets = page.split('data-testid="household-facets"')[1].split("</dl>")[0] if 'data-testid="household-facets"' in page else ""
    if marker in facets:
        return "shown"
    if marker not in page and label not in facets:
        return "no trace"
    return "a trace is left", f"number on the page: {marker in page}, label among the facets: {label in facets}"


def a_activities(r: Runner, row):
    return status(r.get(row, "/activities/"))


def a_groups(r: Runner, row):
    return status(r.get(row, "/activities/groups/"))


def a_group_list(r: Runner, row):
    response = r.get(row, "/activities/groups/")
    if status(response) != "200":
        return status(response)
    names = {pk: key for key, pk in r.w.rosters.items()}
    return frozenset(names.get(int(pk), f"group#{pk}") for pk in re.findall(r'href="/activities/groups/(\d+)/"', response.content.decode()))


def a_group(r: Runner, row):
    return status(r.get(row, f"/activities/groups/{r.w.rosters[row.obj]}/"))


def a_group_add(r: Runner, row):
    roster = r.w.rosters[row.obj]
    count = RosterMember.objects.filter(roster_id=roster).count()
    before = snapshot()
    response = r.post(row, f"/activities/groups/{roster}/", {"_action": "add", "name": "矩阵新成员", "minor": "on", "guardian_consent": "on"})
    return write_outcome(response, before, RosterMember.objects.filter(roster_id=roster).count() == count + 1)


def a_roster_options(r: Runner, row):
    from engine import registry

    names = {str(pk): key for key, pk in r.w.rosters.items()}
    return frozenset(names.get(value, value) for value, _label in registry.option_source("activity_rosters", r.w.users[row.user]))


def a_roster_member_options(r: Runner, row):
    from engine import registry

    offered = registry.option_source("roster_members", r.w.users[row.user], {"roster_id": r.w.rosters[row.obj]})
    return "names" if [label for _value, label in offered] == [f"小组成员{row.obj}"] else "nobody" if not offered else str(offered)


def a_group_names(r: Runner, row):
    """Whether the group's page names its member, or shows the group without names."""
    response = r.get(row, f"/activities/groups/{r.w.rosters[row.obj]}/")
    if response.status_code != 200:
        return status(response)
    page = response.content.decode()
    named, unnamed = f"小组成员{row.obj}" in page, 'data-testid="no-names"' in page
    return "names" if named and not unnamed else "no names" if unnamed and not named else f"names {named}, no names {unnamed}"


def a_group_attendance(r: Runner, row):
    """The group's worker plans a session; the village's supervisor hands its attendance to the user,
    who ticks the member present — or, refused, sends it with nobody ticked (whoever sees no name)."""
    from engine.errors import CaseflowError, FormInvalid

    roster = r.w.rosters[row.obj]
    instance_id = api.start_instance(process_key="activities", actor=r.w.users[ROSTER_WORKER[row.obj]], data={
        "kind": "after_school", "title": "矩阵课堂", "village": ROSTERS[row.obj], "place": "村部", "facilitator": "矩阵社工",
        "held_on": today(), "roster": str(roster)}).id
    task = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_Attendance", status="open")
    try:
        api.assign_task(task_id=task.pk, assignee_username=row.user, actor=r.w.users[SUPERVISOR_OF[ROSTERS[row.obj]]], reason="矩阵代班")
    except CaseflowError:
        return "not given"
    member = RosterMember.objects.get(roster_id=roster)
    before = snapshot()
    for present in ([str(member.pk)], []):
        try:
            api.complete_task(task_id=task.pk, actor=r.w.users[row.user], data={"present": present, "content": "矩阵活动"})
            break
        except FormInvalid:
            continue
    else:
        return "400" if snapshot() == before else "refused (400) but changed something!"
    from processes.activities.models import Attendance

    return "ok" if Attendance.objects.filter(activity__instance_id=instance_id, member=member).exists() else "recorded, nobody present"


def a_year_target(r: Runner, row):
    from portal.dashboard.models import YearTarget

    response = r.post(row, "/year/targets/?year=2026", {"activities.trainings": "6"})
    saved = YearTarget.objects.filter(year=2026, figure="activities.trainings", target=6).exists()
    if response.status_code == 302 and saved:
        return "ok"
    return status(response) if not saved else f"{status(response)} but it saved!"


def a_gaps(r: Runner, row):
    return status(r.get(row, "/resources/gaps/"))


def a_gaps_villages(r: Runner, row):
    response = r.get(row, "/resources/gaps/")
    if status(response) != "200":
        return status(response)
    return frozenset(re.findall(r'data-village="([a-z0-9_-]+)"', response.content.decode()))


def a_incidents(r: Runner, row):
    return status(r.get(row, "/studio/incidents/"))


def a_incidents_listed(r: Runner, row):
    response = r.get(row, "/studio/incidents/")
    if status(response) != "200":
        return status(response)
    names = r.w.instance_names
    return frozenset(names.get(int(pk), f"case#{pk}") for pk in re.findall(r'data-instance="(\d+)"', response.content.decode()))


def a_incident_retry(r: Runner, row):
    instance_id = r.instance_id(row.obj)
    retried = AuditEvent.objects.filter(instance_id=instance_id, kind="retried").count()
    before = snapshot()
    response = r.post(row, f"/studio/incidents/{instance_id}/retry/")
    # The partner is still down: the retry runs, is audited, and the case is back in error.
    return write_outcome(response, before, AuditEvent.objects.filter(instance_id=instance_id, kind="retried").count() == retried + 1)


def a_incident_cancel(r: Runner, row):
    instance_id = r.instance_id(row.obj)
    before = snapshot()
    reason = "合作方停止服务" if "with a reason" in row.action else "   "
    response = r.post(row, f"/studio/incidents/{instance_id}/cancel/", {"reason": reason})
    return write_outcome(response, before, ProcessInstance.objects.get(pk=instance_id).status == "cancelled")


def a_undelivered(r: Runner, row):
    return status(r.get(row, "/studio/incidents/messages/"))


def a_undelivered_listed(r: Runner, row):
    response = r.get(row, "/studio/incidents/messages/")
    if status(response) != "200":
        return status(response)
    ids = {int(pk) for pk in re.findall(r'data-message="(\d+)"', response.content.decode())}
    return frozenset(OutboxMessage.objects.filter(pk__in=ids).values_list("key", flat=True))


def a_undelivered_retry(r: Runner, row):
    message = OutboxMessage.objects.get(key=row.obj)
    before = snapshot()
    response = r.post(row, f"/studio/incidents/messages/{message.pk}/retry/")
    message.refresh_from_db()
    return write_outcome(response, before, message.status == "pending" and message.attempts == 0)
def _sla_range() -> str:
    """Six months either side of today: every deadline of the world."""
    today = timezone.localdate()
    month = today.year * 12 + today.month - 1

    def text(m):
        return f"{m // 12:04d}-{m % 12 + 1:02d}"

    return f"from={text(month - 6)}&to={text(month + 6)}"


def a_sla_villages(r: Runner, row):
    response = r.get(row, f"/sla/?{_sla_range()}")
    if status(response) != "200":
        return status(response)
    return frozenset(v for v in re.findall(r'data-village="([^"]*)"', response.content.decode()) if v)


def a_calendar_day_off(r: Runner, row):
    from engine.business_calendar import CalendarDay

    before = snapshot()
    response = r.post(row, "/sla/calendar/", {"date": "2026-10-09", "is_working_day": "no", "note": "庙会"})
    return write_outcome(response, before, CalendarDay.objects.filter(date="2026-10-09", is_working_day=False).exists())


def a_calendar_remove(r: Runner, row):
    from engine.business_calendar import CalendarDay

    CalendarDay.objects.create(date="2026-10-09", is_working_day=False, note="庙会")
    before = snapshot()
    response = r.post(row, "/sla/calendar/remove/", {"date": "2026-10-09"})
    return write_outcome(response, before, not CalendarDay.objects.filter(date="2026-10-09").exists())


def a_admin(r: Runner, row):
    return status(r.get(row, row.arg))


def _edited_diagram(key: str) -> bytes:
    from engine import registry

    xml = registry.packages()[key].bpmn_path.read_text(encoding="utf-8")
    return xml.replace('name="登记强制报告"', 'name="登记强制报告（修订）"').encode("utf-8")


def a_studio_check(r: Runner, row):
    response = r.clients[row.user].post(f"/studio/{row.obj}/save/", data=_edited_diagram(row.obj), content_type="application/xml",
                                        HTTP_X_CASEFLOW_REVISION="1")
    code = status(response)
    if code == "200" and response.json().get("ok") is not True:
        return "200 with problems", str(response.json().get("problems"))[:200]
    return code


def _studio_write(r: Runner, row, send):
    before = snapshot()
    versions = ProcessDefinition.objects.filter(key=row.obj).count()
    response = send(r.clients[row.user])
    return write_outcome(response, before, ProcessDefinition.objects.filter(key=row.obj).count() == versions + 1)


def a_studio_deploy(r: Runner, row):
    return _studio_write(r, row, lambda client: client.post(f"/studio/{row.obj}/deploy/", data=_edited_diagram(row.obj),
                                                             content_type="application/xml", HTTP_X_CASEFLOW_REVISION="1"))


def a_studio_discard(r: Runner, row):
    """An administrator's draft exists; discarding it is the write."""
    from portal.studio.models import Draft

    Draft.objects.get_or_create(key=row.obj, defaults={"bpmn_xml": _edited_diagram(row.obj).decode("utf-8"), "base_version": 1})
    response = r.clients[row.user].post(f"/studio/{row.obj}/discard/")
    gone = not Draft.objects.filter(key=row.obj).exists()
    if response.status_code == 302 and gone:
        return "ok"
    return status(response)


def a_studio_new(r: Runner, row):
    """A new process from a template: the draft is the effect; a refusal leaves no draft and changes nothing."""
    from portal.studio.models import Draft

    before = snapshot()
    response = r.clients[row.user].post("/studio/new/", {"key": "matrix_new", "name": "新流程", "template": row.obj, "role": "worker"})
    made = Draft.objects.filter(key="matrix_new").exists()
    if made and response.status_code == 302 and response["Location"] == "/studio/matrix_new/edit/":
        return "ok"
    if made:
        return f"{status(response)} but made a draft!", ""
    return write_outcome(response, before, False)


def a_studio_import(r: Runner, row):
    def send(client):
        upload = SimpleUploadedFile(f"{row.obj}.bpmn", _edited_diagram(row.obj), content_type="application/xml")
        return client.post("/studio/import/", {"file": upload})
    return _studio_write(r, row, send)


def a_studio_import_archive(r: Runner, row):
    import zipfile

    from engine import registry

    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{row.obj}.bpmn", _edited_diagram(row.obj))
        for path in sorted(registry.packages()[row.obj].forms_dir.glob("*.json")):
            archive.writestr(f"forms/{path.name}", path.read_bytes())

    def send(client):
        upload = SimpleUploadedFile(f"{row.obj}.zip", buffer.getvalue(), content_type="application/zip")
        return client.post("/studio/import-archive/", {"archive": upload})
    return _studio_write(r, row, send)


def _intake_form_with_a_field() -> bytes:
    import json

    from engine import registry

    form = json.loads((registry.packages()["child_protection"].forms_dir / "Task_Intake.json").read_text(encoding="utf-8"))
    form["components"].append({"type": "textfield", "key": "village_contact", "label": "村联络人"})
    return json.dumps({"schema": form, "revision": 1}).encode("utf-8")


def a_studio_form_save(r: Runner, row):
    """Saving a step's form into the draft (made from version 1 by the request itself, at revision 1)."""
    from portal.studio.models import Draft

    response = r.clients[row.user].post(f"/studio/{row.obj}/forms/Task_Intake/save/", data=_intake_form_with_a_field(),
                                        content_type="application/json")
    draft = Draft.objects.filter(key=row.obj).first()
    stored = draft is not None and any(c.get("key") == "village_contact" for c in draft.forms.get("Task_Intake", {}).get("components", []))
    if response.status_code == 200 and stored:
        return "ok"
    return status(response) if not stored else f"{status(response)} but stored!"


def a_studio_form_preview(r: Runner, row):
    return status(r.clients[row.user].post(f"/studio/{row.obj}/forms/Task_Intake/preview/", data=_intake_form_with_a_field(),
                                           content_type="application/json"))


def _new_child_protection_version(r: Runner) -> int:
    return api.deploy_definition(bpmn_xml=_edited_diagram("child_protection"), actor=r.w.users["admin"],
                                 forms_by_element=api.forms_carried_over(bpmn_xml=_edited_diagram("child_protection"))).version


def a_studio_diff(r: Runner, row):
    version = _new_child_protection_version(r)
    return status(r.get(row, f"/studio/child_protection/diff/?from=1&to={version}"))


def a_studio_migrate(r: Runner, row):
    version = _new_child_protection_version(r)
    instance_id = r.instance_id(row.obj)
    before = snapshot()
    response = r.post(row, "/studio/child_protection/migrate/", {"to": version, "case": instance_id})
    return write_outcome(response, before, ProcessInstance.objects.get(pk=instance_id).definition.version == version)


def _answer_referral(r: Runner, row, *, complete: bool):
    task_id = r.w.tasks[next(k for k, t in OPEN.items() if k.startswith(row.obj + ":ProviderResponse") and row.user in t.act)]
    client = r.clients[row.user]
    client.post(f"/tasks/{task_id}/claim/")
    if complete:
        response = client.post(f"/tasks/{task_id}/", task_form("Task_ProviderResponse"))
        if HumanTask.objects.get(pk=task_id).status != "completed":
            return f"could not answer ({response.status_code})"
    elif HumanTask.objects.get(pk=task_id).assignee_id != r.w.users[row.user].pk:
        return "could not claim"
    return marker(client.get(f"/cases/{r.instance_id(row.obj)}/"), row.arg)


def _conflict_then_return(r: Runner, row):
    users, app = r.w.users, r.w.instances["app_A"]
    api.complete_task(task_id=r.w.tasks["app_A:Review@rA2"], actor=users["rA2"],
                      data={"conflict_of_interest": True, "conflict_reason": "冲突理由A2"})
    api.complete_task(task_id=r.w.tasks["app_A:Review@rA3"], data=mf.FORMS["Task_Review"], actor=users["rA3"])
    mf.complete(app, "Task_SelectPanel", users["sup_ds"], {"reviewers": ["r_none"]})  # two valid scores: one more reviewer
    mf.complete(app, "Task_Review", users["r_none"], assignee="r_none")
    mf.complete(app, "Task_Decide", users["sup_ds"], {"decision": "return"})
    url = f"/tasks/{mf.open_task(app, 'Task_Application')}/" if "/tasks/" in row.action else f"/cases/{app}/"
    return marker(r.clients[row.user].get(url), row.arg)


def _replace_late_reviewer(r: Runner, row):
    users, app = r.w.users, r.w.instances["app_A"]
    sent = HumanTask.objects.get(pk=r.w.tasks["app_A:Review@rA3"]).created_at
    api.fire_due_timers(as_of=sent + dt.timedelta(days=7, hours=1))
    mf.complete(app, "Task_ReplaceReviewer", users["sup_ds"], {"late_reviewer": "rA3", "replacement": "r_none", "reason": row.arg})
    return marker(r.clients[row.user].get(f"/cases/{app}/"), row.arg)


def _warned_due_soon(r: Runner, row):
    from portal.notifications.models import Notification
    now = timezone.now()
    HumanTask.objects.filter(status="open").update(created_at=now - dt.timedelta(hours=9), due_at=now + dt.timedelta(hours=1),
                                                   sla_breached_at=None)
    api.warn_before_deadlines()
    ids = Notification.objects.filter(user=r.w.users[row.user], kind="due_soon").values_list("task_id", flat=True)
    return frozenset(r.w.task_name(pk) for pk in ids)


def _admin_test_run(r: Runner, key: str):
    """The administrator's own test run of the draft, started through the page."""
    from portal.studio.models import TestRun

    r.clients["admin"].post(f"/studio/{key}/test/start/", cp.START)
    return TestRun.objects.get(draft__key=key, user__username="admin")


def _testrun_write(r: Runner, row, send, effect) -> str:
    """A test-run action: for the administrator its effect on the run; for anyone else a refusal that
    made no run of theirs and changed nothing of a real case."""
    from portal.studio.models import TestRun

    before, runs = snapshot(), TestRun.objects.count()
    response = send(r.clients[row.user])
    if row.user == "admin":
        return "ok" if response.status_code == 302 and effect() else status(response)
    if TestRun.objects.count() != runs:
        return f"refused ({status(response)}) but made a run!"
    return write_outcome(response, before, False)


def _intake_url(run) -> str:
    task = next(t for t in run.state["log"] if t["kind"] == "task_ready" and t["element"] == "Task_Intake")
    from engine import api

    state = api.sandbox_state(bpmn_xml=run.bpmn_xml, forms_by_element=run.forms, stored=run.state, actor=run.user)
    return f"/studio/{run.draft.key}/test/tasks/{next(t.id for t in state.tasks if t.bpmn_id == task['element'])}/"


def a_testrun_start(r: Runner, row):
    from portal.studio.models import TestRun

    return _testrun_write(r, row, lambda client: client.post(f"/studio/{row.obj}/test/start/", cp.START),
                          lambda: TestRun.objects.filter(user__username="admin", draft__key=row.obj).exists())


def a_testrun_clock(r: Runner, row):
    run = _admin_test_run(r, row.obj)

    def jumped():
        run.refresh_from_db()
        return any(e["kind"] == "clock" for e in run.state["log"])
    return _testrun_write(r, row, lambda client: client.post(f"/studio/{row.obj}/test/clock/", {"hours": "24"}), jumped)


def a_testrun_restart(r: Runner, row):
    from portal.studio.models import TestRun

    run = _admin_test_run(r, row.obj)
    return _testrun_write(r, row, lambda client: client.post(f"/studio/{row.obj}/test/restart/"),
                          lambda: not TestRun.objects.filter(pk=run.pk).exists())


def a_testrun_complete(r: Runner, row):
    run = _admin_test_run(r, row.obj)
    data = {k: v for k, v in cp.FORMS["Task_Intake"].items() if k != "present_danger"}

    def completed():
        run.refresh_from_db()
        return any(e["kind"] == "completed" for e in run.state["log"])
    return _testrun_write(r, row, lambda client: client.post(_intake_url(run), data), completed)


def a_testrun_task_page(r: Runner, row):
    run = _admin_test_run(r, row.obj)
    return status(r.clients[row.user].get(_intake_url(run)))


ACTIONS = {
    "GET /?tab={arg}": a_inbox,
    "GET /tasks/{obj}/": a_task_read,
    "GET /tasks/{obj}/ shows {arg}": a_task_private,
    "POST /tasks/{obj}/ (complete)": a_complete,
    "POST /tasks/{obj}/ (complete, attaching {arg})": a_complete_with_foreign_file,
    "POST /tasks/{obj}/ (draft)": a_draft,
    "POST /tasks/{obj}/claim/": a_claim,
    "POST /tasks/{obj}/release/": a_release,
    "POST /tasks/{obj}/assign/ to {arg}": a_assign,
    "GET /tasks/{obj}/ assign options": a_assign_options,
    "GET /cases/{obj}/": a_case,
    "GET /cases/{obj}/diagram/": a_diagram,
    "GET /cases/{obj}/ shows {arg}": a_case_private,
    "POST /cases/{obj}/share/ with {arg}": a_share,
    "GET /cases/{obj}/ share options": a_share_options,
    "GET /files/{obj}/": a_file,
    "GET /cases/{obj}/ (no reason given, no approval)": a_minors_gate,
    "GET /cases/{obj}/diagram/ (no reason given, no approval)": a_minors_diagram,
    "POST /cases/{obj}/access/ (ask for access)": a_minors_ask,
    "POST /access/requests/{{admin's request for {obj}}}/decide/ (approve)": a_minors_decide,
    "POST /access/requests/{{admin's request for {obj}}}/decide/ (refuse without a note)": a_minors_decide,
    "GET /access/requests/": a_get_status,
    "GET /audit/minors/": a_get_status,
    "GET /audit/minors/export.xlsx": a_get_status,
    "GET /audit/history/": a_get_status,
    "GET /start/ offers": a_start_list,
    "GET /start/{obj}/": a_start_form,
    "GET /start/{obj}/ options of {arg}": a_start_options,
    "POST /start/{obj}/ ({arg})": a_start_post,
    "GET /notifications/ about": a_notified_about,
    "GET /notifications/ tasks that do not open": a_notified_unopenable,
    "GET /fund/": a_fund,
    "GET /fund/export.xlsx": a_export,
    "GET /fund/ projects listed": a_fund_projects,
    "GET /fund/ project titles anywhere (ledger too)": a_fund_titles,
    "GET /fund/export.xlsx Projects sheet": a_export_projects,
    "GET /fund/export.xlsx titles anywhere (Ledger too)": a_export_titles,
    # low-income monitoring
    "GET /monitoring/": a_monitoring_status,
    "GET /monitoring/list.xlsx": a_monitoring_status,
    "GET /monitoring/import/": a_monitoring_status,
    "GET /monitoring/rules/": a_monitoring_status,
    "GET /monitoring/ lists": a_monitoring_list,
    "GET /monitoring/{obj}/": a_monitoring_status,
    "GET /time-bank/me/ shows {arg}": a_tb_shows,
    "GET /time-bank/members/{obj}/": a_tb_status,
    "GET /time-bank/members/{obj}/print/": a_tb_status,
    "POST /time-bank/members/{obj}/login/ (a new sign-in)": a_tb_login,
    "POST /time-bank/members/{obj}/status/ (suspend)": a_tb_suspend,
    "POST /time-bank/members/{obj}/donate/ (1 hour)": a_tb_donate,
    "POST /time-bank/me/services/{obj}/sign-in/": a_tb_sign_in,
    "POST /time-bank/me/services/{obj}/sign-out/ (signed in 2 hours ago)": a_tb_sign_out,
    "GET /elderly/": a_elder_status,
    "GET /elderly/report/": a_elder_status,
    "GET /elderly/report.xlsx": a_elder_status,
    "GET /elderly/ lists": a_elder_list,
    "GET /elderly/{obj}/": a_elder_status,
    "GET /elderly/{obj}/ shows the phone": a_elder_phone,
    "option list elderly_people": a_elder_options,
    "POST /elderly/{obj}/screen/": a_elder_screen,
    "GET /households/": a_households,
    "GET /households/ lists": a_household_list,
    "GET /households/{obj}/": a_household,
    "GET /households/{obj}/ shows the child-protection case": a_household_facet,
    "GET /households/{obj}/ shows the child's archive": a_household_facet,
    "GET /households/{obj}/ shows the child-protection case (the case's approval lapsed)": a_household_facet,
    "GET /search/": a_search,
    "GET /search/?q=HH- finds households": a_search_households,
    "GET /activities/": a_activities,
    "POST /year/targets/ (a target)": a_year_target,
    "GET /activities/groups/": a_groups,
    "GET /activities/groups/ lists": a_group_list,
    "GET /activities/groups/{obj}/": a_group,
    "POST /activities/groups/{obj}/ (add a member)": a_group_add,
    "GET /activities/groups/{obj}/ names its members": a_group_names,
    "option list activity_rosters": a_roster_options,
    "option list roster_members of {obj}": a_roster_member_options,
    "the attendance of a session of {obj}, handed to the user": a_group_attendance,
    "GET /households/{obj}/ (no reason given, no approval)": a_household_gate,
    "GET /children/{obj}/ (no reason given, no approval)": a_child_gate,
    "GET /children/{obj}/edit/ (no reason given, no approval)": a_child_gate,
    "POST /children/{obj}/edit/ (no reason given, no approval) changes": a_child_edit_post,
    "POST /children/{obj}/ a family letter (no reason given, no approval)": a_child_contact_post,
    "GET /children/groups/{obj}/ names the children or numbers them": a_child_group,
    "POST /children/groups/{obj}/ (a session)": a_child_group_session,
    "POST /records/household/{obj}/access/ (ask for access)": a_household_ask,
    "GET /resources/gaps/": a_gaps,
    "GET /resources/gaps/ villages": a_gaps_villages,
    "GET /sla/": a_get_status,
    "GET /sla/export.xlsx": a_get_status,
    "GET /sla/calendar/": a_get_status,
    "GET /sla/ villages": a_sla_villages,
    "POST /sla/calendar/ (a day off)": a_calendar_day_off,
    "POST /sla/calendar/remove/": a_calendar_remove,
    "GET /studio/incidents/": a_incidents,
    "GET /studio/incidents/ lists": a_incidents_listed,
    "POST /studio/incidents/{obj}/retry/": a_incident_retry,
    "GET /studio/incidents/messages/": a_undelivered,
    "GET /studio/incidents/messages/ lists": a_undelivered_listed,
    "POST /studio/incidents/messages/{obj}/retry/": a_undelivered_retry,
    "POST /studio/incidents/{obj}/cancel/ (with a reason)": a_incident_cancel,
    "POST /studio/incidents/{obj}/cancel/ (without a reason)": a_incident_cancel,
    "GET {arg}": a_admin,
    "POST /studio/{obj}/save/": a_studio_check,
    "POST /studio/{obj}/discard/": a_studio_discard,
    "POST /studio/new/ ({obj} from a template)": a_studio_new,
    "POST /studio/{obj}/deploy/": a_studio_deploy,
    "POST /studio/{obj}/forms/Task_Intake/save/": a_studio_form_save,
    "POST /studio/{obj}/forms/Task_Intake/preview/": a_studio_form_preview,
    "POST /studio/import/ ({obj})": a_studio_import,
    "POST /studio/import-archive/ ({obj}, diagram and forms)": a_studio_import_archive,
    "GET /studio/child_protection/diff/ of a new version": a_studio_diff,
    "POST /studio/child_protection/migrate/ ({obj} to a new version)": a_studio_migrate,
    "POST /studio/{obj}/test/start/": a_testrun_start,
    "POST /studio/{obj}/test/clock/ (+24 h)": a_testrun_clock,
    "POST /studio/{obj}/test/restart/": a_testrun_restart,
    "POST /studio/{obj}/test/tasks/ (the intake, with sample data)": a_testrun_complete,
    "GET /studio/{obj}/test/tasks/ (the intake)": a_testrun_task_page,
    "claim the referral, then GET /cases/{obj}/ shows {arg}": lambda r, row: _answer_referral(r, row, complete=False),
    "answer the referral, then GET /cases/{obj}/ shows {arg}": lambda r, row: _answer_referral(r, row, complete=True),
    "rA2 declares a conflict, the panel is completed, the application is returned; then GET /tasks/{returned}/ shows {arg}":
        _conflict_then_return,
    "rA2 declares a conflict, the panel is completed, the application is returned; then GET /cases/{obj}/ shows {arg}":
        _conflict_then_return,
    "rA3 misses the deadline and sup_ds replaces them; then GET /cases/{obj}/ shows {arg}": _replace_late_reviewer,
    "every open task has used 90 % of its time, the deadline-warning sweep runs; then warned about": _warned_due_soon,
}


def _show(value) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    return str(value)


def _matches(expected, actual) -> bool:
    if isinstance(expected, str) and "|" in expected:
        return actual in expected.split("|")
    return expected == actual


def mismatch_table(mismatches) -> str:
    lines = [("cell (action {object})", "user", "expected", "actual")]
    lines += [(row.label(), row.user, _show(row.expected), _show(actual) + (f"  [{detail}]" if detail else ""))
              for row, actual, detail in mismatches]
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    return "\n".join(" | ".join([*(c.ljust(w) for c, w in zip(line[:3], widths)), line[3]]) for line in lines)


# -- the tests ------------------------------------------------------------------------------------------

def test_the_world_is_as_the_matrix_assumes(world):
    """Every task the matrix names exists in the state it assumes (else the matrix tests nothing)."""
    rows = {row.pk: row for row in HumanTask.objects.select_related("assignee", "completed_by")}
    problems = []
    for key, pk in world.tasks.items():
        row = rows[pk]
        if key in OPEN:
            expected = OPEN[key]
            holder = row.assignee.username if row.assignee_id else None
            if (row.status, holder, row.named) != ("open", expected.holder, expected.named):
                problems.append(f"{key}: open, held by {expected.holder}, named={expected.named}; is {row.status}, {holder}, {row.named}")
        elif key in DONE:
            by = row.completed_by.username if row.completed_by_id else None
            if (row.status, by) != ("completed", DONE[key].by):
                problems.append(f"{key}: completed by {DONE[key].by}; is {row.status} by {by}")
        else:
            problems.append(f"{key} ({row.status}) is not in the matrix")
    problems += [f"{key} was never made" for key in TASKS if key not in world.tasks]
    assert not problems, "\n".join(problems)
    assert set(world.files) == set(FILES)
    assert HumanTask.objects.get(pk=world.tasks["cp_ds:Respond"]).sla_breached_at is not None
    assert HumanTask.objects.get(pk=world.tasks["nm_ds:ProviderResponse#charity"]).candidate_group == "worker"
    assert ProcessInstance.objects.get(pk=world.instances["err"]).status == "error"


@pytest.mark.parametrize("section", SECTIONS)
def test_access_matrix(world, section, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")  # thousands of expected 404s and 403s
    runner = Runner(world)
    rows = [row for row in MATRIX if row.section == section]
    mismatches = []
    for row in rows:
        actual, detail = runner.run(row)
        if not _matches(row.expected, actual):
            mismatches.append((row, actual, detail))
    users = {row.user for row in rows}
    actions = {row.action for row in rows}
    assert not mismatches, (
        f"{len(mismatches)} of the {len(rows)} cells of section '{section}' ({len(actions)} actions x {len(users)} users) broke:\n"
        + mismatch_table(mismatches))


