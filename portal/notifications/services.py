"""Turn engine events into notifications for the people concerned, in the step's (or the deadline
warning's) transaction. A step's events are handled together: one query for the people concerned,
one INSERT for their notices (a repeat is dropped by the unique (user, kind, task, percent)
constraint). Deadline warnings are the engine's (`sla_warning` events from engine/api/sla.py): the
holder is told — the assignee, or the task's role in its village."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q

from engine import compiled, registry

from .models import Kind, Notification


def people_with_role(group: str, village: str):
    """Who may work on a task of this role and village (a task without a village: everyone of the role)."""
    people = get_user_model().objects.filter(is_active=True, groups__name=group)
    if village:
        people = people.filter(Q(staff_profile__township_wide=True) | Q(staff_profile__villages__code=village))
    return people.distinct()


def _recipients(events: list[registry.EngineEvent]) -> list[tuple[registry.EngineEvent, str, set[int]]]:
    """(event, kind, user ids) for each event that notifies someone: people resolved in one query."""
    wanted = []  # (event, kind, group or None, village, user ids known)
    for event in events:
        data = event.data or {}
        if event.kind == "task_ready" and data.get("assignee"):
            if data["assignee"] == event.actor_name:
                continue  # their own next step: they are taken to it, no notice needed
            kind = Kind.RETURNED if data.get("returned") else Kind.NEW_TASK
            wanted.append((event, kind, None, event.village, {event.assignee_id} if event.assignee_id else set(), data["assignee"]))
        elif event.kind == "task_ready" and data.get("candidate_group"):
            kind = Kind.RETURNED if data.get("returned") else Kind.NEW_TASK
            wanted.append((event, kind, data["candidate_group"], event.village, set(), None))
        elif event.kind == "assigned" and data.get("assignee"):
            wanted.append((event, Kind.ASSIGNED, None, event.village, set(), data["assignee"]))
        elif event.kind == "escalated":
            wanted.append((event, Kind.BREACHED, "supervisor", event.village, set(), data.get("assignee")))
        elif event.kind == "sla_warning" and (event.assignee_id or data.get("assignee")):
            wanted.append((event, Kind.DUE_SOON, None, event.village, {event.assignee_id} if event.assignee_id else set(), data.get("assignee")))
        elif event.kind == "sla_warning" and data.get("candidate_group"):
            wanted.append((event, Kind.DUE_SOON, data["candidate_group"], event.village, set(), None))
    if not wanted:
        return []
    groups = {w[2] for w in wanted if w[2]}
    usernames = {w[5] for w in wanted if w[5]}
    people = (get_user_model().objects.filter(is_active=True).filter(Q(groups__name__in=groups) | Q(username__in=usernames))
              .values_list("pk", "username", "groups__name", "staff_profile__township_wide", "staff_profile__villages__code"))
    by_username, in_group = {}, {}
    for pk, username, group, township_wide, village in people:
        by_username[username] = pk
        if group in groups:
            in_group.setdefault((group, pk), set()).add("*" if township_wide else village)
    result = []
    for event, kind, group, village, ids, username in wanted:
        ids = set(ids)
        if username and username in by_username:
            ids.add(by_username[username])
        if group:
            ids |= {pk for (g, pk), villages in in_group.items() if g == group and (not village or "*" in villages or village in villages)}
        if ids:
            result.append((event, kind, ids))
    return result


@registry.on_events
def notify_on_engine_events(events: list[registry.EngineEvent]) -> None:
    rows = [Notification(user_id=pk, kind=kind, task_id=event.task_id, instance_id=event.instance_id,
                         task_name=str(event.data.get("task") or event.bpmn_id)[:200], subject=(event.subject or "")[:200],
                         percent=int(event.data.get("percent") or 0) if event.kind == "sla_warning" else 0)
            for event, kind, ids in _recipients(events) for pk in sorted(ids)]
    if rows:
        compiled.insert(rows, ignore_conflicts=True)  # the step's hot path: compiled once (engine/compiled.py)
