"""Hooks, option lists, the case summary and the year's figures of the children's case process.

The start form opens a case for a child from the archive, for a new child, for the child of an open
child-protection case (the child's data copied through the facade, the reading logged with its
reason as any opening of that minor's file is), or as a new case after a closed one (ADR 00XX)."""
from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import ExtractMonth
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import pgettext, pgettext_lazy

from engine import api, clock, registry, selectors
from engine.errors import FormInvalid, NotFound, NotPermitted

from . import access, scales
from .models import (JOINT_VISITS, CaseStage, Child, ChildCase, ChildPhoto, ContactKind, FamilyContact, GroupSession, JointVisit, MentalState, Phase,
                     Screening, ServiceRecord, VisitStatus)

KEY = access.KEY
CP_KEY = "child_protection"
OPEN_STAGES = (CaseStage.ASSESSMENT, CaseStage.PLAN, CaseStage.SERVICES, CaseStage.CLOSURE)
CP_READING_REASON = "开立困境儿童个案：从儿童保护个案复制儿童信息"

registry.register_minors_record(access.KIND, access.child_record)  # a child's archive (ADR 0020 addendum)
registry.register_view_labels({
    "children_archive": pgettext_lazy("access log", "child's growth archive"),
    "children_archive_edit": pgettext_lazy("access log", "correcting a child's archive"),
    "children_group": pgettext_lazy("access log", "children's group page"),
    "children_intake": pgettext_lazy("access log", "children's case started from a report"),
    "children_joint_visit": pgettext_lazy("access log", "joint home visit"),
    "children_photo": pgettext_lazy("access log", "child's photo"),
})
registry.register_variables(KEY, {"child_id", "next_step", "closure_decision"})


def photos_uploaded(user, since) -> int:
    """Bytes of archive photos the user added since then: part of their daily upload quota."""
    if getattr(user, "pk", None) is None:
        return 0
    return ChildPhoto.objects.filter(uploaded_by=user, uploaded_at__gte=since).aggregate(n=Sum("size"))["n"] or 0


registry.register_upload_usage(photos_uploaded)


# -- option lists ------------------------------------------------------------------------------------

def children_in_archive(user) -> list[tuple[str, str]]:
    """The active children of the user's villages, by archive number and name (staff of the village only)."""
    if user is None:
        return []
    return [(str(c.pk), f"{c.code} {c.name}") for c in access.visible_children(user).filter(active=True).order_by("code")]


def open_cp_cases(user) -> list[tuple[str, str]]:
    """Open child-protection cases the user may see, by case number (never the child's name)."""
    if user is None or not access.is_staff(user):
        return []
    rows = selectors.visible_instances(user).filter(process_key=CP_KEY, status="running").order_by("-pk")[:200]
    return [(str(i.pk), i.subject or str(i.pk)) for i in rows]


def closed_cases(user) -> list[tuple[str, str]]:
    if user is None or not access.is_staff(user):
        return []
    query = access.in_villages(ChildCase.objects.filter(stage=CaseStage.CLOSED), user).select_related("child").order_by("-closed_on", "-pk")
    return [(str(c.pk), pgettext("children", "%(code)s, closed on %(date)s") % {"code": c.child.code, "date": c.closed_on.isoformat() if c.closed_on else "—"})
            for c in query[:200]]


registry.register_option_source("children_archive", children_in_archive)
registry.register_option_source("children_cp_cases", open_cp_cases)
registry.register_option_source("children_closed_cases", closed_cases)


# -- opening a case ------------------------------------------------------------------------------------

def _date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def new_child(*, village: str, name: str, **fields) -> Child:
    child = Child.objects.create(code=f"tmp-{uuid.uuid4().hex[:16]}", village=village, name=name, **fields)
    child.code = f"ET-{clock.today().year}-{child.pk:05d}"
    child.save(update_fields=["code"])
    return child


def _in_scope(actor, village: str) -> bool:
    villages = registry.villages_for(actor) if actor is not None else None
    return villages is None or village in villages


