"""Inbox and task pages. Views are thin: a selector decides what the user may see, the engine's
facade changes things, and every engine error becomes a page or a message — never a 500."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api, registry, selectors
from engine.errors import AlreadyCompleted, CaseflowError, FormInvalid, NotFound, NotPermitted
from portal.cases.access import gate

from . import formdata

PER_PAGE = 25
# The page's own controls carry a leading underscore, which no form field key can have.
ACTION = "_action"


@login_required
def inbox(request):
    home = registry.home_page(selectors.roles_of(request.user))
    if home is not None:  # a time-bank volunteer has no tasks: their own page is their start
        return redirect(home)
    params = request.GET
    filters = dict(process_key=params.get("process", ""), village=params.get("village", ""), sla=params.get("sla", ""),
                   order=params.get("order", "due"), page=_int(params.get("page"), 1), per_page=PER_PAGE,
                   after=params.get("after", ""), before=params.get("before", ""))
    tab = params.get("tab")
    page = selectors.inbox(request.user, tab=tab or "mine", **filters)
    if tab is None and not page.tasks and page.page == 1 and not (filters["after"] or filters["before"]):
        # Nothing held yet: open the tab where the work is, rather than an empty one.
        group = selectors.inbox(request.user, tab="group", **filters)
        if group.tasks:
            page = group
    context = {"page": page, "filters": params, "query": _query_without_page(params, page.tab)}
    template = "portal/_task_rows.html" if request.htmx and request.htmx.target == "task-rows" else "portal/inbox.html"
    return render(request, template, context)


@login_required
def task_page(request, task_id: int):
    if request.method in ("GET", "HEAD"):  # reads only: its many reads of the task and the case made once each
        with selectors.one_page():
            return _task_page(request, task_id)
    return _task_page(request, task_id)


def _task_page(request, task_id: int):
    task = _visible_task(request.user, task_id)
    can_act = api.may_complete(user=request.user, task=task)
    if request.method == "POST" and task.status != "open":  # a step done meanwhile: the answer names the task only
        return _task_gone(request, task, _("This task is no longer open."))
    refused = gate(request, instance_id=task.instance_id, process_key=task.process_key, village=task.village, view="task",
                   task_name=task.name, log=False)
    if refused is not None:
        if request.method == "POST":
            current = _visible_task(request.user, task_id)
            # Someone else completed it, or a supervisor gave it to someone else, while this submit was
            # on its way: that is the answer, not "ask for access" (a worker who could hold the open
            # task holds no completed one, nor one given to a colleague by name).
            if current.status != "open":
                return _task_gone(request, task, _("This task is no longer open."))
            if not api.may_complete(user=request.user, task=current):
                return _task_gone(request, current, _("This task was given to someone else while you were filling it in; "
                                                      "nothing was saved."))
        return refused
    form = api.task_form(task_id=task.id, viewer=request.user)
    variables = api.task_variables(task_id=task.id) if can_act else {}
    fields = api.describe_form(form, user=request.user, variables=variables)
    errors: dict[str, list[str]] = {}
    values = {}
    if can_act:
        values = api.task_draft(task_id=task.id, viewer=request.user) or api.previous_submission(task_id=task.id, viewer=request.user)

    if request.method == "POST":
        if task.status != "open":
            return _task_gone(request, task, _("This task is no longer open."))
        if not can_act:  # checked before a single byte of an upload is kept
            return render(request, "portal/error.html", {"message": _("This task is not yours to complete.")}, status=403)
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.MAX_TASK_REQUEST_BYTES:
            return render(request, "portal/error.html", {"message": _("The files are too large to send at once; attach fewer.")}, status=413)
        stored: list = []
        try:
            formdata.check_uploads(fields, request, request.user)
            values = formdata.collect(fields, request, task, stored)
            if request.POST.get(ACTION) == "draft":
                api.save_draft(task_id=task.id, data=values, actor=request.user)
                messages.success(request, _("Draft saved."))
                return redirect("task", task_id=task.id)
            api.complete_task(task_id=task.id, data=values, actor=request.user)
        except formdata.UploadRefused as exc:
            formdata.discard(stored)
            values = formdata.collect_without_files(fields, request, task)
            errors = {exc.key: [exc.message]}
            messages.error(request, _("Please correct the fields marked below."))
        except FormInvalid as exc:
            formdata.discard(stored)
            values = _without_tokens(values, stored)
            errors = exc.field_errors
            messages.error(request, _("Please correct the fields marked below."))
            if stored:
                messages.error(request, _("Files you attached were not kept; attach them again."))
        except AlreadyCompleted as exc:
            formdata.discard(stored)
            return _task_gone(request, task, str(exc))
        except NotPermitted as exc:
            formdata.discard(stored)
            return render(request, "portal/error.html", {"message": str(exc)}, status=403)
        except CaseflowError as exc:
            formdata.discard(stored)
            values = _without_tokens(values, stored)
            messages.error(request, str(exc))
        else:
            formdata.prune(task, formdata.tokens_in(values, fields))
            messages.success(request, _("Task “%(name)s” completed.") % {"name": task.name})
            return redirect(_next_page_after(request.user, task))

    gate(request, instance_id=task.instance_id, process_key=task.process_key, village=task.village, view="task", task_name=task.name)
    earlier = api.submitted_forms(instance_id=task.instance_id, viewer=request.user)
    can_assign = task.status == "open" and api.can_supervise(user=request.user, village=task.village)
    return render(request, "portal/task.html", {
        "task": task, "fields": fields, "values": values, "errors": errors, "can_act": can_act, "action_name": ACTION,
        "can_assign": can_assign,
        "assignees": api.eligible_assignees(task_id=task.id, actor=request.user) if can_assign else [],
        "returned": api.return_notice(task_id=task.id, viewer=request.user) if can_act else None,
        "earlier": earlier,
        "focus": api.focus_forms(task_id=task.id, viewer=request.user) if can_act else [],
        "summary": api.case_summary(instance_id=task.instance_id, process_key=task.process_key, viewer=request.user, task=task),
        "attachments": formdata.attachments_by_token(formdata.tokens_in(values, fields) | _earlier_tokens(earlier)),
        "sees_people": api.sees_people(request.user),
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
    people = {p.username: p.label for p in api.eligible_assignees(task_id=task.id, actor=request.user)}
    return _act(request, task, lambda: api.assign_task(task_id=task.id, assignee_username=username, reason=reason, actor=request.user),
                _("Task assigned to %(user)s.") % {"user": people.get(username, username)})


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
    return redirect(safe_next(request, reverse("task", args=[task.id])))


def safe_next(request, default: str) -> str:
    """The page to go back to: only a path on this site (never //evil.example or https://...)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                                              require_https=request.is_secure()):
        return target
    return default


def _task_gone(request, task, message: str):
    return render(request, "portal/task_gone.html", {"task": task, "message": message}, status=409)


def _next_page_after(user, task) -> str:
    """After completing a task, go straight to the next one of the same case if it is the user's."""
    for candidate in selectors.tasks_for_user(user, limit=50):
        if candidate.instance_id == task.instance_id:
            return reverse("task", args=[candidate.id])
    return reverse("inbox")


def _without_tokens(values: dict, stored) -> dict:
    gone = {a.token for a in stored}
    return {k: [t for t in v if not (isinstance(t, str) and t in gone)] if isinstance(v, list) else v for k, v in values.items()}


def _earlier_tokens(earlier) -> set[str]:
    return {t for form in earlier for f in form.fields for t in f.files}


def _int(value, default: int) -> int:
    try:
        return min(max(1, int(value)), selectors.MAX_PAGE)
    except (TypeError, ValueError, OverflowError):
        return default


def _query_without_page(params, tab: str) -> str:
    query = params.copy()
    for name in ("page", "after", "before"):
        query.pop(name, None)
    query["tab"] = tab
    return query.urlencode()
