"""Test run of a draft (/studio/<key>/test/, administrators only; ADR 0016): start the draft with sample
data, complete its tasks, move its clock forward, and read a log of what would have happened. The engine
runs it in memory (engine.api's sandbox functions) and writes nothing of a real case; this module keeps
the run's state per administrator and draft (models.TestRun) so it survives page loads, and renders the
forms exactly as the inbox does (portal/_field.html), so an admin sees what a worker will see.

Every action is a POST with the CSRF token that redirects back to the page; a form with errors is
shown again with the typed values and an error per field (status 400), never a traceback."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from engine import api
from engine.errors import DefinitionInvalid, FormInvalid, InvalidState
from portal.inbox import formdata

from .models import TestRun
from .views import _draft_or_404, admin_only

JUMPS = (("1", gettext_lazy("+1 hour")), ("24", gettext_lazy("+24 hours")), ("72", gettext_lazy("+3 days")))
MAX_POST_BYTES = 256 * 1024


# -- loading ---------------------------------------------------------------------------------------

def _run_of(draft, user) -> TestRun | None:
    return TestRun.objects.filter(draft=draft, user=user).first()


def _state(run: TestRun, user):
    """The engine's view of a stored run, or (None, problems or message) when it can no longer be read."""
    try:
        return api.sandbox_state(bpmn_xml=run.bpmn_xml, forms_by_element=run.forms, stored=run.state, actor=user), None
    except DefinitionInvalid as exc:
        return None, _problem_rows(exc.problems)
    except InvalidState as exc:
        return None, [{"element": "", "message": str(exc)}]


def _problem_rows(problems) -> list[dict]:
    return [{"element": p.element_id or "", "message": str(p.message)} for p in problems]


def _fields(form, user, variables=None) -> list:
    """The form's fields as the inbox shows them; file fields are left out (a test run keeps no files)."""
    return [f for f in api.describe_form(form, user=user, variables=variables or {}) if f.kind != "filepicker"]


def _posted(fields, request) -> dict:
    return formdata.collect(fields, request, None, [])


# -- the page --------------------------------------------------------------------------------------

@require_GET
@admin_only
def page(request, key: str):
    draft = _draft_or_404(key, request.user)
    return _render(request, draft)


def _render(request, draft, *, start_values=None, start_errors=None, status=200):
    run = _run_of(draft, request.user)
    context = {"draft": draft, "key": draft.key, "info": {"name": draft.name or draft.key, "key": draft.key}, "run": run,
               "jumps": [(hours, str(label)) for hours, label in JUMPS], "max_hours": api.MAX_JUMP_HOURS}
    if run is None:
        context.update(_start_context(request, draft, start_values or {}, start_errors or {}))
    else:
        state, problems = _state(run, request.user)
        context.update({"state": state, "problems": problems or [], "stale": run.draft_revision != draft.revision,
                        "log": _log_rows(state, request.user) if state else [], "tasks": _task_rows(state) if state else []})
    return render(request, "studio/testrun.html", context, status=status)


def _start_context(request, draft, values, errors) -> dict:
    try:
        prepared = api.prepare_sandbox_run(bpmn_xml=draft.bpmn_xml, forms_by_element=draft.forms, actor=request.user)
    except DefinitionInvalid as exc:
        return {"problems": _problem_rows(exc.problems)}
    return {"prepared": prepared, "fields": _fields(prepared.start_form, request.user), "values": values, "errors": errors,
            "warnings": _problem_rows(prepared.warnings)}


def _task_rows(state) -> list[dict]:
    return [{"task": t} for t in state.tasks]


# -- actions ---------------------------------------------------------------------------------------

def _too_large(request) -> bool:
    return int(request.META.get("CONTENT_LENGTH") or 0) > MAX_POST_BYTES