def _from_cp_case(ctx, instance_id) -> tuple[Child, int]:
    """The child of an open child-protection case the actor may open: the archive already linked to
    it, or a new one from the report's intake form. Reading the report is logged with its reason
    (a holder) or needs a supervisor's approval in force (anyone else), as opening it on its page does."""
    try:
        info = selectors.get_instance(instance_id=int(instance_id), viewer=ctx.actor, with_history=False)
        if info.process_key != CP_KEY:
            raise NotFound("")
        api.open_case_file(instance_id=info.id, viewer=ctx.actor, view="children_intake", purpose="casework", reason=CP_READING_REASON)
    except NotFound:
        raise FormInvalid({"cp_case": [pgettext("children", "Choose an open child-protection case you may see.")]}) from None
    except NotPermitted:
        raise FormInvalid({"cp_case": [pgettext("children", "This child-protection case is not yours: ask a supervisor for access first.")]}) from None
    linked = ChildCase.objects.filter(cp_instance_id=info.id).select_related("child").order_by("-pk").first()
    if linked is not None:
        return linked.child, info.id
    if not _in_scope(ctx.actor, info.village):
        raise FormInvalid({"cp_case": [pgettext("children", "This child-protection case is in a village you do not work in.")]})
    with translation.override("zh-hans"):
        fields = {f.key: f.value for form in selectors.submitted_forms(instance_id=info.id, viewer=ctx.actor)
                  if form.bpmn_id == "Task_Intake" and not form.superseded for f in form.fields}
    if not fields.get("child_name") or fields["child_name"] == "—":
        raise FormInvalid({"cp_case": [pgettext("children", "The intake of this child-protection case is not recorded yet.")]})

    def text(key: str, limit: int) -> str:
        value = fields.get(key, "")
        return "" if value == "—" else value[:limit]

    child = new_child(
        village=info.village, name=text("child_name", 50), sex={"男": "male", "女": "female"}.get(fields.get("sex", ""), ""),
        birth_date=text("dob", 10), school=text("school_grade", 80), guardian_name=text("guardian_name", 50),
        guardian_relation=text("guardian_relation", 20), guardian_phone=text("guardian_phone", 20),
        left_behind=fields.get("left_behind") == "是", disability="残疾" if fields.get("disability") == "是" else "")
    return child, info.id


@registry.on_start(KEY)
def open_case(ctx, data):
    source = data["child_from"]
    cp_instance_id, reopened_from, child = None, None, None
    if source == "archive":
        child = access.visible_children(ctx.actor).filter(pk=int(data.get("child") or 0), active=True).first()
        if child is None:
            raise FormInvalid({"child": [pgettext("children", "Choose a child of your villages from the archive.")]})
    elif source == "cp_case":
        if not data.get("cp_case"):
            raise FormInvalid({"cp_case": [pgettext("children", "Choose the child-protection case.")]})
        child, cp_instance_id = _from_cp_case(ctx, data["cp_case"])
    elif source == "reopen":
        reopened_from = access.in_villages(ChildCase.objects.filter(stage=CaseStage.CLOSED), ctx.actor).filter(
            pk=int(data.get("reopen_of") or 0)).select_related("child").first()
        if reopened_from is None:
            raise FormInvalid({"reopen_of": [pgettext("children", "Choose a closed case of your villages.")]})
        child = reopened_from.child
    else:  # a new child
        errors = {}
        if not (data.get("child_name") or "").strip():
            errors["child_name"] = [pgettext("children", "Give the child's name.")]
        if not data.get("village") or not _in_scope(ctx.actor, data["village"]):
            errors["village"] = [pgettext("children", "Choose one of your villages.")]
        if errors:
            raise FormInvalid(errors)
        birth = _date(data.get("birth_date"))
        child = new_child(village=data["village"], name=data["child_name"].strip(), sex=data.get("sex") or "",
                          birth_date=birth.isoformat() if birth else "", left_behind=bool(data.get("left_behind")),
                          school=data.get("school") or "", grade=data.get("grade") or "", guardian_name=data.get("guardian_name") or "",
                          guardian_phone=data.get("guardian_phone") or "")
    if ChildCase.objects.filter(child=child, stage__in=OPEN_STAGES).exists():
        field = {"archive": "child", "cp_case": "cp_case", "reopen": "reopen_of"}.get(source, "child_name")
        raise FormInvalid({field: [pgettext("children", "This child already has an open case.")]})
    case = ChildCase.objects.create(instance_id=ctx.instance_id, child=child, village=child.village, referral=data["referral"],
                                    concerns=data["concerns"], cp_instance_id=cp_instance_id, reopened_from=reopened_from,
                                    opened_on=clock.today())
    ctx.memo["children_case"] = case
    ctx.set_subject(child.code)  # a number, never a name, in every list
    ctx.set_village(child.village)
    ctx.set_variable("child_id", child.pk)
    ctx.audit("children_case_opened", {"child": child.code, "source": source, "cp_instance": cp_instance_id,
                                       "reopened_from": reopened_from.instance_id if reopened_from else None})


