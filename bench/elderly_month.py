"""A month's "三个一" cycle for the township's elders: BENCH_ELDERLY_PEOPLE elders (default 10,000; a
third high tier, whose cycle is weekly) are screened and put into the monthly cycle through the facade
in one month; then the sweep at the month boundary (as the beat would run it, fire_due_timers in a loop
until it claims nothing) closes the month and makes December's three visits for every monthly elder.

Set-up (not timed as the result): each elder is started, screened and confirmed through engine.api
(three steps an elder), in November 2026 on the engine's clock; a first sweep at the visits' due
moment (30 November 23:59:59) escalates them, so the measured sweep is the month boundary alone.

Measured: wall time of the boundary sweep, instances stepped, timers fired, visit tasks created, and
tasks created per second; the bare durable step (common.Floor) in the same run as the floor, as a
ratio per instance stepped. Checked: every monthly elder has exactly three open December visits (and
three visit rows), none twice; a second sweep at the same moment fires nothing.

Run: `.venv/bin/python bench/elderly_month.py` with DATABASE_URL on PostgreSQL (make bench's
environment). BENCH_ELDERLY_PEOPLE scales it (the set-up costs about three steps an elder).
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

PEOPLE = int(os.environ.get("BENCH_ELDERLY_PEOPLE", "10000"))
TEST_DB_NAME = os.environ.get("BENCH_ELDERLY_DB", "test_caseflow_bench_elderly")
SCREEN = {"lives_alone": "no", "children_away": "no", "contact_days": 3, "no_carer": "no", "dementia": "no",
          "severe_cardiovascular": "no", "diabetic": "no", "disabled": "no", "chronic_count": 0, "self_care_score": 95}


def set_up(users) -> list[int]:
    from engine import api, clock
    from engine.models import HumanTask
    from processes.elderly_care.cycle import LOCAL
    from processes.elderly_care.models import ElderlyPerson

    started = dt.datetime(2026, 11, 3, 9, tzinfo=LOCAL)
    instance_ids = []
    with clock.frozen_at(started):
        people = ElderlyPerson.objects.bulk_create([
            ElderlyPerson(code=f"EC-B-{n:05d}", village="dongshan", birth_year=1945, sex="female", name=f"老人{n}", living="spouse")
            for n in range(PEOPLE)])
        for n, person in enumerate(people):
            answers = {**SCREEN, "dementia": "yes"} if n % 3 == 0 else SCREEN
            info = api.start_instance(process_key="elderly_care", actor=users["worker"], data={"purpose": "screening", "person": person.person_key})
            task = HumanTask.objects.get(instance_id=info.id, bpmn_id="Task_Screening", status="open")
            api.complete_task(task_id=task.pk, actor=users["worker"], data={"visited_on": "2026-11-03", **answers})
            task = HumanTask.objects.get(instance_id=info.id, bpmn_id="Task_ConfirmTier", status="open")
            tier = "high" if n % 3 == 0 else "general"
            api.complete_task(task_id=task.pk, actor=users["supervisor"], data={"confirmed_tier": tier, "tier_decision": "confirm"})
            instance_ids.append(info.id)
    return instance_ids


def sweep_until_done(as_of) -> dict:
    from engine import api

    instances = fired = calls = 0
    started = time.perf_counter()
    while True:
        result = api.fire_due_timers(as_of=as_of, limit=500)
        calls += 1
        instances += result.instances
        fired += result.timers_fired
        if result.instances == 0:
            break
    return {"seconds": round(time.perf_counter() - started, 2), "instances": instances, "timers_fired": fired, "calls": calls}


def main() -> None:
    common.configure()
    common.require_postgres("elderly_month")
    with common.test_database(TEST_DB_NAME):
        from django.db.models import Count

        from engine.models import HumanTask
        from processes.elderly_care.cycle import LOCAL
        from processes.elderly_care.models import ElderlyPerson, Visit

        users = common.make_users()
        common.deploy_bundled(users)
        setup_started = time.perf_counter()
        set_up(users)
        setup_seconds = round(time.perf_counter() - setup_started, 1)
        common.analyze()
        # Weekly elders' weeks and everyone's due moment pass first: what is left is the month boundary.
        for monday in (10, 17, 24):
            sweep_until_done(dt.datetime(2026, 11, monday, 0, 1, tzinfo=LOCAL))
        sweep_until_done(dt.datetime(2026, 11, 30, 23, 59, 59, 500000, tzinfo=LOCAL))
        before = HumanTask.objects.filter(process_key="elderly_care").count()
        common.freeze_heap()
        boundary = dt.datetime(2026, 12, 1, 0, 1, tzinfo=LOCAL)
        result = sweep_until_done(boundary)
        created = HumanTask.objects.filter(process_key="elderly_care").count() - before
        again = sweep_until_done(boundary)

        monthly = ElderlyPerson.objects.filter(tier="general")
        december = Visit.objects.filter(person__in=monthly, period_start=dt.date(2026, 12, 1))
        per_person = set(december.values("person").annotate(n=Count("pk")).values_list("n", flat=True))
        open_december = HumanTask.objects.filter(process_key="elderly_care", status="open", due_at=dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=LOCAL))
        checks = {
            "monthly_elders": monthly.count(),
            "every_monthly_elder_has_three_december_visits": per_person == {3} and december.count() == 3 * monthly.count(),
            "december_visit_tasks_open": open_december.count(),
            "exactly_three_tasks_each": open_december.count() == 3 * monthly.count(),
            "second_sweep_fired": again["timers_fired"],
        }
        floor = common.Floor(rows=min(1000, max(PEOPLE, 10)))
        floor_ms = common.summary_ms(floor.timed(500))
        per_instance_ms = 1000 * result["seconds"] / max(1, result["instances"])
        common.emit({
            "benchmark": "elderly_month", "people": PEOPLE, "setup_seconds": setup_seconds, **common.environment(),
            "boundary_sweep": result, "tasks_created": created,
            "tasks_per_second": round(created / result["seconds"], 1) if result["seconds"] else None,
            "per_instance_ms": round(per_instance_ms, 2), "floor_step_ms": floor_ms,
            "ratio_to_floor": common.ratio(per_instance_ms, floor_ms["median_ms"]), "checks": checks,
        }, f"elderly_month: {PEOPLE} elders, month boundary {result['seconds']} s for {result['instances']} instances, "
           f"{created} tasks ({round(created / result['seconds'], 1) if result['seconds'] else '-'} tasks/s), checks {checks}")


if __name__ == "__main__":
    main()
