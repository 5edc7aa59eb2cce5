"""The SLA compliance report (page and XLSX) for supervisors and administrators — a supervisor of
some villages sees only theirs — and the working-day calendar page for administrators. Anyone else
gets the usual 404."""
from __future__ import annotations

import datetime as dt
import re
from io import BytesIO

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api
from engine.errors import NotPermitted
from integrations.spreadsheets import make_text_safe

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _require_reader(request):
    if not api.may_read_sla_report(request.user):
        raise Http404(_("No such page."))


def _months_back(today: dt.date, count: int) -> str:
    """The month `count` months before today's ('YYYY-MM'); a negative count goes forward."""
    index = today.year * 12 + today.month - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _default_months(today: dt.date) -> dict:
    """The two months before this one, this one and the next (whose deadlines are coming up)."""
    return {"month_from": _months_back(today, 2), "month_to": _months_back(today, -1)}


def _filters(request) -> dict:
    """The report's filters from the query string; a month that is not YYYY-MM falls back to the
    default (`_default_months`), with a message saying so."""
    wanted = {"month_from": request.GET.get("from", ""), "month_to": request.GET.get("to", "")}
    defaults = _default_months(timezone.localdate())
    filters = {}
    for name, value in wanted.items():
        if value and not MONTH.fullmatch(value):
            messages.error(request, _("'%(value)s' is not a month (YYYY-MM); showing the months around this one.") % {"value": value[:20]})
            value = ""
        filters[name] = value or defaults[name]
    filters["process_key"] = request.GET.get("process", "")[:64]
    filters["village"] = request.GET.get("village", "")[:64]
    filters["bpmn_id"] = request.GET.get("task", "")[:128]
    return filters


def _rows(request, filters):
    try:
        return api.sla_report(viewer=request.user, **filters)
    except NotPermitted:
        raise Http404(_("No such page.")) from None
    except ValueError:
        messages.error(request, _("Choose at most %(count)s months at once.") % {"count": api.MAX_MONTHS})
        filters.update(_default_months(timezone.localdate()))
        return api.sla_report(viewer=request.user, **filters)


def duration_text(value: dt.timedelta | None) -> str:
    """How late, in the words a supervisor reads: '2 d 3 h', '5 h 20 min', '12 min'."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min") % {"minutes": minutes}


@login_required
def report(request):
    _require_reader(request)
    filters = _filters(request)
    rows = _rows(request, filters)
    villages = api.sla_report_villages(request.user)
    totals = {name: sum(getattr(r, name) for r in rows) for name in ("on_time", "late", "open_overdue", "open_in_time")}
    tasks = sorted({(r.process_key, r.bpmn_id, r.task_name) for r in rows}, key=lambda t: (t[0], t[2]))
    return render(request, "portal/sla_report.html", {
        "rows": [(r, duration_text(r.late_median), duration_text(r.late_max)) for r in rows], "filters": filters,
        "totals": totals, "villages": villages, "tasks": tasks, "query": request.GET.urlencode(),
        "edits_calendar": api.may_edit_calendar(request.user),
    })


def _hours(value: dt.timedelta | None):
    return round(value.total_seconds() / 3600, 1) if value is not None else None


@login_required
def report_xlsx(request):
    """The same rows as a workbook; lateness in hours."""
    from openpyxl import Workbook

    _require_reader(request)
    filters = _filters(request)
    rows = _rows(request, filters)
    processes = api.process_names()
    book = Workbook()
    sheet = book.active
    sheet.title = _("Deadlines")
    sheet.append([_("Month"), _("Process"), _("Task"), _("Village"), _("On time"), _("Late"), _("Open and overdue"),
                  _("Open, not yet due"), _("On time (%)"), _("Median lateness (hours)"), _("Longest lateness (hours)")])
    for r in rows:
        sheet.append([r.month, processes.get(r.process_key, r.process_key), r.task_name, r.village, r.on_time, r.late, r.open_overdue,
                      r.open_in_time, r.on_time_percent, _hours(r.late_median), _hours(r.late_max)])
    make_text_safe(sheet)
    buffer = BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="sla-{filters["month_from"]}-{filters["month_to"]}.xlsx"'
    return response


# -- the working-day calendar (administrators) ----------------------------------------------------

def _require_admin(request):
    if not api.may_edit_calendar(request.user):
        raise Http404(_("No such page."))


def _year(value) -> int:
    try:
        return min(max(int(value), 2004), 2100)
    except (TypeError, ValueError):
        return timezone.localdate().year


@login_required
def calendar(request):
    """The year's holidays and adjusted working days, and the station's own days (add, change)."""
    _require_admin(request)
    if request.method == "POST":
        year = _year(request.POST.get("year"))
        try:
            day = dt.date.fromisoformat(request.POST.get("date", ""))
        except ValueError:
            messages.error(request, _("Choose a date."))
            return redirect(f"{request.path}?year={year}")
        working = request.POST.get("is_working_day")
        if working not in ("yes", "no"):
            messages.error(request, _("Say whether the station works that day."))
            return redirect(f"{request.path}?year={year}")
        api.set_calendar_day(date=day, is_working_day=working == "yes", note=request.POST.get("note", ""), actor=request.user)
        messages.success(request, _("%(date)s saved.") % {"date": day.isoformat()})
        return redirect(f"{request.path}?year={day.year}")
    year = _year(request.GET.get("year"))
    return render(request, "portal/sla_calendar.html", {
        "year": year, "entries": api.calendar_year(year, viewer=request.user), "note_max": api.NOTE_MAX_LENGTH,
        # A year within reach is already named by the banner of every administrator's page.
        "year_unknown": not api.calendar_year_known(year) and year not in api.unknown_calendar_years(),
        "unknown_message": api.unknown_calendar_message([year]),
    })


@login_required
@require_POST
def calendar_remove(request):
    _require_admin(request)
    try:
        day = dt.date.fromisoformat(request.POST.get("date", ""))
    except ValueError:
        raise Http404(_("No such page.")) from None
    if api.remove_calendar_day(date=day, actor=request.user):
        messages.success(request, _("The station's entry for %(date)s was removed.") % {"date": day.isoformat()})
    return redirect(f"{request.path.rsplit('remove/', 1)[0]}?year={day.year}")
