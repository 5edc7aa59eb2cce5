"""Reads about tasks: the inbox and its tabs, one task as a user may see it, and what a task page
shows (its form, draft, the data a returned step starts from, the return notice, what it is about).
Indexed queries on the task rows; no workflow is deserialized except for one open task's page."""
from __future__ import annotations


import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from engine import catalog, clock, forms
from engine.errors import NotFound, NotPermitted
from engine.models import HumanTask, TaskStatus
from engine.people import display_name, role_label, sees_people
from engine.permissions import (
    SUPERVISING_ROLES, SYSTEM, can_hold, can_work_on, in_scope, is_system, supervises, user_groups, user_villages,
)
from engine.selectors.memo import remembered
from engine.types import FieldValue, Person, ReturnNotice, SubmittedForm, TaskInfo

DUE_SOON = dt.timedelta(hours=6)
TABS = ("mine", "group", "overdue", "done")
MAX_PAGE = 10_000  # deeper pages are refused as the last one: no one pages that far, and huge offsets overflow
User = get_user_model()


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
        named=row.named, context=row.context, assignee_label=_person_label(row), returned=row.returned,
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
    next_cursor: str = ""  # where the next page starts (keyset: a deep page costs what page 1 costs)
    prev_cursor: str = ""  # where the previous page ends


# Sort orders of the inbox: (field, descending). Every order ends in the primary key, so a position
# in it is one row; due_at alone may be empty (no deadline: those come last, by creation).
_ORDERS = {
    "due": (("due_at", False), ("created_at", False), ("id", False)),
    "created": (("created_at", True), ("id", True)),
    "done": (("completed_at", True), ("id", True)),
}


def inbox(user, *, tab: str = "mine", process_key: str = "", village: str = "", sla: str = "",
          order: str = "due", page: int = 1, per_page: int = 25, after: str = "", before: str = "") -> InboxPage:
    """One page of one inbox tab, filtered and sorted; one query for the rows (plus the user's
    groups and villages, each asked once per request). Pages go on from a cursor (`after` the last
    row of the page before, or `before` the first row of the page after), so page 50 reads 26 rows
    from the index as page 1 does; a bare page number (a typed address) still works by offset."""
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
    keys = _ORDERS["done" if tab == "done" else "created" if order == "created" else "due"]
    page = min(max(1, int(page or 1)), MAX_PAGE)
    qs = _annotated(qs)
    backwards = bool(before) and not after
    cursor = _decode_cursor(before if backwards else after, keys)
    if cursor is not None:
        rows = _keyset(qs, keys, cursor, per_page + 1, backwards=backwards)
        more = len(rows) > per_page
        rows = rows[:per_page]
        if backwards:
            rows.reverse()
        has_next, has_prev = (True, more) if backwards else (more, True)
        if backwards and not more:
            page = 1  # back at the top, whatever number the address carried
    else:
        page = 1 if (after or before) else page  # a cursor that does not parse starts again at the top
        offset = (page - 1) * per_page
        rows = list(qs.order_by(*_order_by(keys))[offset:offset + per_page + 1])
        has_next, has_prev = len(rows) > per_page, page > 1
        rows = rows[:per_page]
    return InboxPage(tab=tab, tasks=[_info(r) for r in rows], page=page, has_next=has_next and bool(rows),
                     next_cursor=_encode_cursor(rows[-1], keys) if rows and has_next else "",
                     prev_cursor=_encode_cursor(rows[0], keys) if rows and has_prev else "")


def _order_by(keys, *, backwards: bool = False) -> list:
    order = []
    for name, descending in keys:
        expr = F(name)
        nulls = ({"nulls_first": True} if backwards else {"nulls_last": True}) if name == "due_at" else {}
        order.append(expr.desc(**nulls) if descending != backwards else expr.asc(**nulls))
    return order


