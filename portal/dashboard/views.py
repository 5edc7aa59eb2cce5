"""The station's year: every figure the processes count, against the year's targets, by month and
village, with the records behind each number one tap away; the targets page for administrators;
the same figures as a spreadsheet and as the year-end report in PDF.

Staff only (worker, supervisor, civil affairs, admin), each over their own villages (the
township for those who work township-wide); anything else a 404."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from engine import clock, registry, selectors
from engine.station import Village

from . import charts, figures, report
from .models import YearTarget

STAFF_ROLES = ("worker", "supervisor", "civil_affairs", "admin")
# Who may follow a figure or a village into the station's own records (households, sessions, the
# fund): its staff. The civil-affairs office reads the figures and the open work, not the records.
RECORD_ROLES = ("worker", "supervisor", "admin")
TARGET_MAX = Decimal("1000000000")


def _opens_records(user) -> bool:
    return user.is_superuser or user.groups.filter(name__in=RECORD_ROLES).exists()


def _without_record_links(rows: list, user) -> list:
    if not _opens_records(user):
        for row in rows:
            row.drill_url = ""
    return rows


def _scope(user) -> set[str] | None:
    if not (user.is_superuser or user.groups.filter(name__in=STAFF_ROLES).exists()):
        raise Http404(_("No such page, or not yours to see."))
    return registry.villages_for(user)


def _year(request) -> int:
    this_year = clock.today().year
    try:
        year = int(request.GET.get("year", this_year))
    except (TypeError, ValueError):
        return this_year
    return year if 2000 <= year <= this_year + 1 else this_year


def _village(request, villages: set[str] | None) -> str:
    village = request.GET.get("village", "")
    allowed = set(figures.village_names()) if villages is None else villages
    return village if village in allowed else ""


def _is_admin(user) -> bool:
    return user.is_superuser or user.groups.filter(name="admin").exists()


@login_required
def dashboard(request):
    villages = _scope(request.user)
    year, village = _year(request), _village(request, villages)
    rows = _without_record_links(figures.rows(year, villages, village=village), request.user)
    names = figures.village_names()
    choices = [(code, name) for code, name in names.items() if villages is None or code in villages]
    for row in rows:
        label = str(row.figure.label)
        row.progress_svg = charts.progress(row.values.total, row.target, label=label)
        row.months_svg = charts.months(row.values.by_month, label=label)
    return render(request, "portal/dashboard.html", {
        "rows": rows, "year": year, "village": village, "village_choices": choices, "years": range(clock.today().year, 2023, -1),
        "can_edit": _is_admin(request.user), "query": f"year={year}" + (f"&village={village}" if village else ""),
    })


def _unit_problem(figure, value: Decimal) -> str:
    """What is wrong with a target for this figure's unit: 1.5 sessions, or 250 % of those due."""
    if figure.is_share and value > 100:
        return _("This figure is a percentage: type at most 100.")
    if value != value.quantize(Decimal(1).scaleb(-figure.decimals)):
        return _("This figure counts whole things: type a whole number.") if figure.decimals == 0 else \
            _("Type at most %(n)d decimals.") % {"n": figure.decimals}
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def targets(request):
    _scope(request.user)
    if not _is_admin(request.user):
        raise Http404(_("No such page, or not yours to see."))
    year = _year(request)
    known = {f.code: f for f in registry.figures()}
    current = {t.figure: t.target for t in YearTarget.objects.filter(year=year, village="")}
    typed = {code: request.POST.get(code, "") for code in known} if request.method == "POST" else {
        code: ("" if current.get(code) is None else f"{current[code].normalize():f}") for code in known}
    errors: dict[str, str] = {}
    if request.method == "POST":
        parsed = {}
        for code, text in typed.items():
            text = text.strip().replace(",", "")
            if not text:
                parsed[code] = None
                continue
            try:
                value = Decimal(text)
            except InvalidOperation:
                errors[code] = _("Type a number, such as 12 or 150000.")
                continue
            if not value.is_finite() or value < 0 or value > TARGET_MAX or value != value.quantize(Decimal("0.01")):
                errors[code] = _("A target is a number from 0 to 1,000,000,000 with at most two decimals.")
                continue
            problem = _unit_problem(known[code], value)
            if problem:
                errors[code] = problem
                continue
            parsed[code] = value
        if not errors:
            with transaction.atomic():
                for code, value in parsed.items():
                    if value is None:
                        YearTarget.objects.filter(year=year, figure=code, village="").delete()
                    else:
                        YearTarget.objects.update_or_create(year=year, figure=code, village="",
                                                            defaults={"target": value, "updated_by": request.user})
            messages.success(request, _("The targets of %(year)s are saved.") % {"year": year})
            return redirect(f"{request.path}?year={year}")
    return render(request, "portal/dashboard_targets.html", {
        "year": year, "figures": list(known.values()), "typed": typed, "errors": errors,
        "years": range(clock.today().year + 1, 2023, -1),
    }, status=400 if errors else 200)