def _case(ctx) -> ChildCase:
    case = ctx.memo.get("children_case")
    if case is None or case.instance_id != ctx.instance_id:
        case = ChildCase.objects.select_for_update().select_related("child").get(instance_id=ctx.instance_id)
        ctx.memo["children_case"] = case
    return case


def _note_mental_state(ctx, case: ChildCase, text: str, on: dt.date | None = None) -> None:
    text = (text or "").strip()
    if text:
        MentalState.objects.create(child=case.child, recorded_on=on or clock.today(), note=text,
                                   recorded_by=ctx.actor if getattr(ctx.actor, "pk", None) else None)


@registry.on_task_completed(KEY, "Task_Assessment")
def assessed(ctx, data):
    case = _case(ctx)
    case.assessment = {k: data.get(k) for k in ("needs", "risk_level", "strengths", "summary")}
    case.stage = CaseStage.PLAN
    case.save(update_fields=["assessment", "stage"])
    _note_mental_state(ctx, case, data.get("mental_state"))


@registry.on_task_completed(KEY, "Task_CasePlan")
def planned(ctx, data):
    rows = [r for r in data.get("interventions") or [] if isinstance(r, dict)]
    if not rows:
        raise FormInvalid({"interventions": [pgettext("children", "Add at least one intervention: its goal, who provides it and when it should end.")]})
    case = _case(ctx)
    case.interventions = [{"goal": r.get("goal", ""), "provider": r.get("provider", ""),
                           "expected_end": str(r.get("expected_end") or "")} for r in rows]
    case.stage = CaseStage.SERVICES
    case.save(update_fields=["interventions", "stage"])


@registry.on_task_completed(KEY, "Task_Service")
def served(ctx, data):
    case = _case(ctx)
    held_on = _date(data["held_on"])
    if held_on < case.opened_on:
        raise FormInvalid({"held_on": [pgettext("children", "The case was opened on %(date)s: a service comes after it.") % {"date": case.opened_on.isoformat()}]})
    # After a return the form comes back filled with the last service: sent unchanged, it would record that
    # service twice. A new service says what was done this time.
    if case.services.filter(held_on=held_on, kind=data["kind"]).exists() and any(
            s.note.strip() == data["note"].strip() for s in case.services.filter(held_on=held_on, kind=data["kind"])):
        raise FormInvalid({"note": [pgettext("children", "This service is already recorded with the same date, kind and note: say what was done this time.")]})
    ServiceRecord.objects.create(case=case, held_on=held_on, kind=data["kind"], note=data["note"])
    _note_mental_state(ctx, case, data.get("mental_state"), held_on)
    case.stage = CaseStage.SERVICES if data["next_step"] == "continue" else CaseStage.CLOSURE
    case.save(update_fields=["stage"])


@registry.on_task_completed(KEY, "Task_Closure")
def closing(ctx, data):
    case = _case(ctx)
    case.closure = {"outcome": data["outcome"], "summary": data["summary"]}
    case.stage = CaseStage.CLOSURE
    case.save(update_fields=["closure", "stage"])
    _note_mental_state(ctx, case, data.get("mental_state"))


