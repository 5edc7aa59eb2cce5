"""Who may see which elder. Elders' records are personal data: the workers of the elder's village,
the supervisors and administrators see them; a village doctor sees an elder only once a referral
was addressed to the doctors of that village; anyone else sees none (the pages answer 404)."""
from __future__ import annotations

from engine import registry

from .models import ElderlyPerson

STAFF_ROLES = frozenset({"worker", "supervisor", "admin"})
SUPERVISING = frozenset({"supervisor", "admin"})


def roles_of(user) -> set[str]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cached = getattr(user, "_elderly_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached.add("admin")
        user._elderly_roles = cached
    return cached


def is_staff(user) -> bool:
    return bool(roles_of(user) & STAFF_ROLES)


def supervises(user) -> bool:
    return bool(roles_of(user) & SUPERVISING)


def visible_people(user):
    """The elders this user may see, as a queryset (empty for anyone without a part in their care)."""
    roles = roles_of(user)
    people = ElderlyPerson.objects.all()
    if not roles:
        return people.none()
    villages = registry.villages_for(user)
    if roles & STAFF_ROLES:
        return people if villages is None else people.filter(village__in=villages)
    if "village_doctor" in roles:
        referred = people.filter(referrals__isnull=False)
        if villages is not None:
            referred = referred.filter(referrals__village__in=villages)
        return people.filter(pk__in=referred.values("pk"))
    return people.none()


def person_from_key(key: str) -> int | None:
    """'elderly_care:12' -> 12; anything else -> None."""
    prefix, _sep, rest = str(key or "").partition(":")
    if prefix != "elderly_care" or not rest.isdigit():
        return None
    return int(rest)
