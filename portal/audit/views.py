"""The audit pages (ADR 0020): the annual minors' personal-information access report (page and
XLSX) for administrators and the civil-affairs office, and the row history of the tracked records
for administrators."""
from __future__ import annotations

from io import BytesIO

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from engine import api, registry, selectors
from engine.errors import NotPermitted
from engine.station import AccessOutcome
from integrations.spreadsheets import make_text_safe



def _year(request) -> int:
    years = api.minors_audit_years()
    try:
        year = int(request.GET.get("year") or years[0])
    except (TypeError, ValueError):
        year = years[0]
    return min(max(year, 2000), 2100)


def _require_reader(request):
    if not api.may_read_minors_audit(request.user):
        raise Http404(_("No such page."))


def _view_label(view: str) -> str:
    """How the audit names a page whose reads are logged: the engine's own, else the process's that logs it."""
    labels = {"case": _("case page"), "task": _("task page"), "attachment": _("attachment"), "cli": _("command line"),
              "diagram": _("diagram"), "household": _("household page"), "minors_audit_xlsx": _("this audit, as a spreadsheet")}
    return str(labels[view]) if view in labels else registry.view_label(view) or view


@login_required
def minors_audit(request):
    """Who opened which minor's file in the year, when, why, and who approved it; the requests too."""
    _require_reader(request)
    year = _year(request)
    try:
        rows = api.minors_audit(year=year, viewer=request.user)
        requests = api.minors_requests(year=year, viewer=request.user)
    except NotPermitted:
        raise Http404(_("No such page.")) from None
    return render(request, "portal/audit_minors.html", {
        "year": year, "years": api.minors_audit_years(), "rows": rows, "requests": requests,
        "refused": sum(1 for r in rows if r.outcome == AccessOutcome.REFUSED), "people": len({r.username for r in rows}),
        "cases": len({r.record or r.instance_id for r in rows}), "view_labels": {r.view: _view_label(r.view) for r in rows},
    })


def _local(moment):
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


@login_required
def minors_audit_xlsx(request):
    """The same report as a workbook: the reads, then the requests; times in the station's time zone."""
    from openpyxl import Workbook

    _require_reader(request)
    year = _year(request)
    try:
        rows = api.minors_audit(year=year, viewer=request.user)
        requests = api.minors_requests(year=year, viewer=request.user)
    except NotPermitted:
        raise Http404(_("No such page.")) from None
    book = Workbook()
    reads = book.active
    reads.title = _("Accesses")
    reads.append([_("Time"), _("User"), _("Name"), _("Case"), _("Village"), _("Opened"), _("Outcome"), _("Purpose"), _("Reason"),
                  _("Approved by"), _("Approved at"), _("Approval note"), _("Approval expires")])
    outcome = dict(AccessOutcome.choices)
    for r in rows:
        reads.append([_local(r.at), r.username, r.user_label, r.subject or str(r.instance_id), r.village, _view_label(r.view),
                      str(outcome.get(r.outcome, r.outcome)), r.purpose, r.reason, r.approved_by, _local(r.approved_at), r.approval_note,
                      _local(r.approval_expires)])
    asked = book.create_sheet(_("Requests"))
    asked.append([_("Requested at"), _("User"), _("Name"), _("Case"), _("Purpose"), _("Reason"), _("Status"), _("Decided by"),
                  _("Decided at"), _("Note"), _("Expires")])
    for q in requests:
        asked.append([_local(q.created_at), q.requester, q.requester_label, q.subject or str(q.instance_id), q.purpose_label, q.reason,
                      q.status, q.decided_by_label, _local(q.decided_at), q.note, _local(q.expires_at)])
    for sheet in (reads, asked):
        make_text_safe(sheet, datetime_format="yyyy-mm-dd hh:mm")
    buffer = BytesIO()
    book.save(buffer)
    api.record_access(instance_id=0, process_key="", viewer=request.user, view="minors_audit_xlsx", reason=str(year))
    response = HttpResponse(buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="minors-access-audit-{year}.xlsx"'
    return response


# -- row history (django-pghistory) --------------------------------------------------------------------

def tracked() -> dict[str, type]:
    """Every event model pghistory made (one per tracked model), by '<app>.<model>' of the tracked model."""
    import pghistory.models

    found = {}
    for model in apps.get_models():
        if issubclass(model, pghistory.models.Event) and getattr(model, "pgh_tracked_model", None) is not None:
            found[model.pgh_tracked_model._meta.label_lower] = model
    return dict(sorted(found.items()))


@login_required
def history(request):
    """Administrators: the recorded changes of one kind of record (optionally one record), newest first."""
    if "admin" not in selectors.roles_of(request.user):
        raise Http404(_("No such page."))
    models = tracked()
    chosen = request.GET.get("model") or next(iter(models), "")
    event_model = models.get(chosen)
    if event_model is None:
        raise Http404(_("No such page."))
    events = event_model.objects.order_by("-pgh_created_at", "-pgh_id")
    obj = (request.GET.get("obj") or "").strip()
    if obj.isdigit():
        events = events.filter(pgh_obj_id=int(obj))
    events = list(events[:200])
    skip = {"pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context", "pgh_context_id"}
    fields = [f for f in event_model._meta.concrete_fields if f.name not in skip]
    rows = []
    for index, event in enumerate(events):
        older = next((e for e in events[index + 1:] if e.pgh_obj_id == event.pgh_obj_id), None)
        values = [(f.verbose_name, f.value_from_object(event),
                   older is not None and f.value_from_object(older) != f.value_from_object(event)) for f in fields]
        rows.append({"event": event, "values": values, "context": getattr(event, "pgh_context", None)})
    return render(request, "portal/audit_history.html", {
        "models": [(label, m.pgh_tracked_model._meta.verbose_name_plural) for label, m in models.items()], "chosen": chosen, "obj": obj,
        "rows": rows, "recording": connection.vendor == "postgresql",
    })
