"""The time bank's service case, step by step: the request opens a session record; matching names
the volunteer; the sign-in and sign-out give the hours; the elder's (or a proxy's) confirmation pays
for the service and either deposits the hours or, above a cap or on an anomaly, leaves them for the
supervisor's review, whose decision deposits what it allows.

Everything here runs inside the engine step's transaction: a refusal (`FormInvalid`) leaves the
task open and nothing written, ledger entries included."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.defaultfilters import linebreaksbr
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from engine import api, clock, registry, selectors
from engine.errors import CaseflowError, FormInvalid

from . import checks, ledger, search  # noqa: F401 - search registers the members' search and household facet
from .access import in_pilot_scope, may_read_member, village_names
from .models import Member, MemberKind, MemberStatus, PaidWith, ServiceSession, SessionStatus

KEY = "time_bank"
# What the hooks put into the workflow's data, for deploy's check of the gateway conditions.
registry.register_variables(KEY, {"time_bank_session", "needs_review"})


def _approved(kind: str, villages) -> list[Member]:
    query = Member.objects.filter(kind=kind, status=MemberStatus.APPROVED, village__in=settings.TIME_BANK["pilot_villages"])
    if villages is not None:
        query = query.filter(village__in=villages)
    return list(query.order_by("village", "pk")[:2000])


def elders(user) -> list[tuple[str, str]]:
    """Approved elders of the pilot villages this user works in."""
    villages = registry.villages_for(user) if user is not None else set()
    names = village_names()
    return [(str(m.pk), f"{m.number} {m.name}（{names.get(m.village, m.village)}）") for m in _approved(MemberKind.ELDER, villages)]


def volunteers(user, variables) -> list[tuple[str, str]]:
    """Approved volunteers of the service's village (of the user's pilot villages on a preview)."""
    session_id = (variables or {}).get("time_bank_session")
    if session_id:
        villages = set(ServiceSession.objects.filter(pk=session_id).values_list("village", flat=True))
    else:
        villages = registry.villages_for(user) if user is not None else set()
    return [(str(m.pk), f"{m.number} {m.name}") for m in _approved(MemberKind.VOLUNTEER, villages)]


registry.register_option_source("time_bank_elders", elders)
registry.register_option_source("time_bank_volunteers", volunteers)


def _session(ctx) -> ServiceSession:
    if "time_bank_session" not in ctx.memo:
        ctx.memo["time_bank_session"] = (ServiceSession.objects.select_for_update(of=("self",)).select_related("elder", "volunteer")
                                         .get(instance_id=ctx.instance_id))
    return ctx.memo["time_bank_session"]


@registry.on_start(KEY)
def open_request(ctx, data):
    elder = Member.objects.filter(pk=int(data["elder"]), kind=MemberKind.ELDER, status=MemberStatus.APPROVED).first()
    if elder is None or not in_pilot_scope(ctx.actor, elder.village):
        raise FormInvalid({"elder": [_("Choose an approved elder of a pilot village you work in.")]})
    session = ServiceSession.objects.create(
        instance_id=ctx.instance_id, village=elder.village, elder=elder, item=data["item"], requested_by=data["requested_by"],
        request_notes=(data.get("notes") or "").strip(),
        scheduled_for=dt.date.fromisoformat(data["scheduled_for"]) if data.get("scheduled_for") else None, created_at=clock.now())
    ctx.set_subject(session.number)  # a number, no name: lists and notices carry no personal data
    ctx.set_village(elder.village)
    ctx.set_variable("time_bank_session", session.pk)


@registry.on_task_completed(KEY, "Task_Match")
def match_volunteer(ctx, data):
    session = _session(ctx)
    volunteer = Member.objects.filter(pk=int(data["volunteer"]), kind=MemberKind.VOLUNTEER, status=MemberStatus.APPROVED,
                                      village=session.village).first()
    if volunteer is None:
        raise FormInvalid({"volunteer": [_("Choose an approved volunteer of the elder's village.")]})
    if volunteer.pk == session.elder_id:
        raise FormInvalid({"volunteer": [_("A member cannot serve themselves.")]})
    session.volunteer = volunteer
    session.arrangements = (data.get("notes") or "").strip()
    session.status = SessionStatus.MATCHED
    session.save(update_fields=["volunteer", "arrangements", "status"])


# How far the sign-out the volunteer's page sends may be from the server's clock when the step runs.
SIGN_OUT_SLACK = dt.timedelta(minutes=2)
LONGEST_SERVICE = dt.timedelta(hours=24)  # one session; a longer service is recorded day by day


def signed_in_volunteer(user, instance_id: int) -> ServiceSession | None:
    """The service of this case, if `user` is its volunteer's own sign-in, the volunteer is approved,
    and they have signed in on their phone and not yet out (else None)."""
    return (ServiceSession.objects.filter(instance_id=instance_id, status=SessionStatus.MATCHED, arrived_at__isnull=False,
                                          volunteer__user=user, volunteer__status=MemberStatus.APPROVED)
            .select_related("volunteer").first())


def _service_task_and_holder(session: ServiceSession):
    """The open service task of this case and the user who holds it (None, None when it is done, or
    nobody holds it)."""
    task = selectors.open_tasks_of_instances(instance_ids=[session.instance_id], bpmn_id="Task_Service").get(session.instance_id)
    if task is None or not task.assignee:
        return None, None
    holder = get_user_model().objects.filter(username=task.assignee, is_active=True).first()
    return (task, holder) if holder is not None else (None, None)


def _form_moment(moment: dt.datetime) -> str:
    """A moment as the service form's date-and-time field holds it: the station's time, to the minute."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def put_sign_in_on_the_form(session: ServiceSession) -> None:
    """The volunteer's sign-in on the phone, filled into the worker's service form (its draft). The
    worker records the service when the volunteer could not sign out on the phone (a flat battery, a
    day gone by): the sign-in the phone took is there to keep or correct. A sign-in time the worker
    typed into their draft already stays. The draft is the holder's unsubmitted form, written as
    them; with nobody holding the task the summary still shows the phone's sign-in."""
    task, holder = _service_task_and_holder(session)
    if task is None or session.arrived_at is None:
        return
    draft = dict(selectors.task_draft(task_id=task.id, viewer=selectors.SYSTEM) or {})
    if draft.get("signed_in_at"):
        return
    _save_draft(task.id, {**draft, "signed_in_at": _form_moment(session.arrived_at)}, holder)