@require_POST
@admin_only
def start(request, key: str):
    """Start a run of the draft as it is now (its diagram and forms are copied into the run)."""
    draft = _draft_or_404(key, request.user)
    if _too_large(request):
        messages.error(request, _("Too much data for one form."))
        return redirect("studio-test", key=key)
    try:
        prepared = api.prepare_sandbox_run(bpmn_xml=draft.bpmn_xml, forms_by_element=draft.forms, actor=request.user)
    except DefinitionInvalid:
        return _render(request, draft, status=400)
    values = _posted(_fields(prepared.start_form, request.user), request)
    try:
        state = api.start_sandbox_run(bpmn_xml=draft.bpmn_xml, forms_by_element=draft.forms, data=values, actor=request.user)
    except FormInvalid as exc:
        messages.error(request, _("Please correct the fields marked below."))
        return _render(request, draft, start_values=values, start_errors=exc.field_errors, status=400)
    TestRun.objects.update_or_create(draft=draft, user=request.user, defaults={
        "draft_revision": draft.revision, "bpmn_xml": draft.bpmn_xml, "forms": draft.forms, "state": state.stored})
    return redirect("studio-test", key=key)


@require_POST
@admin_only
def restart(request, key: str):
    draft = _draft_or_404(key, request.user)
    TestRun.objects.filter(draft=draft, user=request.user).delete()
    messages.success(request, _("The test run was cleared. Start it again with the draft as it is now."))
    return redirect("studio-test", key=key)


def _run_or_redirect(request, key: str):
    draft = _draft_or_404(key, request.user)
    run = _run_of(draft, request.user)
    if run is None:
        messages.error(request, _("There is no test run of this draft; start one."))
    return draft, run


@require_http_methods(["GET", "POST"])
@admin_only
def task(request, key: str, task_id: str):
    """One task of the run: its form as the inbox shows it (GET), completed with sample data (POST)."""
    task_id = str(task_id)
    draft, run = _run_or_redirect(request, key)
    if run is None:
        return redirect("studio-test", key=key)
    state, _problems = _state(run, request.user)
    current = next((t for t in state.tasks if t.id == task_id), None) if state else None
    if current is None:
        messages.error(request, _("This task of the test run is no longer open."))
        return redirect("studio-test", key=key)
    fields = _fields(current.form, request.user, current.variables)
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        if _too_large(request):
            messages.error(request, _("Too much data for one form."))
            return redirect("studio-test", key=key)
        values = _posted(fields, request)
        try:
            new = api.complete_sandbox_task(bpmn_xml=run.bpmn_xml, forms_by_element=run.forms, stored=run.state, task_id=task_id,
                                            data=values, actor=request.user)
        except FormInvalid as exc:
            errors, status = exc.field_errors, 400
            messages.error(request, _("Please correct the fields marked below."))
        except InvalidState as exc:
            messages.error(request, str(exc))
            return redirect("studio-test", key=key)
        else:
            _save(run, new)
            messages.success(request, _("Task “%(name)s” completed in the test run.") % {"name": current.name})
            return redirect("studio-test", key=key)
    return render(request, "studio/testrun_task.html", {
        "draft": draft, "key": key, "info": {"name": draft.name or key, "key": key}, "task": current, "state": state,
        "fields": fields, "values": values, "errors": errors}, status=status)


@require_POST
@admin_only
def jump(request, key: str):
    """Move the run's clock forward: a button's hours, or the custom number of hours or days."""
    draft, run = _run_or_redirect(request, key)
    if run is None:
        return redirect("studio-test", key=key)
    hours = _hours(request.POST)
    if hours is None:
        messages.error(request, _("Give a number of hours greater than 0 and at most %(n)d.") % {"n": api.MAX_JUMP_HOURS})
        return redirect("studio-test", key=key)
    try:
        new = api.advance_sandbox_clock(bpmn_xml=run.bpmn_xml, forms_by_element=run.forms, stored=run.state, hours=hours, actor=request.user)
    except InvalidState as exc:
        messages.error(request, str(exc))
        return redirect("studio-test", key=key)
    except DefinitionInvalid:
        messages.error(request, _("This test run can no longer be read; restart it."))
        return redirect("studio-test", key=key)
    _save(run, new)
    return redirect("studio-test", key=key)


def _hours(post) -> float | None:
    """Hours from a button (`hours`) or the custom field (`amount` in `unit`: hours or days)."""
    raw, factor = post.get("hours"), 1
    if not raw:
        raw, factor = post.get("amount", ""), 24 if post.get("unit") == "days" else 1
    try:
        value = Decimal(str(raw).strip()[:20]) * factor
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0 or value > api.MAX_JUMP_HOURS:
        return None
    return float(value)


