"""Elders in the station-wide search (by name, number, household number or the last digits of their
phone) and on a household's page (the elders of that household), among the elders the viewer may see."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _, pgettext

from engine import registry

from .access import visible_people


def elders(query: str, viewer) -> list[registry.SearchHit]:
    wanted = query.casefold()
    digits = query.isdigit() and len(query) >= 4
    hits = []
    for person in visible_people(viewer).order_by("village", "code").iterator(chunk_size=500):
        if wanted in person.code.casefold() or (person.household_code and wanted in person.household_code.casefold()):
            detail = pgettext("elderly care", "Number")
        elif wanted in person.name.casefold():
            detail = _("Name")
        elif digits and person.phone and person.phone.endswith(query):
            detail = _("Phone ending %(digits)s") % {"digits": query}
        else:
            continue
        hits.append(registry.SearchHit(kind=_("Elderly person"), title=f"{person.name}（{person.code}）", village=person.village,
                                       url=reverse("elderly-person", args=[person.pk]), detail=detail))
        if len(hits) >= registry.SEARCH_LIMIT:
            break
    return hits


def household_facet(key: str, viewer) -> list[tuple[str, str]]:
    """On a household's page ("household:<number>"): the elders of that household this viewer may see."""
    kind, _sep, code = key.partition(":")
    if kind != "household" or not code:
        return []
    people = visible_people(viewer).filter(household_code=code).order_by("code")
    return [(_("Elderly care"), f"{p.name}（{p.code}，{p.get_tier_display() or _('not screened yet')}）") for p in people]


registry.register_search(elders)
registry.register_person_facet(household_facet)
