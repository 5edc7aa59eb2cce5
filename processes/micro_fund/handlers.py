"""Hooks, service tasks and option lists of the micro-fund process. They run inside the engine
step: they keep the application and the ledger in step with the tasks, refuse what must not
happen (over-commitment, bad amounts, conflicted reviewers) with field errors, and route the
applicant's tasks to the organisation's own group."""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, Sum
from django.utils.translation import gettext as _, pgettext

from engine import clock, registry
from engine.errors import FormInvalid, InvalidState

from . import ledger
from .models import Application, EntryKind, Organisation, Review, Stage

KEY = "micro_fund"
CRITERIA = ("need", "feasibility", "participation", "budget")


def _application(ctx) -> Application:
    return Application.objects.select_for_update().get(instance_id=ctx.instance_id)


# -- option lists ---------------------------------------------------------------------------------

def my_organisations(user) -> list[tuple[str, str]]:
    if user is None:
        return []
    groups = list(user.groups.values_list("name", flat=True))
    return [(str(o.pk), o.name) for o in Organisation.objects.filter(group_name__in=groups).order_by("name")]


def _reviewer_users(usernames=None):
    """Active reviewers with what a conflict check reads (their groups, their villages): three
    queries for all of them, not four for each."""
    users = get_user_model().objects.filter(is_active=True, groups__name="reviewer")
    if usernames is not None:
        users = users.filter(username__in=usernames)
    return users.select_related("staff_profile").prefetch_related("groups", "staff_profile__villages").order_by("username")


def _label(user) -> str:
    return user.get_full_name() or user.first_name or user.username


def reviewers() -> list[tuple[str, str]]:
    users = get_user_model().objects.filter(is_active=True, groups__name="reviewer").order_by("username")
    return [(u.username, _label(u)) for u in users]


def panel_candidates(user, variables) -> list[tuple[str, str]]:
    """Reviewers who may join this application's panel: no conflict (same organisation or village),
    not on it already. Without an application (a form preview), every reviewer."""
    application = Application.objects.filter(pk=(variables or {}).get("application_id") or 0).select_related("organisation").first()
    if application is None:
        return reviewers()
    taken = ({r.reviewer.username for r in current_reviews(application)} | set(_pending_reviewers(application.instance_id)))
    return [(u.username, _label(u)) for u in _reviewer_users()
            if u.username not in taken and _conflict(u, application) is None]


def pending_reviewers(user, variables) -> list[tuple[str, str]]:
    """Panel members whose review of this application is still open (who may be replaced)."""
    application = Application.objects.filter(pk=(variables or {}).get("application_id") or 0).first()
    if application is None:
        return reviewers()
    pending = set(_pending_reviewers(application.instance_id))
    return [(username, label) for username, label in reviewers() if username in pending]


def _pending_reviewers(instance_id: int) -> list[str]:
    from engine import selectors

    return [t.assignee for t in selectors.open_tasks_of(instance_id=instance_id, bpmn_id="Task_Review") if t.assignee]


registry.register_option_source("my_organisations", my_organisations)
registry.register_option_source("reviewers", reviewers)
registry.register_option_source("panel_candidates", panel_candidates)
registry.register_option_source("pending_reviewers", pending_reviewers)
# What the hooks and services below put into the workflow's data (ctx.set_variable), for deploy's
# check of the gateway conditions that read them.
registry.register_variables(KEY, {"applicant_group", "application_id", "requested_amount", "panel_complete", "evaluation_reviewer",
                                  "refund_due"})
registry.register_group_label(lambda group: Organisation.objects.filter(group_name=group).values_list("name", flat=True).first())


# -- apply ----------------------------------------------------------------------------------------

