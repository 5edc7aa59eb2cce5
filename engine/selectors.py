"""Reads for lists and pages: indexed queries on the task rows, never a workflow deserialized."""
from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from engine import clock
from engine.api import TaskInfo, user_groups
from engine.errors import NotFound
from engine.models import HumanTask, TaskStatus


def open_tasks_for_user(user) -> QuerySet[HumanTask]:
    """Open tasks the user may act on: assigned to them, or unassigned in one of their groups."""
    groups = user_groups(user)
    return (
        HumanTask.objects.filter(status=TaskStatus.OPEN)
        .filter(Q(assignee=user) | Q(assignee__isnull=True, candidate_group__in=groups))
        .select_related("assignee", "instance")
        .order_by("due_at", "created_at", "pk")
    )


def tasks_for_user(user, *, limit: int = 100) -> list[TaskInfo]:
    rows = open_tasks_for_user(user)[:limit]
    return [TaskInfo.from_row(r, r.instance.subject) for r in rows]


def task_for_user(user, task_id: int) -> TaskInfo:
    """The task if this user may see it, else NotFound (the same answer as for a missing id)."""
    groups = user_groups(user)
    row = (
        HumanTask.objects.filter(pk=task_id)
        .filter(Q(assignee=user) | Q(candidate_group__in=groups) | Q(completed_by=user))
        .select_related("assignee", "completed_by", "instance")
        .first()
    )
    if row is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    return TaskInfo.from_row(row, row.instance.subject)


def overdue_tasks() -> QuerySet[HumanTask]:
    return HumanTask.objects.filter(status=TaskStatus.OPEN, due_at__lt=clock.now()).order_by("due_at")
