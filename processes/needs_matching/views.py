"""The matching domain's own pages: the households of the user's villages, one household with a
matching preview (which resources would serve a need, and why each rule passes or fails), and the
gaps report (monitoring-list households no resource can serve, and the capacity used and left).

Household data is personal data: staff only (worker, supervisor, admin), each worker only within
their villages, anything else a 404 — even a guessed id — and each household view is logged. A
household with a member under 18 is a minor's file (access.py): its page opens after a purpose and a
reason from its holders, or a supervisor's approval for anyone else."""
from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from engine import api, clock, registry
from engine.station import Village

from . import access, matching
from .models import Household, NeedCategory, Resource, Referral, ReferralStatus

KEY = "needs_matching"
STAFF_ROLES = access.STAFF_ROLES
PAGE_SIZE = 50
URGENCIES = [("high", gettext_lazy("high")), ("medium", gettext_lazy("medium")), ("low", gettext_lazy("low"))]
# Words stored in Household.benefits / risk_flags that have a label; anything else is shown as stored.
FLAG_LABELS = {
    "dibao": gettext_lazy("subsistence allowance (dibao)"),
    "temporary_relief": gettext_lazy("temporary relief"),
    "illness": gettext_lazy("illness"),
    "schooling": gettext_lazy("schooling"),
    "disaster": gettext_lazy("disaster"),
}


def _scope(user) -> set[str] | None:
    """The villages this user may see (None: the whole township); a 404 for anyone not staff."""
    if not access.may_see_households(user):
        raise Http404(_("No such page, or not yours to see."))
    return registry.villages_for(user)


def _households(villages: set[str] | None):
    query = Household.objects.all()
    return query if villages is None else query.filter(village__in=villages)


def _village_choices(villages: set[str] | None) -> list[tuple[str, str]]:
    query = Village.objects.all() if villages is None else Village.objects.filter(code__in=villages)
    return list(query.order_by("position", "code").values_list("code", "name"))


def _flags(codes) -> list[str]:
    return [str(FLAG_LABELS.get(code, code)) for code in (codes or []) if isinstance(code, str)]


def _catalogue() -> matching.Catalogue:
    return matching.Catalogue(list(Resource.objects.filter(active=True).order_by("name")), clock.today())


@login_required
def household_list(request):
    villages = _scope(request.user)
    choices = _village_choices(villages)
    village = request.GET.get("village", "")
    query = _households(villages).prefetch_related("members").order_by("village", "code")
    if village:
        query = query.filter(village=village)
    page = Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = Household.prime_incomes(page.object_list)
    return render(request, "needs_matching/household_list.html", {
        "page": page, "village": village, "village_choices": choices,
        "query": f"village={village}" if village else "",
    })


@login_required
def household_page(request, household_id: int):
    villages = _scope(request.user)
    household = _households(villages).prefetch_related("members").filter(pk=household_id).first()
    if household is None:
        raise Http404(_("No such household, or not yours to see."))
    # A household with children is a minor's file: a reason from its holders, an approval for anyone else.
    missing = api.open_record(record=access.as_record(household), viewer=request.user, session=request.session, view="household")
    if missing:
        return redirect(f"{reverse('record-access', args=[access.KIND, household.pk])}?{urlencode({'next': request.get_full_path()})}")
    members = list(household.members.all())
    preview = None
    category = request.GET.get("category", "")
    urgency = request.GET.get("urgency", "") or "medium"
    member = request.GET.get("member", "")
    if member not in {m.name for m in members}:
        member = ""
    if category in NeedCategory.values:
        need = {"category": category, "description": "", "urgency": urgency, "member": member or None}
        preview = matching.match_household([need], household, _catalogue())[0]
    return render(request, "needs_matching/household.html", {
        "household": household, "members": members,
        "rigid_expenses": household.medical_expenses + household.schooling_expenses,
        # The income judged is a later visit's, not the registered one: say whose, and what was registered.
        "registered_income": household.registered_income() if household.income.source != household.registered_income().source else None,
        "benefits": _flags(household.benefits), "risk_flags": _flags(household.risk_flags),
        "categories": NeedCategory.choices, "urgencies": URGENCIES,
        "chosen": {"category": category, "urgency": urgency, "member": member},
        "category_label": NeedCategory(category).label if preview is not None else "",
        "preview": preview,
        "needs": household.needs.order_by("-created_at", "number").prefetch_related("referrals__resource")[:50],
        # What the other processes hold about this household's people (elders, time-bank members...).
        "facets": registry.person_facets(f"household:{household.code}", request.user),
    })


def _served(household, category: str, catalogue: matching.Catalogue) -> bool:
    """Whether some resource of the category is open to the household — for the household itself
    or for any one of its members (a resource for school-age children serves a household with one)."""
    if not catalogue.candidates(category):
        return False
    names = [None] + [m.name for m in household.members.all()]
    for name in names:
        need = {"category": category, "description": "", "urgency": "medium", "member": name}
        if not matching.match_need(need, household, catalogue).is_gap:
            return True
    return False


@login_required
def gaps_report(request):
    villages = _scope(request.user)
    category = request.GET.get("category", "")
    categories = [c for c in NeedCategory.choices if not category or c[0] == category]
    if category and not categories:
        category, categories = "", list(NeedCategory.choices)
    catalogue = _catalogue()
    monitored = [h for h in Household.prime_incomes(_households(villages).prefetch_related("members").order_by("village", "code"))
                 if h.in_monitoring_list]
    gaps: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    listed: dict[str, int] = defaultdict(int)
    for household in monitored:
        listed[household.village] += 1
        for code, _label in categories:
            if not _served(household, code, catalogue):
                gaps[household.village][code] += 1
    names = dict(Village.objects.values_list("code", "name"))
    rows = [{"village": code, "name": names.get(code, code), "listed": listed[code],
             "counts": [(c, gaps[code][c]) for c, _label in categories]}
            for code in sorted(listed, key=lambda v: names.get(v, v))]
    totals = [sum(row["counts"][i][1] for row in rows) for i in range(len(categories))]
    wanted = {c for c, _label in categories}
    seen, resources = set(), []
    for code, _label in categories:
        for resource in catalogue.candidates(code):
            if resource.pk not in seen:
                seen.add(resource.pk)
                resources.append(resource)
    resources.sort(key=lambda r: r.name)
    capacity = [{"resource": r, "used": r.capacity_total - r.capacity_left, "left": r.capacity_left,
                 "categories": [str(NeedCategory(c).label) for c in r.categories if c in wanted and c in NeedCategory.values]}
                for r in resources]
    # Resources by use: accepted referrals per resource, village and need category.
    accepted = Referral.objects.filter(status=ReferralStatus.ACCEPTED, need__category__in=wanted)
    if villages is not None:
        accepted = accepted.filter(need__household__village__in=villages)
    use = [{"resource": row["resource__name"], "village": names.get(row["need__household__village"], row["need__household__village"]),
            "category": str(NeedCategory(row["need__category"]).label), "referrals": row["n"]}
           for row in accepted.values("resource__name", "need__household__village", "need__category").annotate(n=Count("pk"))
           .order_by("resource__name", "need__household__village", "need__category")]
    return render(request, "needs_matching/gaps.html", {
        "category": category, "all_categories": NeedCategory.choices, "categories": categories,
        "rows": rows, "totals": totals, "monitored": len(monitored), "capacity": capacity, "use": use,
    })
