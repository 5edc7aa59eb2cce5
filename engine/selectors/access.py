"""Need-to-know access to minors' files (ADR 0020): whose case it is, what a viewer must do before
opening it (nothing, give a reason, or hold a supervisor's approval), the requests waiting for a
supervisor, and the yearly audit of every read.

A case of a process registered as holding minors' files (`ProcessApp.minors_files`) is opened
- by its **holders** — whoever started it (a worker asking a partner office for a joint home
  visit), whoever holds or held one of its tasks, whoever may take up one of its open tasks now
  (the case is in their inbox), and the supervisors of its village — with a reason
  (a purpose from `AccessPurpose` and a few words), once per session-day;
- by anyone else who may see it (administrators, a colleague it was shared with, civil affairs
  outside its escalations, a worker of the village whose colleague holds the response) only with a
  supervisor's approval, valid for `CASEFLOW_MINORS_APPROVAL_HOURS` (24) from the decision.

A process's own record that is not a case but holds a minor (a household with children,
`registry.register_minors_record`) follows the same rule: its holders are the supervisors of its
village and the holders of its cases; requests and reads carry the record's key ("household:12")."""
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
from engine.permissions import SYSTEM, in_scope, user_groups
from engine.selectors.memo import remembered
from engine.station import AccessLog, AccessOutcome, AccessPurpose, AccessRequest, AccessRequestStatus

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
    record: str
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
        return cls(row.pk, row.instance_id, row.process_key, row.village, row.subject, row.record, row.user.get_username(),
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
    record: str = ""


def approval_hours() -> float:
    from django.conf import settings

    return float(getattr(settings, "CASEFLOW_MINORS_APPROVAL_HOURS", 24))


def is_minors_file(process_key: str) -> bool:
    return process_key in registry.minors_processes()


@remembered
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
    if ProcessInstance.objects.filter(pk=instance_id, started_by=user).exists():
        return True
    return (in_scope(user, village) and tasks.filter(status=TaskStatus.OPEN, assignee__isnull=True, named=False,
                                                     candidate_group__in=groups).exists())


def access_need(viewer, *, instance_id: int, process_key: str, village: str) -> str:
    """What a viewer who may see the case must do before reading it: NONE (not a minors' file),
    REASON (a holder), APPROVAL (everyone else). Visibility itself is checked by the caller."""
    if not is_minors_file(process_key):
        return NONE
    return REASON if holds_case(viewer, instance_id=instance_id, village=village) else APPROVAL


def holds_record(user, record: registry.MinorsRecord) -> bool:
    """Whether the user holds a record that is not a case: a supervisor of its village, or a holder of
    one of its cases (a worker who works or worked on the household's needs case)."""
    if user is None or not getattr(user, "is_active", False) or getattr(user, "pk", None) is None:
        return False
    if user_groups(user) & APPROVERS and in_scope(user, record.village):
        return True
    return any(holds_case(user, instance_id=i, village=record.village) for i in record.instance_ids)


def record_need(viewer, record: registry.MinorsRecord) -> str:
    """What a viewer who may see the record must do before reading it: NONE while it holds no minor,
    REASON for its holders, APPROVAL for everyone else."""
    if not record.has_minors:
        return NONE
    return REASON if holds_record(viewer, record) else APPROVAL


def _live(viewer, instance_id: int, record: str):
    return AccessRequest.objects.filter(user=viewer, instance_id=instance_id, record=record).select_related("user", "decided_by")


def active_approval(viewer, *, instance_id: int = 0, record: str = "") -> AccessRequestInfo | None:
    """The viewer's approval to open this case (or record, by its key), if one is in force now."""
    if viewer is None or getattr(viewer, "pk", None) is None:
        return None
    row = (_live(viewer, instance_id, record).filter(status=AccessRequestStatus.APPROVED, expires_at__gt=timezone.now())
           .order_by("-expires_at").first())
    return AccessRequestInfo.from_row(row) if row else None


def latest_request(viewer, *, instance_id: int = 0, record: str = "") -> AccessRequestInfo | None:
    """The viewer's most recent request for this case or record (waiting, approved or refused)."""
    if viewer is None or getattr(viewer, "pk", None) is None:
        return None
    row = _live(viewer, instance_id, record).order_by("-created_at", "-pk").first()
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


def _minors_reads():
    """The access log's rows about minors' files: reads of a minors' process's cases, and the gated
    reads of records holding a minor (a household view without children carries no purpose and was
    no minor's file at the time)."""
    records = Q(record__gt="") & (Q(purpose__gt="") | Q(outcome=AccessOutcome.REFUSED))
    return AccessLog.objects.filter(Q(process_key__in=registry.minors_processes(), record="") | records)


def minors_audit_years() -> list[int]:
    years = {d.year for d in _minors_reads().dates("at", "year")}
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
    rows = list(_minors_reads().filter(at__gte=start, at__lt=end).select_related("user", "approval__decided_by").order_by("at", "pk"))
    cases = dict(ProcessInstance.objects.filter(pk__in={r.instance_id for r in rows}).values_list("pk", "subject"))
    villages = dict(ProcessInstance.objects.filter(pk__in={r.instance_id for r in rows}).values_list("pk", "village"))
    for key in {r.record for r in rows if r.record}:
        kind, _sep, record_id = key.partition(":")
        record = registry.minors_record(kind, record_id, SYSTEM)
        cases[key], villages[key] = (record.subject, record.village) if record else (key, "")
    labels = dict(AccessPurpose.choices)
    result = []
    for r in rows:
        approval = r.approval
        result.append(AccessAuditRow(
            r.at, r.user.get_username(), display_name(r.user), r.instance_id, cases.get(r.record or r.instance_id, ""),
            villages.get(r.record or r.instance_id, ""),
            r.view, r.outcome, str(labels.get(r.purpose, r.purpose)), r.reason,
            display_name(approval.decided_by) if approval and approval.decided_by_id else "",
            approval.decided_at if approval else None, approval.note if approval else "", approval.expires_at if approval else None,
            r.record))
    return result


def minors_requests(*, year: int, viewer) -> list[AccessRequestInfo]:
    """Every access request of the year (approved, refused, waiting), for the same readers."""
    if not may_read_minors_audit(viewer):
        raise NotPermitted("Only administrators and the civil-affairs office read the minors' access audit.")
    zone = timezone.get_current_timezone()
    start, end = dt.datetime(year, 1, 1, tzinfo=zone), dt.datetime(year + 1, 1, 1, tzinfo=zone)
    rows = AccessRequest.objects.filter(created_at__gte=start, created_at__lt=end).select_related("user", "decided_by")
    return [AccessRequestInfo.from_row(r) for r in rows.order_by("created_at", "pk")]
