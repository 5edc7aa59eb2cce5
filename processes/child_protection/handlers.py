"""Service tasks and hooks of the child-protection process. They run inside the engine step's
transaction: they keep the case record in step with the tasks and queue outside effects (police
and civil-affairs notices) in the outbox — nothing is sent from here."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from engine import api, clock, registry, selectors
from engine.errors import FormInvalid, InvalidState

from .models import CaseStatus, ChildProtectionCase

KEY = "child_protection"
CHILD_FIELDS = {
    "child_name", "sex", "dob", "age_estimated", "school_grade", "guardian_name", "guardian_relation",
    "guardian_phone", "carer_type", "left_behind", "disability",
}


def _case(ctx) -> ChildProtectionCase:
    """The case record, read once per step (the step holds the instance's lock, which orders every
    writer of it), with the changes this step has made to it so far."""
    if "case" not in ctx.memo:
        case = ChildProtectionCase.objects.get(instance_id=ctx.instance_id)
        for name, value in ctx.memo.get("case_changes", {}).items():
            setattr(case, name, value)
        ctx.memo["case"] = case
    return ctx.memo["case"]


def _update(ctx, **fields) -> None:
    """Change the case record in one UPDATE, made with the step's save: no read first, no round
    trip of its own. `_case` still answers with the changes."""
    ctx.update_with_save(ChildProtectionCase.objects.filter(instance_id=ctx.instance_id), **fields)
    ctx.memo.setdefault("case_changes", {}).update(fields)
    if "case" in ctx.memo:
        for name, value in fields.items():
            setattr(ctx.memo["case"], name, value)


def _when(value: str | None):
    return dt.datetime.fromisoformat(value) if value else None


def _case_no(ctx, received_at: dt.datetime) -> str:
    """Derived from the instance id: unique without a counter to race on (two reports at once)."""
    return f"CP-{timezone.localtime(received_at).year}-{ctx.instance_id:05d}"


@registry.on_start(KEY)
def open_case(ctx, data):
    received_at = _when(data.get("received_at")) or clock.now()
    if received_at > clock.now() + dt.timedelta(minutes=5):  # the form refuses it too; never number a case CP-2030
        raise FormInvalid({"received_at": [_("Cannot be in the future.")]})
    case = ChildProtectionCase.objects.create(
        case_no=_case_no(ctx, received_at), instance_id=ctx.instance_id, village=data.get("village", ""),
        received_at=received_at, channel=data.get("channel", ""),
    )
    ctx.set_subject(case.case_no)
    ctx.set_village(case.village)


@registry.on_task_completed(KEY, "Task_Intake")
def record_intake(ctx, data):
    _update(ctx, reporter={k: v for k, v in data.items() if k.startswith("reporter_") or k == "anonymous"},
            child={k: v for k, v in data.items() if k in CHILD_FIELDS}, situations=data.get("situations", []),
            present_danger=bool(data.get("present_danger")))


@registry.service("police.report")
def report_to_police(ctx, params):
    """The law asks for an immediate report to the police (意见 第二条): queue the written notice."""
    case = _case(ctx)
    key = ctx.enqueue("partner.police", {
        "case_no": case.case_no, "village": case.village, "situations": case.situations,
        "present_danger": case.present_danger, "received_at": case.received_at.isoformat(),
    }, effect="police_report")
    return {"queued": key}


@registry.service("civil_affairs.notify")
def notify_civil_affairs(ctx, params):
    case = _case(ctx)
    key = ctx.enqueue("partner.civil_affairs", {
        "case_no": case.case_no, "village": case.village, "present_danger": True,
    }, effect="civil_affairs_notice")
    return {"queued": key}


@registry.on_task_completed(KEY, "Task_PoliceReceipt")
def record_police_receipt(ctx, data):
    _update(ctx, police_station=data.get("police_station", ""), police_reported_at=_when(data.get("police_reported_at")),
            police_receipt_no=data.get("police_receipt_no", ""))


@registry.on_task_completed(KEY, "Task_Respond")
def record_response(ctx, data):
    fields = {"responded_at": _when(data.get("responded_at")) or clock.now()}
    if data.get("household"):  # a number from the register's option list, among the worker's own villages
        fields["household_code"] = data["household"]
    _update(ctx, **fields)


@registry.on_task_completed(KEY, "Task_SupervisorEscalation")
def act_on_escalation(ctx, data):
    """The supervisor either gives the overdue response to another worker or takes it over."""
    action = data.get("action")
    if action == "reassign":
        if not data.get("reassign_to"):
            raise FormInvalid({"reassign_to": [_("Choose the worker who takes over the response.")]})
        try:  # any worker of the station: a station of 2-5 people covers sick leave across villages
            ctx.reassign_open_task("Task_Respond", data["reassign_to"], reason=data.get("reason", ""), any_village=True)
        except InvalidState as exc:
            raise FormInvalid({"reassign_to": [str(exc)]}) from None
    elif action == "respond_myself":
        ctx.reassign_open_task("Task_Respond", ctx.actor.get_username(), reason=data.get("reason", ""))


@registry.on_task_completed(KEY, "Task_Assessment")
def record_risk(ctx, data):
    _update(ctx, risk_level=data.get("risk_level", ""))


@registry.on_task_completed(KEY, "Task_ApprovePlan")
def check_plan_return(ctx, data):
    """A returned plan says what to change: the comments are what the worker's task shows as
    returned (and the engine only marks the step returned, prefilled with the plan, when they are given)."""
    if data.get("plan_decision") == "return" and not data.get("comments"):
        raise FormInvalid({"comments": [_("Say what the worker must change in the plan.")]})


@registry.on_task_completed(KEY, "Task_Closure")
def record_feedback(ctx, data):
    _update(ctx, police_feedback=data.get("police_feedback", ""))


@registry.on_task_completed(KEY, "Task_ApproveClosure")
def close_case(ctx, data):
    if data.get("closure_decision") != "approve":
        if not data.get("comments"):
            raise FormInvalid({"comments": [_("Say what the worker must add before the case can be closed.")]})
        return
    _update(ctx, status=CaseStatus.CLOSED, closed_at=clock.now())


@registry.on_event
def close_record_of_cancelled_case(event):
    if event.process_key == KEY and event.kind == "cancelled" and event.task_id is None:
        ChildProtectionCase.objects.filter(instance_id=event.instance_id).update(status=CaseStatus.CANCELLED, closed_at=clock.now())


def _choice_label(form_name: str, key: str, value: str) -> str:
    """A stored choice as this package's own form labels it (风险等级 高, not a code)."""
    import json
    from pathlib import Path

    from engine import api

    form = json.loads((Path(__file__).resolve().parent / "forms" / f"{form_name}.json").read_text(encoding="utf-8"))
    field = next((f for f in api.describe_form(form) if f.key == key), None)
    return dict(field.choices).get(value, value) if field is not None else value