@registry.on_start(KEY)
def open_application(ctx, data):
    organisation = Organisation.objects.get(pk=int(data["organisation"]))
    application = Application.objects.create(
        instance_id=ctx.instance_id, fund=ledger.fund_for(clock.today().year), organisation=organisation,
        title=data["title"], village=data["village"], category=data["category"],
    )
    ctx.set_subject(f"MF-{application.fund.year}-{ctx.instance_id:05d} {application.title}")
    ctx.set_village(application.village)
    ctx.set_variable("applicant_group", organisation.group_name)
    ctx.set_variable("application_id", application.pk)  # for option lists that depend on the application
    ctx.grant_view(group=organisation.group_name)


@registry.on_task_completed(KEY, "Task_Application")
def record_application(ctx, data):
    total = sum((ledger.money(Decimal(str(row["quantity"])) * Decimal(str(row["unit_price"]))) for row in data["budget_lines"]), Decimal("0"))
    cap = ledger.money(settings.MICRO_FUND["max_per_project"])
    if total <= 0:
        raise FormInvalid({"budget_lines": [_("The budget adds up to nothing.")]})
    if total > cap:
        raise FormInvalid({"budget_lines": [_("The budget adds up to %(total)s yuan; a project may ask for at most %(cap)s.") % {
            "total": f"{total:,.2f}", "cap": f"{cap:,.2f}"}]})
    application = _application(ctx)
    application.requested_amount = total
    application.stage = Stage.APPLYING
    application.save(update_fields=["requested_amount", "stage"])
    ctx.set_variable("requested_amount", str(total))


@registry.on_task_completed(KEY, "Task_CheckCompleteness")
def check_completeness(ctx, data):
    application = _application(ctx)
    if data["completeness"] == "return":
        if not data.get("return_reasons"):
            raise FormInvalid({"return_reasons": [_("Say what is missing, so the organisation can fix it.")]})
        application.revision_rounds += 1
    else:
        application.stage = Stage.REVIEW
    application.save(update_fields=["revision_rounds", "stage"])


# -- review ---------------------------------------------------------------------------------------

def conflict_reason(username: str, application: Application) -> str | None:
    """A reviewer may not score their own organisation's project, nor one of a village they work in."""
    user = next(iter(_reviewer_users([username])), None)
    if user is None:
        return _("%(user)s is not a reviewer.") % {"user": username}
    return _conflict(user, application)


def _conflict(user, application: Application) -> str | None:
    """`conflict_reason` of a reviewer loaded by `_reviewer_users` (no further query)."""
    if application.organisation.group_name in {group.name for group in user.groups.all()}:
        return _("%(user)s belongs to the applicant organisation.") % {"user": user.username}
    profile = getattr(user, "staff_profile", None)
    if profile is not None and not profile.township_wide and application.village in {v.code for v in profile.villages.all()}:
        return _("%(user)s works in the project's village.") % {"user": user.username}
    return None


def current_reviews(application: Application) -> list[Review]:
    """The reviews of the panel's present round: those of the application as it now stands (a
    returned and revised application is scored again; the earlier scores stay on record)."""
    if "reviews" in getattr(application, "_prefetched_objects_cache", {}):
        return [r for r in application.reviews.all() if r.round == application.review_round]
    return list(application.reviews.filter(round=application.review_round).select_related("reviewer"))


def valid_reviews(application: Application) -> list[Review]:
    """Scores that count: this round's, submitted without a declared conflict of interest."""
    return [r for r in current_reviews(application) if not r.conflict_of_interest and r.weighted_score is not None]


@registry.on_task_completed(KEY, "Task_SelectPanel")
def select_panel(ctx, data):
    """The panel, or — when declared conflicts left fewer valid scores than the rule asks — the
    reviewers added to it; nobody who already reviewed it in this round, nobody conflicted. A
    revised application's new round may have the same panel as before."""
    application = _application(ctx)
    panel = data["reviewers"]
    minimum = settings.MICRO_FUND["min_reviewers"]
    already = {r.reviewer.username for r in current_reviews(application)}
    needed = max(minimum - len(valid_reviews(application)), 1)
    problems = [reason for reason in (conflict_reason(u, application) for u in panel) if reason]
    problems += [_("%(user)s has already reviewed this application.") % {"user": u} for u in panel if u in already]
    if len(panel) < needed:
        problems.insert(0, _("Choose at least %(n)d reviewers.") % {"n": needed})
    if problems:
        raise FormInvalid({"reviewers": problems})


