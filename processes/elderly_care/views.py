"""The elderly-care pages: the register of a village's elders (tier, screening progress, this
period's three visits), one elder's page (both archives, the visits over time with a blood-pressure
chart, flags, and what other processes hold about the elder), and the monthly completion report per
village and worker with its XLSX export.

Elders' records are personal: the register and report are for the station's staff in their
villages; a person's page also for the village doctor a referral was addressed to; anything else is
a 404, even a guessed id, and every view of a person is logged."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from io import BytesIO

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from engine import api, clock, registry
from engine.errors import CaseflowError, FormInvalid
from engine.station import AccessLog, Village
from integrations.spreadsheets import make_text_safe

from . import charts, cycle, rules
from .access import is_staff, roles_of, visible_people
from .handlers import KEY, current_rules
from .models import (
    CYCLE_KINDS, ChangeKind, ElderlyPerson, Living, Referral, ReferralStatus, RuleKind, Screening, Visit, VisitKind, VisitStatus,
)

PAGE_SIZE = 50
MOODS = {"good": "😊", "fair": "🙂", "low": "😟", "very_low": "😢"}
MOOD_LABELS = {"good": pgettext_lazy("mood", "good"), "fair": pgettext_lazy("mood", "fair"), "low": pgettext_lazy("mood", "low"),
               "very_low": pgettext_lazy("mood", "very low")}


def _staff_scope(user) -> set[str] | None:
    if not is_staff(user):
        raise Http404(_("No such page, or not yours to see."))
    return registry.villages_for(user)


def _village_choices(villages):
    query = Village.objects.all() if villages is None else Village.objects.filter(code__in=villages)
    return list(query.order_by("position", "code").values_list("code", "name"))


def _current_visits(people_ids, today: dt.date) -> dict[int, dict[str, Visit]]:
    """Each person's visits of the period under way (the latest period that has started)."""
    latest: dict[int, dict[str, Visit]] = defaultdict(dict)
    recent = Visit.objects.filter(person_id__in=people_ids, kind__in=CYCLE_KINDS, period_start__lte=today,
                                  period_start__gte=today - dt.timedelta(days=31)).order_by("period_start")
    for visit in recent.only("person_id", "kind", "period_start", "status", "due_at"):
        latest[visit.person_id][visit.kind] = visit  # later periods overwrite earlier ones
    return latest


@login_required
def register(request):
    villages = _staff_scope(request.user)
    choices = _village_choices(villages)
    village = request.GET.get("village", "")
    tier = request.GET.get("tier", "")
    people = visible_people(request.user).order_by("village", "code")
    if village:
        people = people.filter(village=village)
    if tier in ("high", "key", "general", "none"):
        people = people.filter(tier="" if tier == "none" else tier)
    today = clock.now().astimezone(cycle.LOCAL).date()
    page = Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [p.pk for p in page.object_list]
    current = _current_visits(ids, today)
    open_flags = dict(Referral.objects.filter(person_id__in=ids, status=ReferralStatus.OPEN).values_list("person_id").annotate(n=Count("pk")))
    screening_open = set(Screening.objects.filter(person_id__in=ids, confirmed_at__isnull=True).values_list("person_id", flat=True))
    _version, tier_rules = current_rules(RuleKind.TIERS)
    names = dict(Village.objects.values_list("code", "name"))
    rows = []
    for person in page.object_list:
        visits = current.get(person.pk, {})
        rows.append({"person": person, "tier_label": rules.tier_label(tier_rules, person.tier) if person.tier else "",
                     "village_name": names.get(person.village, person.village),
                     "visits": [(kind.label, visits.get(kind.value)) for kind in (VisitKind.HEALTH, VisitKind.COMPANY, VisitKind.HELP)],
                     "done": sum(1 for v in visits.values() if v.status == VisitStatus.DONE),
                     "flags": open_flags.get(person.pk, 0), "screening_open": person.pk in screening_open})
    scope = visible_people(request.user).filter(village=village) if village else visible_people(request.user)
    progress = scope.aggregate(total=Count("pk"), screened=Count("pk", filter=~Q(tier="")),
                               high=Count("pk", filter=Q(tier="high")), key=Count("pk", filter=Q(tier="key")))
    month_start = today.replace(day=1)
    complete = Visit.objects.filter(person__in=scope).in_month(month_start).aggregate(
        owed=Count("pk"), done=Count("pk", filter=Q(status=VisitStatus.DONE)))
    query = "&".join(f"{k}={v}" for k, v in (("village", village), ("tier", tier)) if v)
    return render(request, "elderly_care/register.html", {
        "rows": rows, "page": page, "village": village, "tier": tier, "village_choices": choices, "query": query,
        "progress": progress, "complete": complete, "month": month_start, "may_screen": "worker" in roles_of(request.user),
        "tiers": [(t["tier"], t["label"]) for t in tier_rules],
    })