def take_sign_in_off_the_form(session: ServiceSession, arrived_at: dt.datetime) -> None:
    """A sign-in taken back on the phone leaves the worker's form too, unless the worker changed it."""
    task, holder = _service_task_and_holder(session)
    if task is None:
        return
    draft = dict(selectors.task_draft(task_id=task.id, viewer=selectors.SYSTEM) or {})
    if draft.get("signed_in_at") == _form_moment(arrived_at):
        del draft["signed_in_at"]
        _save_draft(task.id, draft, holder)


def _save_draft(task_id: int, data: dict, holder) -> None:
    """Write the draft; a task completed or given to someone else a moment ago keeps what it has (the
    volunteer's sign-in itself is recorded on the session whatever happens here)."""
    try:
        api.save_draft(task_id=task_id, data=data, actor=holder)
    except CaseflowError:
        pass


@registry.also_completed_by(KEY, "Task_Service")
def volunteer_signs_out(user, instance_id: int) -> bool:
    """The volunteer who signed in on their phone signs out there, which records the service."""
    return signed_in_volunteer(user, instance_id) is not None


@registry.on_task_completed(KEY, "Task_Service")
def record_sign_in_and_out(ctx, data):
    session = _session(ctx)
    signed_in = dt.datetime.fromisoformat(data["signed_in_at"])
    signed_out = dt.datetime.fromisoformat(data["signed_out_at"])
    if signed_out <= signed_in:
        raise FormInvalid({"signed_out_at": [_("Sign-out must come after sign-in.")]})
    if signed_out - signed_in > LONGEST_SERVICE:
        raise FormInvalid({"signed_out_at": [_("A session cannot last more than a day; record each day on its own.")]})
    by_volunteer = ctx.actor is not None and session.volunteer is not None and session.volunteer.user_id == ctx.actor.pk
    if by_volunteer and not (session.arrived_at == signed_in and abs(clock.now() - signed_out) <= SIGN_OUT_SLACK):
        # Only the server's clock counts for the volunteer: the moment they pressed sign-in, and now.
        raise FormInvalid({"signed_out_at": [_("Sign in and out with the buttons on your page; the times are not typed.")]})
    session.signed_in_at, session.signed_out_at = signed_in, signed_out
    session.hours = checks.served_hours(signed_in, signed_out)
    session.status = SessionStatus.SERVED
    session.self_recorded = by_volunteer
    session.save(update_fields=["signed_in_at", "signed_out_at", "hours", "status", "self_recorded"])


