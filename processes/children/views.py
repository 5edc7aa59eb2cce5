"""The children's pages: the archive list and each child's growth archive (behind the need-to-know
gate: a reason from its holders, a supervisor's approval for anyone else), the groups and each
group's members, sessions and pre/post screening.

Staff only (worker, supervisor, admin), each within their villages; anything else a 404, even a
guessed id. Only the village's workers and supervisors write (access.may_edit): the administrator
reads an archive it was approved for and changes nothing (403). A group's members are named, with
their scores, only to those who run it (access.runs_group); each name shown is logged against its
archive, and an archive's reading by the gate."""
from __future__ import annotations

import datetime as dt
import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.core.files.base import ContentFile
from django.http import FileResponse, Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import pgettext
from django.views.decorators.http import require_http_methods

from engine import api, clock, registry, selectors
from engine.errors import CaseflowError, FormInvalid
from engine.station import Village

from . import access, handlers, scales
from .handlers import OPEN_STAGES
from .models import (JOINT_VISITS, CaseStage, Child, ChildCase, ChildPhoto, ContactKind, FamilyContact, Group, GroupMember, GroupSession, MentalState,
                     Phase, Scale, Screening)

KEY = access.KEY
PAGE_SIZE = 50
TEXT_MAX = 2000
SUMMARY_MAX = 1000
MINUTES_MAX = 600
CONTACT_FIELDS = ("kind", "held_on", "people", "minutes", "partner_org", "partner_person", "summary", "follow_up")


def _staff(user):
    if not access.is_staff(user):
        raise Http404(pgettext("children", "No such page, or not yours to see."))


def _village_choices(user) -> list[tuple[str, str]]:
    villages = registry.villages_for(user)
    query = Village.objects.all() if villages is None else Village.objects.filter(code__in=villages)
    return list(query.order_by("position", "code").values_list("code", "name"))


def _date(text: str, field: str, errors: dict, *, required=True) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        if required:
            errors[field] = pgettext("children", "Give the date.")
        return None
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        errors[field] = pgettext("children", "Give the date as year-month-day.")
        return None
    if value > clock.today():
        errors[field] = pgettext("children", "The date cannot be in the future.")
    elif value.year < 2000:
        errors[field] = pgettext("children", "Give a date after 2000.")
    return value


def _text(request, field: str, errors: dict, *, required=True, limit=TEXT_MAX) -> str:
    value = request.POST.get(field, "").strip()
    if required and not value:
        errors[field] = pgettext("children", "This field is required.")
    elif len(value) > limit:
        errors[field] = pgettext("children", "At most %(n)d characters.") % {"n": limit}
    return value


def _token(request) -> uuid.UUID:
    """The one-time token of the form sent (a hidden field drawn when the form was shown): the same form
    sent twice — a double tap, a page sent again — carries the same token and is saved once. A form
    without one (a page from before the token) gets a fresh token: saved, as before."""
    try:
        return uuid.UUID(request.POST.get("_token", ""))
    except ValueError:
        return uuid.uuid4()


def _read_only(what: str):
    """A write sent by someone who may read but not change (the administrator): refused, nothing saved."""
    return HttpResponseForbidden(what)


def _already_saved(request, what: str) -> None:
    messages.success(request, pgettext("children", "%(what)s was already saved: the form was sent twice, it is kept once.") % {"what": what})


# -- the archive --------------------------------------------------------------------------------------

