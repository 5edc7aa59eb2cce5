"""The time bank's pages: the members of one's pilot villages, registering and approving a member,
a member's passbook (on screen and on paper), and for supervisors the ledger and the anomaly list.

Staff only, each within the pilot villages they work in (access.py); anything else answers 404,
even a guessed id. Every change is a POST that checks the person's right on that very member."""
from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import clock
from engine.station import AccessLog

from . import access, checks, ledger
from .member_forms import (
    DecisionForm, GiftForm, HoursForm, LoginForm, MemberForm, ReasonForm, RelativeForm, StatusForm, TransferForm,
)
from .models import (
    Account, AccountKind, LedgerEntry, Member, MemberKind, MemberStatus, Relative, ServiceSession,
)

PAGE_SIZE = 50


def _member(user, member_id: int) -> Member:
    villages = access.staff_or_404(user)
    return get_object_or_404(Member, pk=member_id, village__in=villages)


def _village_choices(villages) -> list[tuple[str, str]]:
    names = access.village_names()
    return [(code, names.get(code, code)) for code in villages]


@login_required
def home(request):
    villages = access.staff_or_404(request.user)
    query = Member.objects.filter(village__in=villages)
    village, kind = request.GET.get("village", ""), request.GET.get("kind", "")
    if village:
        query = query.filter(village=village)
    if kind:
        query = query.filter(kind=kind)
    waiting_first = Case(When(status=MemberStatus.PENDING, then=Value(0)), default=Value(1))
    page = Paginator(query.order_by(waiting_first, "village", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "time_bank/home.html", {
        "page": page, "balances": ledger.balances(m.pk for m in page.object_list),
        "village": village, "kind": kind, "village_choices": _village_choices(villages), "kinds": MemberKind.choices,
        "pending": Member.objects.filter(village__in=villages, status=MemberStatus.PENDING).count(),
        "supervises": bool(access.roles(request.user) & set(access.SUPERVISING)),
        "query": "&".join(f"{k}={v}" for k, v in (("village", village), ("kind", kind)) if v),
    })


@login_required
def register(request):
    villages = access.staff_or_404(request.user)
    form = MemberForm(request.POST or None, user=request.user, village_choices=_village_choices(villages))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        member = Member.objects.create(
            village=data["village"], kind=data["kind"], name=data["name"], phone=data["phone"], birth_year=data["birth_year"],
            household=data["household"], person_key=data["person_key"], identity_checked=data["identity_checked"],
            training_date=data["training_date"], training_topic=data["training_topic"],
            registered_by=request.user, registered_at=clock.now())
        messages.success(request, _("%(number)s registered; a supervisor approves it next.") % {"number": member.number})
        return redirect("time-bank-member", member.pk)
    return render(request, "time_bank/register.html", {"form": form}, status=400 if request.method == "POST" else 200)


def _entries_with_names(entries):
    """Each entry with the other side named by passbook number (a transfer's relative, the pool)."""
    counterpart_ids = {e.counterpart_id for e in entries if e.counterpart_id}
    names = {account.pk: (account.member.number if account.member else _("donation pool"))
             for account in Account.objects.filter(pk__in=counterpart_ids).select_related("member")}
    for entry in entries:
        entry.other_side = names.get(entry.counterpart_id, "")
    return entries


def balance_of(entries) -> Decimal:
    return entries[-1].running if entries else Decimal("0")


def with_running_balance(entries: list) -> list:
    """The entries in the order of their own dates (ties: the order they were written), each with
    the balance after it in that order (`running`). An entry's stored `balance_after` is the balance
    when it was written; an entry dated earlier than one written before it (recorded afterwards, as
    of the day it happened) would make that column jump up and down on a page read by date."""
    entries = sorted(entries, key=lambda e: (e.at, e.pk))
    total = Decimal("0")
    for entry in entries:
        total += entry.hours
        entry.running = total
    return entries


def _passbook(member: Member):
    account = ledger.account_of(member)
    entries = list(LedgerEntry.objects.filter(account=account).select_related("session"))
    return account, _entries_with_names(with_running_balance(entries))


@login_required
def passbook(request, member_id: int):
    member = _member(request.user, member_id)
    return _passbook_page(request, member)


def _passbook_page(request, member: Member, *, transfer_form=None, donate_form=None, relative_form=None, hours_form=None,
                   status: int = 200):
    """The passbook with its forms; a refused form (a gift, a relative, an expiry) comes back here
    bound (what was typed and why it was refused), status 400."""
    _logged(request, member, "time_bank_passbook")
    _account, entries = _passbook(member)
    relatives = list(Relative.objects.filter(member=member).select_related("relative"))
    candidates = _relative_candidates(request.user, member).exclude(pk__in=[r.relative_id for r in relatives])
    supervises = access.supervises(request.user, member.village)
    return render(request, "time_bank/passbook.html", {
        "member": member, "entries": entries, "balance": balance_of(entries),
        "relatives": relatives, "supervises": supervises,
        "may_decide": supervises and member.status == MemberStatus.PENDING and member.registered_by_id != request.user.pk,
        "decision_form": DecisionForm(),
        "relative_form": relative_form or _relative_form(None, candidates),
        "transfer_form": transfer_form or _transfer_form(None, relatives),
        "donate_form": donate_form or _donate_form(None), "hours_form": hours_form or HoursForm(auto_id="expire-%s"),
        "sessions": ServiceSession.objects.filter(Q(volunteer=member) | Q(elder=member))[:20],
        "cap": ledger.balance_cap(),
        "may_issue_login": member.kind == MemberKind.VOLUNTEER and member.approved and access.may_issue_login(request.user, member),
        "login_form": LoginForm(), "status_form": StatusForm(),
        "may_change_status": supervises and member.status in (MemberStatus.APPROVED, MemberStatus.SUSPENDED),
    }, status=status)


def _relative_candidates(user, member: Member):
    """Approved members of the user's villages who may be recorded as this member's relative."""
    return Member.objects.filter(village__in=access.villages(user), status=MemberStatus.APPROVED).exclude(pk=member.pk)


def _relative_form(data, candidates) -> RelativeForm:
    return RelativeForm(data, relative_choices=[(str(m.pk), f"{m.number} {m.name}") for m in candidates[:500]], auto_id="relative-%s")


def _transfer_form(data, relatives) -> TransferForm:
    return TransferForm(data, receiver_choices=[(str(r.relative_id), f"{r.relative.number} {r.relative.name}") for r in relatives],
                        auto_id="give-%s")


def _donate_form(data) -> GiftForm:
    return GiftForm(data, auto_id="donate-%s")


def _logged(request, member, view: str) -> None:
    """A member's passbook names them, their hours and who they serve: every reading is in the access log."""
    AccessLog.objects.create(user=request.user, instance_id=0, process_key="time_bank", view=view, record=f"time_bank_member:{member.pk}")


@login_required
def passbook_print(request, member_id: int):
    """The passbook on paper, for a member without a phone: no header, no buttons, a line per entry,
    a box for the worker's and the member's signatures."""
    member = _member(request.user, member_id)
    _logged(request, member, "time_bank_passbook_print")
    _account, entries = _passbook(member)
    return render(request, "time_bank/passbook_print.html", {
        "member": member, "entries": entries, "balance": balance_of(entries),
        "printed_at": clock.now(), "village_name": access.village_names().get(member.village, member.village),
        "back_url": "time-bank-member"})


@login_required
@require_POST
def decide(request, member_id: int):
    member = _member(request.user, member_id)
    if not access.supervises(request.user, member.village):
        raise Http404(_("No such page, or not yours to see."))
    form = DecisionForm(request.POST)
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        if member.status != MemberStatus.PENDING:
            messages.error(request, _("This member has already been decided."))
        elif member.registered_by_id == request.user.pk:
            messages.error(request, _("The one who registered a member does not approve them: another supervisor decides."))
        elif not form.is_valid():
            messages.error(request, _("Choose approve or refuse."))
        else:
            approve = form.cleaned_data["decision"] == "approve"
            member.status = MemberStatus.APPROVED if approve else MemberStatus.REFUSED
            member.decided_by, member.decided_at, member.decision_note = request.user, clock.now(), form.cleaned_data["note"]
            member.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
            messages.success(request, _("Approved.") if approve else _("Refused."))
    return redirect("time-bank-member", member.pk)


@login_required
@require_POST
def add_relative(request, member_id: int):
    """Record a relative; refused, the passbook comes back with the form as chosen and why."""
    member = _member(request.user, member_id)
    form = _relative_form(request.POST, _relative_candidates(request.user, member))
    if form.is_valid() and Relative.objects.filter(member=member, relative_id=form.cleaned_data["relative"]).exists():
        form.add_error("relative", _("This relative is already recorded."))
    if not form.is_valid():
        messages.error(request, _form_problems(form))
        return _passbook_page(request, member, relative_form=form, status=400)
    Relative.objects.create(member=member, relative_id=int(form.cleaned_data["relative"]), relation=form.cleaned_data["relation"],
                            recorded_by=request.user, recorded_at=clock.now())
    messages.success(request, _("Relative recorded."))
    return redirect("time-bank-member", member.pk)


def _move(request, member: Member, act) -> None:
    """Run one ledger movement in its own transaction; a refusal is a message, nothing written."""
    try:
        with transaction.atomic():
            act()
    except ledger.LedgerRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, _("Recorded in the ledger."))