def _person_or_404(user, person_id: int) -> ElderlyPerson:
    person = visible_people(user).filter(pk=person_id).first()
    if person is None:
        raise Http404(_("No such person, or not yours to see."))
    return person


@login_required
def person_page(request, person_id: int):
    person = _person_or_404(request.user, person_id)
    AccessLog.objects.create(user=request.user, instance_id=person.cycle_instance_id or 0, process_key=KEY, view="elderly_person")
    _version, tier_rules = current_rules(RuleKind.TIERS)
    flag_version, flag_rules = current_rules(RuleKind.FLAGS)
    threshold = next((rule["value"] for rule in flag_rules if rule.get("fact") == "systolic" and rule.get("op") in ("gte", "gt")), None)
    health = list(person.health.order_by("date", "pk"))[-24:]
    from decimal import Decimal

    chart = charts.blood_pressure_svg(
        [(h.date, h.systolic, h.diastolic) for h in health], threshold=Decimal(str(threshold)) if threshold is not None else None,
        title=_("Blood pressure over time"), systolic_label=_("systolic"), diastolic_label=_("diastolic")) if health else ""
    visits = list(person.visits.order_by("-period_start", "kind", "-pk")[:60])
    for visit in visits:
        # The photos or signatures the visit's form carried (tokens of the portal's attachments, opened
        # through its attachment page, which checks the case and writes the access log on every view).
        visit.proofs = [t for t in ((visit.data or {}).get("photo") or []) if isinstance(t, str)]
    screening = person.screenings.exclude(confirmed_at=None).order_by("-confirmed_at").first()
    staff = is_staff(request.user)
    return render(request, "elderly_care/person.html", {
        "person": person, "village_name": Village.objects.filter(code=person.village).values_list("name", flat=True).first() or person.village, "staff": staff, "tier_label": rules.tier_label(tier_rules, person.tier) if person.tier else "",
        "living": dict(Living.choices).get(person.living, person.living), "screening": screening,
        "health": list(reversed(health)), "chart": mark_safe(chart),  # built from numbers and escaped text only
        "support": list(person.support.order_by("-date", "-pk")[:24]), "visits": visits,
        "referrals": list(person.referrals.order_by("-created_at")[:24]),
        "changes": [(dict(ChangeKind.choices).get(c.kind, c.kind), c) for c in person.changes.order_by("-happened_at")[:12]],
        "facets": registry.person_facets(person.person_key, request.user), "moods": MOODS, "mood_labels": MOOD_LABELS,
        "may_screen": "worker" in roles_of(request.user) and not person.screenings.filter(confirmed_at__isnull=True).exists(),
        "may_report": "worker" in roles_of(request.user),
    })


@login_required
@require_POST
def start_screening(request, person_id: int):
    """The register's "screen" button: a screening case for this elder, then its first task."""
    person = _person_or_404(request.user, person_id)
    try:
        info = api.start_instance(process_key=KEY, actor=request.user, data={"purpose": "screening", "person": person.person_key})
    except FormInvalid as exc:
        messages.error(request, "；".join(str(m) for errors in exc.field_errors.values() for m in errors))
        return redirect("elderly-person", person_id=person.pk)
    except CaseflowError as exc:
        messages.error(request, str(exc))
        return redirect("elderly-person", person_id=person.pk)
    task = next((t for t in info.open_tasks if t.bpmn_id == "Task_Screening"), None)
    if task is not None:
        return redirect("task", task_id=task.id)
    return redirect("case", instance_id=info.id)


