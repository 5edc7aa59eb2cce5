"""Reads for lists and pages: indexed queries on the task rows, never a workflow deserialized, and
a fixed number of queries per page. The one rule for what a user may see lives here
(`visible_instances`): their villages and processes they have a role in, tasks they hold or did,
and explicit shares (django-guardian grants on the instance)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from engine import clock
from engine.api import InstanceInfo, TaskInfo, get_instance
from engine.errors import NotFound
from engine.models import (
    HumanTask, InstanceGroupObjectPermission, InstanceUserObjectPermission, ProcessDefinition, ProcessInstance, TaskStatus,
)
from engine.permissions import SUPERVISING_ROLES, user_groups, user_villages

DUE_SOON = dt.timedelta(hours=6)
TABS = ("mine", "group", "overdue", "done")
MAX_PAGE = 10_000  # deeper pages are refused as the last one: no one pages that far, and huge offsets overflow


def _scope(user) -> Q:
    villages = user_villages(user)
    return Q() if villages is None else Q(village__in=villages) | Q(village="")


def _claimable(user) -> Q:
    return Q(assignee__isnull=True, candidate_group__in=user_groups(user)) & _scope(user)


def _annotated(qs: QuerySet[HumanTask]) -> QuerySet[HumanTask]:
    # Names through joins on small tables; never the instance's state column.
    return qs.defer("form_data", "draft_data").annotate(
        subject=F("instance__subject"), assignee_name=F("assignee__username"), completed_by_name=F("completed_by__username"),
        assignee_first=F("assignee__first_name"), assignee_last=F("assignee__last_name"),
    )


def open_tasks_for_user(user) -> QuerySet[HumanTask]:
    """Open tasks the user may act on: assigned to them, or unassigned in their role and villages."""
    return (
        _annotated(HumanTask.objects.filter(status=TaskStatus.OPEN).filter(Q(assignee=user) | _claimable(user)))
        .order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")
    )


def tasks_for_user(user, *, limit: int = 100) -> list[TaskInfo]:
    return [_info(r) for r in open_tasks_for_user(user)[:limit]]


def _info(row: HumanTask) -> TaskInfo:
    return TaskInfo(
        id=row.pk, instance_id=row.instance_id, process_key=row.process_key, bpmn_id=row.bpmn_id, name=row.name,
        lane=row.lane, candidate_group=row.candidate_group, assignee=row.assignee_name, status=row.status,
        village=row.village, subject=row.subject or "", created_at=row.created_at, due_at=row.due_at,
        sla_breached_at=row.sla_breached_at, completed_by=row.completed_by_name, completed_at=row.completed_at,
        named=row.named, context=row.context, assignee_label=_person_label(row),
    )


def _person_label(row) -> str | None:
    """The holder's display name, as engine.api.display_name writes it (full name, first name, username)."""
    if not row.assignee_name:
        return None
    full = f"{row.assignee_first or ''} {row.assignee_last or ''}".strip()
    return full or row.assignee_name


@dataclass(frozen=True)
class InboxPage:
    tab: str
    tasks: list[TaskInfo]
    page: int
    has_next: bool


def inbox(user, *, tab: str = "mine", process_key: str = "", village: str = "", sla: str = "",
          order: str = "due", page: int = 1, per_page: int = 25) -> InboxPage:
    """One page of one inbox tab, filtered and sorted; one query for the rows (plus the user's
    groups and villages, each asked once per request)."""
    if tab not in TABS:
        tab = "mine"
    now = clock.now()
    if tab == "done":
        qs = HumanTask.objects.filter(status=TaskStatus.COMPLETED, completed_by=user)
    else:
        qs = HumanTask.objects.filter(status=TaskStatus.OPEN)
        if tab == "mine":
            qs = qs.filter(assignee=user)
        elif tab == "group":
            qs = qs.filter(_claimable(user))
        else:
            qs = qs.filter(Q(assignee=user) | _claimable(user)).filter(due_at__lt=now)
    if process_key:
        qs = qs.filter(process_key=process_key)
    if village:
        qs = qs.filter(village=village)
    if sla == "overdue":
        qs = qs.filter(due_at__lt=now)
    elif sla == "due_soon":
        qs = qs.filter(due_at__gte=now, due_at__lt=now + DUE_SOON)
    elif sla == "on_time":
        qs = qs.filter(Q(due_at__isnull=True) | Q(due_at__gte=now + DUE_SOON))
    if tab == "done":
        qs = qs.order_by("-completed_at", "-pk")
    elif order == "created":
        qs = qs.order_by("-created_at", "-pk")
    else:
        qs = qs.order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")
    page = min(max(1, int(page or 1)), MAX_PAGE)
    offset = (page - 1) * per_page
    rows = list(_annotated(qs)[offset:offset + per_page + 1])
    return InboxPage(tab=tab, tasks=[_info(r) for r in rows[:per_page]], page=page, has_next=len(rows) > per_page)


