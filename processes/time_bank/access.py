"""Who may see and do what in the time bank, member by member.

Staff only: village workers, supervisors and administrators, each within their villages (the
pilot villages they work in). Anyone else, and any member outside one's villages, is a 404 like an
id that does not exist. Workers register members, record relatives and move hours a member asks
to move; supervisors approve members they did not register, review services, expire and reverse
entries, and read the whole ledger and the anomaly list."""
from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _

from engine import registry, selectors
from engine.station import Village

STAFF = ("worker", "supervisor", "admin")
SUPERVISING = ("supervisor", "admin")


def roles(user) -> set[str]:
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    found = set(selectors.roles_of(user))
    return found | {"admin"} if user.is_superuser else found


def pilot_villages() -> list[str]:
    return list(settings.TIME_BANK["pilot_villages"])


def villages(user) -> list[str]:
    """The pilot villages this user works in (an administrator: all of them)."""
    if "admin" in roles(user):
        return pilot_villages()
    scope = registry.villages_for(user)
    return [v for v in pilot_villages() if scope is None or v in scope]


def in_pilot_scope(user, village: str) -> bool:
    return bool(roles(user) & set(STAFF)) and village in villages(user)


def may_read_member(user, member) -> bool:
    return in_pilot_scope(user, member.village)


def supervises(user, village: str) -> bool:
    return bool(roles(user) & set(SUPERVISING)) and village in villages(user)


def staff_or_404(user) -> list[str]:
    if not roles(user) & set(STAFF):
        raise Http404(_("No such page, or not yours to see."))
    return villages(user)


def supervisor_or_404(user) -> list[str]:
    if not roles(user) & set(SUPERVISING):
        raise Http404(_("No such page, or not yours to see."))
    return villages(user)


def village_names() -> dict[str, str]:
    return dict(Village.objects.values_list("code", "name"))


# -- a volunteer's own sign-in -------------------------------------------------------------------------
# A volunteer holds the role `volunteer` and no other: they read their own passbook and the services
# they give, through the member their account is linked to, and nothing of anyone else. Every staff
# page above stays a 404 for them (they hold no staff role and work in no village).

VOLUNTEER = "volunteer"


def own_member(user):
    """The member this volunteer's account is linked to, or None (not a volunteer, or no member)."""
    from .models import Member, MemberKind

    if VOLUNTEER not in roles(user):
        return None
    return Member.objects.filter(user=user, kind=MemberKind.VOLUNTEER).first()


def may_issue_login(user, member) -> bool:
    """Workers and supervisors of the member's village (and administrators) give a volunteer their sign-in."""
    return in_pilot_scope(user, member.village)
