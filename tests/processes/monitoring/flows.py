"""Helpers the monitoring tests share: a needs-matching household, a household enrolled in
monitoring, a month's update as the form submits it, and the open tasks of a case."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from engine import api
from engine.models import HumanTask

_numbers = itertools.count(1)


def household(village="dongshan", *, child=False, size=3):
    """A needs-matching household (what the worker picks when enrolling)."""
    from processes.needs_matching.models import Household, Member

    number = next(_numbers)
    h = Household.objects.create(code=f"HH-{village[:2].upper()}-M{number:03d}", village=village, head_name=f"户主{number}",
                                 annual_income=Decimal("9000"))
    Member.objects.create(household=h, name=f"户主{number}", relation="户主", age=50, sex="male")
    for n in range(size - 1):
        Member.objects.create(household=h, name=f"家人{number}-{n}", relation="子女", age=10 if child else 25, sex="female")
    return h


def open_tasks(instance_id, bpmn_id=None):
    query = HumanTask.objects.filter(instance_id=instance_id, status="open")
    return list(query.filter(bpmn_id=bpmn_id) if bpmn_id else query.order_by("pk"))


def do(instance_id, bpmn_id, actor, data):
    task = open_tasks(instance_id, bpmn_id)[0]
    return api.complete_task(task_id=task.pk, data=data, actor=actor)


def today() -> str:
    from django.utils import timezone

    return timezone.localdate().isoformat()


def enrol(h, worker, category="edge", since=None) -> int:
    info = api.start_instance(process_key="monitoring", actor=worker, data={
        "household": str(h.pk), "category": category, "since": since or today(), "head_id_number": "440100198001011234"})
    return info.id


def update(*, wages="1500", size=3, events=(), visited_on=None, **extra):
    data = {"visited_on": visited_on or today(), "size": size, "income_wages": wages, "income_farming": "0", "income_pensions": "0",
            "income_transfers": "0", "income_other": "0", "spending_medical": "0", "spending_education": "0", "spending_housing": "0",
            "events": list(events), "note": ""}
    data.update(extra)
    return data


def local(year, month, day, hour=10) -> dt.datetime:
    from processes.monitoring.cycle import LOCAL

    return dt.datetime(year, month, day, hour, tzinfo=LOCAL)
