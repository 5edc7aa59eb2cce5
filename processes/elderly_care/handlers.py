"""Hooks, service tasks and option lists of the elderly-care process.

One case per reason: a *screening* case (the worker's answers, the tier computed from the tier
rules, the supervisor's confirmation) which, for an elder not yet in the programme, goes on as the
elder's *monthly cycle* — each period the three visits of "三个一" as tasks, due at the end of the
period's last working day, withdrawn (and recorded missed) when the period ends, then the next
period; and a *major change* case (hospital, fall, carer leaving) whose visit is due 24 hours after
the change. Every visit's readings are checked against the flag thresholds; a raised flag is a
referral task for the village doctor and a notice task for the supervisor. Only the engine's timers
schedule anything (cycle.py computes the moments the diagram's timers count from)."""
from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _, pgettext, pgettext_lazy

from engine import clock, registry, selectors
from engine.errors import FormInvalid
from engine.station import Village

from . import cycle, rules, search  # noqa: F401 - search registers the elders' search and household facet
from .access import person_from_key, visible_people
from .models import (
    CYCLE_KINDS, ElderlyPerson, HealthEntry, MajorChange, Referral, ReferralStatus, RuleKind, RuleSet, Screening, SupportEntry, Visit,
    VisitKind, VisitStatus,
)

KEY = "elderly_care"
VISIT_TASKS = {"Task_HealthCheck": VisitKind.HEALTH, "Task_Companionship": VisitKind.COMPANY, "Task_DailyHelp": VisitKind.HELP,
               "Task_UrgentVisit": VisitKind.URGENT}

registry.register_variables(KEY, {"person_id", "start_cycle", "cycle_active", "referral_needed", "referral_id", "computed_tier",
                                  "period_start", "visit_due_at", "period_end", "visit_withdrawn_at", "period_cycle", "happened_at"})


def current_rules(kind: str) -> tuple[int, list]:
    """(version, rules) of the latest version of the tier rules or the flag thresholds."""
    latest = RuleSet.objects.filter(kind=kind).order_by("-version").first()
    if latest is not None:
        return latest.version, latest.rules
    return 0, rules.DEFAULT_TIER_RULES if kind == RuleKind.TIERS else rules.DEFAULT_FLAG_RULES


def elderly_people(user) -> list[tuple[str, str]]:
    """The elders this user may see, as ("elderly_care:<id>", name): other processes' forms (the time
    bank) pick an elder by this key without importing this package."""
    return [(p.person_key, f"{p.name}（{p.code}）") for p in visible_people(user).order_by("village", "code")[:3000]]


def chosen_elderly_people(user, values: list[str]) -> dict[str, str]:
    """{key: label} of the chosen elders this user may see: a form sent with one elder reads that
    elder, not the whole register (10,000 elders are 10,000 names to decrypt)."""
    ids = [pk for pk in (person_from_key(value) for value in values) if pk is not None and pk < 2**63]
    if not ids:
        return {}
    return {p.person_key: f"{p.name}（{p.code}）" for p in visible_people(user).filter(pk__in=ids)}


registry.register_option_source("elderly_people", elderly_people, check=chosen_elderly_people)


def _person(ctx) -> ElderlyPerson:
    person = ctx.memo.get("elderly_person")
    if person is None:
        person = ElderlyPerson.objects.get(pk=ctx.task_variable("person_id"))
        ctx.memo["elderly_person"] = person
    return person


def _yes(value) -> bool:
    return value in (True, "yes", "true")


@registry.on_start(KEY)
def open_case(ctx, data):
    person_id = person_from_key(data.get("person"))
    person = visible_people(ctx.actor).filter(pk=person_id).first() if person_id else None
    if person is None:
        raise FormInvalid({"person": [_("Choose an elderly person of your villages.")]})
    ctx.set_village(person.village)
    ctx.set_variable("person_id", person.pk)
    ctx.memo["elderly_person"] = person
    if data.get("purpose") == "change":
        errors = {}
        if not data.get("change_kind"):
            errors["change_kind"] = [_("Say what changed.")]
        if not data.get("happened_at"):
            errors["happened_at"] = [_("Say when it happened.")]
        if errors:
            raise FormInvalid(errors)
        happened = dt.datetime.fromisoformat(str(data["happened_at"]).replace("Z", "+00:00"))
        if happened.tzinfo is None:
            happened = happened.replace(tzinfo=cycle.LOCAL)
        MajorChange.objects.create(person=person, instance_id=ctx.instance_id, kind=data["change_kind"], happened_at=happened,
                                   reported_at=clock.now(), details=data.get("details") or "")
        Visit.objects.create(person=person, instance_id=ctx.instance_id, kind=VisitKind.URGENT, village=person.village,
                             period_start=happened.astimezone(cycle.LOCAL).date(),
                             due_at=happened + dt.timedelta(hours=cycle.URGENT_HOURS))
        # The 24 hours count from the change, not from the report (a fall reported the next morning).
        ctx.set_variable("happened_at", happened.isoformat())
        ctx.set_subject(f"{person.code}-{ctx.instance_id}")  # one case per change, no language baked in
    else:
        ctx.set_subject(person.code)