@login_required
def child_list(request):
    _staff(request.user)
    choices = _village_choices(request.user)
    village = request.GET.get("village", "")
    if village not in {code for code, _name in choices}:
        village = ""
    query = access.visible_children(request.user).annotate(
        open_cases=Count("cases", filter=Q(cases__stage__in=OPEN_STAGES)), groups=Count("memberships", distinct=True))
    if village:
        query = query.filter(village=village)
    page = Paginator(query.order_by("village", "code"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "children/list.html", {
        "page": page, "village": village, "village_choices": choices, "village_names": dict(Village.objects.values_list("code", "name")),
        "query": f"village={village}" if village else "",
    })


@login_required
@require_http_methods(["GET", "POST"])
def child_page(request, child_id: int):
    _staff(request.user)
    child = access.visible_children(request.user).filter(pk=child_id).first()
    if child is None:
        raise Http404(pgettext("children", "No such child, or not yours to see."))
    if request.method == "POST" and not access.may_edit(request.user):
        return _read_only(pgettext("children", "You may read this archive, not change it: the village's workers and supervisors record in it."))
    # A child's archive is a minor's file: a reason from its holders, an approval for anyone else (ADR 0020).
    missing = api.open_record(record=access.as_record(child), viewer=request.user, session=request.session, view="children_archive")
    if missing:
        return redirect(f"{reverse('record-access', args=[access.KIND, child.pk])}?{urlencode({'next': request.path})}")
    errors: dict[str, str] = {}
    typed = {"note": "", "recorded_on": clock.today().isoformat(), "token": str(uuid.uuid4())}
    photo_typed = {"caption": "", "taken_on": ""}
    visit_typed = {"office": "", "planned_on": clock.today().isoformat(), "purpose": ""}
    consent_typed = {"group": child.consent_group, "photo": child.consent_photo,
                     "date": child.consent_date.isoformat() if child.consent_date else "", "confirm": False}
    contact = _contact_blank()
    if request.method == "POST":
        action = request.POST.get("_action", "")
        if action == "contact":
            contact = {name: request.POST.get(name, "") for name in CONTACT_FIELDS}
            values = _contact_values(request, errors)
            token = _token(request)
            contact["token"] = str(token)
            if FamilyContact.objects.filter(submission=token).exists():
                _already_saved(request, pgettext("children", "This contact"))
                return redirect("children-child", child.pk)
            if not errors:
                try:
                    with transaction.atomic():
                        FamilyContact.objects.create(child=child, recorded_by=request.user, submission=token, **values)
                except IntegrityError:  # the same form's first sending won the race: saved once
                    _already_saved(request, pgettext("children", "This contact"))
                else:
                    messages.success(request, pgettext("children", "Saved."))
                return redirect("children-child", child.pk)
        elif action == "mental_state":
            typed = {"note": request.POST.get("note", ""), "recorded_on": request.POST.get("recorded_on", "")}
            note = _text(request, "note", errors)
            on = _date(typed["recorded_on"], "recorded_on", errors)
            token = _token(request)
            typed["token"] = str(token)
            if MentalState.objects.filter(submission=token).exists():
                _already_saved(request, pgettext("children", "This entry"))
                return redirect("children-child", child.pk)
            if not errors:
                try:
                    with transaction.atomic():
                        MentalState.objects.create(child=child, recorded_on=on, note=note, recorded_by=request.user, submission=token)
                except IntegrityError:  # the same form's first sending won the race: saved once
                    _already_saved(request, pgettext("children", "This entry"))
                else:
                    messages.success(request, pgettext("children", "Saved."))
                return redirect("children-child", child.pk)
        elif action == "joint_visit":
            visit_typed = {k: request.POST.get(k, "") for k in ("office", "planned_on", "purpose")}
            if _ask_joint_visit(request, child, visit_typed, errors):
                return redirect(f"{reverse('children-child', args=[child.pk])}#visits")
        elif action == "photo":
            photo_typed = {"caption": request.POST.get("caption", ""), "taken_on": request.POST.get("taken_on", "")}
            saved = _add_photo(request, child, errors)
            if saved:
                return redirect(f"{reverse('children-child', args=[child.pk])}#photos")
        elif action == "photo_delete":
            photo = child.photos.filter(token=request.POST.get("photo", "")).first()
            if photo is None:
                errors["photo"] = pgettext("children", "No such photo in this archive.")
            else:
                photo.file.delete(save=False)
                photo.delete()
                messages.success(request, pgettext("children", "The photo is deleted."))
                return redirect(f"{reverse('children-child', args=[child.pk])}#photos")
        elif action == "consent":
            group, photo = bool(request.POST.get("consent_group")), bool(request.POST.get("consent_photo"))
            consent_typed = {"group": group, "photo": photo, "date": request.POST.get("consent_date", ""), "confirm": False}
            on = _date(consent_typed["date"], "consent_date", errors, required=group or photo)
            # Consent withdrawn, the photos it allowed are deleted (a guardian's withdrawal means the
            # station stops keeping them, not that it hides them): asked once, with their number. The
            # confirmation carries the number it was asked with: a photo added from another tab since
            # asks again.
            doomed = child.photos.count() if child.consent_photo and not photo else 0
            if doomed and request.POST.get("delete_photos") != str(doomed):
                consent_typed["confirm"] = doomed
                errors["consent_photo"] = pgettext(
                    "children", "Withdrawing the consent to photos deletes the %(n)s photos of this archive for good. "
                    "Tick the box below to confirm, or tick the consent again to keep them.") % {"n": doomed}
            if not errors:
                deleted = _save_consents(child, group=group, photo=photo, on=on if group or photo else None)
                if deleted:
                    messages.success(request, pgettext("children", "Saved. The consent to photos is withdrawn and the archive's %(n)s photos are deleted.") % {"n": deleted})
                else:
                    messages.success(request, pgettext("children", "Saved."))
                return redirect("children-child", child.pk)
        else:
            errors["_action"] = pgettext("children", "Unknown action.")
    cases = list(child.cases.select_related("reopened_from").order_by("-opened_on", "-pk"))
    services = [(s, c) for c in cases for s in c.services.order_by("-held_on", "-pk")]
    joint_visits = list(child.joint_visits.select_related("contact").order_by("-created_at", "-pk")[:20])
    waiting = selectors.open_tasks_of_instances(instance_ids=[v.instance_id for v in joint_visits if v.status == "asked"],
                                                bpmn_id="Task_PartnerVisit")
    for visit in joint_visits:  # the office's task while it has not answered: its deadline, shown like an inbox's
        visit.partner_task = waiting.get(visit.instance_id)
    return render(request, "children/child.html", {
        "child": child, "cases": cases, "services": sorted(services, key=lambda p: p[0].held_on, reverse=True)[:30],
        "mental_states": child.mental_states.order_by("-recorded_on", "-pk")[:50],
        "groups": child.memberships.select_related("group").order_by("-joined_on"),
        "village_name": Village.objects.filter(code=child.village).values_list("name", flat=True).first() or child.village,
        "contacts": child.contacts.order_by("-held_on", "-pk")[:50], "contact": contact, "contact_kinds": ContactKind.choices,
        "errors": errors, "typed": typed, "today": clock.today().isoformat(), "may_edit": access.may_edit(request.user),
        # Photos only while the guardian's consent is on record (withdrawing it deletes them).
        "photos": child.photos.order_by("-uploaded_at", "-pk")[:PHOTOS_PER_CHILD] if child.consent_photo else [],
        "photo_typed": {**photo_typed, "token": str(uuid.uuid4())}, "photos_max": PHOTOS_PER_CHILD,
        "joint_visits": joint_visits,
        "visit_typed": visit_typed, "visit_offices": handlers.office_choices(request.user), "consent_typed": consent_typed,
        "visit_latest": (clock.today() + dt.timedelta(days=handlers.VISIT_PLANNED_WITHIN_DAYS)).isoformat(),
    }, status=400 if errors else 200)


def _save_consents(child: Child, *, group: bool, photo: bool, on) -> int:
    """Record the guardian's consents; without the one to photos, the archive's photos go with it
    (rows now, files once the transaction commits). Returns how many photos were deleted."""
    with transaction.atomic():
        Child.objects.filter(pk=child.pk).update(consent_group=group, consent_photo=photo, consent_date=on)
        if photo:
            return 0
        photos = list(ChildPhoto.objects.select_for_update().filter(child=child))
        ChildPhoto.objects.filter(pk__in=[p.pk for p in photos]).delete()
        names = [(p.file.storage, p.file.name) for p in photos if p.file.name]
        transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])
    return len(photos)


