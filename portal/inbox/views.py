"""Inbox and task pages. Views are thin: a selector decides what the user may see, the engine's
facade changes things, and every engine error becomes a page or a message — never a 500."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api, selectors
from engine.errors import AlreadyCompleted, CaseflowError, FormInvalid, NotFound, NotPermitted
from portal.cases.models import AccessLog

from . import formdata

PER_PAGE = 25


@login_required
def inbox(request):
    params = request.GET
    page = selectors.inbox(
        request.user, tab=params.get("tab", "mine"), process_key=params.get("process", ""), village=params.get("village", ""),
        sla=params.get("sla", ""), order=params.get("order", "due"), page=_int(params.get("page"), 1), per_page=PER_PAGE,
    )
    context = {"page": page, "filters": params, "query": _query_without_page(params)}
    template = "portal/_task_rows.html" if request.htmx and request.htmx.target == "task-rows" else "portal/inbox.html"
    return render(request, template, context)


@login_required
def task_page(request, task_id: int):
    task = _visible_task(request.user, task_id)
    form = api.task_form(task_id=task.id)
    fields = api.describe_form(form, user=request.user)
    errors: dict[str, list[str]] = {}
    values = api.task_draft(task_id=task.id) if task.status == "open" else {}

    if request.method == "POST":
        if task.status != "open":
            return _task_gone(request, task, _("This task is no longer open."))
        try:
            values = formdata.collect(fields, request, task)
            if request.POST.get("action") == "draft":
                api.save_draft(task_id=task.id, data=values, actor=request.user)
                messages.success(request, _("Draft saved."))
                return redirect("task", task_id=task.id)
            api.complete_task(task_id=task.id, data=values, actor=request.user)
        except formdata.UploadRefused as exc:
            values = formdata.collect_without_files(fields, request)
            errors = {exc.key: [exc.message]}
            messages.error(request, _("Please correct the fields marked below."))
        except FormInvalid as exc:
            errors = exc.field_errors
            messages.error(request, _("Please correct the fields marked below."))
        except AlreadyCompleted as exc:
            return _task_gone(request, task, str(exc))
        except NotPermitted as exc:
            return render(request, "portal/error.html", {"message": str(exc)}, status=403)
        except CaseflowError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Task “%(name)s” completed.") % {"name": task.name})
            return redirect(_next_page_after(request.user, task))

    AccessLog.objects.create(user=request.user, instance_id=task.instance_id, process_key=task.process_key, view="task")
    return render(request, "portal/task.html", {
        "task": task, "fields": fields, "values": values, "errors": errors,
        "can_act": api.may_complete(user=request.user, task=task),
        "can_assign": api.can_supervise(user=request.user, village=task.village),
        "earlier": api.submitted_forms(instance_id=task.instance_id, viewer=request.user),
        "summary": api.case_summary(instance_id=task.instance_id, process_key=task.process_key, viewer=request.user),
        "attachments": formdata.attachments_by_token(values, fields),
    }, status=400 if errors else 200)


@login_required
@require_POST
def claim(request, task_id: int):
    task = _visible_task(request.user, task_id)
    return _act(request, task, lambda: api.claim_task(task_id=task.id, actor=request.user), _("Task claimed."))


@login_required
@require_POST
def release(request, task_id: int):
    task = _visible_task(request.user, task_id)
    reason = request.POST.get("reason", "")
    return _act(request, task, lambda: api.release_task(task_id=task.id, actor=request.user, reason=reason), _("Task released."))


@login_required
@require_POST
def assign(request, task_id: int):
    task = _visible_task(request.user, task_id)
    username, reason = request.POST.get("assignee", "").strip(), request.POST.get("reason", "")
    return _act(request, task, lambda: api.assign_task(task_id=task.id, assignee_username=username, reason=reason, actor=request.user),
                _("Task assigned to %(user)s.") % {"user": username})


# -- helpers ---------------------------------------------------------------------------------------

def _visible_task(user, task_id):
    try:
        return selectors.task_for_user(user, task_id)
    except NotFound:
        raise Http404(_("No such task, or not yours to see.")) from None


def _act(request, task, action, success: str):
    try:
        action()
        messages.success(request, success)
    except CaseflowError as exc:
        messages.error(request, str(exc))
    target = request.POST.get("next") or reverse("task", args=[task.id])
    if not target.startswith("/"):
        target = reverse("inbox")
    return redirect(target)


def _task_gone(request, task, message: str):
    return render(request, "portal/task_gone.html", {"task": task, "message": message}, status=409)


def _next_page_after(user, task) -> str:
    """After completing a task, go straight to the next one of the same case if it is the user's."""
    for candidate in selectors.tasks_for_user(user, limit=50):
        if candidate.instance_id == task.instance_id:
            return reverse("task", args=[candidate.id])
    return reverse("inbox")


def _int(value, default: int) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


def _query_without_page(params) -> str:
    query = params.copy()
    query.pop("page", None)
    return query.urlencode()
