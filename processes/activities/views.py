"""The activities' own pages: the sessions of the user's villages with this year's totals by kind,
and the standing groups (an after-school point's class) with their members.

Group members are mostly children: staff only (worker, supervisor, admin), each within their own
villages, anything else a 404 — even a guessed id. A group's members are named only to those who run
it (access.runs: its workers, the village's supervisors; ADR 0041), and only they change it; each view
of its names is logged. Other staff of the village see the group, its size and its sessions."""
from __future__ import annotations

import datetime as dt
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.core.files.base import ContentFile
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from engine import api, clock, registry
from engine.station import AccessLog, Village

from . import access
from .models import Activity, ActivityKind, ActivityPhoto, Roster, RosterMember

KEY = "activities"
STAFF_ROLES = ("worker", "supervisor", "admin")
PAGE_SIZE = 50
NAME_MAX = 50


def _scope(user) -> set[str] | None:
    """The villages this user may see (None: the whole township); a 404 for anyone not staff."""
    if not (user.is_superuser or user.groups.filter(name__in=STAFF_ROLES).exists()):
        raise Http404(_("No such page, or not yours to see."))
    return registry.villages_for(user)


def _in(query, villages: set[str] | None):
    return query if villages is None else query.filter(village__in=villages)


def _village_choices(villages: set[str] | None) -> list[tuple[str, str]]:
    query = Village.objects.all() if villages is None else Village.objects.filter(code__in=villages)
    return list(query.order_by("position", "code").values_list("code", "name"))