def _beyond(qs, keys, values, *, backwards: bool):
    """The rows of `qs` strictly beyond `values` in the order of `keys` (all non-empty; one
    direction): a row-value comparison, (due_at, created_at, id) > (%s, %s, %s), which the database
    reads as one range of the index that holds those columns in that order."""
    from django.db import connection

    quote = connection.ops.quote_name
    table = quote(HumanTask._meta.db_table)
    columns = ", ".join(f"{table}.{quote(HumanTask._meta.get_field(name).column)}" for name, _descending in keys)
    later = "<" if keys[0][1] != backwards else ">"
    placeholders = ", ".join(["%s"] * len(keys))
    # Raw parameters skip the fields' own conversion (SQLite stores datetimes as text in its own
    # format): prepare each as its field would.
    params = [HumanTask._meta.get_field(name).get_db_prep_value(value, connection)
              for (name, _descending), value in zip(keys, values)]
    return qs.extra(where=[f"({columns}) {later} ({placeholders})"], params=params)


def _keyset(qs, keys, cursor, limit: int, *, backwards: bool) -> list:
    """Up to `limit` rows beyond `cursor`, in the page's order (reversed when going back)."""
    order = _order_by(keys, backwards=backwards)
    if keys[0][0] != "due_at":
        return list(_beyond(qs, keys, cursor, backwards=backwards).order_by(*order)[:limit])
    # Rows without a deadline sort after every dated row: walk the dated part and the undated part
    # as two index ranges, never one OR the planner would have to sort.
    dated, undated = qs.filter(due_at__isnull=False), qs.filter(due_at__isnull=True)
    if cursor[0] is None:
        tail = _beyond(undated, keys[1:], cursor[1:], backwards=backwards)
        first, second = (tail, dated) if backwards else (tail, None)
    else:
        beyond = _beyond(dated, keys, cursor, backwards=backwards)
        first, second = (beyond, None) if backwards else (beyond, undated)
    rows = list(first.order_by(*order)[:limit])
    if second is not None and len(rows) < limit:
        rows += list(second.order_by(*order)[:limit - len(rows)])
    return rows


def _encode_cursor(row, keys) -> str:
    parts = []
    for name, _descending in keys:
        value = getattr(row, name)
        parts.append("" if value is None else value.isoformat() if isinstance(value, dt.datetime) else str(value))
    return "~".join(parts)


def _decode_cursor(text: str, keys):
    """The row position a cursor names, or None when it is missing or malformed."""
    if not text or len(text) > 200:
        return None
    parts = text.split("~")
    if len(parts) != len(keys):
        return None
    values = []
    try:
        for (name, _descending), part in zip(keys, parts):
            if name == "id":
                values.append(int(part))
            elif part == "" and name == "due_at":
                values.append(None)
            else:
                moment = dt.datetime.fromisoformat(part)
                if moment.tzinfo is None:
                    return None
                values.append(moment)
    except (ValueError, OverflowError):
        return None
    return values


def _task_visibility(user) -> Q:
    """The tasks a user may open: held, done, or of their role and villages (never a task routed to a
    named colleague); supervisors any task of their villages, to reassign it."""
    groups = user_groups(user)
    # A task routed to a named person (a reviewer of this panel) is theirs alone, never the group's.
    visible = Q(assignee=user) | (Q(candidate_group__in=groups, named=False) & _scope(user)) | Q(completed_by=user)
    if groups & SUPERVISING_ROLES:
        villages = user_villages(user)
        visible |= Q(pk__isnull=False) if villages is None else Q(village__in=villages) | Q(village="")
    return visible


def _task_reader(viewer, task_id) -> None:
    """The facade's own check before a read of one task: SYSTEM, or a signed-in user who may open it."""
    if is_system(viewer):
        return
    if viewer is None or not getattr(viewer, "is_active", False) or getattr(viewer, "pk", None) is None:
        raise NotPermitted(_("Sign in to read this task."))
    task_for_user(viewer, task_id)


@remembered
def task_for_user(user, task_id: int) -> TaskInfo:
    """The task if this user may act on it or did it, else NotFound (the same answer as a missing id)."""
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id}) from None
    row = _annotated(HumanTask.objects.filter(pk=task_id)).filter(_task_visibility(user)).first()
    if row is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    return _info(row)


@dataclass(frozen=True)
class VillageWork:
    open_by_process: dict  # process key -> open tasks the viewer may open in the village
    overdue: list  # TaskInfo, most overdue first (at most `limit`)
    overdue_count: int


