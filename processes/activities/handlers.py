"""Hooks and option lists of the activities process. The start form plans a session; the session's
attendance is either the roster's members ticked present or plain counts; the supervisor approves
or returns it. The records here are what the station's yearly figures count."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import ExtractMonth
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from engine import clock, registry
from engine.errors import FormInvalid

from . import access
from .models import Activity, ActivityKind, ActivityPhoto, ActivityStatus, Attendance, Roster, RosterMember

KEY = "activities"
# How far from today a session may be planned or recorded: a typo of a year is refused, not kept.
PLANNING_HORIZON = dt.timedelta(days=366)


def rosters(user) -> list[tuple[str, str]]:
    """The open groups the user runs (ADR 0041): a session of a group is planned by those who take its attendance."""
    villages = registry.villages_for(user) if user is not None else set()
    query = Roster.objects.filter(active=True)
    if villages is not None:
        query = query.filter(village__in=villages)
    return [(str(r.pk), r.name) for r in access.run_by(user, query.order_by("village", "name"))]


def roster_members(user, variables) -> list[tuple[str, str]]:
    """The roster's active members, by number: attendance names a member, never a typed name. Named
    only to those who run the group (ADR 0041); anyone else is offered nobody."""
    roster_id = (variables or {}).get("roster_id")
    roster = Roster.objects.filter(pk=roster_id).first() if roster_id else None
    if roster is None or not access.runs(user, roster):
        return []
    members = roster.members.filter(active=True).order_by("pk")
    return [(str(m.pk), m.name) for m in members]


def photos_uploaded(user, since) -> int:
    """Bytes of session photos the user added since then: part of their daily upload quota."""
    if getattr(user, "pk", None) is None:
        return 0
    return ActivityPhoto.objects.filter(uploaded_by=user, uploaded_at__gte=since).aggregate(n=Sum("size"))["n"] or 0


registry.register_upload_usage(photos_uploaded)
registry.register_view_labels({"roster": pgettext_lazy("access log", "standing group's members"),
                               "activity_photo": pgettext_lazy("access log", "activity photo")})
registry.register_option_source("activity_rosters", rosters)
registry.register_option_source("roster_members", roster_members)
# What the start hook puts into the workflow's data, for deploy's check of the gateway's condition.
registry.register_variables(KEY, {"has_roster", "roster_id", "activity_id"})


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


@registry.on_start(KEY)
def plan_session(ctx, data):
    errors: dict[str, list[str]] = {}
    held_on = _date(data["held_on"])
    today = clock.today()
    if abs(held_on - today) > PLANNING_HORIZON:
        errors["held_on"] = [_("Give a date within a year of today.")]
    villages = registry.villages_for(ctx.actor) if ctx.actor is not None else None
    if villages is not None and data["village"] not in villages:
        errors["village"] = [_("You can plan sessions only in your own villages.")]
    roster = None
    if data.get("roster"):
        roster = Roster.objects.filter(pk=int(data["roster"]), active=True).first()
        if roster is None or roster.village != data["village"]:
            errors["roster"] = [_("Choose a group of the same village.")]
        elif not access.runs(ctx.actor, roster):
            errors["roster"] = [_("Only the workers who run this group and the village's supervisors plan its sessions.")]
    if errors:
        raise FormInvalid(errors)
    activity = Activity.objects.create(
        instance_id=ctx.instance_id, kind=data["kind"], title=data["title"], village=data["village"], place=data["place"],
        held_on=held_on, facilitator=data["facilitator"], partner=data.get("partner") or "", roster=roster)
    ctx.set_subject(f"{held_on:%m-%d} {activity.title}")
    ctx.set_village(activity.village)
    ctx.set_variable("activity_id", activity.pk)
    ctx.set_variable("has_roster", roster is not None)
    ctx.set_variable("roster_id", roster.pk if roster else None)


def _held(activity: Activity, field: str) -> None:
    if activity.held_on > clock.today():
        raise FormInvalid({field: [_("This session is planned for %(date)s: record it once it has taken place.") % {
            "date": activity.held_on.isoformat()}]})


@registry.on_task_completed(KEY, "Task_Attendance")
def record_attendance(ctx, data):
    activity = Activity.objects.select_for_update().get(instance_id=ctx.instance_id)
    if activity.roster is not None and not access.runs(ctx.actor, activity.roster):
        raise FormInvalid({"present": [_("Only the workers who run this group and the village's supervisors take its attendance.")]})
    _held(activity, "present")
    ids = {int(v) for v in data.get("present") or []}
    members = list(RosterMember.objects.filter(roster_id=activity.roster_id, pk__in=ids))
    if len(members) != len(ids):
        raise FormInvalid({"present": [_("Someone ticked is not in this group any more; reload the page.")]})
    with transaction.atomic():
        activity.attendance.all().delete()  # a returned record is recorded again, not added to
        Attendance.objects.bulk_create([Attendance(activity=activity, member=m) for m in members])
    activity.participants = len(members)
    activity.children = sum(1 for m in members if m.minor)
    _recorded(activity)


@registry.on_task_completed(KEY, "Task_Counts")
def record_counts(ctx, data):
    activity = Activity.objects.select_for_update().get(instance_id=ctx.instance_id)
    _held(activity, "participants")
    participants, children = int(data["participants"]), int(data.get("children") or 0)
    if children > participants:
        raise FormInvalid({"children": [_("There cannot be more children than participants.")]})
    activity.participants, activity.children = participants, children
    _recorded(activity)


def _recorded(activity: Activity) -> None:
    activity.status = ActivityStatus.RECORDED
    activity.recorded_at = clock.now()
    activity.save(update_fields=["participants", "children", "status", "recorded_at"])


@registry.on_task_completed(KEY, "Task_Review")
def review(ctx, data):
    if data["decision"] == "approve":
        Activity.objects.filter(instance_id=ctx.instance_id).update(status=ActivityStatus.APPROVED, approved_at=clock.now())
    else:
        Activity.objects.filter(instance_id=ctx.instance_id).update(status=ActivityStatus.PLANNED, approved_at=None)


# -- the station's year: what the activities count towards the work plan's targets ---------------

def _approved(year: int, villages, **filters):
    query = Activity.objects.filter(status=ActivityStatus.APPROVED, held_on__year=year, **filters)
    return query if villages is None else query.filter(village__in=villages)


def _counted(kind: str, measure):
    def compute(year: int, villages) -> registry.FigureValues:
        query = _approved(year, villages, kind=kind)
        by_month = {m: v or 0 for m, v in query.annotate(m=ExtractMonth("held_on")).values("m").annotate(v=measure).values_list("m", "v")}
        by_village = {code: v or 0 for code, v in query.values("village").annotate(v=measure).values_list("village", "v")}
        return registry.FigureValues(sum(by_month.values()), by_month, by_village)
    return compute


def _points(year: int, villages) -> registry.FigureValues:
    """After-school points at work: groups that held an approved class (in the year, in each month)."""
    query = _approved(year, villages, kind=ActivityKind.AFTER_SCHOOL, roster__isnull=False)
    by_month = {m: n for m, n in query.annotate(m=ExtractMonth("held_on")).values("m").annotate(
        n=Count("roster", distinct=True)).values_list("m", "n")}
    by_village = {code: n for code, n in query.values("village").annotate(n=Count("roster", distinct=True)).values_list("village", "n")}
    return registry.FigureValues(query.values("roster").distinct().count(), by_month, by_village)


for order, (code, label, unit, compute, drill) in enumerate([
        ("activities.awareness_sessions", gettext_lazy("Child-protection awareness sessions"), gettext_lazy("sessions held"),
         _counted(ActivityKind.AWARENESS, Count("pk")), "activities?kind=awareness"),
        ("activities.trainings", gettext_lazy("Skills trainings"), gettext_lazy("sessions held"),
         _counted(ActivityKind.TRAINING, Count("pk")), "activities?kind=training"),
        ("activities.training_people", gettext_lazy("People trained"), gettext_lazy("person-times"),
         _counted(ActivityKind.TRAINING, Sum("participants")), "activities?kind=training"),
        ("activities.after_school_points", gettext_lazy("After-school points at work"), gettext_lazy("points"),
         _points, "activities?kind=after_school"),
        ("activities.coaching_sessions", gettext_lazy("Coaching of community organisations"), gettext_lazy("sessions held"),
         _counted(ActivityKind.COACHING, Count("pk")), "activities?kind=coaching"),
]):
    registry.register_figure(registry.Figure(code=code, label=label, unit=unit, compute=compute, drill=drill, order=20 + order))


# -- on a household's page -----------------------------------------------------------------------------

def household_facet(person_key: str, viewer) -> list[tuple[str, str]]:
    """On a household's page ("household:<number>"): each member of a standing group linked to the
    household, with the approved sessions they attended this year and the last one — for staff of the
    group's village, on the household's page, which names the household's people behind its own gate."""
    kind, _sep, number = person_key.partition(":")
    if kind != "household" or not number or viewer is None or not getattr(viewer, "is_active", False):
        return []
    if not (viewer.is_superuser or set(viewer.groups.values_list("name", flat=True)) & {"worker", "supervisor", "admin"}):
        return []
    villages = registry.villages_for(viewer)
    members = RosterMember.objects.filter(household_code__isnull=False).select_related("roster").order_by("roster__name", "pk")
    if villages is not None:
        members = members.filter(roster__village__in=villages)
    rows = []
    year = clock.today().year
    for member in members:
        if member.household_code != number:  # encrypted: compared in Python, within the viewer's villages
            continue
        attended = Activity.objects.filter(attendance__member=member, status=ActivityStatus.APPROVED, held_on__year=year)
        last = attended.order_by("-held_on").values_list("held_on", flat=True).first()
        rows.append((_("Activities"), ngettext("%(name)s, %(group)s: %(n)d session attended in %(year)d%(last)s",
                                               "%(name)s, %(group)s: %(n)d sessions attended in %(year)d%(last)s", attended.count()) % {
            "name": member.name, "group": member.roster.name, "n": attended.count(), "year": year,
            "last": (_(", the last on %(date)s") % {"date": last.isoformat()}) if last else ""}))
    return rows


registry.register_person_facet(household_facet)
