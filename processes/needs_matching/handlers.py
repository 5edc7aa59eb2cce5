"""Hooks, service tasks and option lists of the needs -> resources matching process. Needs become
records at the assessment; matching runs as a service task over the catalogue; the confirmed plan
becomes referrals, each routed to its provider's group; a silent provider is reminded and may still
answer until the deadline; a decline, or the deadline passing, sends the need back to matching;
capacity is taken with a guarded UPDATE when a provider accepts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _, pgettext

from engine import clock, registry
from engine.errors import FormInvalid

from . import access, matching, search  # noqa: F401 - search registers the households' search
from .models import CapacityUnit, Household, HouseholdCase, Need, NeedStatus, Referral, ReferralStatus, Resource

KEY = "needs_matching"
registry.register_minors_record(access.KIND, access.household_record)  # households with children (ADR 0020 addendum)


def households(user) -> list[tuple[str, str]]:
    villages = registry.villages_for(user) if user is not None else set()
    query = Household.objects.all() if villages is None else Household.objects.filter(village__in=villages or [])
    return [(str(h.pk), f"{h.code} {h.head_name}") for h in query.order_by("code")[:2000]]


def resources() -> list[tuple[str, str]]:
    return [(str(r.pk), f"{r.name}（{r.provider}）") for r in Resource.objects.filter(active=True).order_by("name")]


def household_members(user, variables) -> list[tuple[str, str]]:
    """The members of this case's household: a need concerns one of them, never a typed name."""
    household_id = (variables or {}).get("household_id")
    if not household_id:
        return []
    return [(m.name, f"{m.name}（{m.relation}，{m.age}岁）") for m in Household.objects.get(pk=household_id).members.order_by("pk")]


def household_numbers(user) -> list[tuple[str, str]]:
    """The same households by their number (the value other processes keep to name a household, as
    in the person key "household:<number>"), for linking a child or a group member to one."""
    villages = registry.villages_for(user) if user is not None else set()
    query = Household.objects.all() if villages is None else Household.objects.filter(village__in=villages or [])
    return [(h.code, f"{h.code} {h.head_name}") for h in query.order_by("code")[:2000]]


def _visible_households(user):
    villages = registry.villages_for(user) if user is not None else set()
    return Household.objects.all() if villages is None else Household.objects.filter(village__in=villages or [])


def chosen_households(user, values: list[str]) -> dict[str, str]:
    """{id: label} of the chosen households this user may see: a form sent with one household reads
    that one, not the register (each head's name is encrypted)."""
    ids = [int(v) for v in values if v.isdigit() and int(v) < 2**63]
    return {str(h.pk): f"{h.code} {h.head_name}" for h in _visible_households(user).filter(pk__in=ids)} if ids else {}


def chosen_household_numbers(user, values: list[str]) -> dict[str, str]:
    return {h.code: f"{h.code} {h.head_name}" for h in _visible_households(user).filter(code__in=values)} if values else {}


registry.register_option_source("households", households, check=chosen_households)
registry.register_option_source("household_numbers", household_numbers, check=chosen_household_numbers)
registry.register_option_source("resources", resources)
def case_needs(user, variables) -> list[tuple[str, str]]:
    """The needs recorded in this case, by number: a plan row or an outcome names one of them."""
    instance_id = (variables or {}).get("needs_case")
    if not instance_id:
        return []
    return [(str(n.number), f"{n.number}. {n.get_category_display()}：{n.description}"[:80])
            for n in Need.objects.filter(instance_id=instance_id).order_by("number")]