@registry.on_task_completed(KEY, "Task_Screening")
def record_screening(ctx, data):
    person = _person(ctx)
    answers = {
        "age": clock.now().astimezone(cycle.LOCAL).year - person.birth_year,
        **{key: _yes(data.get(key)) for key in ("lives_alone", "children_away", "no_carer", "dementia", "severe_cardiovascular",
                                                   "diabetic", "disabled")},
        **{key: data.get(key) for key in ("contact_days", "chronic_count", "self_care_score")},
    }
    Screening.objects.create(person=person, instance_id=ctx.instance_id, answers=answers, computed_tier="general", reasons=[],
                             rules_version=0, screened_at=clock.now())


@registry.service("elderly_care.compute_tier")
def compute_tier(ctx, params):
    """The tier from the latest screening's answers and the current tier rules (data, never code)."""
    screening = Screening.objects.filter(instance_id=ctx.instance_id).order_by("-pk").first()
    version, tier_rules = current_rules(RuleKind.TIERS)
    result = rules.compute_tier(tier_rules, screening.answers)
    screening.computed_tier, screening.reasons, screening.rules_version = result.tier, list(result.reasons), version
    screening.save(update_fields=["computed_tier", "reasons", "rules_version"])
    ctx.set_variable("computed_tier", result.tier)
    return {"tier": result.tier, "rules_version": version}


@registry.on_task_completed(KEY, "Task_ConfirmTier")
def confirm_tier(ctx, data):
    screening = Screening.objects.filter(instance_id=ctx.instance_id).order_by("-pk").first()
    if data.get("tier_decision") == "return":
        return
    if data["confirmed_tier"] != screening.computed_tier and not (data.get("tier_note") or "").strip():
        raise FormInvalid({"tier_note": [_("Say why the tier differs from the one the rules computed.")]})
    now = clock.now()
    person = ElderlyPerson.objects.select_for_update().get(pk=screening.person_id)
    screening.confirmed_tier, screening.confirmed_by, screening.confirmed_at = data["confirmed_tier"], ctx.actor, now
    screening.save(update_fields=["confirmed_tier", "confirmed_by", "confirmed_at"])
    person.tier, person.tier_confirmed_at, person.screening_answers = data["confirmed_tier"], now, screening.answers
    start_cycle = person.cycle_instance_id is None and person.active
    if start_cycle:
        person.cycle_instance_id = ctx.instance_id  # unique: one running cycle per elder
    try:
        with transaction.atomic():
            person.save(update_fields=["tier", "tier_confirmed_at", "screening_answers", "cycle_instance_id"])
    except IntegrityError:
        raise FormInvalid({"confirmed_tier": [_("This person's monthly visits were started by another case just now; try again.")]}) from None
    ctx.memo["elderly_person"] = person
    ctx.set_variable("start_cycle", start_cycle)


