"""Hooks, service tasks, option lists, the person facet and the year's figures of low-income monitoring.

One case per monitored household, looping month after month on the engine's timers: the month is
planned (`monitoring.plan_month`: the update row and the moments the timers count from), the
worker's monthly update is checked against the warning rules in its hook, and a warning goes down
its own branch — the worker's verification visit, the supervisor's decision and, once confirmed, the
referral into needs matching (`monitoring.refer`), which starts a needs case for the household unless
one is already under way: one chain of aid per household."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import ExtractMonth
from django.utils.translation import gettext as _, gettext_lazy, pgettext, pgettext_lazy

from engine import api, clock, registry
from engine.errors import CaseflowError, FormInvalid
from engine.station import Village

from . import cycle, household_link, rules
from .models import (
    INCOME_SOURCES, SPENDING_KINDS, Category, HouseholdStatus, MonitoredHousehold, MonthlyUpdate, RuleSet, UpdateStatus, Warning,
    WarningStatus,
)

KEY = "monitoring"
CENT = Decimal("0.01")

registry.register_variables(KEY, {"monitored_id", "month", "update_due_at", "month_end", "update_withdrawn_at",
                                  "warnings_raised", "warning_id", "monitoring_active", "referral"})


def current_rules() -> tuple[int, list]:
    """(version, rules) in force: the latest version, or the defaults before any was saved."""
    latest = RuleSet.objects.order_by("-version").first()
    return (latest.version, latest.rules) if latest is not None else (0, rules.DEFAULT_RULES)


def line() -> Decimal:
    return Decimal(str(settings.MONITORING["income_line"]))


def standard_monthly() -> Decimal:
    return Decimal(str(settings.MONITORING["living_standard_monthly"]))


def visible_households(user):
    """The monitored households a user may see: staff of their villages; nobody else."""
    from .access import may_see

    if not may_see(user):
        return MonitoredHousehold.objects.none()
    villages = registry.villages_for(user)
    query = MonitoredHousehold.objects.all()
    return query if villages is None else query.filter(village__in=villages)


def households_to_enrol(user) -> list[tuple[str, str]]:
    """Needs-matching households of the user's villages that are not being monitored now."""
    running = set(MonitoredHousehold.objects.filter(cycle_instance_id__isnull=False).values_list("household_id", flat=True))
    return [(value, label) for value, label in household_link.choices(user) if int(value) not in running]


def monitored_households(user) -> list[tuple[str, str]]:
    """The households under monitoring this user may see, as ("monitoring:<id>", number), for other processes' forms."""
    return [(h.person_key, h.code) for h in visible_households(user).filter(status=HouseholdStatus.ACTIVE).order_by("code")[:3000]]


registry.register_option_source("monitoring_households_to_enrol", households_to_enrol)
registry.register_option_source("monitored_households", monitored_households)


def _household(ctx) -> MonitoredHousehold:
    household = ctx.memo.get("monitored_household")
    if household is None:
        household = MonitoredHousehold.objects.get(pk=ctx.task_variable("monitored_id"))
        ctx.memo["monitored_household"] = household
    return household


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


