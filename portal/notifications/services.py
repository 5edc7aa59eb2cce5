"""Turn engine events into notifications for the people concerned, in the event's transaction, and
warn about tasks whose deadline is near (run by the sweeper every few seconds)."""
from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from engine import registry, selectors

from .models import Kind, Notification

WARN_BEFORE = dt.timedelta(hours=2)


def people_with_role(group: str, village: str):
    """Who may work on a task of this role and village (a task without a village: everyone of the role)."""
    people = get_user_model().objects.filter(is_active=True, groups__name=group)
    if village:
        people = people.filter(Q(staff_profile__township_wide=True) | Q(staff_profile__villages__code=village))
    return people.distinct()


def _notify(users, kind: str, *, task_id, instance_id, task_name: str, subject: str = "") -> int:
    """Create each user's notification once per (kind, task); returns how many were new."""
    already = set(Notification.objects.filter(kind=kind, task_id=task_id).values_list("user_id", flat=True)) if task_id else set()
    rows = [Notification(user=u, kind=kind, task_id=task_id, instance_id=instance_id, task_name=task_name[:200], subject=subject[:200])
            for u in users if u.pk not in already]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent duplicate is dropped by the constraint
    return len(rows)


@registry.on_event
def notify_on_engine_event(event: registry.EngineEvent) -> None:
    name = str(event.data.get("task") or "")
    subject = event.subject or ""
    if event.kind == "task_ready" and event.data.get("assignee"):
        if event.data["assignee"] == event.actor_name:
            return  # their own next step: they are taken to it, no notice needed
        # Given to one person (a named reviewer, or whoever did the case's previous step): only them.
        _notify(get_user_model().objects.filter(username=event.data["assignee"], is_active=True),
                Kind.RETURNED if event.data.get("returned") else Kind.NEW_TASK,
                task_id=event.task_id, instance_id=event.instance_id, task_name=name, subject=subject)
    elif event.kind == "task_ready" and event.data.get("candidate_group"):
        _notify(people_with_role(event.data["candidate_group"], event.village), Kind.RETURNED if event.data.get("returned") else Kind.NEW_TASK,
                task_id=event.task_id, instance_id=event.instance_id, task_name=name, subject=subject)
    elif event.kind == "assigned" and event.data.get("assignee"):
        _notify(get_user_model().objects.filter(username=event.data["assignee"]), Kind.ASSIGNED,
                task_id=event.task_id, instance_id=event.instance_id, task_name=name or event.bpmn_id, subject=subject)
    elif event.kind == "escalated":
        people = list(people_with_role("supervisor", event.village))
        if event.data.get("assignee"):
            people += list(get_user_model().objects.filter(username=event.data["assignee"]))
        _notify(people, Kind.BREACHED, task_id=event.task_id, instance_id=event.instance_id, task_name=name, subject=subject)


def warn_due_soon() -> int:
    """Each open task due within two hours warns its holder (or its role) once."""
    now = timezone.now()
    created = 0
    for task in selectors.open_tasks_due_between(now, now + WARN_BEFORE):
        people = (get_user_model().objects.filter(username=task.assignee) if task.assignee
                  else people_with_role(task.candidate_group, task.village))
        created += _notify(people, Kind.DUE_SOON, task_id=task.id, instance_id=task.instance_id,
                           task_name=task.name, subject=task.subject)
    return created


registry.register_periodic("warn_due_soon", warn_due_soon)
