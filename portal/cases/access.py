"""Need-to-know access to minors' files in the portal (ADR 0020): the gate every page of such a case
passes, the reason form, the request for approval, and the supervisors' decisions.

The engine says what a viewer must do (`api.access_need`: nothing, a reason, an approval) and keeps
the record (`api.record_access`); the portal keeps a holder's reason for the day in the session, so a
holder answers "why" once per case and session-day, and every later read of the day is logged with it."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api, selectors
from engine.errors import CaseflowError, FormInvalid, NotFound

def given_reason(request, instance_id: int) -> dict | None:
    """The purpose and reason this session gave today for this case, if any."""
    return api.reason_given_today(request.session, str(instance_id))


def _keep_reason(request, instance_id: int, purpose: str, reason: str) -> None:
    api.keep_reason(request.session, str(instance_id), purpose, reason)


def gate(request, *, instance_id: int, process_key: str, village: str, view: str, task_name: str = "", log: bool = True):
    """None when the user may read the case now (the read is logged with its reason and approval), else
    the response to send instead: the reason form for a holder without today's reason, the request page
    for anyone else without an approval in force (the refusal is logged)."""
    need = api.access_need(request.user, instance_id=instance_id, process_key=process_key, village=village)
    record = dict(instance_id=instance_id, process_key=process_key, viewer=request.user, view=view)
    if need == api.NONE:
        if log:
            api.record_access(**record)
        return None
    if need == api.REASON:
        if task_name:  # a holder on a task page of the case: the task is the reason
            if log:
                api.record_access(**record, purpose="own_task", reason=task_name)
            return None
        given = given_reason(request, instance_id)
        if given is None:
            return _to_access_page(request, instance_id)
        if log:
            api.record_access(**record, purpose=given["purpose"], reason=given["reason"])
        return None
    approval = api.active_approval(request.user, instance_id=instance_id)
    if approval is None:
        api.record_access(**record, refused=True)
        return _to_access_page(request, instance_id)
    if log:
        api.record_access(**record, purpose=approval.purpose, reason=approval.reason, approval_id=approval.id)
    return None


def _to_access_page(request, instance_id: int):
    return redirect(f"{reverse('case-access', args=[instance_id])}?next={request.get_full_path()}")


def _next(request, instance_id: int) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) and target.startswith("/"):
        return target
    return reverse("case", args=[instance_id])


def _notify(users, kind: str, *, instance_id: int, subject: str, text: str) -> None:
    from portal.notifications.models import Notification

    Notification.objects.bulk_create([Notification(user_id=u.pk, kind=kind, instance_id=instance_id, task_name=text[:200],
                                                   subject=subject[:200]) for u in users])


def _approvers(village: str, requester):
    from portal.notifications.services import people_with_role

    return [u for u in people_with_role("supervisor", village) if u.pk != requester.pk]


@login_required
def case_access(request, instance_id: int):
    """Why do you open this minor's file? A holder answers (purpose and a few words) and goes on; anyone
    else asks a supervisor and sees where the request stands."""
    try:
        instance = selectors.instance_for_user(request.user, instance_id)
    except NotFound:
        raise Http404(_("No such case, or not yours to see.")) from None
    need = api.access_need(request.user, instance_id=instance.id, process_key=instance.process_key, village=instance.village)
    target = _next(request, instance.id)
    if need == api.NONE or (need == api.APPROVAL and api.active_approval(request.user, instance_id=instance.id)):
        return redirect(target)
    errors, values = {}, {"purpose": "", "reason": ""}
    if request.method == "POST":
        values = {"purpose": request.POST.get("purpose", ""), "reason": request.POST.get("reason", "")}
        try:
            if need == api.REASON:
                purpose, reason = api.clean_reason(values["purpose"], values["reason"])
                _keep_reason(request, instance.id, purpose, reason)
                return redirect(target)
            before = api.latest_request(request.user, instance_id=instance.id)
            sent = api.request_access(instance_id=instance.id, actor=request.user, purpose=values["purpose"], reason=values["reason"])
            if before is None or before.id != sent.id:  # a new request, not the one already waiting
                _notify(_approvers(instance.village, request.user), "access_request", instance_id=instance.id,
                        subject=instance.subject, text=_("Access to a minor's file requested by %(user)s") % {"user": sent.requester_label})
            messages.success(request, _("Your request was sent to the supervisors of the case's village."))
            return redirect(f"{reverse('case-access', args=[instance.id])}?next={target}")
        except FormInvalid as exc:
            errors = exc.field_errors
            messages.error(request, _("Please correct the fields marked below."))
        except CaseflowError as exc:
            messages.error(request, str(exc))
    return render(request, "portal/case_access.html", {
        "heading": instance.subject or instance.id, "instance": instance, "need": need, "purposes": api.PURPOSES_OFFERED, "values": values, "errors": errors, "next": target,
        "latest": api.latest_request(request.user, instance_id=instance.id) if need == api.APPROVAL else None,
        "hours": api.approval_hours(),
    }, status=400 if errors else 200)


@login_required
def record_access(request, kind: str, record_id: int):
    """The same question for a process's own record that holds a minor (a household with children):
    a holder gives the reason and goes on, anyone else asks a supervisor of the record's village."""
    try:
        record = api.minors_record(kind=kind, record_id=record_id, viewer=request.user)
    except CaseflowError:
        raise Http404(_("No such record, or not yours to see.")) from None
    need = api.record_need(request.user, record)
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not (target and target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})):
        target = reverse("inbox")
    if need == api.NONE or (need == api.APPROVAL and api.active_approval(request.user, record=record.key)):
        return redirect(target)
    errors, values = {}, {"purpose": "", "reason": ""}
    if request.method == "POST":
        values = {"purpose": request.POST.get("purpose", ""), "reason": request.POST.get("reason", "")}
        try:
            if need == api.REASON:
                purpose, reason = api.clean_reason(values["purpose"], values["reason"])
                api.keep_reason(request.session, record.key, purpose, reason)
                return redirect(target)
            before = api.latest_request(request.user, record=record.key)
            sent = api.request_record_access(kind=record.kind, record_id=record.id, actor=request.user, purpose=values["purpose"],
                                             reason=values["reason"])
            if before is None or before.id != sent.id:
                _notify(_approvers(record.village, request.user), "access_request", instance_id=0, subject=record.subject,
                        text=_("Access to a minor's file requested by %(user)s") % {"user": sent.requester_label})
            messages.success(request, _("Your request was sent to the supervisors of the village."))
            return redirect(f"{reverse('record-access', args=[record.kind, record.id])}?next={target}")
        except FormInvalid as exc:
            errors = exc.field_errors
            messages.error(request, _("Please correct the fields marked below."))
        except CaseflowError as exc:
            messages.error(request, str(exc))
    return render(request, "portal/case_access.html", {
        "heading": record.subject, "record": record, "need": need, "purposes": api.PURPOSES_OFFERED, "values": values,
        "errors": errors, "next": target, "latest": api.latest_request(request.user, record=record.key) if need == api.APPROVAL else None,
        "hours": api.approval_hours(),
    }, status=400 if errors else 200)


