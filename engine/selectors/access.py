"""Need-to-know access to minors' files (ADR 0020): whose case it is, what a viewer must do before
opening it (nothing, give a reason, or hold a supervisor's approval), the requests waiting for a
supervisor, and the yearly audit of every read.

A case of a process registered as holding minors' files (`ProcessApp.minors_files`) is opened
- by its **holders** — whoever holds or held one of its tasks, whoever may take up one of its open
  tasks now (the case is in their inbox), and the supervisors of its village — with a reason
  (a purpose from `AccessPurpose` and a few words), once per session-day;
- by anyone else who may see it (administrators, a colleague it was shared with, civil affairs
  outside its escalations, a worker of the village whose colleague holds the response) only with a
  supervisor's approval, valid for `CASEFLOW_MINORS_APPROVAL_HOURS` (24) from the decision."""
from __future__ import annotations

import dataclasses
import datetime as dt

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from engine import clock, registry
from engine.errors import NotFound, NotPermitted
from engine.models import HumanTask, ProcessInstance, TaskStatus
from engine.people import display_name
from engine.permissions import in_scope, user_groups
from engine.station import AccessLog, AccessPurpose, AccessRequest, AccessRequestStatus

User = get_user_model()
NONE, REASON, APPROVAL = "none", "reason", "approval"
APPROVERS = {"supervisor"}  # the station's supervisors; the IT administrator approves nothing
AUDIT_READERS = {"admin", "civil_affairs"}
PURPOSES_OFFERED = [(p.value, p.label) for p in AccessPurpose if p != AccessPurpose.OWN_TASK]


@dataclasses.dataclass(frozen=True)
class AccessRequestInfo:
    id: int
    instance_id: int
    process_key: str
    village: str
    subject: str
    requester: str
    requester_label: str
    purpose: str
    purpose_label: str
    reason: str
    created_at: dt.datetime
    status: str
    decided_by: str = ""
    decided_by_label: str = ""
    decided_at: dt.datetime | None = None
    note: str = ""
    expires_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: AccessRequest) -> "AccessRequestInfo":
        return cls(row.pk, row.instance_id, row.process_key, row.village, row.subject, row.user.get_username(),
                   display_name(row.user), row.purpose, str(AccessPurpose(row.purpose).label) if row.purpose in AccessPurpose.values else row.purpose,
                   row.reason, row.created_at, row.status,
                   row.decided_by.get_username() if row.decided_by_id else "", display_name(row.decided_by) if row.decided_by_id else "",
                   row.decided_at, row.note, row.expires_at)


@dataclasses.dataclass(frozen=True)
class AccessAuditRow:
    at: dt.datetime
    username: str
    user_label: str
    instance_id: int
    subject: str
    village: str
    view: str
    outcome: str
    purpose: str
    reason: str
    approved_by: str
    approved_at: dt.datetime | None
    approval_note: str
    approval_expires: dt.datetime | None


def approval_hours() -> float:
    from django.conf import settings

    return float(getattr(settings, "CASEFLOW_MINORS_APPROVAL_HOURS", 24))


def is_minors_file(process_key: str) -> bool:
    return process_key in registry.minors_processes()


def holds_case(user, *, instance_id: int, village: str) -> bool:
    """Whether the user is one of the case's holders (see the module's docstring)."""
    if user is None or not getattr(user, "is_active", False) or getattr(user, "pk", None) is None:
        return False
    groups = user_groups(user)
    if groups & APPROVERS and in_scope(user, village):
        return True
    tasks = HumanTask.objects.filter(instance_id=instance_id)
    if tasks.filter(Q(assignee=user) | Q(completed_by=user)).exists():
        return True
    return (in_scope(user, village) and tasks.filter(status=TaskStatus.OPEN, assignee__isnull=True, named=False,
                                                     candidate_group__in=groups).exists())


def access_need(viewer, *, instance_id: int, process_key: str, village: str) -> str:
    """What a viewer who may see the case must do before reading it: NONE (not a minors' file),
    REASON (a holder), APPROVAL (everyone else). Visibility itself is checked by the caller."""
    if not is_minors_file(process_key):
        return NONE
    return REASON if holds_case(viewer, instance_id=instance_id, village=village) else APPROVAL


def _live(viewer, instance_id: int):
    return AccessRequest.objects.filter(user=viewer, instance_id=instance_id).select_related("user", "decided_by")