@registry.service("micro_fund.check_panel")
def check_panel(ctx, params):
    """After the panel: are there enough valid scores to decide? If conflicts left too few, the
    panel is completed with other reviewers before anyone decides (the ≥ 3 rule)."""
    application = Application.objects.get(instance_id=ctx.instance_id)
    count, minimum = len(valid_reviews(application)), settings.MICRO_FUND["min_reviewers"]
    ctx.set_variable("panel_complete", count >= minimum)
    return {"valid_reviews": count, "required": minimum}


@registry.on_task_completed(KEY, "Task_Review")
def record_review(ctx, data):
    application = _application(ctx)
    conflict = bool(data.get("conflict_of_interest"))
    scores = {c: data.get(f"score_{c}") for c in CRITERIA}
    if conflict and not data.get("conflict_reason"):
        raise FormInvalid({"conflict_reason": [_("Describe the conflict of interest.")]})
    weighted = None
    if not conflict:
        missing = {f"score_{c}": [_("Score every criterion (0–10).")] for c, v in scores.items() if v is None}
        if missing or not data.get("recommendation"):
            raise FormInvalid(missing or {"recommendation": [_("Give a recommendation.")]})
        weights = {k: Decimal(v) for k, v in settings.MICRO_FUND["weights"].items()}
        weighted = sum(Decimal(str(scores[c])) * weights[c] for c in CRITERIA).quantize(Decimal("0.01"))
    Review.objects.update_or_create(
        application=application, reviewer=ctx.actor, round=application.review_round,
        defaults={"conflict_of_interest": conflict, "conflict_reason": data.get("conflict_reason", "") if conflict else "",
                  "scores": scores, "weighted_score": weighted,
                  "recommendation": "" if conflict else data.get("recommendation", ""), "submitted_at": clock.now()},
    )


def panel_summary(application: Application) -> dict:
    """The present round's average, count of valid scores and of conflicts declared."""
    counted = valid_reviews(application)
    average = (sum(r.weighted_score for r in counted) / len(counted)).quantize(Decimal("0.01")) if counted else None
    return {"reviews": len(counted), "excluded": sum(r.conflict_of_interest for r in current_reviews(application)), "average": average}


@registry.service("micro_fund.remind_reviewers")
def remind_reviewers(ctx, params):
    key = ctx.enqueue("notify.reminder", {"instance": ctx.instance_id, "who": "reviewers", "task": "Task_Review"}, effect="review_reminder")
    return {"queued": key}


@registry.on_task_completed(KEY, "Task_ReplaceReviewer")
def replace_reviewer(ctx, data):
    application = _application(ctx)
    reason = conflict_reason(data["replacement"], application)
    if reason:
        raise FormInvalid({"replacement": [reason]})
    try:  # a reviewer of any village: the conflict rule above is what keeps a panel impartial
        replaced = ctx.reassign_open_task("Task_Review", data["replacement"], reason=data["reason"], from_username=data["late_reviewer"],
                                          any_village=True)
    except InvalidState as exc:
        raise FormInvalid({"replacement": [str(exc)]}) from None
    if not replaced:
        raise FormInvalid({"late_reviewer": [_("%(user)s has no open review on this application.") % {"user": data["late_reviewer"]}]})


# -- decide ---------------------------------------------------------------------------------------