@login_required
def access_requests(request):
    """The requests waiting for this supervisor (their villages', never their own)."""
    if "supervisor" not in selectors.roles_of(request.user):
        raise Http404(_("No such page."))
    return render(request, "portal/access_requests.html", {
        "requests": api.access_requests_to_decide(request.user), "hours": api.approval_hours()})


@login_required
@require_POST
def decide(request, request_id: int):
    approve = request.POST.get("decision") == "approve"
    try:
        decided = api.decide_access(request_id=request_id, actor=request.user, approve=approve, note=request.POST.get("note", ""))
    except NotFound:
        raise Http404(_("No such request.")) from None
    except FormInvalid as exc:
        messages.error(request, " ".join(str(m) for msgs in exc.field_errors.values() for m in msgs))
        return redirect("access-requests")
    except CaseflowError as exc:
        messages.error(request, str(exc))
        return redirect("access-requests")
    from django.contrib.auth import get_user_model

    requester = get_user_model().objects.get(username=decided.requester)
    _notify([requester], "access_decided", instance_id=decided.instance_id, subject=decided.subject,
            text=_("Access approved") if approve else _("Access refused"))
    messages.success(request, (_("Approved: %(user)s may open %(case)s until %(until)s.") % {
        "user": decided.requester_label, "case": decided.subject,
        "until": timezone.localtime(decided.expires_at).strftime("%m-%d %H:%M")}) if approve else
        _("Refused: %(user)s may not open %(case)s.") % {"user": decided.requester_label, "case": decided.subject})
    return redirect("access-requests")
