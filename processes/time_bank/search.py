"""Time-bank members in the station-wide search (by name, passbook number, household or the last
digits of their phone), among the pilot villages the viewer works in; and on a household's page the
members of that household with their balances."""
from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext as _

from engine import registry

from . import ledger
from .access import STAFF, roles, villages
from .models import Member


def _scope(viewer):
    if not roles(viewer) & set(STAFF):
        return Member.objects.none()
    return Member.objects.filter(village__in=villages(viewer))


def members(query: str, viewer) -> list[registry.SearchHit]:
    wanted = query.casefold()
    digits = query.isdigit() and len(query) >= 4
    hits = []
    for member in _scope(viewer).order_by("village", "pk").iterator(chunk_size=500):
        if wanted in member.number.casefold() or (member.household and wanted in member.household.casefold()):
            detail = _("Passbook or household number")
        elif wanted in member.name.casefold():
            detail = member.get_kind_display()
        elif digits and member.phone and member.phone.endswith(query):
            detail = _("Phone ending %(digits)s") % {"digits": query}
        else:
            continue
        hits.append(registry.SearchHit(kind=_("Time-bank member"), title=f"{member.name}（{member.number}）", village=member.village,
                                       url=reverse("time-bank-member", args=[member.pk]), detail=detail))
        if len(hits) >= registry.SEARCH_LIMIT:
            break
    return hits


def household_facet(key: str, viewer) -> list[tuple[str, str]]:
    """On a household's page ("household:<number>"): its time-bank members and their balances."""
    kind, _sep, code = key.partition(":")
    if kind != "household" or not code:
        return []
    found = list(_scope(viewer).filter(household=code).order_by("pk"))
    balances = ledger.balances([m.pk for m in found])
    return [(_("Time bank"), _("%(name)s, %(number)s: %(hours)s hours") % {
        "name": m.name, "number": m.number, "hours": balances.get(m.pk, Decimal("0"))}) for m in found]


registry.register_search(members)
registry.register_person_facet(household_facet)