def village_work(user, village: str, *, limit: int = 20) -> VillageWork:
    """The open work of one village that this user may open: counts by process, and what is overdue."""
    open_rows = HumanTask.objects.filter(status=TaskStatus.OPEN, village=village).filter(_task_visibility(user))
    counts = dict(open_rows.order_by().values_list("process_key").annotate(n=models.Count("pk")).values_list("process_key", "n"))
    late = open_rows.filter(due_at__lt=clock.now())
    rows = _annotated(late).order_by("due_at", "pk")[:limit]
    return VillageWork(counts, [_info(r) for r in rows], late.count())


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


def open_tasks_of_instances(*, instance_ids, bpmn_id: str) -> dict[int, TaskInfo]:
    """The open task of one element in each of several instances, in one query (a list of a child's
    joint visits shows whether each office is still within its deadline): instance id -> task."""
    rows = _annotated(HumanTask.objects.filter(instance_id__in=list(instance_ids), bpmn_id=bpmn_id, status=TaskStatus.OPEN)).order_by("pk")
    return {r.instance_id: _info(r) for r in rows}


@remembered
def task_row(task_id) -> HumanTask:
    try:
        return (HumanTask.objects.select_related("assignee", "completed_by", "instance").defer("instance__state")
                .get(pk=int(task_id)))
    except (HumanTask.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id}) from None


def task_form(*, task_id: int, viewer) -> dict | None:
    """The form of a task, for a viewer who may open the task (NotFound otherwise)."""
    _task_reader(viewer, task_id)
    row = task_row(task_id)  # NotFound for a missing id; on a page, the row its other reads share
    return catalog.definition(row.instance.definition_id).form(row.bpmn_id)


def may_complete(*, user, task: TaskInfo) -> bool:
    """Whether the task page should offer this user the form (the facade checks again on submit)."""
    if task.status != TaskStatus.OPEN or user is None or not user.is_active:
        return False
    if task.assignee:
        return task.assignee == user.get_username()
    return task.candidate_group in user_groups(user) and in_scope(user, task.village)


def can_supervise(*, user, village: str) -> bool:
    """May assign, cancel and share this village's cases."""
    return supervises(user, village)


def task_draft(*, task_id: int, viewer) -> dict:
    """The draft saved on an open task: only for whoever may complete it — its holder, or anyone of
    its role and village while nobody holds it (NotPermitted for others who may open the task,
    NotFound for the rest)."""
    row = task_row(task_id)
    if not is_system(viewer) and row.status != TaskStatus.OPEN:
        # Completed meanwhile (by someone else a moment ago): nobody works on it now, so there is no
        # draft to read; the page's submit then answers "no longer open" instead of failing here.
        _task_reader(viewer, task_id)
        return {}
    if not is_system(viewer) and not can_work_on(viewer, row):
        _task_reader(viewer, task_id)
        raise NotPermitted(_("This draft is not yours to read."))
    return row.draft_data or {}


def task_variables(*, task_id: int) -> dict:
    """The workflow data the open task sees (for option lists that depend on the case, such as the
    household's members). Reads the instance's state; pages call it once per task page."""
    from engine.spiff import runtime

    row = HumanTask.objects.filter(pk=task_id, status=TaskStatus.OPEN).select_related("instance").first()
    if row is None:
        return {}
    variables = runtime.read_task_data(row)
    return {**variables, "__labels__": forms.variable_labels(catalog.definition(row.instance.definition_id).forms)}