def _month(request) -> dt.date:
    text = request.GET.get("month", "")
    try:
        return dt.date.fromisoformat(f"{text}-01") if text else clock.now().astimezone(cycle.LOCAL).date().replace(day=1)
    except ValueError:
        return clock.now().astimezone(cycle.LOCAL).date().replace(day=1)


def _report(user, month: dt.date):
    """Per village: the visits the month owes (VisitQuerySet: those due in it), done, missed, still
    open; per worker: those of them the worker made."""
    villages = _staff_scope(user)
    visits = Visit.objects.in_month(month)
    if villages is not None:
        visits = visits.filter(village__in=villages)
    names = dict(Village.objects.values_list("code", "name"))
    by_village = []
    for row in (visits.values("village").annotate(owed=Count("pk"), done=Count("pk", filter=Q(status=VisitStatus.DONE)),
                                                  missed=Count("pk", filter=Q(status=VisitStatus.MISSED)),
                                                  open=Count("pk", filter=Q(status=VisitStatus.OPEN)),
                                                  people=Count("person", distinct=True)).order_by("village")):
        row["name"] = names.get(row["village"], row["village"])
        row["rate"] = round(100 * row["done"] / row["owed"]) if row["owed"] else 0
        by_village.append(row)
    kinds = [(k.value, k.label) for k in (VisitKind.HEALTH, VisitKind.COMPANY, VisitKind.HELP)]
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in visits.filter(status=VisitStatus.DONE).values("village", "done_by", "kind").annotate(n=Count("pk")):
        counts[(row["village"], row["done_by"])][row["kind"]] += row["n"]
    people = {u.pk: (u.first_name or u.username) for u in get_user_model().objects.filter(pk__in={k[1] for k in counts})}
    by_worker = [{"village": names.get(v, v), "worker": people.get(w, "—"), "counts": [counts[(v, w)][k] for k, _l in kinds],
                  "total": sum(counts[(v, w)].values())} for v, w in sorted(counts, key=lambda k: (names.get(k[0], k[0]), people.get(k[1], "")))]
    return by_village, by_worker, kinds


@login_required
def report(request):
    month = _month(request)
    by_village, by_worker, kinds = _report(request.user, month)
    return render(request, "elderly_care/report.html", {
        "month": month, "by_village": by_village, "by_worker": by_worker, "kinds": kinds,
        "previous": (month - dt.timedelta(days=1)).replace(day=1), "next": (month + dt.timedelta(days=32)).replace(day=1),
    })


@login_required
def report_export(request):
    """The month's report as a workbook: every text cell stays text (a name like =HYPERLINK(...) never runs)."""
    from openpyxl import Workbook

    month = _month(request)
    by_village, by_worker, kinds = _report(request.user, month)
    AccessLog.objects.create(user=request.user, instance_id=0, process_key=KEY, view="elderly_report_export")
    book = Workbook()
    sheet = book.active
    sheet.title = _("Villages")
    sheet.append([_("Village"), _("Elderly people"), _("Visits owed"), _("Done"), _("Missed"), _("Still open"), _("Completion (%)")])
    for row in by_village:
        sheet.append([row["name"], row["people"], row["owed"], row["done"], row["missed"], row["open"], row["rate"]])
    workers = book.create_sheet(_("Workers"))
    workers.append([_("Village"), _("Worker"), *[str(label) for _k, label in kinds], _("Total")])
    for row in by_worker:
        workers.append([row["village"], row["worker"], *row["counts"], row["total"]])
    for each in (sheet, workers):
        make_text_safe(each)
    buffer = BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="elderly-visits-{month:%Y-%m}.xlsx"'
    return response
