"""The monitoring pages: the list of the user's villages (warnings highlighted) and its XLSX export,
the import of the civil-affairs office's list (upload, preview with each row's errors, confirm), a
household's history with its income chart, and the warning rules for administrators.

Staff (worker, supervisor, admin) of the household's village only; anyone else gets a 404, even for a
guessed id. A household with a child is a minor's file: its history page goes through the engine's
need-to-know gate, and every view of a household and every export is written to the access log."""
from __future__ import annotations

import json
import secrets
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from engine import api, clock, registry
from engine.errors import NotFound, NotPermitted
from engine.station import Village

from . import access, charts, handlers, rules, spreadsheets
from .models import Band, Event, HouseholdStatus, MonitoredHousehold, RuleSet, UpdateStatus, WarningStatus

KEY = "monitoring"
PAGE_SIZE = 50
IMPORT_SESSION = "monitoring_import"
OPEN_WARNINGS = (WarningStatus.RAISED, WarningStatus.VERIFIED)


def _scope(user) -> set[str] | None:
    if not access.may_see(user):
        raise Http404(_("No such page, or not yours to see."))
    return registry.villages_for(user)


def _village_choices(villages) -> list[tuple[str, str]]:
    query = Village.objects.all() if villages is None else Village.objects.filter(code__in=villages)
    return list(query.order_by("position", "code").values_list("code", "name"))


def _filtered(request):
    villages = _scope(request.user)
    choices = _village_choices(villages)
    village = request.GET.get("village", "")
    if village not in {code for code, _name in choices}:
        village = ""
    only = request.GET.get("only", "")
    query = handlers.visible_households(request.user).filter(status=HouseholdStatus.ACTIVE)
    if village:
        query = query.filter(village=village)
    if only == "warnings":
        query = query.filter(warnings__status__in=OPEN_WARNINGS).distinct()
    return query.order_by("village", "code"), choices, village, only


@login_required
def household_list(request):
    query, choices, village, only = _filtered(request)
    page = Paginator(query.prefetch_related("updates", "warnings"), PAGE_SIZE).get_page(request.GET.get("page"))
    names = dict(Village.objects.values_list("code", "name"))
    rows = []
    for household in page:
        done = sorted((u for u in household.updates.all() if u.status == UpdateStatus.DONE), key=lambda u: u.month)
        warnings = [w for w in household.warnings.all() if w.status in OPEN_WARNINGS]
        rows.append({"household": household, "latest": done[-1] if done else None, "warnings": warnings,
                     "village_name": names.get(household.village, household.village)})
    groups = set(request.user.groups.values_list("name", flat=True))
    params = urlencode({k: v for k, v in (("village", village), ("only", only)) if v})
    return render(request, "monitoring/list.html", {
        "page": page, "rows": rows, "village_choices": choices, "village": village, "only": only, "query": params,
        "may_enrol": "worker" in groups, "may_edit_rules": access.may_edit_rules(request.user),
        "line": handlers.line(), "standard": handlers.standard_monthly() * 12,
    })