@registry.service("elderly_care.plan_period")
def plan_period(ctx, params):
    """The next period's three visits: the period after the last one, or the one under way now for a
    new cycle. Visits are rows with a unique (person, kind, period), so planning a period twice
    makes nothing twice."""
    person = _person(ctx)
    _version, tier_rules = current_rules(RuleKind.TIERS)
    cycle_name = rules.cycle_of(tier_rules, person.tier)
    previous = ctx.task_variable("period_start")
    if previous:
        last = cycle.Period(dt.date.fromisoformat(previous), dt.datetime.fromisoformat(ctx.task_variable("period_end")).astimezone(cycle.LOCAL).date(),
                            dt.datetime.fromisoformat(ctx.task_variable("visit_due_at")), ctx.task_variable("period_cycle") or "month")
        period = _record_passed_periods(ctx, person, cycle.next_period(last, cycle_name), cycle_name)
    else:
        period = cycle.period_containing(clock.now(), cycle_name)
    for kind in CYCLE_KINDS:
        Visit.objects.get_or_create(person=person, kind=kind, period_start=period.start, defaults={
            "instance_id": ctx.instance_id, "due_at": period.due_at, "village": person.village})
    ctx.set_variable("period_start", period.start.isoformat())
    ctx.set_variable("visit_due_at", period.due_at.isoformat())
    ctx.set_variable("period_end", period.ends_at.isoformat())
    ctx.set_variable("visit_withdrawn_at", period.withdraw_at.isoformat())
    ctx.set_variable("period_cycle", cycle_name)
    return {"period_start": period.start.isoformat(), "cycle": cycle_name}


def _record_passed_periods(ctx, person: ElderlyPerson, period: cycle.Period, cycle_name: str) -> cycle.Period:
    """The period to plan, from `period` on: the first that has not ended yet. The sweeper was
    stopped for longer than a period when some have ended already: nobody was asked for their visits,
    so each one's three visits are recorded missed — a supervisor sees every week (or month) that
    passed as missed, not a gap — and the period under way is planned at once. Catching up one period
    a sweep instead would take a sweep per week passed (a sweep fires a timer once)."""
    now = clock.now()
    while period.ends_at <= now:
        for kind in CYCLE_KINDS:
            Visit.objects.get_or_create(person=person, kind=kind, period_start=period.start, defaults={
                "instance_id": ctx.instance_id, "due_at": period.due_at, "village": person.village, "status": VisitStatus.MISSED})
        period = cycle.next_period(period, cycle_name)
    return period


@registry.service("elderly_care.close_period")
def close_period(ctx, params):
    """The period is over and the next one is planned; an elder who left the programme ends the
    cycle. Visits still open stay open for the grace days (their due timer has escalated them)."""
    person = ElderlyPerson.objects.get(pk=ctx.task_variable("person_id"))
    ctx.set_variable("cycle_active", person.active)
    if not person.active:
        ElderlyPerson.objects.filter(pk=person.pk, cycle_instance_id=ctx.instance_id).update(cycle_instance_id=None)
    start = dt.date.fromisoformat(ctx.task_variable("period_start"))
    return {"still_open": Visit.objects.filter(person=person, period_start=start, kind__in=CYCLE_KINDS, status=VisitStatus.OPEN).count()}


@registry.on_event
def visit_withdrawn(event):
    """A visit task withdrawn by its grace timer is a missed visit: the open visits of that kind in
    the cycle due no later than the task was. Not every visit past its due moment: a sweep that
    runs late, on a weekend, has planned the week under way, whose visits were due on Friday and
    are still asked for."""
    kind = VISIT_TASKS.get(event.bpmn_id)
    if event.process_key != KEY or event.kind != "cancelled" or event.task_id is None or kind not in CYCLE_KINDS:
        return
    due = selectors.task_row(event.task_id).due_at or clock.now()
    Visit.objects.filter(instance_id=event.instance_id, kind=kind, status=VisitStatus.OPEN, due_at__lte=due).update(
        status=VisitStatus.MISSED)


def _visit_for(ctx, kind: str) -> Visit:
    person = _person(ctx)
    if kind == VisitKind.URGENT:
        return Visit.objects.select_for_update().get(instance_id=ctx.instance_id, kind=kind)
    return Visit.objects.select_for_update().get(person=person, kind=kind, period_start=ctx.task_variable("period_start"))


def _number(value):
    return None if value in (None, "") else value


