"""A time-bank volunteer's own pages, and how a volunteer gets a sign-in.

A worker or supervisor of the village gives an approved volunteer a sign-in from the member's page:
a new account named after the passbook number with a one-time password shown once (never stored,
`Cache-Control: no-store`), or an existing account of theirs linked by username. The volunteer
then sees their own passbook (on screen and on paper) and the services they give, and must first
replace the one-time password with their own. A suspended or withdrawn volunteer who signs in gets
a page saying so and nothing else; the refusal is in the access log like every reading.

Sign-in itself is the portal's: django-axes locks a username after repeated wrong passwords; issuing
a new one-time password lifts that lock for the volunteer's username."""
from __future__ import annotations

import datetime as dt
import secrets

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api, clock, selectors
from engine.errors import CaseflowError, FormInvalid
from engine.station import AccessLog, AccessOutcome

from . import access
from .handlers import LONGEST_SERVICE, put_sign_in_on_the_form, take_sign_in_off_the_form
from .member_forms import LoginForm, StatusForm
from .models import Member, MemberKind, MemberStatus, ServiceSession, SessionStatus
from .views import _logged, _member, _passbook, balance_of

# No 0/o, 1/l/i: the password is read off a phone screen or a slip of paper by an elderly volunteer.
READABLE = "abcdefghjkmnpqrstuvwxyz23456789"
PASSWORD_LENGTH = 10