def _form_problems(form) -> str:
    """A refused form's errors in one message, shown at the top of the page (on a phone the form
    itself, with each error under its field, is far below)."""
    return " ".join(f"{form.fields[key].label if key in form.fields else ''}：{error}".lstrip("：")
                    for key, errors in form.errors.items() for error in errors)


def _consent(data) -> ledger.Consent:
    return ledger.Consent(how=data["consent_how"], at=data["consent_at"])


def _record(request, member: Member, form, act, form_key: str):
    """Record the ledger movement the form describes (a gift, an expiry); refused (by the form or by
    the ledger), the passbook comes back with the form as typed and why, nothing written."""
    if form.is_valid():
        try:
            with transaction.atomic():
                act(form.cleaned_data)
        except ledger.LedgerRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, _("Recorded in the ledger."))
            return redirect("time-bank-member", member.pk)
    messages.error(request, _form_problems(form))
    return _passbook_page(request, member, status=400, **{form_key: form})


@login_required
@require_POST
def transfer(request, member_id: int):
    """Give a member's hours to a registered relative, as the member asked and agreed (recorded)."""
    member = _member(request.user, member_id)
    relatives = list(Relative.objects.filter(member=member).select_related("relative"))
    by_pk = {str(r.relative_id): r.relative for r in relatives}
    return _record(request, member, _transfer_form(request.POST, relatives), lambda data: ledger.transfer(
        member, by_pk[data["receiver"]], data["hours"], actor=request.user, consent=_consent(data), note=data["note"]),
        "transfer_form")