def record_visit(ctx, data, kind: str) -> None:
    person = _person(ctx)
    if kind == VisitKind.HEALTH and (person.screening_answers or {}).get("diabetic") and _number(data.get("glucose")) is None:
        raise FormInvalid({"glucose": [_("This person is diabetic: measure and record the glucose.")]})
    visit = _visit_for(ctx, kind)
    visited_on = dt.date.fromisoformat(str(data["visited_on"]))
    facts = {"systolic": _number(data.get("systolic")), "diastolic": _number(data.get("diastolic")),
             "glucose": _number(data.get("glucose")), "days_since_contact": _number(data.get("days_since_contact")),
             "fell": _yes(data.get("fell")) if "fell" in data else None,
             "missed_medication": _yes(data.get("missed_medication")) if "missed_medication" in data else None,
             "self_care_score": _number(data.get("self_care_score"))}
    version, flag_rules = current_rules(RuleKind.FLAGS)
    flags = rules.raised_flags(flag_rules, facts)
    visit.status, visit.done_at, visit.done_by = VisitStatus.DONE, clock.now(), ctx.actor
    visit.data = {k: (str(v) if not isinstance(v, (str, int, float, bool, list, dict, type(None))) else v) for k, v in data.items()}
    visit.flags = [flag.code for flag in flags]
    visit.save()
    if kind in (VisitKind.HEALTH, VisitKind.URGENT) and facts["systolic"] is not None:
        HealthEntry.objects.create(person=person, visit=visit, date=visited_on, doctor_file=person.doctor_file,
                                   systolic=facts["systolic"], diastolic=facts["diastolic"], glucose=facts["glucose"],
                                   chronic_conditions=person.chronic_conditions, medication=person.medication,
                                   self_care_score=facts["self_care_score"])
    if kind == VisitKind.COMPANY:
        SupportEntry.objects.create(person=person, visit=visit, date=visited_on, video_call_minutes=data.get("video_minutes") or 0,
                                    mood=data.get("mood") or "", notes=data.get("talked_about") or "")
    if flags:
        referral = Referral.objects.create(
            person=person, visit=visit, instance_id=ctx.instance_id, village=person.village, rules_version=version,
            flags=[{"code": f.code, "label": f.label, "value": str(f.value)} for f in flags], created_at=clock.now())
        ctx.set_variable("referral_id", referral.pk)
    ctx.set_variable("referral_needed", bool(flags))


for _task, _kind in VISIT_TASKS.items():
    registry.on_task_completed(KEY, _task)(lambda ctx, data, kind=_kind: record_visit(ctx, data, kind))


@registry.service("elderly_care.raise_flag")
def raise_flag(ctx, params):
    """A raised flag goes two ways at once (this task's two outgoing flows): the referral task for the
    village doctor and the notice task for the supervisor; the notice is also queued for the station's
    message channel (ids only: the receiver reads the rest in the portal)."""
    referral_id = ctx.task_variable("referral_id")
    ctx.enqueue("elderly.flag", {"referral": referral_id, "village": ctx.village}, effect=f"flag:{referral_id}")
    return {"referral": referral_id}


@registry.on_event
def follow_referral_tasks(event):
    """The referral and the notice run in a subprocess of their own, where the case's data does not
    reach (SpiffWorkflow's subprocess data is not kept across a reload): each is tied to its referral
    when it opens — a step completes one visit, so it raises at most one referral — and the doctor's
    answer closes the referral from the completion's own event."""
    if event.process_key != KEY or event.task_id is None or event.bpmn_id not in ("Task_Referral", "Task_FlagNotice"):
        return
    column = "task_id" if event.bpmn_id == "Task_Referral" else "notice_task_id"
    if event.kind == "task_ready":
        waiting = Referral.objects.filter(instance_id=event.instance_id, **{f"{column}__isnull": True}).order_by("pk").first()
        if waiting is not None:
            Referral.objects.filter(pk=waiting.pk).update(**{column: event.task_id})
    elif event.kind == "completed" and event.bpmn_id == "Task_Referral":
        referral = Referral.objects.select_for_update().filter(task_id=event.task_id).first()
        if referral is not None:
            data = event.data.get("data") or {}
            referral.status, referral.closed_at = ReferralStatus.DONE, clock.now()
            referral.outcome = f"{data.get('referral_outcome', '')}: {data.get('doctor_note') or ''}".strip(": ")
            referral.save(update_fields=["status", "closed_at", "outcome"])


@registry.on_event
def end_of_a_cycle(event):
    """A cycle case that is cancelled (or ends) frees the elder for a new one."""
    if event.process_key == KEY and event.task_id is None and event.kind in ("instance_completed", "cancelled"):
        ElderlyPerson.objects.filter(cycle_instance_id=event.instance_id).update(cycle_instance_id=None)
        Visit.objects.filter(instance_id=event.instance_id, status=VisitStatus.OPEN).update(status=VisitStatus.MISSED)


