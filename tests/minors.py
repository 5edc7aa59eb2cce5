"""Need-to-know access to minors' files in tests (ADR 0020): a holder gives a reason through the
portal's form, anyone else asks and a supervisor approves through the facade — the rule is never
switched off, only satisfied the way a person would satisfy it."""
from __future__ import annotations

from engine import api

PURPOSE, REASON = "casework", "家访前查看个案记录"


def give_reason(client, instance_id: int, *, purpose: str = PURPOSE, reason: str = REASON) -> None:
    """A holder answers the reason form once for this session-day (the client keeps the session)."""
    response = client.post(f"/cases/{instance_id}/access/", {"purpose": purpose, "reason": reason, "next": f"/cases/{instance_id}/"})
    assert response.status_code == 302 and response["Location"] == f"/cases/{instance_id}/", (
        response.status_code, response.content.decode()[:2000])


def approve_access(user, instance_id: int, *, approver, purpose: str = "supervision", reason: str = "督导抽查个案",
                   note: str = "同意") -> api.AccessRequestInfo:
    """`user`, outside the case's holders, asks; `approver` (a supervisor of its village) approves."""
    request = api.request_access(instance_id=instance_id, actor=user, purpose=purpose, reason=reason)
    return api.decide_access(request_id=request.id, actor=approver, approve=True, note=note)


def clear(client, user, instance_id: int, *, approver=None) -> None:
    """Whatever this user must do before opening the case: a reason if they hold it, else an approval
    (from `approver`) and nothing more."""
    info = api.get_instance(instance_id=instance_id, viewer=user, with_history=False)
    need = api.access_need(user, instance_id=instance_id, process_key=info.process_key, village=info.village)
    if need == api.REASON:
        give_reason(client, instance_id)
    elif need == api.APPROVAL:
        assert approver is not None, f"{user} needs an approval to open case {instance_id}: name the approver"
        approve_access(user, instance_id, approver=approver)


def give_record_reason(client, kind: str, record_id: int, *, next_url: str, purpose: str = PURPOSE, reason: str = REASON) -> None:
    """A holder of a process's record that holds a minor (a household with children) gives the reason."""
    response = client.post(f"/records/{kind}/{record_id}/access/", {"purpose": purpose, "reason": reason, "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url, (response.status_code, response.content.decode()[:2000])


def approve_record_access(user, kind: str, record_id: int, *, approver, purpose: str = "supervision", reason: str = "督导抽查家庭档案",
                          note: str = "同意") -> api.AccessRequestInfo:
    """`user`, outside the record's holders, asks; `approver` (a supervisor of its village) approves."""
    request = api.request_record_access(kind=kind, record_id=record_id, actor=user, purpose=purpose, reason=reason)
    return api.decide_access(request_id=request.id, actor=approver, approve=True, note=note)
