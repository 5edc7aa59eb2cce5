"""Need-to-know access to minors' files (ADR 0020): asking for access, a supervisor's decision, and
the record of every read, export and refused attempt (engine.station.AccessLog). The reads
themselves — who must do what, the requests waiting, the yearly audit — are engine.selectors.access."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from engine import registry
from engine.errors import FormInvalid, InvalidState, NotFound, NotPermitted
from engine.models import ProcessInstance
from engine.selectors.access import (
    APPROVAL, NONE, REASON, AccessRequestInfo, access_need, active_approval, approval_hours, is_minors_file, may_decide, record_need,
)
from engine.selectors.cases import visible_instances
from engine.station import AccessLog, AccessOutcome, AccessPurpose, AccessRequest, AccessRequestStatus

REASON_MAX_LENGTH = 500


def _visible(viewer, instance_id) -> ProcessInstance:
    if viewer is None or not getattr(viewer, "is_active", False):
        raise NotPermitted(_("Sign in to open a case."))
    try:
        instance_id = int(instance_id)
    except (TypeError, ValueError):
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id}) from None
    instance = visible_instances(viewer).filter(pk=instance_id).only("pk", "process_key", "village", "subject").first()
    if instance is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    return instance


def clean_reason(purpose: str, reason: str) -> tuple[str, str]:
    """The purpose must be one offered on the form; the free text is required, at most 500 characters."""
    errors = {}
    purpose, reason = (purpose or "").strip(), (reason or "").strip()
    if purpose not in AccessPurpose.values or purpose == AccessPurpose.OWN_TASK:
        errors["purpose"] = [_("Choose why you need to open this file.")]
    if not reason:
        errors["reason"] = [_("Say in a few words what you need it for.")]
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = [_("At most %(n)d characters.") % {"n": REASON_MAX_LENGTH}]
    if errors:
        raise FormInvalid(errors)
    return purpose, reason


def record_access(*, instance_id: int, process_key: str, viewer, view: str, purpose: str = "", reason: str = "",
                  approval_id: int | None = None, refused: bool = False, record: str = "") -> None:
    """One row of the access log: a read, an export, or a refused attempt (of a case, or of a
    process's record by its key "<kind>:<id>" with instance_id 0)."""
    AccessLog.objects.create(user=viewer, instance_id=instance_id, process_key=process_key, view=view[:32], record=record[:64],
                             purpose=purpose[:32], reason=reason[:REASON_MAX_LENGTH], approval_id=approval_id,
                             outcome=AccessOutcome.REFUSED if refused else AccessOutcome.GRANTED)


def request_access(*, instance_id: int, actor, purpose: str, reason: str) -> AccessRequestInfo:
    """Ask a supervisor of the case's village to open a minor's file to `actor`. Only someone who may
    see the case and is not one of its holders asks; a request still waiting is answered as it is."""
    instance = _visible(actor, instance_id)
    if not is_minors_file(instance.process_key):
        raise InvalidState(_("This case needs no approval to open."))
    if access_need(actor, instance_id=instance.pk, process_key=instance.process_key, village=instance.village) != APPROVAL:
        raise InvalidState(_("You hold this case: give your reason on the case page, no approval is needed."))
    purpose, reason = clean_reason(purpose, reason)
    with transaction.atomic():
        waiting = AccessRequest.objects.filter(user=actor, instance_id=instance.pk, status=AccessRequestStatus.PENDING).first()
        row = waiting or AccessRequest.objects.create(
            user=actor, instance_id=instance.pk, process_key=instance.process_key, village=instance.village,
            subject=instance.subject[:200], purpose=purpose, reason=reason)
    return AccessRequestInfo.from_row(AccessRequest.objects.select_related("user", "decided_by").get(pk=row.pk))


def decide_access(*, request_id: int, actor, approve: bool, note: str = "") -> AccessRequestInfo:
    """A supervisor of the case's village approves (for CASEFLOW_MINORS_APPROVAL_HOURS from now) or
    refuses a request, with a note (required to refuse). Never one's own; each request once."""
    row = AccessRequest.objects.filter(pk=request_id).first()
    if row is None or actor is None or not may_decide(actor, village=row.village):
        raise NotFound(_("Access request %(id)s does not exist.") % {"id": request_id})
    if row.user_id == actor.pk:
        raise NotPermitted(_("Nobody approves their own request."))
    note = (note or "").strip()
    if len(note) > REASON_MAX_LENGTH:
        raise FormInvalid({"note": [_("At most %(n)d characters.") % {"n": REASON_MAX_LENGTH}]})
    if not approve and not note:
        raise FormInvalid({"note": [_("Say why the request is refused.")]})
    now = timezone.now()
    changed = AccessRequest.objects.filter(pk=row.pk, status=AccessRequestStatus.PENDING).update(
        status=AccessRequestStatus.APPROVED if approve else AccessRequestStatus.REFUSED, decided_by=actor, decided_at=now,
        note=note, expires_at=now + dt.timedelta(hours=approval_hours()) if approve else None)
    if not changed:
        raise InvalidState(_("This request has already been decided."))
    return AccessRequestInfo.from_row(AccessRequest.objects.select_related("user", "decided_by").get(pk=row.pk))


def open_case_file(*, instance_id: int, viewer, view: str, purpose: str = "", reason: str = "") -> str:
    """The whole need-to-know check for a reader without a session (the command line): the case must
    be visible (NotFound), a holder must give a purpose and a reason, anyone else must hold an approval
    in force (NotPermitted, and the refusal is logged). Records the read; answers what was required."""
    instance = _visible(viewer, instance_id)
    need = access_need(viewer, instance_id=instance.pk, process_key=instance.process_key, village=instance.village)
    if need == NONE:
        return NONE
    if need == APPROVAL:
        approval = active_approval(viewer, instance_id=instance.pk)
        if approval is None:
            record_access(instance_id=instance.pk, process_key=instance.process_key, viewer=viewer, view=view, refused=True,
                          purpose=(purpose or "")[:32], reason=reason or "")
            raise NotPermitted(_("This is a minor's file: ask a supervisor for access first."))
        record_access(instance_id=instance.pk, process_key=instance.process_key, viewer=viewer, view=view,
                      purpose=approval.purpose, reason=approval.reason, approval_id=approval.id)
        return APPROVAL
    try:
        purpose, reason = clean_reason(purpose, reason)
    except FormInvalid:
        raise NotPermitted(_("This is a minor's file: give a purpose and a reason to open it.")) from None
    record_access(instance_id=instance.pk, process_key=instance.process_key, viewer=viewer, view=view, purpose=purpose, reason=reason)
    return REASON


# -- records that are not cases (a household with children): the same rule, keyed by the record --

SESSION_KEY = "caseflow_minors_reasons"


def _today() -> str:
    return timezone.localdate().isoformat()


def reason_given_today(session, key: str) -> dict | None:
    """The purpose and reason this session gave today for a case (its id) or record (its key)."""
    entry = (session.get(SESSION_KEY) or {}).get(str(key))
    return entry if entry and entry.get("day") == _today() else None


def keep_reason(session, key: str, purpose: str, reason: str) -> None:
    """Keep a holder's reason for the rest of the day in their session (earlier days dropped)."""
    today = _today()
    kept = {k: v for k, v in (session.get(SESSION_KEY) or {}).items() if v.get("day") == today}
    kept[str(key)] = {"day": today, "purpose": purpose, "reason": reason}
    session[SESSION_KEY] = kept


def minors_record(*, kind: str, record_id, viewer) -> registry.MinorsRecord:
    """The record as the need-to-know check sees it; NotFound when there is none or the viewer may not see it."""
    if viewer is None or not getattr(viewer, "is_active", False):
        raise NotPermitted(_("Sign in to open a case."))
    record = registry.minors_record(kind, record_id, viewer)
    if record is None:
        raise NotFound(_("No such record, or not yours to see."))
    return record


def open_record(*, record: registry.MinorsRecord, viewer, session, view: str) -> str | None:
    """The gate of a page showing a record that may hold a minor: None when the viewer may read it now
    (the read is logged, with the reason or approval when it holds a minor); else what is missing,
    REASON (a holder without today's reason) or APPROVAL (anyone else without one in force: the
    refused attempt is logged)."""
    need = record_need(viewer, record)
    logged = dict(instance_id=0, process_key=record.process_key, viewer=viewer, view=view, record=record.key)
    if need == NONE:
        record_access(**logged)
        return None
    if need == REASON:
        given = reason_given_today(session, record.key)
        if given is None:
            return REASON
        record_access(**logged, purpose=given["purpose"], reason=given["reason"])
        return None
    approval = active_approval(viewer, record=record.key)
    if approval is None:
        record_access(**logged, refused=True)
        return APPROVAL
    record_access(**logged, purpose=approval.purpose, reason=approval.reason, approval_id=approval.id)
    return None


def request_record_access(*, kind: str, record_id, actor, purpose: str, reason: str) -> AccessRequestInfo:
    """Ask a supervisor of the record's village to open it (a household with children) to `actor`, who
    may see it (NotFound otherwise) but does not hold it; a request still waiting is answered as it is."""
    record = minors_record(kind=kind, record_id=record_id, viewer=actor)
    if record_need(actor, record) != APPROVAL:
        raise InvalidState(_("You may open this record without an approval."))
    purpose, reason = clean_reason(purpose, reason)
    with transaction.atomic():
        waiting = AccessRequest.objects.filter(user=actor, instance_id=0, record=record.key, status=AccessRequestStatus.PENDING).first()
        row = waiting or AccessRequest.objects.create(
            user=actor, instance_id=0, record=record.key, process_key=record.process_key, village=record.village,
            subject=record.subject[:200], purpose=purpose, reason=reason)
    return AccessRequestInfo.from_row(AccessRequest.objects.select_related("user", "decided_by").get(pk=row.pk))