def _pay_for_service(session: ServiceSession, paid_with: str, amount: Decimal, actor):
    """The elder's side: the service is paid with hours (their own or the pool's) or is free."""
    if paid_with == PaidWith.FREE or amount <= 0:
        return None
    account = ledger.account_of(session.elder) if paid_with == PaidWith.OWN else ledger.pool()
    return ledger.redeem(account, amount, session=session, actor=actor)  # the passbook names the service


@registry.on_task_completed(KEY, "Task_Confirm")
def confirm_service(ctx, data):
    session = _session(ctx)
    if data["confirmed"] != "yes":
        session.status = SessionStatus.NOT_CONFIRMED
        session.confirmed_by = data.get("confirmed_by", "")
        session.save(update_fields=["status", "confirmed_by"])
        ctx.set_variable("needs_review", False)
        return
    missing = {key: [_("Required when the elder confirms the service.")] for key in ("confirmed_by", "paid_with") if not data.get(key)}
    if missing:
        raise FormInvalid(missing)
    session.confirmed_by, session.paid_with = data["confirmed_by"], data["paid_with"]
    session.rating = int(data["rating"]) if data.get("rating") not in (None, "") else None
    try:
        _pay_for_service(session, session.paid_with, session.hours, ctx.actor)
    except ledger.LedgerRefused as refused:
        raise FormInvalid({"paid_with": [str(refused)]}) from None
    session.flags = checks.anomalies(session)
    session.review_reasons = checks.caps_passed(session) + session.flags
    if session.review_reasons:
        session.status = SessionStatus.IN_REVIEW
    else:
        ledger.deposit(session.volunteer, session.hours, session=session, actor=ctx.actor)
        session.credited_hours, session.status = session.hours, SessionStatus.DEPOSITED
    session.save(update_fields=["confirmed_by", "paid_with", "rating", "flags", "review_reasons", "credited_hours", "status"])
    ctx.set_variable("needs_review", bool(session.review_reasons))


@registry.on_task_completed(KEY, "Task_Review")
def review_hours(ctx, data):
    """The supervisor credits all, part or none of the hours. When less is credited than was
    served, the elder's payment is put right the ledger's way: its redemption is reversed and the
    credited hours redeemed again."""
    session = _session(ctx)
    decision = data["decision"]
    if decision == "approve":
        credited = session.hours
    elif decision == "refuse":
        credited = Decimal("0")
    else:
        raw = data.get("credited_hours")
        credited = ledger.hours(raw) if raw not in (None, "") else None
        if credited is None or not (0 < credited < session.hours):
            raise FormInvalid({"credited_hours": [_("Enter the hours to credit, above zero and below the %(hours)s served.")
                                                  % {"hours": session.hours}]})
    comment = data.get("comment", "")
    if credited < session.hours:
        payment = session.entries.filter(kind="redeem", reversed_by__isnull=True).first()
        if payment is not None:
            ledger.reverse(payment, actor=ctx.actor, note=comment or session.number)
            _pay_for_service(session, session.paid_with, credited, ctx.actor)
    if credited > 0:
        ledger.deposit(session.volunteer, credited, session=session, actor=ctx.actor, note=comment)
    session.credited_hours = credited
    session.status = SessionStatus.DEPOSITED if credited > 0 else SessionStatus.REFUSED
    session.save(update_fields=["credited_hours", "status"])