@login_required
def export(request):
    query, _choices, _village, _only = _filtered(request)
    api.record_access(instance_id=0, process_key=KEY, viewer=request.user, view="monitoring_export")
    response = HttpResponse(spreadsheets.workbook(query), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="monitoring-{clock.now():%Y-%m-%d}.xlsx"'
    return response


@login_required
def household_page(request, household_id: int):
    _scope(request.user)
    household = handlers.visible_households(request.user).filter(pk=household_id).first()
    if household is None:
        raise Http404(_("No such household, or not yours to see."))
    try:
        record = api.minors_record(kind="household", record_id=household.household_id, viewer=request.user)
    except (NotFound, NotPermitted):
        raise Http404(_("No such household, or not yours to see.")) from None
    missing = api.open_record(record=record, viewer=request.user, session=request.session, view="monitoring")
    if missing:
        return redirect(f"{reverse('record-access', args=['household', household.household_id])}?{urlencode({'next': request.get_full_path()})}")
    updates = list(household.updates.order_by("-month"))
    for update in updates:
        update.event_labels = [str(Event(e).label) for e in update.events if e in Event.values]
    warnings = list(household.warnings.select_related("update").order_by("-raised_at"))
    done = [u for u in reversed(updates) if u.status == UpdateStatus.DONE and u.per_capita is not None]
    line, standard = handlers.line(), handlers.standard_monthly() * 12
    chart = charts.income_svg(
        [(f"{u.month:%Y-%m}", u.per_capita) for u in done[-24:]],
        lines=[(line, _("monitoring line %(v)s") % {"v": line}, "#c62828"),
               (standard, _("minimum-living standard %(v)s") % {"v": standard}, "#ef6c00")],
        title=_("Per-capita income a year, by month")) if done else ""
    needs_cases = {}
    for warning in warnings:
        if warning.needs_instance_id:
            needs_cases[warning.needs_instance_id] = api.get_instance(instance_id=warning.needs_instance_id, viewer=api.SYSTEM, with_history=False)
    return render(request, "monitoring/household.html", {
        "household": household, "updates": updates, "warnings": warnings, "chart": chart, "needs_cases": needs_cases,
        "village_name": handlers.village_name(household.village), "head_id": spreadsheets.mask_id(household.head_id_number),
        "facets": [f for f in registry.person_facets(f"household:{household.code}", request.user) if f[0] != _("Low-income monitoring")],
        "line": line, "standard": standard,
    })


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request):
    _scope(request.user)
    rows, problem, token = None, "", ""
    if request.method == "POST" and request.POST.get("_action") == "confirm":
        pending = request.session.get(IMPORT_SESSION) or {}
        if not pending or pending.get("token") != request.POST.get("token"):
            messages.error(request, _("This preview is no longer current; upload the file again."))
            return redirect("monitoring-import")
        loaded = [spreadsheets.Row(**{**r, "since": _date(r["since"])}) for r in pending["rows"]]
        try:
            written = spreadsheets.apply(loaded, request.user)
        except spreadsheets.ImportRefused as exc:
            problem = str(exc)
            rows = spreadsheets.check_rows([spreadsheets.Row(**{**r, "since": _date(r["since"]), "errors": []}) for r in pending["rows"]], request.user)
        else:
            request.session.pop(IMPORT_SESSION, None)
            api.record_access(instance_id=0, process_key=KEY, viewer=request.user, view="monitoring_import")
            messages.success(request, _("%(n)d rows imported.") % {"n": written})
            return redirect("monitoring")
    elif request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            problem = _("Choose the file to upload.")
        else:
            try:
                rows = spreadsheets.read(upload, request.user)
            except spreadsheets.ImportRefused as exc:
                problem = str(exc)
            else:
                token = secrets.token_urlsafe(16)
                request.session[IMPORT_SESSION] = {"token": token, "rows": [
                    {"number": r.number, "code": r.code, "category": r.category, "since": r.since.isoformat() if r.since else None,
                     "village": r.village, "id_number": r.id_number} for r in rows]}
                if not rows:
                    problem = _("The file has no rows below its header.")
    bad = sum(1 for r in rows or [] if r.errors)
    return render(request, "monitoring/import.html", {
        "rows": rows, "problem": problem, "token": token, "bad": bad, "max_mb": int(settings.MONITORING["upload_max_bytes"]) // (1024 * 1024),
        "max_rows": settings.MONITORING["upload_max_rows"],
    }, status=400 if problem or bad else 200)


def _date(value):
    import datetime as dt

    return dt.date.fromisoformat(value) if value else None


@login_required
@require_http_methods(["GET", "POST"])
def rules_page(request):
    _scope(request.user)
    if not access.may_edit_rules(request.user):
        raise Http404(_("No such page, or not yours to see."))
    version, current = handlers.current_rules()
    typed, note, problems = json.dumps(current, ensure_ascii=False, indent=1), "", []
    if request.method == "POST":
        typed, note = request.POST.get("rules", ""), request.POST.get("note", "").strip()[:200]
        if str(version) != request.POST.get("version"):
            problems = [_("Someone saved a new version meanwhile; start again from version %(v)d.") % {"v": version}]
        elif len(typed) > 20000:
            problems = [_("The rules are too long.")]
        else:
            try:
                parsed = json.loads(typed)
            except ValueError:
                problems = [_("The rules are not valid JSON.")]
            else:
                problems = rules.rule_problems(parsed)
                if not problems:
                    RuleSet.publish(parsed, note=note, by=request.user)
                    messages.success(request, _("Saved as a new version."))
                    return redirect("monitoring-rules")
    line, standard = handlers.line(), handlers.standard_monthly()
    explained = [{"rule": r, "threshold": rules.threshold(r, line=line, standard_monthly=standard) if r.get("kind") == "below" else None}
                 for r in current]
    return render(request, "monitoring/rules.html", {
        "version": version, "explained": explained, "typed": typed, "note": note, "problems": problems,
        "versions": RuleSet.objects.select_related("created_by").order_by("-version")[:20], "line": line, "standard": standard,
        "bands": Band.choices, "zero": Decimal(0),
    }, status=400 if problems else 200)