def case_summary(instance_id, viewer, task=None) -> list[tuple[str, str]]:
    """On the case and task pages: who the case is about, the tier, and for a referral the flags."""
    person = (visible_people(viewer).filter(cycle_instance_id=instance_id).first()
              or visible_people(viewer).filter(screenings__instance_id=instance_id).first()
              or visible_people(viewer).filter(changes__instance_id=instance_id).first()
              or visible_people(viewer).filter(visits__instance_id=instance_id).first())
    if person is None:
        return []
    _version, tier_rules = current_rules(RuleKind.TIERS)
    rows = [(_("Elderly person"), f"{person.name}（{person.code}）"), (_("Village"), Village.objects.filter(code=person.village).values_list("name", flat=True).first() or person.village),
            (_("Risk tier"), rules.tier_label(tier_rules, person.tier) if person.tier else _("not screened yet"))]
    if task is not None and task.bpmn_id in ("Task_Referral", "Task_FlagNotice"):
        referral = Referral.objects.filter(Q(task_id=task.id) | Q(notice_task_id=task.id), person=person).first()
        if referral is not None:
            rows.append((pgettext("elderly care", "Risk flags"), referral.flags_text))
    return rows


registry.register_case_summary(KEY, case_summary)
registry.register_view_labels({"elderly_person": pgettext_lazy("access log", "elder's page"),
                               "elderly_report_export": pgettext_lazy("access log", "monthly visits report, as a spreadsheet")})


# -- the station's year: screening and the monthly "三个一", as shares of what was due ------------

def _month_end(year: int, month: int) -> dt.datetime:
    from django.utils import timezone

    first_of_next = dt.date(year + (month == 12), month % 12 + 1, 1)
    return timezone.make_aware(dt.datetime.combine(first_of_next, dt.time()))


def _percent(part: int, whole: int):
    from decimal import Decimal

    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else Decimal(0)


def _screened(year: int, villages) -> registry.FigureValues:
    """Elders in the programme whose tier a supervisor confirmed, of all of them, at each month's end
    (the year's value: at its last month that has begun)."""
    from .models import ElderlyPerson

    people = ElderlyPerson.objects.filter(active=True)
    if villages is not None:
        people = people.filter(village__in=villages)
    rows = list(people.values_list("village", "created_at", "tier_confirmed_at"))
    now = clock.now()
    by_month = {}
    for month in range(1, 13):
        end = _month_end(year, month)
        if end - dt.timedelta(days=31) > now:
            break
        enrolled = [r for r in rows if r[1] < end]
        by_month[month] = _percent(sum(1 for r in enrolled if r[2] is not None and r[2] < end), len(enrolled))
    by_village = {}
    for village in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == village]
        by_village[village] = _percent(sum(1 for r in mine if r[2] is not None), len(mine))
    total = by_month[max(by_month)] if by_month else _percent(0, 0)
    return registry.FigureValues(total, by_month, by_village)


def _visits_done(year: int, villages) -> registry.FigureValues:
    """"三个一" visits made, of those due, by the month they were due in (VisitQuerySet, the rule of
    the monthly report); open visits not yet due are not counted yet."""
    from django.db.models import Count
    from django.db.models.functions import ExtractMonth

    from .models import Visit, VisitStatus

    visits = Visit.objects.of_months().filter(month__year=year).exclude(status=VisitStatus.OPEN, due_at__gte=clock.now())
    if villages is not None:
        visits = visits.filter(village__in=villages)
    done = Count("pk", filter=Q(status=VisitStatus.DONE))
    by_month = {m: _percent(d, n) for m, d, n in visits.annotate(m=ExtractMonth("month")).values("m").annotate(
        d=done, n=Count("pk")).values_list("m", "d", "n")}
    by_village = {v: _percent(d, n) for v, d, n in visits.values("village").annotate(d=done, n=Count("pk")).values_list("village", "d", "n")}
    totals = visits.aggregate(d=done, n=Count("pk"))
    return registry.FigureValues(_percent(totals["d"], totals["n"]), by_month, by_village)


def _register_figures() -> None:
    from django.utils.translation import gettext_lazy

    registry.register_figure(registry.Figure(
        code="elderly_care.screened", label=gettext_lazy("Elders screened, of those in the programme"), unit="%",
        compute=_screened, kind="share", drill="elderly-register", order=40))
    registry.register_figure(registry.Figure(
        code="elderly_care.visits_done", label=gettext_lazy("Monthly “三个一” visits made, of those due"), unit="%",
        compute=_visits_done, kind="share", drill="elderly-report", order=41))


_register_figures()