def case_resources(user, variables) -> list[tuple[str, str]]:
    """Resources the matching found eligible for some need of this case (best first), not the whole
    catalogue; without a case (a form preview), every active resource."""
    instance_id = (variables or {}).get("needs_case")
    if not instance_id:
        return resources()
    eligible: dict[int, None] = {}
    for need in Need.objects.filter(instance_id=instance_id).order_by("number"):
        for proposal in need.proposals:
            if proposal.get("eligible"):
                eligible.setdefault(proposal["resource"], None)
    by_id = {r.pk: r for r in Resource.objects.filter(pk__in=list(eligible))}
    left = pgettext("needs matching", "left")  # what a resource has left (another catalogue's "left" is a member who left)
    return [(str(pk), f"{by_id[pk].name}（{by_id[pk].provider}，{left} {by_id[pk].capacity_text(by_id[pk].capacity_left)}）")
            for pk in eligible if pk in by_id]


registry.register_option_source("household_members", household_members)
registry.register_option_source("case_needs", case_needs)
registry.register_option_source("case_resources", case_resources)
# What the hooks and services below put into the workflow's data (ctx.set_variable), for deploy's
# check of the gateway conditions that read them.
registry.register_variables(KEY, {"household_id", "needs_case", "needs_count", "has_matches", "plan_total", "plan_rows",
                                  "referral_ids", "provider_groups", "needs_rematch", "monitoring_status"})
registry.register_group_label(lambda group: Resource.objects.filter(provider_group=group).values_list("provider", flat=True).first())


@registry.on_start(KEY)
def open_assessment(ctx, data):
    """One open case per household (two workers starting at once: one wins, the other is told);
    each case numbered after the household: HH-DO-008-1, HH-DO-008-2."""
    household = Household.objects.select_for_update().get(pk=int(data["household"]))
    if HouseholdCase.objects.filter(household=household, open=True).exists():
        raise FormInvalid({"household": [_("This household already has an open needs case; continue that one.")]})
    number = (HouseholdCase.objects.filter(household=household).order_by("-number").values_list("number", flat=True).first() or 0) + 1
    try:
        with transaction.atomic():
            HouseholdCase.objects.create(household=household, instance_id=ctx.instance_id, number=number, opened_at=clock.now())
    except IntegrityError:
        raise FormInvalid({"household": [_("This household already has an open needs case; continue that one.")]}) from None
    ctx.set_subject(f"{household.code}-{number}")  # the household number: no name in lists, no language baked in
    ctx.set_village(household.village)
    ctx.set_variable("household_id", household.pk)
    ctx.set_variable("needs_case", ctx.instance_id)  # for the option lists of this case's needs and resources


@registry.on_event
def close_household_case(event):
    if event.process_key == KEY and event.task_id is None and event.kind in ("instance_completed", "cancelled"):
        HouseholdCase.objects.filter(instance_id=event.instance_id, open=True).update(open=False)


@registry.on_task_completed(KEY, "Task_NeedsAssessment")
def record_needs(ctx, data):
    household_id = ctx.task_variable("household_id")
    start = Need.objects.filter(instance_id=ctx.instance_id).count()
    for number, need in enumerate(data["needs"], start=start + 1):
        Need.objects.create(household_id=household_id, instance_id=ctx.instance_id, number=number, category=need["category"],
                            description=need["description"], urgency=need["urgency"], member=need.get("member", ""))


@registry.service("needs_matching.match")
def match_needs(ctx, params):
    """Rank the eligible resources for each open need; a need with none is a gap."""
    open_needs = list(Need.objects.filter(instance_id=ctx.instance_id, status__in=[NeedStatus.OPEN, NeedStatus.GAP]))
    if not open_needs:
        return {"needs": 0}
    household = Household.objects.prefetch_related("members").get(pk=open_needs[0].household_id)
    catalogue = matching.Catalogue(Resource.objects.filter(active=True), clock.today())
    matched = 0
    for need in open_needs:
        result = matching.match_need({"category": need.category, "urgency": need.urgency, "member": need.member}, household, catalogue)
        need.proposals = [
            {"resource": c.resource.pk, "name": c.resource.name, "eligible": c.eligible and c.resource.pk not in need.declined_resources,
             "score": str(c.score), "reasons": [{"label": v.label, "passed": v.passed, "why": v.explanation} for v in c.verdicts]}
            for c in result.candidates]
        eligible = [p for p in need.proposals if p["eligible"]]
        need.status = NeedStatus.OPEN if eligible else NeedStatus.GAP
        need.save(update_fields=["proposals", "status"])
        matched += bool(eligible)
        if not eligible:
            ctx.enqueue("report.gap", {"instance": ctx.instance_id, "village": ctx.village, "category": need.category},
                        effect=f"gap_{need.number}_{len(need.declined_resources)}")
    ctx.set_variable("needs_count", len(open_needs))
    ctx.set_variable("has_matches", matched > 0)
    return {"needs": len(open_needs), "with_resources": matched}