@registry.on_task_completed(KEY, "Task_Decide")
def decide(ctx, data):
    application = _application(ctx)
    decision = data["decision"]
    minimum = settings.MICRO_FUND["min_reviewers"]
    if decision in ("approve", "reject") and len(valid_reviews(application)) < minimum:
        raise FormInvalid({"decision": [_("Only %(n)d valid reviews; at least %(min)d are needed to decide.") % {
            "n": len(valid_reviews(application)), "min": minimum}]})
    if decision == "approve":
        amount = data.get("approved_amount")
        if amount is None:
            raise FormInvalid({"approved_amount": [_("Give the approved amount.")]})
        amount = ledger.money(amount)
        if amount <= 0 or amount > (application.requested_amount or 0):
            raise FormInvalid({"approved_amount": [_("The amount must be more than 0 and at most the %(requested)s yuan requested.") % {
                "requested": f"{application.requested_amount:,.2f}"}]})
        try:
            ledger.commit(application, amount, ctx.actor, _("Approved: %(title)s") % {"title": application.title})
        except ledger.InsufficientFunds as exc:
            raise FormInvalid({"approved_amount": [str(exc)]}) from None
        application.approved_amount = amount
        application.stage = Stage.APPROVED
    elif decision == "reject":
        if not data.get("reasons"):
            raise FormInvalid({"reasons": [_("Give the reasons for rejecting.")]})
        application.stage = Stage.REJECTED
    else:
        application.stage = Stage.APPLYING
        application.revision_rounds += 1
        application.review_round += 1  # the revised application is scored afresh
    application.decided_at = clock.now()
    application.save(update_fields=["approved_amount", "stage", "revision_rounds", "review_round", "decided_at"])


# -- supervise ------------------------------------------------------------------------------------

@registry.on_task_completed(KEY, "Task_Tranche1")
def pay_first_tranche(ctx, data):
    application = _application(ctx)
    share = Decimal(settings.MICRO_FUND["first_tranche"])
    ledger.disburse(application, ledger.money(application.approved_amount * share), ctx.actor,
                    _("First tranche, ref. %(ref)s") % {"ref": data.get("payment_reference", "")})
    application.stage = Stage.SUPERVISION
    application.save(update_fields=["stage"])


@registry.on_task_completed(KEY, "Task_ProgressReport")
def record_progress(ctx, data):
    """Spending so far is at most the approval: the site visit reads this figure."""
    application = _application(ctx)
    spent = data.get("spent_so_far")
    if spent not in (None, "") and ledger.money(spent) > (application.approved_amount or 0):
        raise FormInvalid({"spent_so_far": [_("More than the %(approved)s yuan approved; report the overspend from your own funds separately.") % {
            "approved": f"{application.approved_amount:,.2f}"}]})


@registry.service("micro_fund.remind_applicant")
def remind_applicant(ctx, params):
    key = ctx.enqueue("notify.reminder", {"instance": ctx.instance_id, "who": "applicant", "task": "Task_ProgressReport"}, effect="report_reminder")
    return {"queued": key}


@registry.on_task_completed(KEY, "Task_ConfirmSuspension")
def suspend(ctx, data):
    application = _application(ctx)
    ledger.release(application, (application.approved_amount or 0) - application.disbursed, ctx.actor,
                   _("Suspended: %(reason)s") % {"reason": data.get("reason", "")})
    application.stage = Stage.SUSPENDED
    application.save(update_fields=["stage"])


# -- evaluate -------------------------------------------------------------------------------------

@registry.on_task_completed(KEY, "Task_FinalReport")
def record_final_report(ctx, data):
    application = _application(ctx)
    ctx.set_variable("evaluation_reviewer", evaluation_reviewer(application))
    spent = ledger.money(data["amount_spent"])
    if spent > application.approved_amount:
        raise FormInvalid({"amount_spent": [_("More than the %(approved)s yuan approved; report the overspend from your own funds separately.") % {
            "approved": f"{application.approved_amount:,.2f}"}]})
    application.spent = spent
    application.stage = Stage.EVALUATION
    application.save(update_fields=["spent", "stage"])


def evaluation_reviewer(application: Application) -> str:
    """Who evaluates the finished project for the panel: the first panel member who scored it
    without a conflict and is still active — never a reviewer who was not on the panel."""
    for review in sorted(valid_reviews(application), key=lambda r: (r.submitted_at, r.pk)):
        if review.reviewer.is_active:
            return review.reviewer.username
    raise FormInvalid({"__all__": [_("No panel member who scored this project is still active; a supervisor must add a reviewer.")]})