def _save(run: TestRun, state) -> None:
    run.state = state.stored
    run.save(update_fields=["state", "updated_at"])


@require_GET
@admin_only
def diagram(request, key: str):
    """The run's diagram for the case page's viewer: done and open (or waiting) elements marked."""
    draft = _draft_or_404(key, request.user)
    run = _run_of(draft, request.user)
    if run is None:
        return JsonResponse({"xml": draft.bpmn_xml, "completed": [], "active": [], "overdue": [], "latest": ""})
    state, _problems = _state(run, request.user)
    if state is None:
        return JsonResponse({"xml": run.bpmn_xml, "completed": [], "active": [], "overdue": [], "latest": ""})
    error = [state.error_element] if state.error_element else []
    return JsonResponse({"xml": run.bpmn_xml, "completed": list(state.completed), "active": list(state.active), "overdue": error,
                         "latest": state.completed[-1] if state.completed else ""})


# -- the log, in words -----------------------------------------------------------------------------

def _log_rows(state, user) -> list[dict]:
    return [{"at": timezone.localtime(e.at), "kind": e.kind, "element": e.element, "text": _log_text(e),
             "data": _log_data(e, state.forms, user)} for e in reversed(state.log)]


def _log_text(entry) -> str:  # noqa: C901 - one sentence per kind of entry reads best in one place
    d, name = entry.details, entry.name or entry.element
    if entry.kind == "started":
        return _("The run started (%(name)s) with the start form's data.") % {"name": name}
    if entry.kind == "hooks":
        return _("Not run in a test run: the process's own handlers %(hooks)s (they write case records).") % {
            "hooks": ", ".join(d.get("hooks") or [])}
    if entry.kind == "service":
        return _("Would call the service %(operation)s at “%(name)s” with %(params)s; the run assumed the result %(result)s.") % {
            "operation": d.get("operation"), "name": name, "params": _compact(d.get("params") or {}), "result": _compact(d.get("result"))}
    if entry.kind == "completed":
        return _("Task “%(name)s” completed with the data below.") % {"name": name}
    if entry.kind == "task_ready":
        return _("Task “%(name)s” opened for the role %(role)s.") % {"name": name, "role": _role(d.get("role"))}
    if entry.kind == "withdrawn":
        return _("Task “%(name)s” was withdrawn.") % {"name": name}
    if entry.kind == "clock":
        return _("The clock moved forward by %(hours)s hours, to %(to)s.") % {
            "hours": _number(d.get("hours")), "to": _moment(d.get("to"))}
    if entry.kind == "timer":
        return _("Timer “%(name)s” fired (due %(due)s).") % {"name": name, "due": _moment(d.get("due_at"))}
    if entry.kind == "limit":
        return _("%(n)s timers fired in one jump; the clock stopped here. Jump again to go on.") % {"n": d.get("count")}
    if entry.kind == "ended":
        return _("The process ended.")
    if entry.kind == "error":
        return _("The run stopped at “%(name)s” (%(element)s): %(message)s") % {"name": name, "element": entry.element, "message": d.get("message")}
    return entry.kind


def _log_data(entry, forms: dict, user) -> list[tuple[str, str]]:
    """The data a start or completion gave, as the form names it: its labels and choices' words."""
    data = entry.details.get("data") if entry.kind in ("completed", "started") else None
    if not isinstance(data, dict):
        return []
    fields = {f.key: f for f in api.describe_form(forms.get(entry.element), user=user)}
    return [(fields[k].label if k in fields else k, _display(fields.get(k), v)) for k, v in data.items() if v not in (None, "", [])]


def _display(field, value) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    choices = dict(field.choices) if field is not None and field.choices else {}
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return _("%(n)s rows") % {"n": len(value)}
        return "、".join(str(choices.get(v, v)) for v in value)
    if field is not None and field.kind == "datetime" and isinstance(value, str):
        return _moment(value) if "+" in value or value.endswith("Z") else value.replace("T", " ")
    return str(choices.get(value, value))


def _role(code) -> str:
    from portal.inbox.templatetags.portal_tags import role_name

    return role_name(code or "")


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)[:500]


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _moment(value) -> str:
    try:
        return timezone.localtime(dt.datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(value)