def _number(value) -> int | None:
    """A need number as typed (the form gives 1, or "1.5" for a fraction): whole numbers only."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return int(number) if number == number.to_integral_value() else None


@registry.on_task_completed(KEY, "Task_ConfirmPlan")
def confirm_plan(ctx, data):
    """Each row refers one need to one eligible resource; a resource counted in yuan needs the
    amount, within what it has left. The plan's money decides whether the supervisor approves."""
    needs = {n.number: n for n in Need.objects.filter(instance_id=ctx.instance_id)}
    catalogue = {r.pk: r for r in Resource.objects.filter(pk__in=[int(r["resource"]) for r in data["plan"]])}
    problems, total = [], Decimal("0")
    for row_number, row in enumerate(data["plan"], start=1):
        need = needs.get(_number(row["need_no"]))
        resource = catalogue.get(int(row["resource"]))
        if need is None:
            problems.append(_("Row %(n)d: there is no need number %(need)s.") % {"n": row_number, "need": row["need_no"]})
            continue
        eligible = {p["resource"] for p in need.proposals if p["eligible"]}
        if resource is None or resource.pk not in eligible:
            problems.append(_("Row %(n)d: this resource is not eligible for need %(need)s.") % {"n": row_number, "need": need.number})
            continue
        amount = Decimal(str(row["amount"])) if row.get("amount") not in (None, "") else None
        if resource.capacity_unit == CapacityUnit.YUAN:
            if not amount:
                problems.append(_("Row %(n)d: give the amount in yuan for %(resource)s.") % {"n": row_number, "resource": resource.name})
                continue
            if amount > resource.capacity_left:
                problems.append(_("Row %(n)d: %(resource)s has only %(left)s left.") % {
                    "n": row_number, "resource": resource.name, "left": resource.capacity_text(resource.capacity_left)})
                continue
        total += amount or Decimal("0")
    if problems:
        raise FormInvalid({"plan": problems})
    ctx.set_variable("plan_total", str(total))
    ctx.set_variable("plan_rows", [{"need": needs[_number(r["need_no"])].pk, "resource": int(r["resource"]),
                                    "responsible": r.get("responsible", ""), "due_date": r.get("due_date"),
                                    "amount": str(r["amount"]) if r.get("amount") not in (None, "") else None} for r in data["plan"]])


@registry.on_task_completed(KEY, "Task_ApprovePlan")
def review_plan(ctx, data):
    """A plan is returned with its reason: the worker reads it above the plan, which comes back
    filled in (a return without a reason gives the worker neither)."""
    if data["decision"] == "return" and not (data.get("comments") or "").strip():
        raise FormInvalid({"comments": [_("Say what the worker should change in the plan.")]})


@registry.service("needs_matching.refer")
def send_referrals(ctx, params):
    """One referral per plan row. A provider with portal users answers its own task, seen only by
    its group; a provider without an account gets a message, and the case's worker records the
    answer — a referral never goes to every partner office."""
    rows = ctx.task_variable("plan_rows") or []
    ids, groups = [], {}
    for row in rows:
        need = Need.objects.get(pk=row["need"])
        resource = Resource.objects.get(pk=row["resource"])
        referral = Referral.objects.create(need=need, resource=resource, instance_id=ctx.instance_id, responsible=row.get("responsible", ""),
                                           due_date=dt.date.fromisoformat(row["due_date"]) if row.get("due_date") else None,
                                           amount=Decimal(row["amount"]) if row.get("amount") else None, sent_at=clock.now())
        need.status = NeedStatus.REFERRED
        need.save(update_fields=["status"])
        ids.append(str(referral.pk))
        groups[str(referral.pk)] = resource.provider_group or "worker"
        if not resource.provider_group:
            ctx.enqueue("partner.referral", {"referral": referral.pk, "provider": resource.provider, "resource": resource.name,
                                             "category": need.category}, effect=f"referral_{referral.pk}")
    ctx.set_variable("referral_ids", ids)
    ctx.set_variable("provider_groups", groups)
    return {"referrals": len(ids)}