@registry.on_task_completed(KEY, "Task_ApproveClosure")
def closure_decided(ctx, data):
    case = _case(ctx)
    if data["closure_decision"] == "return":
        if not (data.get("comments") or "").strip():
            raise FormInvalid({"comments": [pgettext("children", "Say what the worker should still do.")]})
        case.stage = CaseStage.SERVICES
        case.save(update_fields=["stage"])
        return
    case.stage, case.closed_on = CaseStage.CLOSED, clock.today()
    case.save(update_fields=["stage", "closed_on"])


def case_summary(instance_id: int, viewer) -> list[tuple[str, str]]:
    """The stage, the archive number and, for a reopened case, the case it follows (by when it was
    opened), and the child-protection case it came from (by that case's number): never a name, and
    never the system's internal numbers."""
    case = ChildCase.objects.filter(instance_id=instance_id).select_related("child", "reopened_from").first()
    if case is None:
        return []
    facts = [(str(pgettext_lazy("children", "Stage")), str(case.get_stage_display())),
             (str(pgettext_lazy("children", "Archive")), case.child.code)]
    if case.reopened_from_id:
        facts.append((str(pgettext_lazy("children", "Follows the closed case")),
                      pgettext("children", "opened %(date)s") % {"date": f"{case.reopened_from.opened_on:%Y-%m-%d}"}))
    if case.cp_instance_id:
        report = api.get_instance(instance_id=case.cp_instance_id, viewer=api.SYSTEM, with_history=False)
        facts.append((str(pgettext_lazy("children", "Opened from child-protection case")), report.subject or "—"))
    return facts


registry.register_case_summary(KEY, case_summary)


# -- the station's year ------------------------------------------------------------------------------

def _in(query, villages):
    return query if villages is None else query.filter(village__in=villages)


def _counted(query_for, date_field: str):
    def compute(year: int, villages) -> registry.FigureValues:
        query = _in(query_for().filter(**{f"{date_field}__year": year}), villages)
        by_month = dict(query.annotate(m=ExtractMonth(date_field)).values("m").annotate(n=Count("pk")).values_list("m", "n"))
        by_village = dict(query.values("village").annotate(n=Count("pk")).values_list("village", "n"))
        return registry.FigureValues(sum(by_month.values()), by_month, by_village)
    return compute


def _sessions(year: int, villages) -> registry.FigureValues:
    query = GroupSession.objects.filter(held_on__year=year)
    if villages is not None:
        query = query.filter(group__village__in=villages)
    by_month = dict(query.annotate(m=ExtractMonth("held_on")).values("m").annotate(n=Count("pk")).values_list("m", "n"))
    by_village = dict(query.values("group__village").annotate(n=Count("pk")).values_list("group__village", "n"))
    return registry.FigureValues(sum(by_month.values()), by_month, by_village)


def _improved(year: int, villages) -> registry.FigureValues:
    """Children whose score after a group (screened in the year) is better than before, in the scale's direction."""
    posts = Screening.objects.filter(phase=Phase.POST, screened_on__year=year).select_related("scale", "group")
    if villages is not None:
        posts = posts.filter(group__village__in=villages)
    pres = {(s.group_id, s.child_id, s.scale_id): s.score for s in Screening.objects.filter(
        phase=Phase.PRE, group_id__in={p.group_id for p in posts})}
    by_month: dict[int, int] = {}
    by_village: dict[str, int] = {}
    counted: set[int] = set()
    for post in sorted(posts, key=lambda s: (s.screened_on, s.pk)):
        pre = pres.get((post.group_id, post.child_id, post.scale_id))
        if pre is None or post.child_id in counted or scales.better(post.scale, pre, post.score) <= 0:
            continue
        counted.add(post.child_id)  # a child counts once a year, however many groups it improved in
        by_month[post.screened_on.month] = by_month.get(post.screened_on.month, 0) + 1
        by_village[post.group.village] = by_village.get(post.group.village, 0) + 1
    return registry.FigureValues(len(counted), by_month, by_village)