@registry.on_start(KEY)
def enrol(ctx, data):
    """A needs-matching household joins monitoring: one running cycle per household (two workers at
    once: one wins, the other is told next to the field)."""
    taken = _("This household is being monitored already.")
    if str(data.get("household")) not in {value for value, _label in households_to_enrol(ctx.actor)}:
        raise FormInvalid({"household": [taken if MonitoredHousehold.objects.filter(
            household_id=int(data["household"]), cycle_instance_id__isnull=False).exists() else _("Choose a household of your villages.")]})
    linked = household_link.find(int(data["household"]), ctx.actor)
    if linked is None:
        raise FormInvalid({"household": [_("Choose a household of your villages.")]})
    since = _date(data["since"])
    try:
        with transaction.atomic():
            household, _created = MonitoredHousehold.objects.select_for_update().get_or_create(
                household_id=linked.id, defaults={"code": linked.code, "village": linked.village, "category": data["category"], "since": since})
            if household.cycle_instance_id is not None:
                raise FormInvalid({"household": [taken]})
            household.code, household.village, household.category, household.since = linked.code, linked.village, data["category"], since
            household.status, household.cycle_instance_id = HouseholdStatus.ACTIVE, ctx.instance_id
            household.head_name = linked.head_name or household.head_name
            if data.get("head_id_number"):
                household.head_id_number = data["head_id_number"]
            household.save()
    except IntegrityError:
        raise FormInvalid({"household": [taken]}) from None
    ctx.memo["monitored_household"] = household
    ctx.set_subject(household.code)
    ctx.set_village(household.village)
    ctx.set_variable("monitored_id", household.pk)


@registry.service("monitoring.plan_month")
def plan_month(ctx, params):
    """The month after the last one planned, or the one under way for a new cycle. A month already
    over when planned (the sweeper was stopped for longer) is skipped for the one under way, so every
    timer lies ahead when it is armed. The update is a row with a unique (household, month)."""
    household = _household(ctx)
    previous = ctx.task_variable("month")
    month = cycle.Month(_date(previous)).next() if previous else cycle.month_containing(clock.now())
    if month.ends_at <= clock.now():
        month = cycle.month_containing(clock.now())
    MonthlyUpdate.objects.get_or_create(household=household, month=month.start, defaults={
        "instance_id": ctx.instance_id, "due_at": month.due_at, "village": household.village})
    ctx.set_variable("month", month.start.isoformat())
    ctx.set_variable("update_due_at", month.due_at.isoformat())
    ctx.set_variable("month_end", month.ends_at.isoformat())
    ctx.set_variable("update_withdrawn_at", month.withdraw_at.isoformat())
    return {"month": month.start.isoformat()}


def _money(data, key) -> Decimal:
    value = data.get(key)
    return Decimal(str(value)).quantize(CENT) if value not in (None, "") else Decimal("0.00")


@registry.on_task_completed(KEY, "Task_MonthlyUpdate")
def record_update(ctx, data):
    household = _household(ctx)
    month = _date(ctx.task_variable("month"))
    update = MonthlyUpdate.objects.select_for_update().get(household=household, month=month)
    visited_on = _date(data["visited_on"])
    if visited_on < month:
        raise FormInvalid({"visited_on": [_("This update is for %(month)s: give a date in that month or later.") % {
            "month": f"{month:%Y-%m}"}]})
    size = int(data["size"])
    incomes = {source: str(_money(data, f"income_{source}")) for source in INCOME_SOURCES}
    spending = {kind: str(_money(data, f"spending_{kind}")) for kind in SPENDING_KINDS}
    total = sum((Decimal(v) for v in incomes.values()), Decimal("0"))
    per_capita = (total * 12 / size).quantize(CENT)
    events = tuple(data.get("events") or ())
    previous = (MonthlyUpdate.objects.filter(household=household, status=UpdateStatus.DONE, month__lt=month)
                .order_by("-month").first())
    facts = rules.Facts(income=total, per_capita=per_capita, events=events,
                        previous_income=sum((Decimal(v) for v in previous.incomes.values()), Decimal("0")) if previous else None,
                        previous_per_capita=previous.per_capita if previous else None)
    version, rule_list = current_rules()
    reasons = rules.warnings_for(rule_list, facts, line=line(), standard_monthly=standard_monthly())
    update.status, update.done_at, update.done_by, update.visited_on = UpdateStatus.DONE, clock.now(), ctx.actor, visited_on
    update.size, update.incomes, update.spending, update.events, update.note = size, incomes, spending, list(events), data.get("note") or ""
    update.per_capita = per_capita
    update.band = rules.band(per_capita, line=line(), standard_monthly=standard_monthly())
    update.save()
    warning = None
    if reasons:
        warning, _created = Warning.objects.update_or_create(update=update, defaults={
            "household": household, "instance_id": ctx.instance_id, "village": household.village, "rules_version": version,
            "reasons": [{"code": r.code, "label": r.label, "value": r.value} for r in reasons], "raised_at": clock.now(),
            "status": WarningStatus.RAISED})
    ctx.set_variable("warnings_raised", warning is not None)
    ctx.set_variable("warning_id", warning.pk if warning else None)