def _ask_joint_visit(request, child, typed: dict, errors: dict) -> bool:
    """Start the joint home visit (a task for the office named) from the archive the worker has open."""
    try:
        info = api.start_instance(process_key=handlers.VISIT_KEY, actor=request.user, data={
            "child": str(child.pk), "office": typed["office"], "planned_on": typed["planned_on"].strip(), "purpose": typed["purpose"]})
    except FormInvalid as exc:
        for field, problems in exc.field_errors.items():
            errors[field if field in ("office", "planned_on", "purpose") else "office"] = " ".join(str(p) for p in problems)
        return False
    except CaseflowError as exc:  # the process is not deployed, the worker may not start it
        errors["office"] = str(exc)
        return False
    messages.success(request, pgettext("children", "The joint home visit is asked for: it is now in %(office)s's inbox (case #%(n)d).") % {
        "office": dict(handlers.office_choices(request.user)).get(typed["office"], typed["office"]), "n": info.id})
    return True


# -- photos ----------------------------------------------------------------------------------------

PHOTOS_PER_CHILD = 40
CAPTION_MAX = 100


def _add_photo(request, child, errors: dict) -> bool:
    """One photo into the archive, if the guardian's consent is on record: checked by its content,
    redrawn without metadata (engine/photos.py) and stored encrypted. Errors keyed by field."""
    if not child.consent_photo:
        errors["photo"] = pgettext("children", "The guardian's consent to photos is not on record: no photo can be added. Record the consent first.")
        return False
    caption = _text(request, "caption", errors, required=False, limit=CAPTION_MAX)
    taken_on = _date(request.POST.get("taken_on", ""), "taken_on", errors, required=False)
    token = _token(request)
    if ChildPhoto.objects.filter(submission=token).exists():
        _already_saved(request, pgettext("children", "This photo"))
        return True
    if child.photos.count() >= PHOTOS_PER_CHILD:
        errors["photo"] = pgettext("children", "This archive already holds %(n)d photos, the most it keeps. Delete one first.") % {"n": PHOTOS_PER_CHILD}
        return False
    uploads = request.FILES.getlist("photo")
    if len(uploads) != 1:
        errors["photo"] = pgettext("children", "Choose one photo (JPEG, PNG, WebP or HEIC).")
        return False
    if errors:
        return False
    try:
        clean = api.clean_photo(uploads[0], user=request.user)
    except api.PhotoRefused as exc:
        errors["photo"] = str(exc)
        return False
    try:
        with transaction.atomic():
            photo = ChildPhoto(child=child, content_type=clean.content_type, size=len(clean.data), caption=caption, taken_on=taken_on,
                               uploaded_by=request.user, submission=token)
            photo.file.save(f"photo.{clean.extension}", ContentFile(clean.data), save=False)
            photo.save()
    except IntegrityError:  # the same form's first sending won the race: kept once
        photo.file.delete(save=False)
        _already_saved(request, pgettext("children", "This photo"))
        return True
    messages.success(request, pgettext("children", "Photo added."))
    return True