@registry.on_task_completed(KEY, "Task_FinalTranche")
def settle(ctx, data):
    """Pay what is still due (or withhold it) and release what the project did not use. Money the
    organisation was paid beyond what it spent is owed back: it is booked when finance confirms it
    arrived (Task_ConfirmRefund), never before."""
    application = _application(ctx)
    due = tranche_due(application, "Task_FinalTranche")
    if data["final_payment"] == "release" and due > 0 and not data.get("payment_reference"):
        raise FormInvalid({"payment_reference": [_("Give the voucher number of the payment.")]})
    if data["final_payment"] == "release":
        ledger.disburse(application, due, ctx.actor, _("Final tranche, ref. %(ref)s") % {"ref": data.get("payment_reference", "")})
    elif not data.get("withhold_reason"):
        raise FormInvalid({"withhold_reason": [_("Give the reason for withholding the final tranche.")]})
    paid = application.disbursed
    cash_back = max(paid - application.spent, Decimal("0"))
    ledger.release(application, application.approved_amount - (paid - cash_back), ctx.actor, _("Project closed: unused commitment"))
    ctx.set_variable("refund_due", cash_back > 0)
    application.stage = Stage.COMPLETED
    application.save(update_fields=["stage"])


def refund_owed(application: Application) -> Decimal:
    """What the organisation was paid beyond what it spent and has not paid back yet."""
    if application.stage != Stage.COMPLETED or application.spent is None:
        return Decimal("0")
    returned = application.entries.filter(kind=EntryKind.RETURN).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    return max(application.disbursed - application.spent - returned, Decimal("0"))


@registry.on_task_completed(KEY, "Task_ConfirmRefund")
def confirm_refund(ctx, data):
    """Finance saw the unspent money arrive: the return is booked, with its receipt."""
    application = _application(ctx)
    owed = refund_owed(application)
    if owed <= 0:
        raise FormInvalid({"received": [_("Nothing is owed back on this project.")]})
    ledger.record_return(application, owed, ctx.actor, _("Unspent money paid back, receipt %(ref)s of %(day)s") % {
        "ref": data["receipt_reference"], "day": data["received_on"]})


def applications_visible_to(user):
    """Applications on the fund page: the fund's staff, in their villages; nobody else."""
    allowed = {"admin", "supervisor", "finance", "worker"}
    if not user.is_active or not user.groups.filter(name__in=allowed).exists():
        return Application.objects.none()
    villages = registry.villages_for(user)
    return Application.objects.all() if villages is None else Application.objects.filter(Q(village__in=villages) | Q(village=""))