def _hours(delta: dt.timedelta) -> str:
    """Rounded to the nearest hour (or minute), as the task's deadline badge rounds: the summary and
    the badge on one page must not say 35 and 36 hours left."""
    seconds = abs(delta.total_seconds())
    hours = round(seconds / 3600)
    return _("%(n)d h") % {"n": hours} if hours else _("%(n)d min") % {"n": max(round(seconds / 60), 1)}


def case_summary(instance_id: int, viewer, task=None) -> list[tuple[str, str]]:
    """What a supervisor needs on top of every page of a report: when it arrived, when the 24-hour
    response is due, whether and when it was made, who holds it now, and the assessed risk."""
    from engine import selectors

    case = ChildProtectionCase.objects.filter(instance_id=instance_id).first()
    if case is None:
        return []
    shown = lambda moment: timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")  # noqa: E731 - a case outlives the year it came in
    rows = [(_("Report received"), shown(case.received_at))]
    responses = selectors.open_tasks_of(instance_id=instance_id, bpmn_id="Task_Respond")
    if case.responded_at:
        rows.append((_("Responded"), shown(case.responded_at)))
    elif responses and responses[0].due_at:
        due = responses[0].due_at  # the diagram's own deadline, counted from receipt
        late = clock.now() - due
        rows.append((_("Response due"), shown(due)))
        rows.append((_("Response"), _("not yet — overdue by %(span)s") % {"span": _hours(late)} if late.total_seconds() > 0
                     else _("not yet — %(span)s left") % {"span": _hours(late)}))
        holders = [t.assignee_label for t in responses if t.assignee_label]
        rows.append((_("Response held by"), "、".join(holders) or _("nobody yet")))
    if case.risk_level:
        rows.append((_("Risk level"), _choice_label("Task_Assessment", "risk_level", case.risk_level)))
    return rows


registry.register_case_summary(KEY, case_summary)


# -- on a household's page -----------------------------------------------------------------------------

def household_facet(person_key: str, viewer) -> list[tuple[str, str]]:
    """On a household's page ("household:<number>"): the child-protection cases linked to it, by case
    number and status only — never the child's name — and only the cases this viewer may open under the
    need-to-know gate (a holder, or someone with a supervisor's approval in force). Anyone else gets
    nothing at all: no row, no count, not even the label."""
    kind, _sep, number = person_key.partition(":")
    if kind != "household" or not number or viewer is None or not getattr(viewer, "is_authenticated", False):
        return []
    visible = dict(selectors.visible_instances(viewer).filter(process_key=KEY).values_list("pk", "village"))
    if not visible:
        return []
    rows = []
    cases = ChildProtectionCase.objects.filter(instance_id__in=list(visible), household_code__isnull=False).order_by("-received_at")
    for case in cases:
        if case.household_code != number:  # encrypted: compared in Python, within the viewer's own cases
            continue
        may_open = (api.access_need(viewer, instance_id=case.instance_id, process_key=KEY, village=visible[case.instance_id]) != api.APPROVAL
                    or api.active_approval(viewer, instance_id=case.instance_id) is not None)
        if may_open:
            rows.append((_("Child protection"), _("%(number)s · %(status)s · received %(date)s") % {
                "number": case.case_no, "status": case.get_status_display(), "date": timezone.localtime(case.received_at).date().isoformat()}))
    return rows


registry.register_person_facet(household_facet)
