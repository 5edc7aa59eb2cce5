"""The fund's page: the money (budget, committed, disbursed, returned, available), the projects by
stage, the money by category and village, and a spreadsheet for the township finance office."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from io import BytesIO

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _, pgettext

from engine import clock, registry
from integrations.spreadsheets import make_text_safe

from .handlers import applications_visible_to, panel_summary, scores_complete
from .ledger import fund_for
from .models import Stage

def _figures(user, year: int):
    fund = fund_for(year)
    applications = list(applications_visible_to(user).filter(fund=fund).select_related("organisation").prefetch_related("reviews"))
    if not applications and not user.groups.filter(name__in=["admin", "supervisor", "finance", "worker"]).exists():
        raise Http404(_("No such page, or not yours to see."))
    by_stage = defaultdict(list)
    money_by = {"category": defaultdict(Decimal), "village": defaultdict(Decimal)}
    for application in applications:
        by_stage[application.stage].append(application)
        if application.committed_amount:
            money_by["category"][application.get_category_display()] += application.committed_amount
            money_by["village"][application.village] += application.committed_amount
    stages = [(label, by_stage.get(code, [])) for code, label in Stage.choices]
    return fund, applications, stages, money_by


def _scope_text(user) -> str:
    """The villages a village-bound viewer's rows are limited to, as one line ("" for the whole
    township). The fund's totals are public money, shown to every viewer; the projects, the money by
    category and village and the ledger are their villages' only, and the page must say so."""
    from engine.station import Village

    villages = registry.villages_for(user)
    if villages is None:
        return ""
    names = dict(Village.objects.values_list("code", "name"))
    return "、".join(sorted(names.get(code, code) for code in villages)) or _("no village")


def _ledger(fund, applications):
    """The ledger as this user may read it: movements of the projects they may see (their villages'),
    and the fund's own movements (no project)."""
    from django.db.models import Q

    return fund.entries.filter(Q(application__in=[a.pk for a in applications]) | Q(application__isnull=True)).select_related("application", "actor")


@login_required
def fund_page(request):
    year = clock.today().year
    fund, applications, stages, money_by = _figures(request.user, year)
    return render(request, "micro_fund/fund.html", {
        "fund": fund, "stages": stages, "by_category": sorted(money_by["category"].items()),
        "by_village": sorted(money_by["village"].items()), "entries": _ledger(fund, applications)[:50],
        "scope": _scope_text(request.user), "projects": len(applications),
        # A panel's score appears only once every member has scored: no running average to anyone.
        "summaries": {a.pk: panel_summary(a) for a in applications if a.stage != Stage.APPLYING and scores_complete(a)},
    })


@login_required
def fund_export(request):
    """The fund as an XLSX workbook: a summary sheet, the projects, and every ledger movement —
    villages by name, times in the station's time zone, people by name, no live formulas."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from openpyxl import Workbook

    from engine.station import Village

    fund, applications, _stages, money_by = _figures(request.user, clock.today().year)
    villages = dict(Village.objects.values_list("code", "name"))
    book = Workbook()
    summary = book.active
    summary.title = pgettext("micro fund", "Summary")
    for row in [(_("Fund"), fund.name), (_("Total budget"), fund.total_budget), (_("Committed"), fund.committed),
                (_("Disbursed"), fund.disbursed), (_("Returned"), fund.returned), (_("Available"), fund.available)]:
        summary.append(list(row))
    if scope := _scope_text(request.user):
        summary.append([_("Projects and ledger of"), scope])
    projects = book.create_sheet(_("Projects"))
    projects.append([_("Title"), _("Organisation"), _("Village"), _("Category"), _("Stage"), _("Requested"), pgettext("micro fund", "Approved"), _("Disbursed"), _("Spent")])
    for a in applications:
        projects.append([a.title, a.organisation.name, villages.get(a.village, a.village), a.get_category_display(),
                         a.get_stage_display(), a.requested_amount, a.approved_amount, a.disbursed, a.spent])
    ledger_sheet = book.create_sheet(_("Ledger"))
    ledger_sheet.append([_("Time"), _("Movement"), _("Amount"), _("Project"), _("By"), _("Reason")])
    people = {u.pk: (u.get_full_name() or u.first_name or u.username) for u in get_user_model().objects.filter(
        pk__in=fund.entries.values("actor_id"))}
    for entry in _ledger(fund, applications):
        ledger_sheet.append([timezone.localtime(entry.at).replace(tzinfo=None), entry.get_kind_display(), entry.amount,
                             entry.application.title if entry.application else "", people.get(entry.actor_id, ""), entry.reason])
    for sheet in (summary, projects, ledger_sheet):
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, Decimal):
                    cell.number_format = "#,##0.00"
                elif hasattr(cell.value, "hour"):
                    cell.number_format = "yyyy-mm-dd hh:mm"
        make_text_safe(sheet)
    buffer = BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="micro-fund-{fund.year}.xlsx"'
    return response