def _month(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(f"{text}-01") if text else None
    except ValueError:
        return None


@login_required
def activity_list(request):
    villages = _scope(request.user)
    choices = _village_choices(villages)
    village = request.GET.get("village", "")
    if village not in {code for code, _name in choices}:
        village = ""
    kind = request.GET.get("kind", "")
    if kind not in ActivityKind.values:
        kind = ""
    month = _month(request.GET.get("month", ""))
    year_asked = request.GET.get("year", "")
    year_only = int(year_asked) if year_asked.isdigit() and 2000 <= int(year_asked) <= 2100 and not month else None
    query = _in(Activity.objects.all(), villages)
    if village:
        query = query.filter(village=village)
    year = year_only or (month or clock.today()).year
    totals = {row["kind"]: row for row in query.filter(held_on__year=year).values("kind").annotate(
        sessions=Count("pk"), done=Count("pk", filter=Q(status="approved")), people=Sum("participants", filter=Q(status="approved")))}
    if kind:
        query = query.filter(kind=kind)
    if month:
        query = query.filter(held_on__year=month.year, held_on__month=month.month)
    elif year_only:
        query = query.filter(held_on__year=year_only)
    page = Paginator(query.order_by("-held_on", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    names = dict(Village.objects.values_list("code", "name"))
    params = "&".join(f"{k}={v}" for k, v in (("village", village), ("kind", kind), ("month", request.GET.get("month", "") if month else ""),
                                                  ("year", year_only or "")) if v)
    return render(request, "activities/list.html", {
        "page": page, "village": village, "kind": kind, "month": f"{month:%Y-%m}" if month else "", "year": year,
        "village_choices": choices, "kinds": ActivityKind.choices, "village_names": names, "query": params,
        "totals": [(label, totals.get(code, {})) for code, label in ActivityKind.choices],
    })


@login_required
@require_http_methods(["GET", "POST"])
def roster_list(request):
    villages = _scope(request.user)
    choices = _village_choices(villages)
    errors: dict[str, str] = {}
    typed = {"name": "", "village": "", "kind": ActivityKind.AFTER_SCHOOL}
    if request.method == "POST" and not access.may_edit(request.user):
        return _refused(request, _("Only the village's workers and supervisors start a group."))
    if request.method == "POST":
        typed = {k: request.POST.get(k, "").strip() for k in typed}
        if not typed["name"] or len(typed["name"]) > 60:
            errors["name"] = _("Give the group a name of at most 60 characters.")
        if typed["village"] not in {code for code, _name in choices}:
            errors["village"] = _("Choose one of your villages.")
        if typed["kind"] not in ActivityKind.values:
            errors["kind"] = _("Choose a kind.")
        if not errors:
            try:
                with transaction.atomic():
                    roster = Roster.objects.create(name=typed["name"], village=typed["village"], kind=typed["kind"])
                    roster.workers.add(request.user)  # its creator runs it, until a supervisor hands it over
            except IntegrityError:
                errors["name"] = _("This village already has a group of that name.")
            else:
                messages.success(request, _("Group created. Add its members."))
                return redirect("activity-roster", roster.pk)
    rosters = _in(Roster.objects.all(), villages).annotate(
        size=Count("members", filter=Q(members__active=True))).order_by("-active", "village", "name")
    return render(request, "activities/rosters.html", {
        "rosters": rosters, "village_choices": choices, "kinds": ActivityKind.choices, "errors": errors, "typed": typed,
        "village_names": dict(Village.objects.values_list("code", "name")), "may_edit": access.may_edit(request.user),
    }, status=400 if errors else 200)


def _refused(request, message: str):
    """A change asked by someone who may look but not change: refused, nothing saved."""
    return render(request, "portal/error.html", {"message": message}, status=403)


def _village_workers(roster) -> list:
    """The active workers of the group's village, whom a supervisor may put on it."""
    from django.contrib.auth import get_user_model

    people = [(u, registry.villages_for(u)) for u in get_user_model().objects.filter(is_active=True, groups__name="worker").distinct()]
    return sorted((u for u, villages in people if villages is None or roster.village in villages), key=lambda u: (api.display_name(u), u.pk))


def _add_member(request, roster: Roster, typed: dict, households, errors: dict) -> bool:
    """A member added as typed, or the errors to show with what was typed kept."""
    if not typed["name"] or len(typed["name"]) > NAME_MAX:
        errors["name"] = _("Give a name of at most %(n)d characters.") % {"n": NAME_MAX}
    elif typed["minor"] and not typed["guardian_consent"]:
        errors["guardian_consent"] = _("A child joins a group only with the guardian's consent on record.")
    elif typed["household_code"] and typed["household_code"] not in {value for value, _label in households}:
        errors["household_code"] = _("Choose a household of your villages from the list.")
    else:
        RosterMember.objects.create(roster=roster, joined_on=clock.today(), **{**typed, "household_code": typed["household_code"] or None})
        messages.success(request, _("%(name)s added.") % {"name": typed["name"]})
        return True
    return False


@login_required
@require_http_methods(["GET", "POST"])
def roster_page(request, roster_id: int):
    """A group's members, who runs it and its sessions. Those who run it (access.runs) see its members
    by name, each view logged, and change it; a supervisor of the village puts workers on it and takes
    them off. Anyone else of the village sees the group, its size and its sessions, no name."""
    villages = _scope(request.user)
    roster = _in(Roster.objects.all(), villages).filter(pk=roster_id).first()
    if roster is None:
        raise Http404(_("No such group, or not yours to see."))
    runs, assigns = access.runs(request.user, roster), access.assigns_workers(request.user, roster)
    errors: dict[str, str] = {}
    typed = {"name": "", "minor": True, "guardian_consent": False, "household_code": ""}
    # The register's households of the user's villages (needs matching's option list, by number).
    households = (registry.option_source("household_numbers", request.user) or []) if runs else []
    if request.method == "POST":
        action = request.POST.get("_action", "")
        if action in ("add_worker", "remove_worker"):
            if not assigns:
                return _refused(request, _("Only a supervisor of the village puts workers on a group or takes them off."))
        elif not runs:
            return _refused(request, _("Only the workers who run this group and the village's supervisors change it and see its members' names."))
        if action == "add_worker":
            worker = next((u for u in _village_workers(roster) if str(u.pk) == request.POST.get("worker", "")), None)
            if worker is None:
                errors["worker"] = _("Choose a worker of this village from the list.")
            else:
                roster.workers.add(worker)
                messages.success(request, _("%(name)s now runs this group.") % {"name": api.display_name(worker)})
                return redirect("activity-roster", roster.pk)
        elif action == "remove_worker":
            raw = request.POST.get("worker", "")
            worker = roster.workers.filter(pk=int(raw) if raw.isdigit() else 0).first()
            if worker is not None:
                roster.workers.remove(worker)
                messages.success(request, _("%(name)s no longer runs this group.") % {"name": api.display_name(worker)})
            return redirect("activity-roster", roster.pk)
        elif action == "add":
            typed = {"name": request.POST.get("name", "").strip(), "minor": bool(request.POST.get("minor")),
                     "guardian_consent": bool(request.POST.get("guardian_consent")), "household_code": request.POST.get("household_code", "")}
            if _add_member(request, roster, typed, households, errors):
                return redirect("activity-roster", roster.pk)
        elif action in ("leave", "rejoin"):
            changed = roster.members.filter(pk=request.POST.get("member") or 0).update(active=action == "rejoin")
            if changed:
                messages.success(request, _("Saved."))
            return redirect("activity-roster", roster.pk)
        elif action in ("close", "reopen"):
            Roster.objects.filter(pk=roster.pk).update(active=action == "reopen")
            return redirect("activity-roster", roster.pk)
        else:
            errors["name"] = _("Unknown action.")
    workers = sorted(roster.workers.all(), key=lambda u: (api.display_name(u), u.pk))
    context = {
        "roster": roster, "runs": runs, "assigns": assigns, "may_edit": access.may_edit(request.user), "errors": errors,
        "sessions": roster.activities.order_by("-held_on")[:20], "typed": typed, "households": households, "workers": [(u.pk, api.display_name(u)) for u in workers],
        "size": roster.members.filter(active=True).aggregate(members=Count("pk"), minors=Count("pk", filter=Q(minor=True))),
        "village_name": Village.objects.filter(code=roster.village).values_list("name", flat=True).first() or roster.village,
    }
    if assigns:
        context["worker_choices"] = [(u.pk, api.display_name(u)) for u in _village_workers(roster) if u not in workers]
    if runs:  # the names are shown: logged, as every view of a group's names
        context["members"] = list(roster.members.order_by("-active", "pk"))
        AccessLog.objects.create(user=request.user, instance_id=0, process_key=KEY, view="roster")
    return render(request, "activities/roster.html", context, status=400 if errors else 200)


# -- one session and its photos ----------------------------------------------------------------------

PHOTOS_PER_SESSION = 6
CAPTION_MAX = 100
PHOTO_ROLES = frozenset({"worker", "supervisor"})  # who adds and removes photos (the administrator looks)


def _session(user, activity_id: int) -> Activity:
    activity = _in(Activity.objects.all(), _scope(user)).select_related("roster").filter(pk=activity_id).first()
    if activity is None:
        raise Http404(_("No such session, or not yours to see."))
    return activity


def _may_add_photos(user) -> bool:
    return bool(set(user.groups.values_list("name", flat=True)) & PHOTO_ROLES)


def _token(request) -> uuid.UUID:
    try:
        return uuid.UUID(request.POST.get("_token", ""))
    except ValueError:
        return uuid.uuid4()


def _add_photo(request, activity: Activity, errors: dict) -> bool:
    """One photo of a session that has taken place: at most PHOTOS_PER_SESSION, checked by content and
    redrawn without metadata (engine/photos.py), after the uploader confirms the people in it agreed."""
    caption = request.POST.get("caption", "").strip()
    if len(caption) > CAPTION_MAX:
        errors["caption"] = _("At most %(n)d characters.") % {"n": CAPTION_MAX}
    if not request.POST.get("consent"):
        errors["consent"] = _("Confirm that the people recognisable in the photo agreed to it (for a child, the guardian).")
    if activity.held_on > clock.today():
        errors["photo"] = _("This session is planned for %(date)s: add its photos once it has taken place.") % {"date": activity.held_on.isoformat()}
    elif activity.photos.count() >= PHOTOS_PER_SESSION:
        errors["photo"] = _("This session already has %(n)d photos, the most it keeps. Delete one first.") % {"n": PHOTOS_PER_SESSION}
    token = _token(request)
    if ActivityPhoto.objects.filter(submission=token).exists():
        messages.success(request, _("This photo was already saved: the form was sent twice, it is kept once."))
        return True
    uploads = request.FILES.getlist("photo")
    if len(uploads) != 1 and "photo" not in errors:
        errors["photo"] = _("Choose one photo (JPEG, PNG, WebP or HEIC).")
    if errors:
        return False
    try:
        clean = api.clean_photo(uploads[0], user=request.user)
    except api.PhotoRefused as exc:
        errors["photo"] = str(exc)
        return False
    photo = ActivityPhoto(activity=activity, content_type=clean.content_type, size=len(clean.data), caption=caption,
                          uploaded_by=request.user, submission=token)
    try:
        with transaction.atomic():
            photo.file.save(f"photo.{clean.extension}", ContentFile(clean.data), save=False)
            photo.save()
    except IntegrityError:  # the same form's first sending won the race: kept once
        photo.file.delete(save=False)
        messages.success(request, _("This photo was already saved: the form was sent twice, it is kept once."))
        return True
    messages.success(request, _("Photo added."))
    return True


@login_required
@require_http_methods(["GET", "POST"])
def activity_page(request, activity_id: int):
    """One session: what was planned and recorded, its attendance in numbers (names stay on the
    group's page), and its photos for whoever may see the session (staff of its village)."""
    activity = _session(request.user, activity_id)
    errors: dict[str, str] = {}
    typed = {"caption": "", "consent": False}
    may_add = _may_add_photos(request.user)
    if request.method == "POST":
        action = request.POST.get("_action", "")
        if not may_add:
            errors["photo"] = _("Only the station's workers and supervisors add or remove photos.")
        elif action == "photo":
            typed = {"caption": request.POST.get("caption", ""), "consent": bool(request.POST.get("consent"))}
            if _add_photo(request, activity, errors):
                return redirect("activity", activity.pk)
        elif action == "photo_delete":
            photo = activity.photos.filter(token=request.POST.get("photo", "")).first()
            if photo is None:
                errors["photo"] = _("No such photo of this session.")
            else:
                photo.file.delete(save=False)
                photo.delete()
                messages.success(request, _("The photo is deleted."))
                return redirect("activity", activity.pk)
        else:
            errors["photo"] = _("Unknown action.")
    return render(request, "activities/activity.html", {
        "activity": activity, "photos": activity.photos.order_by("uploaded_at", "pk"), "errors": errors, "typed": typed,
        "may_add": may_add, "token": str(uuid.uuid4()), "photos_max": PHOTOS_PER_SESSION,
        "held": activity.held_on <= clock.today(),
        "village_name": Village.objects.filter(code=activity.village).values_list("name", flat=True).first() or activity.village,
    }, status=400 if errors else 200)


@login_required
def activity_photo(request, activity_id: int, token: str):
    """One photo of a session, for whoever may see the session; each view is logged (photos of
    sessions often show children)."""
    activity = _session(request.user, activity_id)
    photo = activity.photos.filter(token=token).first()
    if photo is None:
        raise Http404(_("No such photo, or not yours to see."))
    AccessLog.objects.create(user=request.user, instance_id=activity.instance_id, process_key=KEY, view="activity_photo")
    response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