@login_required
def export_xlsx(request):
    villages = _scope(request.user)
    year, village = _year(request), _village(request, villages)
    content = report.workbook(year, figures.rows(year, villages, village=village), village=figures.village_names().get(village, ""))
    response = HttpResponse(content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="caseflow-{year}.xlsx"'
    return response


@login_required
def export_pdf(request):
    villages = _scope(request.user)
    year, village = _year(request), _village(request, villages)
    content = report.pdf(year, figures.rows(year, villages, village=village), village=figures.village_names().get(village, ""))
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="caseflow-{year}.pdf"'
    return response


# Pages of a process that list a village's records, when that process is installed: (URL name, label).
VILLAGE_LINKS = (("households", gettext_lazy("Households")), ("activities", gettext_lazy("Activities")), ("activity-rosters", gettext_lazy("Standing groups")),
                 ("elderly-register", gettext_lazy("Elderly care")), ("time-bank", gettext_lazy("Time bank")),
                 ("fund", gettext_lazy("Micro-fund")))


@login_required
def village_page(request, code: str):
    """One village: the open work the viewer may open there (by process, and what is overdue), this
    year's figures for the village, and the pages of its records."""
    villages = _scope(request.user)
    village = Village.objects.filter(code=code).first()
    if village is None or (villages is not None and code not in villages):
        raise Http404(_("No such village, or not yours to see."))
    work = selectors.village_work(request.user, code)
    year = clock.today().year
    names = selectors.process_names()
    links = []
    for url_name, label in VILLAGE_LINKS if _opens_records(request.user) else ():
        try:
            links.append((label, f"{reverse(url_name)}?village={code}"))
        except NoReverseMatch:
            continue
    return render(request, "portal/village.html", {
        "village": village, "year": year, "work": work, "rows": _without_record_links(figures.rows(year, villages, village=code), request.user), "links": links,
        "open_by_process": sorted(((names.get(key, key), n) for key, n in work.open_by_process.items()), key=lambda item: item[0]),
    })


SEARCH_MAX = 40


@login_required
def search(request):
    """Find a person, a household or a case by name, number, or the last digits of a phone, among
    the records of the viewer's villages that each process lets them see. The results link to the
    records' own pages, which check access again (a minor's file asks for a reason first)."""
    villages = _scope(request.user)
    query = " ".join(request.GET.get("q", "").split())
    hits, cases, too_long = [], [], len(query) > SEARCH_MAX
    if query and not too_long:
        hits = registry.search(query, request.user)
        cases = list(selectors.visible_instances(request.user).filter(subject__icontains=query)
                     .order_by("-started_at").values("id", "subject", "process_key", "village", "status")[:registry.SEARCH_LIMIT])
    return render(request, "portal/search.html", {
        "query": query, "hits": hits, "cases": cases, "too_long": too_long, "max_length": SEARCH_MAX,
        "process_names": selectors.process_names(), "village_names": figures.village_names(),
        "scope_names": [name for code, name in figures.village_names().items() if villages is None or code in villages],
        "township_wide": villages is None,
    })