def _warning(ctx) -> Warning:
    return Warning.objects.select_for_update().select_related("household").get(pk=ctx.task_variable("warning_id"), instance_id=ctx.instance_id)


@registry.on_task_completed(KEY, "Task_Verify")
def record_verification(ctx, data):
    warning = _warning(ctx)
    visited_on = _date(data["visited_on"])
    if visited_on < warning.update.month:
        raise FormInvalid({"visited_on": [_("The visit cannot be before the month the warning is about.")]})
    situation = _("As reported") if data.get("situation") == "as_reported" else _("Not as recorded")
    warning.verified_by, warning.verified_on, warning.visit_findings = ctx.actor, visited_on, f"{situation}：{data['findings']}"
    warning.status = WarningStatus.VERIFIED
    warning.save(update_fields=["verified_by", "verified_on", "visit_findings", "status"])


@registry.on_task_completed(KEY, "Task_Decide")
def decide(ctx, data):
    warning = _warning(ctx)
    note = (data.get("decision_note") or "").strip()
    if data["decision"] == "dismiss" and not note:
        raise FormInvalid({"decision_note": [_("Say why the warning is dismissed.")]})
    warning.status = WarningStatus.CONFIRMED if data["decision"] == "confirm" else WarningStatus.DISMISSED
    warning.decided_by, warning.decided_at, warning.decision_note = ctx.actor, clock.now(), note
    warning.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])


@registry.service("monitoring.refer")
def refer(ctx, params):
    """A confirmed warning feeds needs matching: a needs case for the household, started for the
    worker who verified the warning — unless one is under way, which the warning is linked to
    instead (one chain of aid per household). A needs case that cannot be started is said on the
    warning (the supervisor sees why), never a failed monitoring case."""
    warning = _warning(ctx)
    household_id = warning.household.household_id
    existing = household_link.open_needs_case(household_id)
    if existing is None:
        starter = warning.verified_by
        try:
            with transaction.atomic():
                info = api.start_instance(process_key="needs_matching", actor=starter, data={
                    "household": str(household_id), "visit_date": (warning.verified_on or clock.today()).isoformat()})
            warning.needs_instance_id, warning.linked_existing, warning.referral_problem = info.id, False, ""
        except CaseflowError as exc:
            existing = household_link.open_needs_case(household_id)  # started by someone else meanwhile
            if existing is None:
                warning.referral_problem = str(getattr(exc, "field_errors", None) or exc)[:300]
    if existing is not None:
        warning.needs_instance_id, warning.linked_existing, warning.referral_problem = existing, True, ""
    warning.save(update_fields=["needs_instance_id", "linked_existing", "referral_problem"])
    result = {"needs_case": warning.needs_instance_id, "linked_existing": warning.linked_existing}
    ctx.set_variable("referral", result)
    return result


@registry.service("monitoring.close_month")
def close_month(ctx, params):
    """The month is over and the next one is planned; a household that left monitoring ends its cycle."""
    household = MonitoredHousehold.objects.get(pk=ctx.task_variable("monitored_id"))
    active = household.status == HouseholdStatus.ACTIVE
    ctx.set_variable("monitoring_active", active)
    return {"active": active}