def _contacts(kinds):
    def compute(year: int, villages) -> registry.FigureValues:
        query = FamilyContact.objects.filter(kind__in=kinds, held_on__year=year)
        if villages is not None:
            query = query.filter(child__village__in=villages)
        by_month = dict(query.annotate(m=ExtractMonth("held_on")).values("m").annotate(n=Count("pk")).values_list("m", "n"))
        by_village = dict(query.values("child__village").annotate(n=Count("pk")).values_list("child__village", "n"))
        return registry.FigureValues(sum(by_month.values()), by_month, by_village)
    return compute


for order, (code, label, unit, compute, drill) in enumerate([
        ("children.archives", pgettext_lazy("children", "Children given a growth archive"), pgettext_lazy("children", "children"),
         _counted(lambda: Child.objects.all(), "created_at"), "children"),
        ("children.cases_opened", pgettext_lazy("children", "Children's cases opened"), pgettext_lazy("children", "cases"),
         _counted(lambda: ChildCase.objects.all(), "opened_on"), "children"),
        ("children.cases_closed", pgettext_lazy("children", "Children's cases closed"), pgettext_lazy("children", "cases"),
         _counted(lambda: ChildCase.objects.filter(stage=CaseStage.CLOSED), "closed_on"), "children"),
        ("children.group_sessions", pgettext_lazy("children", "Children's group sessions held"), pgettext_lazy("children", "sessions held"),
         _sessions, "children-groups"),
        ("children.improved", pgettext_lazy("children", "Children improved on their screening"), pgettext_lazy("children", "children"),
         _improved, "children-groups"),
        ("children.family_letters", pgettext_lazy("children", "Family letters sent"), pgettext_lazy("children", "letters"),
         _contacts([ContactKind.LETTER]), "children-contacts"),
        ("children.joint_visits", pgettext_lazy("children", "Joint home visits with partners"), pgettext_lazy("children", "visits"),
         _contacts(list(JOINT_VISITS)), "children-contacts"),
]):
    registry.register_figure(registry.Figure(code=code, label=label, unit=unit, compute=compute, drill=drill, order=60 + order))


# -- joint home visits with a partner office (the process children_joint_visit, ADR 0031) -----------

VISIT_KEY = "children_joint_visit"
VISIT_PLANNED_WITHIN_DAYS = 183
VISIT_READING_REASON = "约请合作单位联合家访：向合作单位提供家访所需的儿童信息"
registry.register_variables(VISIT_KEY, {"partner_group", "planned_at"})


def visit_offices() -> dict[str, dict]:
    """The partner offices that make joint home visits: user group -> {"kind", "label"} (settings)."""
    offices = getattr(settings, "CHILDREN_JOINT_VISIT_OFFICES", {}) or {}
    return {group: office for group, office in offices.items()
            if isinstance(office, dict) and office.get("kind") in {k.value for k in JOINT_VISITS}}


def office_choices(user) -> list[tuple[str, str]]:
    """The offices a worker may ask for a joint home visit (staff only)."""
    if user is None or not access.is_staff(user):
        return []
    return [(group, str(office.get("label") or group)) for group, office in visit_offices().items()]


registry.register_option_source("children_visit_offices", office_choices)
registry.register_group_label(lambda group: str(visit_offices().get(group, {}).get("label") or "") or None)


def _office_has_people(group: str) -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True, groups__name=group).filter(groups__name="partner_office").exists()


