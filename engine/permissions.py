"""Who may act on which task: the role (the lane's group) and the villages the user works in.
One place, used by the facade, the selectors and the step context alike."""
from __future__ import annotations

SUPERVISING_ROLES = {"supervisor", "admin"}


class _System:
    """The engine reading for itself (a step's answer, a sweep, an operator's script, a test's
    assertion): every read of the facade takes a viewer, and this one reads everything, unredacted.
    Pages and the command line pass the signed-in user instead."""
    pk = None
    is_active = True
    is_authenticated = False
    _caseflow_groups: set = set()
    _caseflow_villages = None

    def get_username(self) -> str:
        return "system"

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _System()


def is_system(viewer) -> bool:
    return viewer is SYSTEM


def _identity(user) -> None:
    """Load a user's roles and villages once, in one query, and keep them on the user object for the
    rest of the request (a test or a command that changes them makes a fresh user object)."""
    from engine.station import identity

    groups, villages = identity(user)
    user._caseflow_groups = groups
    user._caseflow_villages = villages


def user_groups(user) -> set[str]:
    if user is None or not getattr(user, "is_active", False):
        return set()
    if getattr(user, "_caseflow_groups", None) is None:
        _identity(user)
    return user._caseflow_groups


def user_villages(user) -> set[str] | None:
    """Village codes the user works in; None means the whole township."""
    if user is None or getattr(user, "pk", None) is None:
        return set()
    if getattr(user, "_caseflow_villages", False) is False:
        _identity(user)
    return user._caseflow_villages


def in_scope(user, village: str) -> bool:
    """Instances without a village are township-level: anyone of the role may work on them."""
    villages = user_villages(user)
    return villages is None or not village or village in villages


def can_work_on(user, row) -> bool:
    """Complete (or save a draft of) a task: its holder, or anyone of its role in its village."""
    if user is None or not getattr(user, "is_active", False):
        return False
    if row.assignee_id is not None:
        return row.assignee_id == user.pk
    return row.candidate_group in user_groups(user) and in_scope(user, row.village)


def can_hold(user, row, *, any_village: bool = False) -> bool:
    """Be given a task: someone of its role in its village, or a supervisor of the village taking
    it over. With `any_village` (a supervisor covering sick leave), anyone of the role in the station."""
    groups = user_groups(user)
    if row.candidate_group in groups:
        return any_village or in_scope(user, row.village)
    return bool(groups & SUPERVISING_ROLES) and in_scope(user, row.village)


def supervises(user, village: str) -> bool:
    return bool(user_groups(user) & SUPERVISING_ROLES) and in_scope(user, village)
