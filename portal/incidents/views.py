"""Incidents: the cases that stopped with an error, for administrators — where and why each stopped,
since when, and the two ways out: retry the failed step (after the cause was fixed) or cancel the
case with a reason. Beside them, the outside messages (SMS, e-mail, partner notices) that could not be
delivered, each with a Retry. Reads go through engine.selectors, changes through engine.api; every outcome is a
message on the list, never a 500. A second retry or cancel of a case already handled says so."""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api, selectors
from engine.errors import CaseflowError, InvalidState, NotFound, NotPermitted, StepFailed
from integrations.notifications.messages import TITLES

REASON_MAX = api.CANCEL_REASON_MAX_LENGTH


def admins_only(view):
    """Signed in (else the login page), then an administrator (else 403), before anything is read."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not selectors.may_read_incidents(request.user):
            return _refused(request, _("Only an administrator may see the cases that stopped with an error."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def admins_only_messages(view):
    """As admins_only, for the undelivered messages (the refusal names them)."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not selectors.may_read_incidents(request.user):
            return _refused(request, _("Only an administrator may see the messages that could not be delivered."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@admins_only
def incident_list(request):
    page = selectors.incidents(request.user, page=_int(request.GET.get("page"), 1))
    return render(request, "incidents/incidents.html", {"page": page, "reason_max": REASON_MAX, "undelivered": selectors.undelivered_count()})


@admins_only
@require_POST
def retry(request, instance_id: int):
    try:
        info = api.retry_instance(instance_id=instance_id, actor=request.user)
    except NotPermitted as exc:
        return _refused(request, str(exc))
    except StepFailed as exc:  # (an InvalidState) the retried step could not be stored: stopped again
        messages.error(request, str(exc))
    except InvalidState as exc:
        _already_handled(request, instance_id, exc)
    except NotFound:
        messages.error(request, _("Case %(id)s does not exist.") % {"id": instance_id})
    except CaseflowError as exc:
        messages.error(request, str(exc))
    else:
        case = _case(info)
        if info.status == "error":
            messages.error(request, _("%(case)s was retried but stopped again at %(element)s: %(message)s") % {
                "case": case, "element": info.error_element or "?", "message": info.error_message})
        else:
            messages.success(request, _("%(case)s was retried and is %(status)s again.") % {
                "case": case, "status": api.STATUS_LABELS.get(info.status, info.status)})
    return _back(request)


@admins_only
@require_POST
def cancel(request, instance_id: int):
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, _("Give a reason for cancelling %(case)s; nothing was changed.") % {"case": _label(request, instance_id)})
        return _back(request)
    if len(reason) > REASON_MAX:
        messages.error(request, _("The reason may be at most %(n)d characters long; nothing was changed.") % {"n": REASON_MAX})
        return _back(request)
    try:
        info = api.cancel_instance(instance_id=instance_id, actor=request.user, reason=reason, only_in_error=True)
    except NotPermitted as exc:
        return _refused(request, str(exc))
    except InvalidState as exc:
        _already_handled(request, instance_id, exc)
    except NotFound:
        messages.error(request, _("Case %(id)s does not exist.") % {"id": instance_id})
    except CaseflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(case)s was cancelled: %(reason)s") % {"case": _case(info), "reason": reason})
    return _back(request)


# -- messages that did not go out ---------------------------------------------------------------

@admins_only_messages
def message_list(request):
    page = selectors.undelivered_messages(request.user, page=_int(request.GET.get("page"), 1))
    labels = {item.channel: str(TITLES[item.channel]) for item in page.messages if item.channel in TITLES}
    return render(request, "incidents/messages.html", {"page": page, "incidents": selectors.incidents(request.user).total,
                                                       "labels": labels})


@admins_only_messages
@require_POST
def message_retry(request, message_id: int):
    try:
        api.retry_message(message_id=message_id, actor=request.user)
    except NotPermitted as exc:
        return _refused(request, str(exc))
    except InvalidState as exc:  # a double submit, another administrator first, or being sent right now
        messages.info(request, str(exc))
    except NotFound as exc:
        messages.error(request, str(exc))
    except CaseflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Message %(id)s is queued again and will be sent in a moment.") % {"id": message_id})
    page = _int(request.POST.get("page"), 1)
    url = reverse("undelivered")
    return redirect(f"{url}?page={page}" if page > 1 else url)


# -- helpers ---------------------------------------------------------------------------------------

def _case(info) -> str:
    if info.subject:
        return _("Case %(subject)s (no. %(id)s)") % {"subject": info.subject, "id": info.id}
    return _("Case %(id)s") % {"id": info.id}


def _label(request, instance_id: int) -> str:
    """The case as the list names it (its number), for a message before anything was done."""
    try:
        return _case(api.get_instance(instance_id=instance_id, viewer=request.user, with_history=False))
    except NotFound:
        return _("Case %(id)s") % {"id": instance_id}


def _already_handled(request, instance_id: int, exc: Exception) -> None:
    """A retry or cancel of a case that is no longer in error (a double submit, another administrator
    first) is no failure: say what the case is now. Any other refusal is shown as it is."""
    try:
        info = api.get_instance(instance_id=instance_id, viewer=request.user, with_history=False)
    except CaseflowError:
        messages.error(request, str(exc))
        return
    if info.status == "error":
        messages.error(request, str(exc))
    else:
        messages.info(request, _("%(case)s is no longer in error — it is %(status)s now; nothing more was done.") % {
            "case": _case(info), "status": api.STATUS_LABELS.get(info.status, info.status)})


def _back(request):
    page = _int(request.POST.get("page"), 1)
    url = reverse("incidents")
    return redirect(f"{url}?page={page}" if page > 1 else url)


def _refused(request, message: str):
    return render(request, "portal/error.html", {"message": message}, status=403)


def _int(value, default: int) -> int:
    try:
        return min(max(1, int(value)), 10_000)
    except (TypeError, ValueError, OverflowError):
        return default
