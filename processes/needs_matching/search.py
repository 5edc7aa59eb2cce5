"""The households and their members in the station-wide search: by household number, the head's name
or a member's name, among the households of the viewer's villages (staff only). Names are encrypted at
rest, so the candidates are read and matched here. A member under 18 is never named in a hit: the
hit is the household, whose page asks for a reason before it opens (ADR 0020 addendum)."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from engine import registry

from . import access
from .models import Household


def households(query: str, viewer) -> list[registry.SearchHit]:
    if not access.may_see_households(viewer):
        return []
    wanted = query.casefold()
    villages = registry.villages_for(viewer)
    candidates = Household.objects.prefetch_related("members").order_by("village", "code")
    if villages is not None:
        candidates = candidates.filter(village__in=villages)
    hits = []
    for household in candidates.iterator(chunk_size=500):
        detail = ""
        if wanted in household.code.casefold():
            detail = _("Household number")
        elif wanted in household.head_name.casefold():
            detail = _("Head of household")
        else:
            member = next((m for m in household.members.all() if wanted in m.name.casefold()), None)
            if member is None:
                continue
            adult = member.age is not None and member.age >= access.ADULT_AGE
            detail = (_("Member: %(name)s") % {"name": member.name}) if adult else _("A member under 18 (not named here)")
        hits.append(registry.SearchHit(kind=_("Household"), title=f"{household.code} {household.head_name}", village=household.village,
                                       url=reverse("household", args=[household.pk]), detail=detail))
        if len(hits) >= registry.SEARCH_LIMIT:
            break
    return hits


registry.register_search(households)