@registry.on_task_completed(KEY, "Task_ProviderResponse")
def provider_answers(ctx, data):
    referral = Referral.objects.select_related("resource", "need").get(pk=int(ctx.task_variable("referral_id")))
    referral.answered_at = clock.now()
    referral.reason = data.get("reason", "")
    if data["response"] == "accept":
        take = referral.resource.take(referral.amount)
        taken = Resource.objects.filter(pk=referral.resource_id, capacity_left__gte=take).update(capacity_left=F("capacity_left") - take)
        if not taken:
            raise FormInvalid({"response": [_("This resource has no capacity left; decline the referral instead.")]})
        referral.status = ReferralStatus.ACCEPTED
    else:
        if not data.get("reason"):
            raise FormInvalid({"reason": [_("Say why the referral is declined.")]})
        referral.status = ReferralStatus.DECLINED
    referral.save(update_fields=["status", "answered_at", "reason"])


@registry.service("needs_matching.chase_providers")
def chase_providers(ctx, params):
    """Remind the providers still silent; their tasks stay open for them to answer."""
    silent = Referral.objects.filter(instance_id=ctx.instance_id, status=ReferralStatus.SENT)
    for referral in silent:
        ctx.enqueue("partner.reminder", {"referral": referral.pk}, effect=f"chase_{referral.pk}")
    return {"chased": silent.count()}


@registry.service("needs_matching.collect_responses")
def collect_responses(ctx, params):
    """Declined referrals send their needs back to matching without that resource; referrals left
    unanswered at the deadline send them back with it (silence is no refusal: the worker may ask
    the same provider again)."""
    needs = {n.pk: n for n in Need.objects.filter(instance_id=ctx.instance_id)}  # one object per need: two referrals of it add up
    changed, rematch = set(), False
    for referral in Referral.objects.filter(instance_id=ctx.instance_id).exclude(status=ReferralStatus.ACCEPTED).order_by("pk"):
        need = needs[referral.need_id]
        if referral.status == ReferralStatus.SENT:
            referral.status = ReferralStatus.EXPIRED
            referral.save(update_fields=["status"])
        elif referral.status == ReferralStatus.DECLINED and referral.resource_id not in need.declined_resources:
            need.declined_resources = [*need.declined_resources, referral.resource_id]
            changed.add(need.pk)
        else:
            continue  # settled in an earlier round
        if need.status == NeedStatus.REFERRED:
            need.status = NeedStatus.OPEN
            changed.add(need.pk)
            rematch = True
    for pk in changed:
        needs[pk].save(update_fields=["declined_resources", "status"])
    ctx.set_variable("needs_rematch", rematch)
    return {"rematch": rematch}


@registry.service("needs_matching.remind_followup")
def remind_followup(ctx, params):
    return {"queued": ctx.enqueue("notify.reminder", {"instance": ctx.instance_id, "task": "Task_FollowUp"}, effect="followup_reminder")}


@registry.on_task_completed(KEY, "Task_Evaluate")
def evaluate(ctx, data):
    needs = {n.number: n for n in Need.objects.filter(instance_id=ctx.instance_id)}
    numbers = [_number(row["need_no"]) for row in data["outcomes"]]
    twice = sorted({n for n in numbers if numbers.count(n) > 1 and n is not None})
    if twice:  # met in one row and unmet in the next: the evaluation would say both
        raise FormInvalid({"outcomes": [_("Need %(need)s is evaluated twice: give each need one result.") % {"need": twice[0]}]})
    for row in data["outcomes"]:
        need = needs.get(_number(row["need_no"]))
        if need is None:
            raise FormInvalid({"outcomes": [_("There is no need number %(need)s.") % {"need": row["need_no"]}]})
        need.status = row["result"]
        need.save(update_fields=["status"])
    ctx.set_variable("monitoring_status", data["monitoring_status"])