@login_required
def child_photo(request, child_id: int, token: str):
    """One photo of the archive, for whoever passes the archive's gate; each view is logged with the
    reason or approval it rests on (api.open_record). Without consent on record there is no photo."""
    _staff(request.user)
    child = access.visible_children(request.user).filter(pk=child_id, consent_photo=True).first()
    photo = child.photos.filter(token=token).first() if child is not None else None
    if photo is None:
        raise Http404(pgettext("children", "No such photo, or not yours to see."))
    missing = api.open_record(record=access.as_record(child), viewer=request.user, session=request.session, view="children_photo")
    if missing:
        return HttpResponseForbidden(pgettext("children", "Open the child's archive first (a reason, or a supervisor's approval)."))
    response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
    response["Cache-Control"] = "private, no-store"  # never kept by a shared phone's browser or a proxy
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response


# -- contact with the family and the partners --------------------------------------------------------

def _contact_blank() -> dict:
    return {**{name: "" for name in CONTACT_FIELDS}, "kind": ContactKind.LETTER, "held_on": clock.today().isoformat(),
            "token": str(uuid.uuid4())}


def _contact_values(request, errors: dict) -> dict:
    """A contact's fields as sent, checked field by field (each error keyed by its field): the kind
    decides what else is required — who wrote or took part (letter, video), the minutes (video, a
    whole number 1–600), the partner and their person (a joint home visit)."""
    kind = request.POST.get("kind", "")
    if kind not in ContactKind.values:
        errors["kind"] = pgettext("children", "Choose the kind of contact.")
    values = {"kind": kind, "held_on": _date(request.POST.get("held_on", ""), "held_on", errors),
              "summary": _text(request, "summary", errors, limit=SUMMARY_MAX),
              "people": _text(request, "people", errors, required=kind in (ContactKind.LETTER, ContactKind.VIDEO), limit=200),
              "minutes": None, "partner_org": "", "partner_person": "", "follow_up": ""}
    if kind == ContactKind.VIDEO:
        raw = request.POST.get("minutes", "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MINUTES_MAX:
            errors["minutes"] = pgettext("children", "Give the minutes as a whole number from 1 to %(n)d.") % {"n": MINUTES_MAX}
        else:
            values["minutes"] = int(raw)
    if kind in JOINT_VISITS:
        values["partner_org"] = _text(request, "partner_org", errors, limit=80)
        values["partner_person"] = _text(request, "partner_person", errors, limit=50)
        values["follow_up"] = _text(request, "follow_up", errors, required=False, limit=SUMMARY_MAX)
    return values


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def due_this_quarter(user, village: str = "") -> list[dict]:
    """The left-behind children of the user's villages (active archives) still without a family letter,
    or still without a parent video session, since the quarter began."""
    since = quarter_start(clock.today())
    query = access.visible_children(user).filter(active=True, left_behind=True).annotate(
        letters=Count("contacts", filter=Q(contacts__kind=ContactKind.LETTER, contacts__held_on__gte=since)),
        videos=Count("contacts", filter=Q(contacts__kind=ContactKind.VIDEO, contacts__held_on__gte=since)))
    if village:
        query = query.filter(village=village)
    return [{"child": c, "letter": not c.letters, "video": not c.videos}
            for c in query.filter(Q(letters=0) | Q(videos=0)).order_by("village", "code")]


@login_required
def contacts_due(request):
    """Who is due this quarter: a list of archive numbers (never names, like the archive list), each
    opening the archive behind its gate, where the letter or the video session is recorded."""
    _staff(request.user)
    choices = _village_choices(request.user)
    village = request.GET.get("village", "")
    if village not in {code for code, _name in choices}:
        village = ""
    today = clock.today()
    return render(request, "children/contacts.html", {
        "due": due_this_quarter(request.user, village), "since": quarter_start(today), "today": today,
        "quarter": (today.month - 1) // 3 + 1, "village": village, "village_choices": choices,
        "village_names": dict(Village.objects.values_list("code", "name")),
    })


# -- correcting the archive -------------------------------------------------------------------------

PHONE = re.compile(r"1\d{10}|0\d{2,3}-?\d{7,8}")  # a mobile, or a landline with its area code
EDITABLE = ("school", "grade", "birth_date", "left_behind", "guardian_name", "guardian_relation", "guardian_phone",
            "family_support", "health", "disability", "household_code")


def _changes(child) -> list[dict]:
    """The archive's row history, newest first: when, by whom, which fields changed (never the values)."""
    from django.contrib.auth import get_user_model

    events = list(Child.pgh_event_model.objects.filter(pgh_obj_id=child.pk).select_related("pgh_context").order_by("pgh_created_at", "pgh_id"))
    fields = [f for f in Child._meta.concrete_fields if f.name not in {"id", "created_at", "code"}]
    rows, previous = [], None
    for event in events:
        if previous is not None:
            changed = [str(f.verbose_name) for f in fields if getattr(event, f.attname) != getattr(previous, f.attname)]
            if changed:
                rows.append({"at": event.pgh_created_at, "by": (event.pgh_context.metadata or {}).get("user") if event.pgh_context else None,
                             "fields": changed})
        previous = event
    people = {u.pk: u.get_full_name() or u.username for u in get_user_model().objects.filter(pk__in={r["by"] for r in rows if r["by"]})}
    for row in rows:
        row["by"] = people.get(row["by"], "—")
    return rows[::-1][:30]


@login_required
@require_http_methods(["GET", "POST"])
def child_edit(request, child_id: int):
    """Correct the child's details after intake: the same checks as the archive page (staff of the
    child's village, the need-to-know gate), then the holders' roles. Every change is kept (row history)."""
    _staff(request.user)
    child = access.visible_children(request.user).filter(pk=child_id).first()
    if child is None or not access.may_edit(request.user):
        raise Http404(pgettext("children", "No such child, or not yours to see."))
    missing = api.open_record(record=access.as_record(child), viewer=request.user, session=request.session, view="children_archive_edit")
    if missing:
        return redirect(f"{reverse('record-access', args=[access.KIND, child.pk])}?{urlencode({'next': request.path})}")
    errors: dict[str, str] = {}
    typed = {name: getattr(child, name) for name in EDITABLE}
    typed["household_code"] = typed["household_code"] or ""
    # The register's households of the editor's villages (needs matching's option list, by number).
    households = registry.option_source("household_numbers", request.user) or []
    if request.method == "POST":
        typed = {name: request.POST.get(name, "").strip() for name in EDITABLE}
        typed["left_behind"] = bool(request.POST.get("left_behind"))
        values = {"left_behind": typed["left_behind"]}
        for name in ("school", "grade", "guardian_name", "guardian_relation", "guardian_phone"):
            values[name] = _text(request, name, errors, required=False, limit=Child._meta.get_field(name).max_length)
        for name in ("family_support", "health", "disability"):
            values[name] = _text(request, name, errors, required=False)
        if values["guardian_phone"] and "guardian_phone" not in errors and not PHONE.fullmatch(values["guardian_phone"].replace(" ", "")):
            errors["guardian_phone"] = pgettext("children", "Give an 11-digit mobile number, or a landline with its area code (0xxx-xxxxxxx).")
        born = _date(typed["birth_date"], "birth_date", errors, required=False)
        values["birth_date"] = born.isoformat() if born else ""
        if typed["household_code"] and typed["household_code"] not in {value for value, _label in households}:
            errors["household_code"] = pgettext("children", "Choose a household of your villages from the list.")
        values["household_code"] = typed["household_code"] or None
        if not errors:
            changed = [name for name, value in values.items() if getattr(child, name) != value]
            if changed:
                for name in changed:
                    setattr(child, name, values[name])
                child.save(update_fields=changed)
                messages.success(request, pgettext("children", "The archive is corrected; the change is kept in its history."))
            else:
                messages.success(request, pgettext("children", "Nothing was changed."))
            return redirect("children-child", child.pk)
    return render(request, "children/edit.html", {
        "child": child, "errors": errors, "typed": typed, "today": clock.today().isoformat(), "changes": _changes(child),
        "households": households,
    }, status=400 if errors else 200)


# -- groups --------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def group_list(request):
    _staff(request.user)
    choices = _village_choices(request.user)
    scale_choices = list(Scale.objects.filter(active=True).order_by("name"))
    errors: dict[str, str] = {}
    typed = {"name": "", "village": "", "goal": "", "facilitator": "", "scale": ""}
    if request.method == "POST" and not access.may_edit(request.user):
        return _read_only(pgettext("children", "Only the village's workers and supervisors start a group."))
    if request.method == "POST":
        typed = {k: request.POST.get(k, "").strip() for k in typed}
        for field, limit in (("name", 60), ("goal", 200), ("facilitator", 50)):
            _text(request, field, errors, limit=limit)
        if typed["village"] not in {code for code, _name in choices}:
            errors["village"] = pgettext("children", "Choose one of your villages.")
        scale = next((s for s in scale_choices if str(s.pk) == typed["scale"]), None)
        if typed["scale"] and scale is None:
            errors["scale"] = pgettext("children", "Choose a scale from the list.")
        if not errors:
            try:
                with transaction.atomic():
                    group = Group.objects.create(name=typed["name"], village=typed["village"], goal=typed["goal"],
                                                 facilitator=typed["facilitator"], scale=scale)
                    group.workers.add(request.user)  # its creator runs it, until a supervisor hands it over
            except IntegrityError:
                errors["name"] = pgettext("children", "This village already has a group of that name.")
            else:
                messages.success(request, pgettext("children", "Group created. Add its members."))
                return redirect("children-group", group.pk)
    groups = access.in_villages(Group.objects.all(), request.user).annotate(
        size=Count("members", distinct=True), held=Count("sessions", distinct=True)).select_related("scale").order_by("-active", "village", "name")
    return render(request, "children/groups.html", {
        "groups": groups, "village_choices": choices, "scales": scale_choices, "errors": errors, "typed": typed,
        "may_edit": access.may_edit(request.user), "village_names": dict(Village.objects.values_list("code", "name")),
    }, status=400 if errors else 200)


GROUP_READING_REASON = "小组工作「%(group)s」：组员名单、出勤与前后测得分"


def _village_workers(group) -> list:
    """The active workers of the group's village, whom a supervisor may put on it."""
    from django.contrib.auth import get_user_model

    people = [(u, registry.villages_for(u)) for u in get_user_model().objects.filter(is_active=True, groups__name="worker").distinct()]
    return sorted((u for u, villages in people if villages is None or group.village in villages), key=lambda u: (api.display_name(u), u.pk))


@login_required
@require_http_methods(["GET", "POST"])
def group_page(request, group_id: int):
    """A group's members, sessions and screening. Those who run it (access.runs_group) see its members by
    name with their scores and record its work: the group is their reason, and each name shown is logged
    against the child's archive. Anyone else of the village sees archive numbers, the sessions' dates and
    topics and who runs it, as in the archive list; a member's archive opens behind its own gate."""
    _staff(request.user)
    group = access.in_villages(Group.objects.all(), request.user).select_related("scale").filter(pk=group_id).first()
    if group is None:
        raise Http404(pgettext("children", "No such group, or not yours to see."))
    runs, assigns = access.runs_group(request.user, group), access.assigns_group_workers(request.user, group)
    errors: dict[str, str] = {}
    typed = {"held_on": clock.today().isoformat(), "content": "", "observations": "", "present": set(), "token": str(uuid.uuid4()),
             "screened_on": clock.today().isoformat(), "phase": Phase.PRE, "score": "", "child": ""}
    members = list(group.members.select_related("child").order_by("pk"))
    member_ids = {m.child_id for m in members}
    if request.method == "POST":
        action = request.POST.get("_action", "")
        if action in ("add_worker", "remove_worker"):
            if not assigns:
                return _read_only(pgettext("children", "Only a supervisor of the village puts workers on a group or takes them off."))
        elif not runs:
            return _read_only(pgettext("children", "Only the workers who run this group and the village's supervisors record its work."))
        if action == "add_worker":
            worker = next((u for u in _village_workers(group) if str(u.pk) == request.POST.get("worker", "")), None)
            if worker is None:
                errors["worker"] = pgettext("children", "Choose a worker of this village from the list.")
            else:
                group.workers.add(worker)
                messages.success(request, pgettext("children", "%(name)s now runs this group.") % {"name": api.display_name(worker)})
                return redirect("children-group", group.pk)
        elif action == "remove_worker":
            raw = request.POST.get("worker", "")
            worker = group.workers.filter(pk=int(raw) if raw.isdigit() else 0).first()
            if worker is not None:
                group.workers.remove(worker)
                messages.success(request, pgettext("children", "%(name)s no longer runs this group.") % {"name": api.display_name(worker)})
            return redirect("children-group", group.pk)
        elif action == "add_member":
            child = access.visible_children(request.user).filter(pk=request.POST.get("child") or 0, village=group.village, active=True).first()
            if child is None:
                errors["child"] = pgettext("children", "Choose a child of this village from the archive.")
            elif not child.consent_group:
                errors["child"] = pgettext("children", "%(code)s cannot join: the guardian's consent to group work is not on record. Record it in the child's archive first.") % {
                    "code": child.code}
            else:
                GroupMember.objects.get_or_create(group=group, child=child, defaults={"joined_on": clock.today()})
                messages.success(request, pgettext("children", "%(code)s joined the group.") % {"code": child.code})
                return redirect("children-group", group.pk)
        elif action == "session":
            typed.update(held_on=request.POST.get("held_on", ""), content=request.POST.get("content", ""),
                         observations=request.POST.get("observations", ""), present=set(request.POST.getlist("present")))
            held_on = _date(typed["held_on"], "held_on", errors)
            content = _text(request, "content", errors)
            observations = _text(request, "observations", errors, required=False)
            present = {int(v) for v in typed["present"] if v.isdigit()}
            if not present <= member_ids:
                errors["present"] = pgettext("children", "Someone ticked is not in this group; reload the page.")
            if held_on and held_on < timezone.localdate(group.created_at) - dt.timedelta(days=366):
                errors["held_on"] = pgettext("children", "Give a date within a year of the group's start.")
            token = _token(request)
            typed["token"] = str(token)
            if GroupSession.objects.filter(submission=token).exists():
                _already_saved(request, pgettext("children", "This session"))
                return redirect("children-group", group.pk)
            if not errors:
                try:
                    with transaction.atomic():
                        locked = Group.objects.select_for_update().get(pk=group.pk)  # one sending at a time per group
                        if GroupSession.objects.filter(submission=token).exists():
                            raise IntegrityError("sent twice")
                        number = (locked.sessions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
                        session = GroupSession.objects.create(group=group, number=number, held_on=held_on, content=content,
                                                              observations=observations, recorded_by=request.user, submission=token)
                        session.present.set(present)
                except IntegrityError:  # the same form's first sending won the race: recorded once
                    _already_saved(request, pgettext("children", "This session"))
                else:
                    messages.success(request, pgettext("children", "Session %(n)d recorded.") % {"n": number})
                return redirect("children-group", group.pk)
        elif action == "screening":
            typed.update(child=request.POST.get("child", ""), phase=request.POST.get("phase", ""), score=request.POST.get("score", ""),
                         screened_on=request.POST.get("screened_on", ""))
            if group.scale is None:
                errors["score"] = pgettext("children", "This group has no screening scale.")
            child_id = int(typed["child"]) if typed["child"].isdigit() else 0
            if child_id not in member_ids:
                errors["child"] = pgettext("children", "Choose a member of this group.")
            if typed["phase"] not in Phase.values:
                errors["phase"] = pgettext("children", "Choose before or after.")
            on = _date(typed["screened_on"], "screened_on", errors)
            score = None
            if group.scale is not None:
                try:
                    score = scales.check_score(group.scale, typed["score"])
                except ValueError as exc:
                    errors["score"] = str(exc)
            earlier = Screening.objects.filter(group=group, child_id=child_id, phase=typed["phase"]).first() if not errors else None
            if earlier is not None and request.POST.get("replace") != earlier.screened_on.isoformat():
                # A score entered again replaces the one on record: only when the worker says so, seeing it.
                typed["replaces"] = earlier.screened_on.isoformat()
                errors["score"] = pgettext("children", "This child already has a score for this phase: %(score)s on %(date)s. "
                                           "Tick “replace it” to put the new one in its place.") % {
                    "score": earlier.score, "date": f"{earlier.screened_on:%Y-%m-%d}"}
            if not errors:
                Screening.objects.update_or_create(group=group, child_id=child_id, phase=typed["phase"],
                                                   defaults={"scale": group.scale, "score": score, "screened_on": on})
                messages.success(request, pgettext("children", "Score saved."))
                return redirect("children-group", group.pk)
        else:
            errors["_action"] = pgettext("children", "Unknown action.")
    workers = sorted(group.workers.all(), key=lambda u: (api.display_name(u), u.pk))
    context = {
        "group": group, "members": members, "runs": runs, "assigns": assigns, "sessions": group.sessions.prefetch_related("present").order_by("-number"),
        "workers": [(u.pk, api.display_name(u)) for u in workers], "phases": Phase.choices, "errors": errors, "typed": typed,
        "today": clock.today().isoformat(),
        "village_name": Village.objects.filter(code=group.village).values_list("name", flat=True).first() or group.village,
    }
    if assigns:
        context["worker_choices"] = [(u.pk, api.display_name(u)) for u in _village_workers(group) if u not in workers]
    if runs:
        table = scales.group_table(group)
        context.update(table=table, summary=scales.summary(table), chart=scales.chart_svg(group.scale, table) if group.scale else "", candidates=[
            c for c in access.visible_children(request.user).filter(village=group.village, active=True).order_by("code") if c.pk not in member_ids])
        purpose = "casework" if any(u.pk == request.user.pk for u in workers) else "supervision"
        for m in members:  # each name shown, against its archive: the group is the reason
            api.record_access(instance_id=0, process_key=KEY, viewer=request.user, view="children_group", record=f"{access.KIND}:{m.child_id}",
                              purpose=purpose, reason=GROUP_READING_REASON % {"group": group.name})
    else:  # archive numbers only, as in every list: the group is named, no child
        api.record_access(instance_id=0, process_key=KEY, viewer=request.user, view="children_group", record=f"group:{group.pk}")
    return render(request, "children/group.html", context, status=400 if errors else 200)