def previous_submission(*, task_id: int, viewer=None) -> dict:
    """When a step comes back round (a returned application, a returned plan), what was submitted
    last time at the same step of the same case — the form starts from it, not empty. Only for a
    step that was returned (it has a return notice): a decision or a follow-up that simply comes
    round again starts empty, or last round's "return" would be one tap from being chosen again.

    Only a round that ended before this task began counts (never a fellow panel member's review
    submitted meanwhile), and a task routed to a named person or a sealed form is prefilled only
    from that person's own earlier submission."""
    row = task_row(task_id)
    if return_notice(task_id=task_id, viewer=viewer) is None:
        return {}  # a step that simply comes round again (the next follow-up, a second decision) starts empty
    earlier = (HumanTask.objects.filter(instance_id=row.instance_id, bpmn_id=row.bpmn_id, status=TaskStatus.COMPLETED,
                                        completed_at__lte=row.created_at)
               .exclude(pk=row.pk).order_by("-completed_at", "-pk").first())
    if earlier is None:
        return {}
    form = _definition_of(row).forms
    personal = row.named or forms.sealed(form.get(row.bpmn_id))
    if personal and (viewer is None or earlier.completed_by_id != viewer.pk):
        return {}
    return dict(earlier.form_data or {})


@remembered
def return_notice(*, task_id: int, viewer) -> ReturnNotice | None:
    """Why this step is back: the latest step completed after this step's previous round whose form
    marks fields `shown_on_return` (the reasons of a completeness check, a supervisor's comments)."""
    row = task_row(task_id)
    if row.named:  # a panel member's own review is never "returned"
        return None
    previous = (HumanTask.objects.filter(instance_id=row.instance_id, bpmn_id=row.bpmn_id, status=TaskStatus.COMPLETED,
                                         completed_at__lte=row.created_at)
                .exclude(pk=row.pk).order_by("-completed_at", "-pk").first())
    if previous is None:
        return None
    definition_forms = _definition_of(row).forms
    groups = user_groups(viewer)
    later = (HumanTask.objects.filter(instance_id=row.instance_id, status=TaskStatus.COMPLETED, completed_at__gte=previous.completed_at)
             .exclude(pk=previous.pk).select_related("completed_by").order_by("-completed_at", "-pk"))
    for returning in later:
        form = definition_forms.get(returning.bpmn_id) or {}
        if not forms.visible_to(form, groups) or returning.completed_at > row.created_at:
            continue
        shown = [c for c in forms.return_fields(form) if forms.field_visible_to(c, groups)
                 and (returning.form_data or {}).get(c["key"]) not in (None, "", [])]
        if shown:
            values = [FieldValue(c["key"], forms.field_label(c), forms.display_value(c, returning.form_data[c["key"]]), False)
                      for c in shown]
            by = display_name(returning.completed_by) if sees_people(viewer) else role_label(returning.candidate_group)
            return ReturnNotice(returning.name, by, returning.completed_at, values)
    return None


def focus_forms(*, task_id: int, viewer) -> list[SubmittedForm]:
    """What a task is about, shown open above its form: the latest submission of each step the
    diagram names in `review_of` (a review shows the application, an approval the plan), or else
    of the step done just before this task began — as this viewer may read them."""
    row = task_row(task_id)
    user_tasks = _definition_of(row).user_tasks
    wanted = [i for i in str(((user_tasks.get(row.bpmn_id) or {}).get("properties") or {}).get("review_of", "")).split(",") if i]
    from engine.selectors.cases import submitted_forms

    earlier = [f for f in submitted_forms(instance_id=row.instance_id, viewer=SYSTEM if viewer is None else viewer)
               if not f.superseded and f.completed_at <= row.created_at and f.bpmn_id != row.bpmn_id]
    if wanted:
        return [f for f in earlier if f.bpmn_id in wanted]
    return earlier[-1:]


def eligible_assignees(*, task_id: int, actor) -> list[Person]:
    """Who a supervisor may give this task to: people of its role in the whole station (those of
    the task's village first), and the supervisor themselves."""
    row = task_row(task_id)
    if actor is None or not supervises(actor, row.village):
        return []
    people = User.objects.filter(is_active=True).filter(Q(groups__name=row.candidate_group) | Q(pk=actor.pk)).distinct().order_by("username")
    result = []
    for person in people:
        if person.pk == row.assignee_id or not can_hold(person, row, any_village=True):
            continue
        note = "" if in_scope(person, row.village) else _("another village")
        result.append(Person(person.get_username(), display_name(person), note))
    result.sort(key=lambda p: (bool(p.note), p.label))
    return result




def _definition_of(row: HumanTask) -> catalog.Definition:
    return catalog.definition(row.instance.definition_id)