def one_time_password(account) -> str:
    """Ten readable characters (more if the password policy, AUTH_PASSWORD_VALIDATORS, wants a
    longer one) that pass the policy."""
    for attempt in range(60):
        candidate = "".join(secrets.choice(READABLE) for _ in range(PASSWORD_LENGTH + 2 * (attempt // 5)))
        try:
            validate_password(candidate, account)
        except ValidationError:
            continue
        return candidate
    raise ImproperlyConfigured("no readable one-time password passes AUTH_PASSWORD_VALIDATORS")


def _not_linkable(account, member: Member) -> str:
    """Why an existing account cannot become this volunteer's sign-in ('' when it can)."""
    if account is None or not account.is_active:
        return _("No active account has this username.")
    if account.is_superuser or account.is_staff or set(account.groups.values_list("name", flat=True)) - {access.VOLUNTEER}:
        return _("This account belongs to a member of staff; a volunteer signs in with an account of their own.")
    if Member.objects.filter(user=account).exclude(pk=member.pk).exists():
        return _("This account is already another member's sign-in.")
    return ""


def _username_for(member: Member) -> str:
    User = get_user_model()
    base = f"tb{member.pk:05d}"
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


@login_required
@require_POST
def issue_login(request, member_id: int):
    """Give an approved volunteer a sign-in (or a new one-time password for the one they have)."""
    member = _member(request.user, member_id)
    if not access.may_issue_login(request.user, member):
        raise Http404(_("No such page, or not yours to see."))
    if member.kind != MemberKind.VOLUNTEER or member.status != MemberStatus.APPROVED:
        messages.error(request, _("Only an approved volunteer gets a sign-in."))
        return redirect("time-bank-member", member.pk)
    form = LoginForm(request.POST)
    if not form.is_valid():
        messages.error(request, "；".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("time-bank-member", member.pk)
    username = form.cleaned_data["username"].strip()
    User = get_user_model()
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        group, _created = Group.objects.get_or_create(name=access.VOLUNTEER)
        if username:
            if member.user_id is not None:
                messages.error(request, _("This volunteer already has a sign-in; give a new one-time password instead."))
                return redirect("time-bank-member", member.pk)
            account = User.objects.filter(username=username).first()
            problem = _not_linkable(account, member)
            if problem:
                messages.error(request, problem)
                return redirect("time-bank-member", member.pk)
            account.groups.add(group)
            member.user, member.password_to_change = account, False
            member.login_issued_by, member.login_issued_at = request.user, clock.now()
            member.save(update_fields=["user", "password_to_change", "login_issued_by", "login_issued_at"])
            messages.success(request, _("Linked: the volunteer signs in as %(username)s with their own password.") % {
                "username": account.username})
            return redirect("time-bank-member", member.pk)
        # Shown in the header: the passbook number, never the name (which stays encrypted, in the member).
        account = member.user or User(username=_username_for(member), first_name=member.number)
        password = one_time_password(account)
        account.set_password(password)
        account.save()
        account.groups.add(group)
        member.user, member.password_to_change = account, True
        member.login_issued_by, member.login_issued_at = request.user, clock.now()
        member.save(update_fields=["user", "password_to_change", "login_issued_by", "login_issued_at"])
    from axes.utils import reset as unlock

    unlock(username=account.username)  # a volunteer locked out by wrong passwords starts again with this one
    response = render(request, "time_bank/login_issued.html", {"member": member, "username": account.username, "password": password})
    response["Cache-Control"] = "no-store"  # shown once: not kept by the browser, never put in the session
    return response


@login_required
@require_POST
def change_status(request, member_id: int):
    """A supervisor of the village suspends, withdraws or reinstates an approved member."""
    member = _member(request.user, member_id)
    if not access.supervises(request.user, member.village):
        raise Http404(_("No such page, or not yours to see."))
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to do and say why."))
        return redirect("time-bank-member", member.pk)
    allowed = {"suspend": (MemberStatus.APPROVED,), "withdraw": (MemberStatus.APPROVED, MemberStatus.SUSPENDED),
               "reinstate": (MemberStatus.SUSPENDED,)}
    target = {"suspend": MemberStatus.SUSPENDED, "withdraw": MemberStatus.WITHDRAWN, "reinstate": MemberStatus.APPROVED}
    action = form.cleaned_data["action"]
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        if member.status not in allowed[action]:
            messages.error(request, _("This member is %(status)s: that cannot be done now.") % {"status": member.get_status_display()})
            return redirect("time-bank-member", member.pk)
        member.status = target[action]
        member.status_changed_by, member.status_changed_at, member.status_note = request.user, clock.now(), form.cleaned_data["note"]
        member.save(update_fields=["status", "status_changed_by", "status_changed_at", "status_note"])
    messages.success(request, _("The member is now %(status)s.") % {"status": member.get_status_display()})
    return redirect("time-bank-member", member.pk)


# -- the volunteer's own pages -------------------------------------------------------------------------

def _own_or_refused(request, view: str):
    """(member, None) when the volunteer may read their own pages now, else (member, response)."""
    member = access.own_member(request.user)
    if member is None:
        raise Http404(_("No such page, or not yours to see."))
    if member.status != MemberStatus.APPROVED:
        AccessLog.objects.create(user=request.user, instance_id=0, process_key="time_bank", view=view,
                                 record=f"time_bank_member:{member.pk}", outcome=AccessOutcome.REFUSED)
        response = render(request, "time_bank/volunteer_refused.html", {"member": member}, status=403)
        return member, response
    return member, None


@login_required
def mine(request, *, errors: dict | None = None, typed: dict | None = None, status: int = 200):
    member, refused = _own_or_refused(request, "time_bank_own_passbook")
    if refused is not None:
        return refused
    if member.password_to_change:
        return redirect("time-bank-mine-password")
    _logged(request, member, "time_bank_own_passbook")
    _account, entries = _passbook(member)
    sessions = list(ServiceSession.objects.filter(volunteer=member).select_related("elder").order_by("-created_at", "-pk")[:30])
    upcoming = sorted((s for s in sessions if s.status == SessionStatus.MATCHED),
                      key=lambda s: (s.arrived_at is None, s.scheduled_for is None, s.scheduled_for or timezone.localdate(s.created_at)))
    today = clock.today()
    for s in upcoming:
        s.too_early = s.scheduled_for is not None and s.scheduled_for > today
        s.errors = (errors or {}).get(s.pk, [])
        s.typed = (typed or {}).get(s.pk, "")
    return render(request, "time_bank/mine.html", {
        "member": member, "entries": list(reversed(entries))[:50], "balance": balance_of(entries),
        "upcoming": upcoming, "sessions": [s for s in sessions if s.status != SessionStatus.MATCHED],
        "village_name": access.village_names().get(member.village, member.village),
        "signed_in": next((s for s in upcoming if s.arrived_at is not None), None), "done_max": DONE_MAX,
    }, status=status)


# -- signing in and out of a service on the volunteer's own phone ------------------------------------
# The times are the server's, taken when the volunteer presses the button: never typed, so never in
# the future and never moved. Signing out completes the service's "sign-in and sign-out" task as the
# volunteer (handlers.volunteer_signs_out allows it), which checks the times again; the elder's
# confirmation then follows with the social worker as before. A volunteer without a phone still tells
# the worker, who records both times on their behalf.

DONE_MAX = 500  # the service form's own limit on "what was done"
SHORTEST_SERVICE = dt.timedelta(minutes=5)


def _own_service(request, number: int):
    """(member, session) for the volunteer's own matched service, else (member, None) with a message;
    (member, response) when the volunteer may not use their page now."""
    member, refused = _own_or_refused(request, "time_bank_own_service")
    if refused is not None:
        return member, None, refused
    if member.password_to_change:
        return member, None, redirect("time-bank-mine-password")
    session = ServiceSession.objects.filter(instance_id=number, volunteer=member).first()
    if session is None:
        raise Http404(_("No such page, or not yours to see."))
    if session.status != SessionStatus.MATCHED:
        messages.info(request, _("Service %(number)s is already recorded: %(status)s.") % {
            "number": session.number, "status": session.get_status_display()})
        return member, None, redirect("time-bank-mine")
    return member, session, None


@login_required
@require_POST
def mine_sign_in(request, number: int):
    member, session, answer = _own_service(request, number)
    if answer is not None:
        return answer
    if session.scheduled_for is not None and session.scheduled_for > clock.today():
        messages.error(request, _("This service is planned for %(day)s: sign in on that day, when you arrive.") % {
            "day": session.scheduled_for.isoformat()})
        return redirect("time-bank-mine")
    elsewhere = (ServiceSession.objects.filter(volunteer=member, status=SessionStatus.MATCHED, arrived_at__isnull=False)
                 .exclude(pk=session.pk).first())
    if elsewhere is not None:
        messages.error(request, _("You are still signed in at %(number)s: sign out there first.") % {"number": elsewhere.number})
        return redirect("time-bank-mine")
    now = clock.now()
    # One UPDATE guarded by "not signed in yet": a second press (or a second tab) changes nothing.
    if ServiceSession.objects.filter(pk=session.pk, status=SessionStatus.MATCHED, arrived_at__isnull=True).update(arrived_at=now):
        session.arrived_at = now
        put_sign_in_on_the_form(session)
        messages.success(request, _("Signed in at %(time)s. Press “sign out” when you leave.") % {
            "time": timezone.localtime(now).strftime("%H:%M")})
    else:
        messages.info(request, _("You had already signed in."))
    return redirect("time-bank-mine")


@login_required
@require_POST
def mine_undo_sign_in(request, number: int):
    _own, session, answer = _own_service(request, number)
    if answer is not None:
        return answer
    if session.arrived_at is not None and ServiceSession.objects.filter(
            pk=session.pk, status=SessionStatus.MATCHED, arrived_at=session.arrived_at).update(arrived_at=None):
        take_sign_in_off_the_form(session, session.arrived_at)
        messages.success(request, _("Your sign-in is taken back. Sign in again when you arrive."))
    return redirect("time-bank-mine")


@login_required
@require_POST
def mine_sign_out(request, number: int):
    _own, session, answer = _own_service(request, number)
    if answer is not None:
        return answer
    done = request.POST.get("done", "").strip()
    problem = ""
    if session.arrived_at is None:
        problem = _("Sign in first, when you arrive.")
    elif clock.now() - session.arrived_at > LONGEST_SERVICE:
        # Forgot to sign out yesterday: the service's own rule refuses it, and the volunteer can only
        # take the sign-in back; the worker records the service with the times the volunteer gives.
        problem = _("You signed in more than a day ago and did not sign out. Take the sign-in back below, and tell "
                    "the social worker when you came and left: they will record it.")
    elif clock.now() - session.arrived_at < SHORTEST_SERVICE:
        # A tap meant for "sign in" that landed on "sign out": no service lasts a few minutes.
        problem = _("You signed in less than %(n)d minutes ago: sign out when the service ends. Signed in by mistake? "
                    "Take it back below.") % {"n": SHORTEST_SERVICE.seconds // 60}
    elif not done:
        problem = _("Write in a few words what you did, for the elder and the social worker.")
    elif len(done) > DONE_MAX:
        problem = _("At most %(n)d characters, please.") % {"n": DONE_MAX}
    if problem:
        return mine(request, errors={session.pk: [problem]}, typed={session.pk: done[:2 * DONE_MAX]}, status=400)
    task = selectors.open_tasks_of_instances(instance_ids=[session.instance_id], bpmn_id="Task_Service").get(session.instance_id)
    if task is None:
        messages.info(request, _("The social worker has already recorded this service."))
        return redirect("time-bank-mine")
    try:
        api.complete_task(task_id=task.id, actor=request.user, data={
            "signed_in_at": session.arrived_at.isoformat(), "signed_out_at": clock.now().isoformat(), "done": done})
    except FormInvalid as exc:
        found = [str(e) for errors in exc.field_errors.values() for e in errors] or [str(exc)]
        return mine(request, errors={session.pk: found}, typed={session.pk: done}, status=400)
    except CaseflowError as exc:  # completed by the worker meanwhile, or no longer the volunteer's to close
        messages.error(request, str(exc))
        return redirect("time-bank-mine")
    session.refresh_from_db(fields=["hours"])
    messages.success(request, _("Signed out. %(hours)s hours served; the elder's confirmation comes next, with the social worker.")
                     % {"hours": session.hours})
    return redirect("time-bank-mine")


@login_required
def mine_print(request):
    member, refused = _own_or_refused(request, "time_bank_own_passbook_print")
    if refused is not None:
        return refused
    if member.password_to_change:
        return redirect("time-bank-mine-password")
    _logged(request, member, "time_bank_own_passbook_print")
    _account, entries = _passbook(member)
    return render(request, "time_bank/passbook_print.html", {
        "member": member, "entries": entries, "balance": balance_of(entries), "printed_at": clock.now(),
        "village_name": access.village_names().get(member.village, member.village), "back_url": "time-bank-mine"})


@login_required
def mine_password(request):
    """The volunteer replaces the one-time password (or later changes their own)."""
    member, refused = _own_or_refused(request, "time_bank_own_password")
    if refused is not None:
        return refused
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)  # this session stays signed in
        Member.objects.filter(pk=member.pk).update(password_to_change=False)
        messages.success(request, _("Your password is saved. Use it from now on."))
        return redirect("time-bank-mine")
    return render(request, "time_bank/mine_password.html", {"member": member, "form": form, "first": member.password_to_change},
                  status=400 if request.method == "POST" else 200)
