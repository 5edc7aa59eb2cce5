"""A household with children is a minor's file too (ADR 0020 addendum): its page needs a purpose and
a reason from the household's holders, and a supervisor's approval for anyone else, like a
child-protection case. This module says who may see a household at all and what the need-to-know
check needs to know about it; the check, the reason form and the requests are the engine's and the
portal's (one copy for cases and households)."""
from __future__ import annotations

from engine import api, registry, selectors

KEY = "needs_matching"
KIND = "household"
STAFF_ROLES = ("worker", "supervisor", "admin")
ADULT_AGE = 18


def may_see_households(user) -> bool:
    """Staff only (worker, supervisor, admin); a partner office sees referrals, never households."""
    return bool(user is not None and getattr(user, "is_active", False)
                and (user.is_superuser or selectors.roles_of(user) & set(STAFF_ROLES)))


def as_record(household) -> registry.MinorsRecord:
    """The household as the check sees it: its village, its number (never a name), whether one of its
    members is under 18 (ages are encrypted: read in Python), and its cases, whose holders hold it."""
    members = household.members.all()
    return registry.MinorsRecord(
        kind=KIND, id=household.pk, process_key=KEY, village=household.village, subject=household.code,
        has_minors=any(m.age is not None and m.age < ADULT_AGE for m in members),
        instance_ids=tuple(household.cases.order_by("pk").values_list("instance_id", flat=True)))


def household_record(record_id: int, viewer) -> registry.MinorsRecord | None:
    """The registered resolver: the household if the viewer may see it (staff of its village), else None."""
    from .models import Household

    query = Household.objects.filter(pk=record_id).prefetch_related("members")
    if viewer is not api.SYSTEM:
        if not may_see_households(viewer):
            return None
        villages = registry.villages_for(viewer)
        if villages is not None:
            query = query.filter(village__in=villages)
    household = query.first()
    return as_record(household) if household is not None else None