@login_required
@require_POST
def donate(request, member_id: int):
    """Give a member's hours to the pool, as the member asked and agreed (recorded)."""
    member = _member(request.user, member_id)
    return _record(request, member, _donate_form(request.POST), lambda data: ledger.donate(
        member, data["hours"], actor=request.user, consent=_consent(data), note=data["note"]), "donate_form")


@login_required
@require_POST
def expire(request, member_id: int):
    """A supervisor expires hours; refused (by the form or by the ledger), the passbook comes back with
    the hours and the reason as typed, and why."""
    member = _member(request.user, member_id)
    if not access.supervises(request.user, member.village):
        raise Http404(_("No such page, or not yours to see."))
    return _record(request, member, HoursForm(request.POST, auto_id="expire-%s"), lambda data: ledger.expire(
        ledger.account_of(member), data["hours"], actor=request.user, note=data["note"]), "hours_form")


def _ledger_scope(user):
    villages = access.supervisor_or_404(user)
    return LedgerEntry.objects.filter(Q(account__member__village__in=villages) | Q(account__kind=AccountKind.POOL))


def _with_account_balances(entries) -> None:
    """Each entry on a page of the ledger (which mixes accounts) with its account's balance after it,
    counted as on the passbook (with_running_balance: by the entries' own dates, ties in the order
    written), so the two pages agree and a back-dated entry does not make the figure jump."""
    accounts = {entry.account_id for entry in entries}
    every = LedgerEntry.objects.filter(account_id__in=accounts).only("pk", "account_id", "at", "hours")
    by_account: dict[int, list] = {}
    for entry in every:
        by_account.setdefault(entry.account_id, []).append(entry)
    running = {e.pk: e.running for book in by_account.values() for e in with_running_balance(book)}
    for entry in entries:
        entry.running = running[entry.pk]


@login_required
def ledger_page(request):
    entries = _ledger_scope(request.user).select_related("account__member", "session", "reverses").order_by("-at", "-pk")
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    _entries_with_names(page.object_list)
    _with_account_balances(page.object_list)
    reversed_ids = set(LedgerEntry.objects.filter(reverses__in=page.object_list).values_list("reverses_id", flat=True))
    return render(request, "time_bank/ledger.html", {"page": page, "reversed_ids": reversed_ids, "reason_form": ReasonForm()})


@login_required
@require_POST
def reverse_entry(request, entry_id: int):
    entry = get_object_or_404(_ledger_scope(request.user), pk=entry_id)
    member = entry.account.member
    # Every member's account the movement touches (a donation's giver too) must be in one's villages.
    villages = set(LedgerEntry.objects.filter(movement=entry.movement, account__member__isnull=False)
                   .values_list("account__member__village", flat=True))
    if not all(access.supervises(request.user, village) for village in villages):
        raise Http404(_("No such page, or not yours to see."))
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the entry is reversed."))
    else:
        _move(request, member, lambda: ledger.reverse(entry, actor=request.user, note=form.cleaned_data["note"]))
    return redirect("time-bank-ledger")


@login_required
def anomalies(request):
    villages = access.supervisor_or_404(request.user)
    sessions = (ServiceSession.objects.filter(village__in=villages).exclude(review_reasons=[])
                .select_related("elder", "volunteer").order_by("-signed_in_at", "-pk"))
    page = Paginator(sessions, PAGE_SIZE).get_page(request.GET.get("page"))
    for session in page.object_list:
        session.reason_labels = [str(checks.REASONS.get(code, code)) for code in session.review_reasons]
        session.anomalous = any(code in checks.FLAGS for code in session.review_reasons)
    return render(request, "time_bank/anomalies.html", {"page": page})