@registry.on_event
def update_withdrawn(event):
    """An update task withdrawn by its grace timer is a missed month (the next month's, open beside
    it, is not due yet)."""
    if event.process_key == KEY and event.kind == "cancelled" and event.task_id is not None and event.bpmn_id == "Task_MonthlyUpdate":
        MonthlyUpdate.objects.filter(instance_id=event.instance_id, status=UpdateStatus.OPEN, due_at__lt=clock.now()).update(
            status=UpdateStatus.MISSED)


@registry.on_event
def end_of_a_cycle(event):
    """A cycle that ends or is cancelled frees the household for a new one."""
    if event.process_key == KEY and event.task_id is None and event.kind in ("instance_completed", "cancelled"):
        MonitoredHousehold.objects.filter(cycle_instance_id=event.instance_id).update(cycle_instance_id=None)
        MonthlyUpdate.objects.filter(instance_id=event.instance_id, status=UpdateStatus.OPEN).update(status=UpdateStatus.MISSED)


def village_name(code: str) -> str:
    return Village.objects.filter(code=code).values_list("name", flat=True).first() or code


def reasons_text(warning: Warning) -> str:
    return "；".join(f"{r['label']}（{r['value']}）" if r.get("value") else r["label"] for r in warning.reasons)


def case_summary(instance_id, viewer, task=None) -> list[tuple[str, str]]:
    """On the case and task pages: the household, its category and, on a warning's tasks, what the
    rules found in the update."""
    household = visible_households(viewer).filter(Q(cycle_instance_id=instance_id) | Q(updates__instance_id=instance_id)).first()
    if household is None:
        return []
    rows = [(pgettext("monitoring", "Household"), household.code), (pgettext("monitoring", "Village"), village_name(household.village)),
            (_("Monitoring category"), household.get_category_display())]
    if task is not None and task.bpmn_id in ("Task_Verify", "Task_Decide"):
        warning = Warning.objects.filter(instance_id=instance_id, household=household).exclude(
            status__in=(WarningStatus.CONFIRMED, WarningStatus.DISMISSED)).order_by("pk").select_related("update")
        for item in warning[:3]:
            rows.append((_("Warning for %(month)s") % {"month": f"{item.update.month:%Y-%m}"}, reasons_text(item)))
            rows.append((_("Per-capita income a year"), f"{item.update.per_capita} · {item.update.get_band_display()}"))
            if item.visit_findings:
                rows.append((_("What the visit found"), item.visit_findings))
    return rows


registry.register_case_summary(KEY, case_summary)


def facet(person_key: str, viewer) -> list[tuple[str, str]]:
    """On another process's page about a household ("household:<household number>"): whether it is
    monitored, its latest band and warnings not yet closed — to staff who may see it."""
    kind, _sep, number = person_key.partition(":")
    if kind != "household" or not number:
        return []
    household = visible_households(viewer).filter(code=number).first()
    if household is None:
        return []
    latest = household.updates.filter(status=UpdateStatus.DONE).order_by("-month").first()
    rows = [(_("Low-income monitoring"), f"{household.get_category_display()} · {household.get_status_display()}")]
    if latest is not None:
        rows.append((_("Latest per-capita income"), f"{latest.month:%Y-%m} {latest.per_capita} · {latest.get_band_display()}"))
    waiting = household.warnings.filter(status__in=(WarningStatus.RAISED, WarningStatus.VERIFIED)).count()
    if waiting:
        rows.append((_("Warnings being verified"), str(waiting)))
    return rows


registry.register_person_facet(facet)


