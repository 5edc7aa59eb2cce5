"""Who runs a standing group (ADR 0041). Its members are mostly children: the staff of its village
see the group, its size and its sessions; its members' names only those who run it — the workers
a supervisor put on it (its creator first) and the village's supervisors — and only they change
it or take its attendance. The administrator reads and changes nothing."""
from __future__ import annotations

from engine import api, selectors

EDIT_ROLES = frozenset({"worker", "supervisor"})


def may_edit(user) -> bool:
    """The village's workers and supervisors change groups; the administrator only looks."""
    return bool(selectors.roles_of(user) & EDIT_ROLES)


def assigns_workers(user, roster) -> bool:
    """A supervisor of the group's village puts workers on a group and takes them off (a handover)."""
    return may_edit(user) and api.may_decide(user, village=roster.village)


def runs(user, roster) -> bool:
    """Whether the user runs the group, and so sees its members by name and records its work: one of
    its workers, or a supervisor of its village."""
    return assigns_workers(user, roster) or (may_edit(user) and roster.workers.filter(pk=user.pk).exists())


def run_by(user, rosters) -> list:
    """The groups of `rosters` (a query) the user runs: their own in one query, the village's in memory."""
    if not may_edit(user):
        return []
    own = set(rosters.filter(workers=user).values_list("pk", flat=True))
    return [r for r in rosters if r.pk in own or api.may_decide(user, village=r.village)]