@registry.on_start(VISIT_KEY)
def ask_joint_visit(ctx, data):
    """A worker who may open the child's archive asks one partner office for a joint home visit. The
    office's people get a task that only their group sees; reading the child's details for it is
    logged like any opening of the archive (a holder's reason; anyone else needs an approval)."""
    child = access.visible_children(ctx.actor).filter(pk=int(data.get("child") or 0), active=True).first()
    if child is None:
        raise FormInvalid({"child": [pgettext("children", "Choose a child of your villages from the archive.")]})
    office = visit_offices().get(data.get("office") or "")
    if office is None:
        raise FormInvalid({"office": [pgettext("children", "Choose one of the partner offices listed.")]})
    if _date(data["planned_on"]) > clock.today() + dt.timedelta(days=VISIT_PLANNED_WITHIN_DAYS):
        # A visit is agreed for the coming weeks: a year typed wrong (2062) would keep the office's
        # deadline (the agreed day and 7 more) out of sight for decades.
        raise FormInvalid({"planned_on": [pgettext("children", "Give a date within the next six months.")]})
    if not _office_has_people(data["office"]):
        raise FormInvalid({"office": [pgettext("children", "This office has nobody in the portal yet: visit together and record the visit on the archive page instead.")]})
    record = access.as_record(child)
    if api.record_need(ctx.actor, record) == api.APPROVAL and api.active_approval(ctx.actor, record=record.key) is None:
        raise FormInvalid({"child": [pgettext("children", "This child's archive is not yours: ask a supervisor for access first.")]})
    api.record_access(instance_id=0, process_key=KEY, viewer=ctx.actor, view="children_joint_visit", record=record.key,
                      purpose="casework", reason=VISIT_READING_REASON)
    JointVisit.objects.create(instance_id=ctx.instance_id, child=child, village=child.village, office=data["office"],
                              office_label=str(office.get("label") or data["office"])[:80], kind=office["kind"],
                              planned_on=_date(data["planned_on"]), purpose=data["purpose"], asked_by=ctx.actor)
    ctx.set_subject(child.code)  # a number, never a name, in every list
    ctx.set_village(child.village)
    ctx.set_variable("partner_group", data["office"])
    # The office's deadline counts from the start of the agreed day: 8 days on, it has had that day and
    # the 7 after it to record the visit (Timer_PartnerVisitDue; then the supervisor is told).
    station_day = dt.datetime.combine(_date(data["planned_on"]), dt.time.min, tzinfo=timezone.get_default_timezone())
    ctx.set_variable("planned_at", station_day.isoformat())
    ctx.audit("children_joint_visit_asked", {"child": child.code, "office": data["office"]})


@registry.on_task_completed(VISIT_KEY, "Task_PartnerVisit")
def partner_answered(ctx, data):
    """The office's part: a visit made becomes the child's contact with the family (on the archive, in the
    year's joint visits); one that could not be made keeps the office's reason on the visit."""
    visit = JointVisit.objects.select_for_update().select_related("child").get(instance_id=ctx.instance_id)
    visited_on = _date(data["visited_on"])
    if visited_on < timezone.localdate(visit.created_at):
        raise FormInvalid({"visited_on": [pgettext("children", "The visit was asked for on %(date)s: give the date of the visit after it.") % {
            "date": timezone.localdate(visit.created_at).isoformat()}]})
    actor = ctx.actor if getattr(ctx.actor, "pk", None) else None
    if data["outcome"] == "visited":
        visit.contact = FamilyContact.objects.create(
            child=visit.child, kind=visit.kind, held_on=visited_on, people=data["visitors"], partner_org=visit.office_label,
            partner_person=api.display_name(actor)[:50] if actor else "", summary=data["findings"], follow_up=data.get("follow_up") or "",
            recorded_by=actor)
        visit.status = VisitStatus.VISITED
    else:
        visit.status = VisitStatus.NOT_VISITED
        visit.not_visited_reason = data["findings"]
    visit.answered_by, visit.answered_at = actor, clock.now()
    visit.save(update_fields=["contact", "status", "not_visited_reason", "answered_by", "answered_at"])
    with translation.override(settings.LANGUAGE_CODE):  # a notice is written once, in the station's language
        about = (pgettext("children", "%(office)s recorded the joint home visit") if data["outcome"] == "visited"
                 else pgettext("children", "%(office)s could not make the joint home visit")) % {"office": visit.office_label}
    # The worker who asked hears it, and is led to the child's archive: the visit's case page is the
    # office's (the worker holds no task of it, so it would ask a supervisor's approval).
    ctx.notify(visit.asked_by.get_username(), about, link=reverse("children-child", args=[visit.child_id]))