def task_for_user(user, task_id: int) -> TaskInfo:
    """The task if this user may act on it or did it, else NotFound (the same answer as a missing id)."""
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id}) from None
    groups = user_groups(user)
    # A task routed to a named person (a reviewer of this panel) is theirs alone, never the group's.
    visible = Q(assignee=user) | (Q(candidate_group__in=groups, named=False) & _scope(user)) | Q(completed_by=user)
    if groups & SUPERVISING_ROLES:  # supervisors open any task of their villages, to reassign it
        villages = user_villages(user)
        visible |= Q(pk__isnull=False) if villages is None else Q(village__in=villages) | Q(village="")
    row = _annotated(HumanTask.objects.filter(pk=task_id)).filter(visible).first()
    if row is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    return _info(row)


def _process_keys_with_role(groups: set[str]) -> set[str]:
    keys = set()
    for key, user_tasks, start_group in ProcessDefinition.objects.values_list("key", "user_tasks", "start_group"):
        if start_group in groups or any(t.get("candidate_group") in groups for t in user_tasks.values()):
            keys.add(key)
    return keys


def visible_instances(user) -> QuerySet[ProcessInstance]:
    """Every instance this user may open. Admins see all; others see their villages' instances of
    processes they have a role in, instances where they hold or did a task, and explicit shares."""
    if user is None or not user.is_active:
        return ProcessInstance.objects.none()
    groups = user_groups(user)
    if "admin" in groups:
        return ProcessInstance.objects.all()
    involved = HumanTask.objects.filter(instance=OuterRef("pk")).filter(Q(assignee=user) | Q(completed_by=user))
    shared_user = InstanceUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="view_processinstance")
    shared_group = InstanceGroupObjectPermission.objects.filter(
        content_object=OuterRef("pk"), group__user=user, permission__codename="view_processinstance")
    from django.conf import settings

    village_roles = groups - set(getattr(settings, "CASEFLOW_INVOLVEMENT_ONLY_ROLES", ()))
    by_role = Q(process_key__in=_process_keys_with_role(village_roles)) & _scope(user)
    return ProcessInstance.objects.filter(by_role | Exists(involved) | Exists(shared_user) | Exists(shared_group))


def instance_for_user(user, instance_id) -> InstanceInfo:
    """The instance (status, open tasks, history) if visible to the user, else NotFound."""
    try:
        instance_id = int(instance_id)
    except (TypeError, ValueError):
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id}) from None
    if not visible_instances(user).filter(pk=instance_id).exists():
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    return get_instance(instance_id=instance_id, viewer=user)


def overdue_tasks() -> QuerySet[HumanTask]:
    return HumanTask.objects.filter(status=TaskStatus.OPEN, due_at__lt=clock.now()).order_by("due_at")


def open_tasks_due_between(start: dt.datetime, end: dt.datetime, *, limit: int = 1000) -> list[TaskInfo]:
    rows = _annotated(HumanTask.objects.filter(status=TaskStatus.OPEN, due_at__gte=start, due_at__lt=end)).order_by("due_at")[:limit]
    return [_info(r) for r in rows]


def open_task_count(*, instance_id: int, bpmn_id: str) -> int:
    return HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status=TaskStatus.OPEN).count()


def open_tasks_of(*, instance_id: int, bpmn_id: str) -> list[TaskInfo]:
    """The open tasks of one element of one instance (a summary names who holds the response)."""
    rows = _annotated(HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status=TaskStatus.OPEN)).order_by("pk")
    return [_info(r) for r in rows]