@registry.on_event
def close_cancelled_session(event):
    """A case cancelled before its hours were credited: the session no longer counts, and an elder who
    already paid for it (a case cancelled during the supervisor's review) gets the hours back."""
    if event.process_key != KEY or event.task_id is not None or event.kind != "cancelled":
        return
    session = ServiceSession.objects.filter(instance_id=event.instance_id).exclude(
        status__in=[SessionStatus.DEPOSITED, SessionStatus.REFUSED, SessionStatus.NOT_CONFIRMED]).first()
    if session is None:
        return
    for payment in session.entries.filter(kind="redeem", reversed_by__isnull=True):
        # The supervisor's reason for cancelling, as typed: stored text is never a translation of the moment.
        ledger.reverse(payment, actor=None, note=str(event.data.get("reason") or session.number))
    session.status = SessionStatus.CANCELLED
    session.save(update_fields=["status"])


def service_summary(instance_id: int, viewer) -> list[tuple[str, str]]:
    session = ServiceSession.objects.select_related("elder", "volunteer").filter(instance_id=instance_id).first()
    if session is None:
        return []
    rows = [(_("Service"), session.get_item_display()),
            (_("Elder"), f"{session.elder.number} {session.elder.name}")]
    if session.request_notes:
        rows.append((_("What is needed"), wrapped(session.request_notes)))
    if session.volunteer:
        rows.append((_("Volunteer"), f"{session.volunteer.number} {session.volunteer.name}"))
    if session.arrangements:
        rows.append((_("Arrangements"), wrapped(session.arrangements)))
    if session.arrived_at is not None and session.signed_out_at is None:
        rows.append((_("Volunteer signed in on the phone"), timezone.localtime(session.arrived_at).strftime("%Y-%m-%d %H:%M")))
    if session.hours is not None:
        rows.append((_("Hours served"), str(session.hours)))
        if session.self_recorded:
            rows.append((_("Signed in and out"), _("by the volunteer, on the phone")))
    if session.review_reasons:
        rows.append((_("For the supervisor"), "；".join(str(checks.REASONS[r]) for r in session.review_reasons if r in checks.REASONS)))
    rows.append((_("Status"), session.get_status_display()))
    return rows


registry.register_case_summary(KEY, service_summary)


def wrapped(text: str) -> SafeString:
    """Typed text for the case summary: escaped, its line breaks kept, in the body's weight (the
    summary's values are bold; a paragraph in bold is hard to read)."""
    return format_html('<span style="font-weight:400">{}</span>', linebreaksbr(text, autoescape=True))


def balance_facet(person_key: str, viewer) -> list[tuple[str, str]]:
    """The balance an elder holds here, on their page in another process ("elderly_care:<id>"), or
    on any page naming the member ("time_bank:<id>"); nothing for a viewer who may not read it."""
    process, _sep, ident = person_key.partition(":")
    if process == KEY:
        member = Member.objects.filter(pk=int(ident)).first() if ident.isdigit() else None
    else:
        member = Member.objects.filter(person_key=person_key).first() if person_key else None
    if member is None or not may_read_member(viewer, member):
        return []
    amount = ledger.balances([member.pk]).get(member.pk, Decimal("0"))
    return [(_("Time-bank passbook"), f"{member.number}（{member.get_status_display()}）"),
            (_("Time-bank balance"), _("%(hours)s hours") % {"hours": amount})]


registry.register_person_facet(balance_facet)