@registry.service("needs_matching.update_monitoring")
def update_monitoring(ctx, params):
    household = Household.objects.get(pk=ctx.task_variable("household_id"))
    household.monitoring_status = ctx.task_variable("monitoring_status", "")
    household.save(update_fields=["monitoring_status", "updated_at"])
    return {"household": household.pk, "status": household.monitoring_status}


def matching_summary(instance_id: int, viewer, task=None) -> list[tuple[str, str]]:
    """The matching screen beside the plan form: each need on one side, what was referred and how
    the provider answered, and while the need is open its resources with the reasons (eligible
    first), or the gap. On a provider's task — and for a partner office anywhere in the case — only
    the referral(s) addressed to them: nothing else of the household."""
    from engine import api

    if task is not None and task.bpmn_id == "Task_ProviderResponse":
        return referral_summary(task)
    if viewer is not None and not api.sees_people(viewer):
        groups = set(viewer.groups.values_list("name", flat=True))
        return [row for referral in Referral.objects.filter(instance_id=instance_id, resource__provider_group__in=groups)
                .select_related("resource", "need") for row in _referral_rows(referral)]
    rows = []
    fit_main, fit_other = _("its main service"), _("also serves this")
    for need in Need.objects.filter(instance_id=instance_id).order_by("number").prefetch_related("referrals__resource"):
        label = _("Need %(n)d: %(category)s (%(status)s)") % {"n": need.number, "category": need.get_category_display(),
                                                             "status": need.get_status_display()}
        parts = [f"→ {r.resource.name}（{r.get_status_display()}）" for r in need.referrals.all()]
        if need.status in (NeedStatus.OPEN, NeedStatus.GAP):
            if not need.proposals and need.status == NeedStatus.GAP:
                parts.append(str(_("Gap: no resource to refer to yet")))
            for proposal in need.proposals[:6]:
                failed = [f"{r['label']} {r['why']}" for r in proposal["reasons"] if not r["passed"]]
                if not (proposal["eligible"] or failed):
                    continue  # declined by its provider: the referral above says so
                fit = fit_main if Decimal(str(proposal["score"])) >= 1 else fit_other
                parts.append(f"✔ {proposal['name']}（{fit}）" if proposal["eligible"]
                             else f"✘ {proposal['name']}（{'；'.join(failed)}）")
        rows.append((label, "　".join(parts) or "—"))
    return rows


def referral_summary(task) -> list[tuple[str, str]]:
    referral = Referral.objects.select_related("resource", "need").filter(pk=_number(task.context) or 0, instance_id=task.instance_id).first()
    return _referral_rows(referral) if referral is not None else []


def _referral_rows(referral) -> list[tuple[str, str]]:
    resource, need = referral.resource, referral.need
    money = resource.capacity_unit == CapacityUnit.YUAN
    rows = [(_("Resource referred"), f"{resource.name}（{resource.provider}）"),
            (_("Need"), f"{need.get_category_display()}：{need.description}"),
            (_("Amount referred") if money else _("Places asked"),
             resource.capacity_text(referral.amount or 0) if money else _("one place")),
            (_("Status"), referral.get_status_display())]
    if referral.due_date:
        rows.append((_("By when"), referral.due_date.isoformat()))
    if referral.responsible:
        rows.append((_("Contact at the station"), referral.responsible))
    if not resource.provider_group:
        rows.append((_("Provider has no account"), _("Contact %(provider)s and record their answer here.") % {"provider": resource.provider}))
    return rows


registry.register_case_summary(KEY, matching_summary)