def latest_incomes(household_ids: list[int]) -> dict[int, registry.HouseholdIncome]:
    """The income of each monitored household's latest month on record, for the needs matching (its
    rules judge the income a visit found, not the one registered years ago): the month's income
    times 12, the size counted on that visit. One query for all the households asked about."""
    if not household_ids:
        return {}
    latest = (MonthlyUpdate.objects.filter(household=OuterRef("household"), status=UpdateStatus.DONE)
              .order_by("-month", "-pk").values("pk")[:1])
    updates = (MonthlyUpdate.objects.filter(household__household_id__in=household_ids, status=UpdateStatus.DONE,
                                            pk=Subquery(latest)).select_related("household"))
    source = _("Low-income monitoring visit")
    return {update.household.household_id: registry.HouseholdIncome(
                annual_income=sum((Decimal(v) for v in update.incomes.values()), Decimal("0")) * 12,
                size=update.size or 1, as_of=update.visited_on or update.month, source=str(source))
            for update in updates}


registry.register_household_income(latest_incomes)
registry.register_view_labels({"monitoring": pgettext_lazy("access log", "monitored household's page"),
                               "monitoring_export": pgettext_lazy("access log", "monitoring list, as a spreadsheet"),
                               "monitoring_import": pgettext_lazy("access log", "monitoring list imported")})


# -- the station's year ------------------------------------------------------------------------------

def _in(query, villages):
    return query if villages is None else query.filter(village__in=villages)


def _percent(part: int, whole: int) -> Decimal:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else Decimal(0)


def _monitored(year: int, villages) -> registry.FigureValues:
    """Households with an update due in the month (monitored that month), and in the year."""
    updates = _in(MonthlyUpdate.objects.filter(month__year=year), villages)
    by_month = dict(updates.annotate(m=ExtractMonth("month")).values("m").annotate(n=Count("household", distinct=True)).values_list("m", "n"))
    by_village = dict(updates.values("village").annotate(n=Count("household", distinct=True)).values_list("village", "n"))
    return registry.FigureValues(updates.values("household").distinct().count(), by_month, by_village)


def _updates_done(year: int, villages) -> registry.FigureValues:
    """Monthly updates done, of those due (an update still open and not yet due is not counted)."""
    updates = _in(MonthlyUpdate.objects.filter(month__year=year), villages).exclude(status=UpdateStatus.OPEN, due_at__gte=clock.now())
    done = Count("pk", filter=Q(status=UpdateStatus.DONE))
    by_month = {m: _percent(d, n) for m, d, n in updates.annotate(m=ExtractMonth("month")).values("m").annotate(
        d=done, n=Count("pk")).values_list("m", "d", "n")}
    by_village = {v: _percent(d, n) for v, d, n in updates.values("village").annotate(d=done, n=Count("pk")).values_list("village", "d", "n")}
    totals = updates.aggregate(d=done, n=Count("pk"))
    return registry.FigureValues(_percent(totals["d"], totals["n"]), by_month, by_village)


def _warnings(**filters):
    def compute(year: int, villages) -> registry.FigureValues:
        query = _in(Warning.objects.filter(raised_at__year=year, **filters), villages)
        by_month = dict(query.annotate(m=ExtractMonth("raised_at")).values("m").annotate(n=Count("pk")).values_list("m", "n"))
        by_village = dict(query.values("village").annotate(n=Count("pk")).values_list("village", "n"))
        return registry.FigureValues(query.count(), by_month, by_village)
    return compute


for _order, (_code, _label, _unit, _compute, _kind) in enumerate([
        ("monitoring.households", gettext_lazy("Low-income households monitored"), pgettext_lazy("monitoring", "households"), _monitored, "count"),
        ("monitoring.updates_done", gettext_lazy("Monthly monitoring updates done, of those due"), "%", _updates_done, "share"),
        ("monitoring.warnings_raised", gettext_lazy("Monitoring warnings raised"), gettext_lazy("warnings"), _warnings(), "count"),
        ("monitoring.warnings_confirmed", gettext_lazy("Monitoring warnings confirmed"), gettext_lazy("warnings"),
         _warnings(status=WarningStatus.CONFIRMED), "count"),
]):
    registry.register_figure(registry.Figure(code=_code, label=_label, unit=_unit, compute=_compute, kind=_kind, drill="monitoring",
                                             order=60 + _order))
