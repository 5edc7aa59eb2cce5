"""Turn engine events into notifications for the people concerned, in the step's (or the deadline
warning's) transaction. A step's events are handled together, in one INSERT … SELECT that finds the
people concerned and writes their notices (a repeat is dropped by the unique (user, kind, task,
percent) constraint). Deadline warnings are the engine's (`sla_warning` events from engine/api/sla.py): the
holder is told — the assignee, or the task's role in its village."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from engine import registry

from .models import Kind, Notification


def people_with_role(group: str, village: str):
    """Who may work on a task of this role and village (a task without a village: everyone of the role)."""
    people = get_user_model().objects.filter(is_active=True, groups__name=group)
    if village:
        people = people.filter(Q(staff_profile__township_wide=True) | Q(staff_profile__villages__code=village))
    return people.distinct()


def _wanted(events: list[registry.EngineEvent]) -> list[tuple]:
    """(event, kind, group or "", user id or None, username or "") for each event that notifies
    someone: a named person (by id or username), and/or everyone of a role in the event's village."""
    wanted = []
    for event in events:
        data = event.data or {}
        if event.kind == "task_ready" and data.get("assignee"):
            if data["assignee"] == event.actor_name:
                continue  # their own next step: they are taken to it, no notice needed
            kind = Kind.RETURNED if data.get("returned") else Kind.NEW_TASK
            wanted.append((event, kind, "", event.assignee_id, data["assignee"]))
        elif event.kind == "task_ready" and data.get("candidate_group"):
            kind = Kind.RETURNED if data.get("returned") else Kind.NEW_TASK
            wanted.append((event, kind, data["candidate_group"], None, ""))
        elif event.kind == "assigned" and data.get("assignee"):
            wanted.append((event, Kind.ASSIGNED, "", None, data["assignee"]))
        elif event.kind == "notice" and data.get("to"):  # StepContext.notify: one named person
            wanted.append((event, Kind.BREACHED if data.get("overdue") else Kind.NOTICE, "", None, str(data["to"])))
        elif event.kind == "escalated":
            wanted.append((event, Kind.BREACHED, "supervisor", None, data.get("assignee") or ""))
        elif event.kind == "sla_warning" and (event.assignee_id or data.get("assignee")):
            wanted.append((event, Kind.DUE_SOON, "", event.assignee_id, data.get("assignee") or ""))
        elif event.kind == "sla_warning" and data.get("candidate_group"):
            wanted.append((event, Kind.DUE_SOON, data["candidate_group"], None, ""))
    return wanted


# One SELECT per notice wanted, joined by UNION ALL into one INSERT: the active people it names (by
# id or username) and, for a role, the active members of the role who work in the event's village
# (or township-wide; a notice without a village reaches the whole role). Repeats — the same person
# twice, or a notice already given — are dropped by the unique (user, kind, task, percent) constraint.
_ONE = """SELECT u.id, CAST(%s AS varchar(16)), CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS varchar(200)),
 CAST(%s AS varchar(200)), CAST(%s AS integer), CAST(%s AS {timestamp}), CAST(NULL AS {timestamp}), CAST(%s AS varchar(200))
 FROM auth_user u WHERE u.is_active AND (u.id = CAST(%s AS bigint) OR u.username = %s OR (
  u.id IN (SELECT ug.user_id FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id WHERE g.name = %s)
  AND (%s = '' OR u.id IN (SELECT sp.user_id FROM accounts_staffprofile sp WHERE sp.township_wide)
       OR u.id IN (SELECT sp.user_id FROM accounts_staffprofile sp
                   JOIN accounts_staffprofile_villages spv ON spv.staffprofile_id = sp.id
                   JOIN accounts_village v ON v.id = spv.village_id WHERE v.code = %s))))"""


def _link(event: registry.EngineEvent) -> str:
    """Where a process's notice leads (StepContext.notify's `link`): a path of this site, or nothing."""
    link = str((event.data or {}).get("link") or "") if event.kind == "notice" else ""
    # "//host" and "/\\host" are other sites to a browser.
    return link if link.startswith("/") and not link.startswith("//") and "\\" not in link and len(link) <= 200 else ""


def _insert_sql(connection, count: int) -> str:
    cache = connection.__dict__.setdefault("_caseflow_compiled", {})
    key = (Notification, "notify", count)
    sql = cache.get(key)
    if sql is None:
        from django.db.models.constants import OnConflict

        quote, ops = connection.ops.quote_name, connection.ops
        timestamp = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
        columns = ["user_id", "kind", "task_id", "instance_id", "task_name", "subject", "percent", "created_at", "read_at", "link"]
        fields = [Notification._meta.get_field(name.removesuffix("_id") if name == "user_id" else name) for name in columns]
        select = " UNION ALL ".join([_ONE.format(timestamp=timestamp)] * count)
        sql = (f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} {quote(Notification._meta.db_table)} "
               f"({', '.join(quote(f.column) for f in fields)}) {select} "
               f"{ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None)}").rstrip()
        sql = cache.setdefault(key, sql)
    return sql


@registry.on_events
def notify_on_engine_events(events: list[registry.EngineEvent]) -> list[tuple[str, list]]:
    """The notices of a step's (or a sweep batch's) events: one INSERT … SELECT that finds the people
    concerned and writes their notices, on the step's hot path (no query to read the people first).
    Handed back to the engine, which makes it with the step's save."""
    wanted = _wanted(events)
    if not wanted:
        return []
    connection = connections["default"]
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    params = []
    for event, kind, group, user_id, username in wanted:
        data = event.data or {}
        percent = int(data.get("percent") or 0) if event.kind == "sla_warning" else 0
        params += [str(kind), event.task_id, event.instance_id, str(data.get("task") or event.bpmn_id)[:200],
                   (event.subject or "")[:200], percent, created_at, _link(event),
                   user_id, username, group, event.village or "", event.village or ""]
    return [(_insert_sql(connection, len(wanted)), params)]
