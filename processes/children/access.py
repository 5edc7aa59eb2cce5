"""Who sees which child. Every archive is a minor's file (ADR 0020 addendum): staff of the child's
village may see it exists (lists, option lists); to open it, its holders — the supervisors of the
village and the holders of any of the child's cases — give a purpose and a reason once a
session-day, and anyone else (a colleague of the village, the administrator) asks a supervisor of
the village. The check, the reason form and the requests are the engine's and the portal's.

Reading is not writing: whatever opens an archive, only the village's workers and supervisors change
it (the administrator reads, for technical support, and changes nothing). A group's members are seen
by name, with their scores, by those who run it — the workers a supervisor put on it (its creator
first) and the village's supervisors; anyone else sees their archive numbers, as in every list."""
from __future__ import annotations

from engine import api, registry, selectors

KEY = "children"
KIND = "child"
STAFF_ROLES = frozenset({"worker", "supervisor", "admin"})
EDIT_ROLES = frozenset({"worker", "supervisor"})


def is_staff(user) -> bool:
    return bool(user is not None and getattr(user, "is_active", False)
                and (user.is_superuser or selectors.roles_of(user) & STAFF_ROLES))


def may_edit(user) -> bool:
    """The child's holders correct and add to the archive: the village's workers and the supervisors (not the administrator)."""
    return bool(selectors.roles_of(user) & EDIT_ROLES)


def assigns_group_workers(user, group) -> bool:
    """A supervisor of the group's village puts workers on a group and takes them off (a handover)."""
    return may_edit(user) and api.may_decide(user, village=group.village)


def runs_group(user, group) -> bool:
    """Whether the user runs the group, and so sees its members' names and scores and records its work:
    one of its workers, or a supervisor of its village (who holds every archive there)."""
    return assigns_group_workers(user, group) or (may_edit(user) and group.workers.filter(pk=user.pk).exists())


def in_villages(query, user):
    """The rows of `query` (with a `village` column) in the user's villages."""
    villages = registry.villages_for(user)
    return query if villages is None else query.filter(village__in=villages)


def visible_children(user):
    from .models import Child

    if not is_staff(user):
        return Child.objects.none()
    return in_villages(Child.objects.all(), user)


def as_record(child) -> registry.MinorsRecord:
    """The archive as the need-to-know check sees it: its village, its number (never a name), and
    the child's cases, whose holders hold the archive."""
    return registry.MinorsRecord(
        kind=KIND, id=child.pk, process_key=KEY, village=child.village, subject=child.code, has_minors=True,
        instance_ids=tuple(child.cases.order_by("pk").values_list("instance_id", flat=True)))


def child_record(record_id: int, viewer) -> registry.MinorsRecord | None:
    """The registered resolver: the archive if the viewer may see it (staff of its village), else None."""
    from .models import Child

    query = Child.objects.all() if viewer is api.SYSTEM else visible_children(viewer)
    child = query.filter(pk=record_id).first()
    return as_record(child) if child is not None else None
