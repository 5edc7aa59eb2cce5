"""Helpers the elderly-care tests share: elders, a screening case driven to its confirmation, the
visits' form data, and the open tasks of a case."""
from __future__ import annotations

import datetime as dt
import itertools

from engine import api
from engine.models import HumanTask
from processes.elderly_care.models import ElderlyPerson

_numbers = itertools.count(1)

SCREEN_GENERAL = {"lives_alone": "no", "children_away": "no", "contact_days": 3, "no_carer": "no", "dementia": "no",
                  "severe_cardiovascular": "no", "diabetic": "no", "disabled": "no", "chronic_count": 0, "self_care_score": 95}
SCREEN_KEY = {**SCREEN_GENERAL, "lives_alone": "yes"}
SCREEN_HIGH = {**SCREEN_GENERAL, "dementia": "yes"}


def elder(village="dongshan", birth_year=1948, **fields) -> ElderlyPerson:
    number = next(_numbers)
    fields = {"sex": "female", "name": f"老人{number}", "living": "spouse", **fields}
    return ElderlyPerson.objects.create(code=f"EC-{village[:2].upper()}-{number:03d}", village=village, birth_year=birth_year, **fields)


def open_tasks(instance_id, bpmn_id=None):
    query = HumanTask.objects.filter(instance_id=instance_id, status="open")
    return list(query.filter(bpmn_id=bpmn_id) if bpmn_id else query.order_by("pk"))


def do(instance_id, bpmn_id, actor, data):
    task = open_tasks(instance_id, bpmn_id)[0]
    return api.complete_task(task_id=task.pk, data=data, actor=actor)


def today_local() -> str:
    from django.utils import timezone

    return timezone.localdate().isoformat()


def screen(person, worker, supervisor, answers=SCREEN_GENERAL, tier=None) -> int:
    """Start a screening case and confirm the computed tier (or `tier`); returns the instance id."""
    info = api.start_instance(process_key="elderly_care", actor=worker, data={"purpose": "screening", "person": person.person_key})
    do(info.id, "Task_Screening", worker, {"visited_on": today_local(), **answers})
    from processes.elderly_care.models import Screening

    computed = Screening.objects.filter(instance_id=info.id).latest("pk").computed_tier
    data = {"confirmed_tier": tier or computed, "tier_decision": "confirm"}
    if tier and tier != computed:
        data["tier_note"] = "督导复核"
    do(info.id, "Task_ConfirmTier", supervisor, data)
    return info.id


def health(systolic=130, **extra):
    return {"visited_on": today_local(), "doctor": "王医生", "systolic": systolic, "diastolic": 80, "fell": "no",
            "missed_medication": "no", **extra}


def company(**extra):
    return {"visited_on": today_local(), "mood": "good", "video_minutes": 15, "days_since_contact": 3, **extra}


def daily_help(**extra):
    return {"visited_on": today_local(), "help_types": ["cleaning"], "help_minutes": 60, "fell": "no", **extra}


def local(year, month, day, hour=10) -> dt.datetime:
    from processes.elderly_care.cycle import LOCAL

    return dt.datetime(year, month, day, hour, tzinfo=LOCAL)