@registry.service("children.visit_late")
def tell_asker_visit_late(ctx, params):
    """The office has not recorded the visit by its deadline (Timer_PartnerVisitDue): the supervisors
    are told by the breach; the worker who asked is told here, in the same step."""
    visit = JointVisit.objects.get(instance_id=ctx.instance_id)
    if visit.status == VisitStatus.ASKED:
        with translation.override(settings.LANGUAGE_CODE):
            about = pgettext("children", "%(office)s has not recorded the joint home visit agreed for %(date)s") % {
                "office": visit.office_label, "date": visit.planned_on.isoformat()}
        ctx.notify(visit.asked_by.get_username(), about, overdue=True, link=reverse("children-child", args=[visit.child_id]))
    return {"told": visit.asked_by.get_username()}


@registry.on_event
def joint_visit_cancelled(event):
    if event.process_key == VISIT_KEY and event.task_id is None and event.kind == "cancelled":
        JointVisit.objects.filter(instance_id=event.instance_id, status=VisitStatus.ASKED).update(status=VisitStatus.CANCELLED)


def visit_summary(instance_id: int, viewer) -> list[tuple[str, str]]:
    """What the visit needs, for the office and the station alike: the child's name, village, school
    and grade, the guardian to meet, the date and the purpose — never the rest of the archive
    (health, family, mental state, cases, scores, photos)."""
    visit = JointVisit.objects.filter(instance_id=instance_id).select_related("child").first()
    if visit is None:
        return []
    from engine.station import Village

    child = visit.child
    village = Village.objects.filter(code=visit.village).values_list("name", flat=True).first() or visit.village
    guardian = " ".join(p for p in (child.guardian_name, f"（{child.guardian_relation}）" if child.guardian_relation else "",
                                    child.guardian_phone) if p)
    sex = child.get_sex_display()
    facts = [(str(pgettext_lazy("children", "Child")), f"{child.name}（{sex}）" if sex else child.name),
             (str(pgettext_lazy("children", "Village")), village),
             (str(pgettext_lazy("children", "School and grade")), f"{child.school} {child.grade}".strip() or "—"),
             (str(pgettext_lazy("children", "Guardian")), guardian or "—"),
             (str(pgettext_lazy("children", "Partner office")), visit.office_label),
             (str(pgettext_lazy("children", "Date agreed")), visit.planned_on.isoformat()),
             (str(pgettext_lazy("children", "Purpose")), visit.purpose),
             (str(pgettext_lazy("children", "Status")), str(visit.get_status_display()))]
    if api.sees_people(viewer):
        facts.insert(1, (str(pgettext_lazy("children", "Archive")), child.code))
    return facts


registry.register_case_summary(VISIT_KEY, visit_summary)


# -- on a household's page -----------------------------------------------------------------------------

def household_facet(person_key: str, viewer) -> list[tuple[str, str]]:
    """On a household's page ("household:<number>"): the children of the household with a growth archive,
    by archive number — their open case's stage and the groups they are in — for a viewer who may open
    that archive now or after giving a reason (its holders) or holds an approval in force; nothing at
    all for anyone else."""
    kind, _sep, number = person_key.partition(":")
    if kind != "household" or not number or viewer is None or not access.is_staff(viewer):
        return []
    rows = []
    for child in access.visible_children(viewer).filter(household_code__isnull=False).order_by("code"):
        if child.household_code != number:  # encrypted: compared in Python, within the viewer's villages
            continue
        record = access.as_record(child)
        if api.record_need(viewer, record) == api.APPROVAL and api.active_approval(viewer, record=record.key) is None:
            continue
        case = child.cases.filter(stage__in=OPEN_STAGES).order_by("-pk").first()
        groups = list(child.memberships.filter(group__active=True).values_list("group__name", flat=True))
        parts = [pgettext("children", "case in %(stage)s") % {"stage": case.get_stage_display()} if case else pgettext("children", "no open case")]
        if groups:
            parts.append(pgettext("children", "groups: %(names)s") % {"names": "、".join(groups)})
        rows.append((pgettext("children", "Children in difficulty"), f"{child.code} · {' · '.join(parts)}"))
    return rows


registry.register_person_facet(household_facet)