def application_summary(instance_id: int, viewer, task=None) -> list[tuple[str, str]]:
    """What the case page shows above the diagram: stage and money for everyone who may open the
    case; the panel's average only to reviewers and supervisors, and only once all have scored; on
    a tranche task, the amount finance is to pay now."""
    application = Application.objects.filter(instance_id=instance_id).select_related("organisation").first()
    if application is None:
        return []

    def yuan(value):
        return "—" if value is None else f"{value:,.2f}"

    rows = [
        (_("Organisation"), application.organisation.name),
        (_("Stage"), application.get_stage_display()),
        (_("Requested"), yuan(application.requested_amount)),
        (pgettext("micro fund", "Approved"), yuan(application.approved_amount)),
        (_("Disbursed"), yuan(application.disbursed)),
    ]
    if task is not None and task.bpmn_id in ("Task_Tranche1", "Task_FinalTranche"):
        rows.insert(0, (_("To pay now"), yuan(tranche_due(application, task.bpmn_id))))
    if task is not None and task.bpmn_id == "Task_FinalTranche" and application.spent is not None:
        over = application.disbursed - application.spent
        if over > 0:
            rows.insert(1, (_("To pay back"), _("%(amount)s: paid %(paid)s, spent %(spent)s; finance confirms it when it arrives") % {
                "amount": yuan(over), "paid": yuan(application.disbursed), "spent": yuan(application.spent)}))
    owed = refund_owed(application)
    if owed > 0:
        rows.insert(0, (_("To pay back"), _("%(amount)s: paid %(paid)s, spent %(spent)s") % {
            "amount": yuan(owed), "paid": yuan(application.disbursed), "spent": yuan(application.spent)}))
    roles = set(viewer.groups.values_list("name", flat=True)) if viewer is not None else set()
    open_reviews = _open_reviews(instance_id)
    if application.stage == Stage.REVIEW and roles & {"worker", "supervisor", "admin"}:
        rows.append((_("Valid reviews"), _("%(n)d of the %(min)d needed") % {
            "n": len(valid_reviews(application)), "min": settings.MICRO_FUND["min_reviewers"]}))
    if application.stage == Stage.REVIEW and roles & {"supervisor", "admin"}:
        conflicts = [f"{r.reviewer.get_full_name() or r.reviewer.first_name or r.reviewer.username}：{r.conflict_reason}"
                     for r in current_reviews(application) if r.conflict_of_interest]
        if conflicts:
            rows.append((_("Declared conflicts"), "；".join(conflicts)))
    if roles & {"reviewer", "supervisor", "admin"} and current_reviews(application) and not open_reviews:
        summary = panel_summary(application)
        rows.append((_("Panel score"), _("%(average)s from %(n)d reviews (%(excluded)d excluded for conflicts)") % {
            "average": summary["average"] if summary["average"] is not None else "—", "n": summary["reviews"], "excluded": summary["excluded"]}))
    return rows


def tranche_due(application: Application, bpmn_id: str) -> Decimal:
    """What finance pays on a tranche task: 60 % of the approved amount first; at the end, what was
    spent less what was already paid (never below nothing)."""
    if bpmn_id == "Task_Tranche1":
        return ledger.money((application.approved_amount or 0) * Decimal(settings.MICRO_FUND["first_tranche"]))
    return max((application.spent or Decimal("0")) - application.disbursed, Decimal("0"))


def scores_complete(application: Application) -> bool:
    """Whether the panel has finished scoring (no review task open): only then are scores shown."""
    return bool(current_reviews(application)) and not _open_reviews(application.instance_id)


def _open_reviews(instance_id: int) -> int:
    from engine import selectors

    return selectors.open_task_count(instance_id=instance_id, bpmn_id="Task_Review")


registry.register_case_summary(KEY, application_summary)


# -- the station's year: money committed to projects, against the fund's budget -------------------

def _committed(year: int, villages) -> registry.FigureValues:
    """Yuan committed to approved projects in the year's fund, less what was released back, by the
    month of the ledger entry (Beijing time) and the project's village."""
    from django.utils import timezone

    from .models import EntryKind, LedgerEntry

    entries = LedgerEntry.objects.filter(fund__year=year, kind__in=[EntryKind.COMMIT, EntryKind.RELEASE])
    if villages is not None:
        entries = entries.filter(application__village__in=villages)
    by_month: dict[int, Decimal] = {}
    by_village: dict[str, Decimal] = {}
    for kind, amount, at, village in entries.values_list("kind", "amount", "at", "application__village"):
        signed = amount if kind == EntryKind.COMMIT else -amount
        month = timezone.localtime(at).month
        by_month[month] = by_month.get(month, Decimal(0)) + signed
        by_village[village or ""] = by_village.get(village or "", Decimal(0)) + signed
    return registry.FigureValues(sum(by_month.values(), Decimal(0)), by_month, by_village)


def _register_figures() -> None:
    from django.utils.translation import gettext_lazy

    registry.register_figure(registry.Figure(
        code="micro_fund.committed", label=gettext_lazy("Micro-fund money committed to projects"), unit=gettext_lazy("yuan"),
        compute=_committed, drill="fund", order=10, decimals=2))


_register_figures()