def active_approval(viewer, *, instance_id: int) -> AccessRequestInfo | None:
    """The viewer's approval to open this case, if one is in force now."""
    if viewer is None or getattr(viewer, "pk", None) is None:
        return None
    row = (_live(viewer, instance_id).filter(status=AccessRequestStatus.APPROVED, expires_at__gt=timezone.now())
           .order_by("-expires_at").first())
    return AccessRequestInfo.from_row(row) if row else None


def latest_request(viewer, *, instance_id: int) -> AccessRequestInfo | None:
    """The viewer's most recent request for this case (waiting, approved or refused)."""
    if viewer is None or getattr(viewer, "pk", None) is None:
        return None
    row = _live(viewer, instance_id).order_by("-created_at", "-pk").first()
    return AccessRequestInfo.from_row(row) if row else None


def may_decide(user, *, village: str) -> bool:
    return bool(user_groups(user) & APPROVERS) and in_scope(user, village)


def access_requests_to_decide(user) -> list[AccessRequestInfo]:
    """Requests waiting for this supervisor: of their villages, never their own."""
    if user is None or not getattr(user, "is_active", False) or not user_groups(user) & APPROVERS:
        return []
    rows = AccessRequest.objects.filter(status=AccessRequestStatus.PENDING).exclude(user=user).select_related("user", "decided_by")
    return [AccessRequestInfo.from_row(r) for r in rows.order_by("created_at", "pk")[:200] if in_scope(user, r.village)]


def access_request(*, request_id: int, viewer) -> AccessRequestInfo:
    """One request, for its requester or a supervisor who may decide it; NotFound for anyone else."""
    row = AccessRequest.objects.filter(pk=request_id).select_related("user", "decided_by").first()
    if row is None or not (row.user_id == getattr(viewer, "pk", None) or may_decide(viewer, village=row.village)):
        raise NotFound(f"Access request {request_id} does not exist.")
    return AccessRequestInfo.from_row(row)


def may_read_minors_audit(user) -> bool:
    return bool(user is not None and getattr(user, "is_active", False) and user_groups(user) & AUDIT_READERS)


def minors_audit_years() -> list[int]:
    keys = registry.minors_processes()
    years = {d.year for d in AccessLog.objects.filter(process_key__in=keys).dates("at", "year")}
    return sorted(years | {timezone.localtime(clock.now()).year}, reverse=True)


def minors_audit(*, year: int, viewer) -> list[AccessAuditRow]:
    """Every read of (and refused attempt at) a minor's file in a calendar year (Asia/Shanghai), oldest
    first: who, which case, when, which page, why, and who approved it. Administrators and the
    civil-affairs office only."""
    if not may_read_minors_audit(viewer):
        raise NotPermitted("Only administrators and the civil-affairs office read the minors' access audit.")
    zone = timezone.get_current_timezone()
    start = dt.datetime(year, 1, 1, tzinfo=zone)
    end = dt.datetime(year + 1, 1, 1, tzinfo=zone)
    rows = (AccessLog.objects.filter(process_key__in=registry.minors_processes(), at__gte=start, at__lt=end)
            .select_related("user", "approval__decided_by").order_by("at", "pk"))
    rows = list(rows)
    cases = dict(ProcessInstance.objects.filter(pk__in={r.instance_id for r in rows}).values_list("pk", "subject"))
    villages = dict(ProcessInstance.objects.filter(pk__in={r.instance_id for r in rows}).values_list("pk", "village"))
    labels = dict(AccessPurpose.choices)
    result = []
    for r in rows:
        approval = r.approval
        result.append(AccessAuditRow(
            r.at, r.user.get_username(), display_name(r.user), r.instance_id, cases.get(r.instance_id, ""), villages.get(r.instance_id, ""),
            r.view, r.outcome, str(labels.get(r.purpose, r.purpose)), r.reason,
            display_name(approval.decided_by) if approval and approval.decided_by_id else "",
            approval.decided_at if approval else None, approval.note if approval else "", approval.expires_at if approval else None))
    return result


def minors_requests(*, year: int, viewer) -> list[AccessRequestInfo]:
    """Every access request of the year (approved, refused, waiting), for the same readers."""
    if not may_read_minors_audit(viewer):
        raise NotPermitted("Only administrators and the civil-affairs office read the minors' access audit.")
    zone = timezone.get_current_timezone()
    start, end = dt.datetime(year, 1, 1, tzinfo=zone), dt.datetime(year + 1, 1, 1, tzinfo=zone)
    rows = AccessRequest.objects.filter(created_at__gte=start, created_at__lt=end).select_related("user", "decided_by")
    return [AccessRequestInfo.from_row(r) for r in rows.order_by("created_at", "pk")]
