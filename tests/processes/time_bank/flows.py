"""Members and services of the time bank, driven through the public API the way the pages drive them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from engine import api
from engine.models import HumanTask
from processes.time_bank import ledger
from processes.time_bank.models import Member, MemberStatus, ServiceSession


def member(kind: str, *, by, village: str = "dongshan", household: str = "", name: str = "成员", birth_year: int = 1958,
           person_key: str = "", approved: bool = True) -> Member:
    """A member as the registration page makes it, approved (by someone else) unless told."""
    now = timezone.now()
    return Member.objects.create(
        village=village, kind=kind, name=name, birth_year=birth_year, household=household, person_key=person_key,
        training_date=now.date() - dt.timedelta(days=30) if kind == "volunteer" else None,
        training_topic="助老服务基础" if kind == "volunteer" else "", identity_checked=True,
        status=MemberStatus.APPROVED if approved else MemberStatus.PENDING, registered_by=by, registered_at=now)


def moment(days_ago: int, hour: int, minute: int = 0) -> dt.datetime:
    """A local time of the station, `days_ago` days back (sign-in and sign-out cannot be in the future)."""
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def open_task(instance_id: int, bpmn_id: str) -> int:
    return HumanTask.objects.get(instance_id=instance_id, bpmn_id=bpmn_id, status="open").pk


def complete(instance_id: int, bpmn_id: str, actor, data: dict):
    return api.complete_task(task_id=open_task(instance_id, bpmn_id), data=data, actor=actor)


def request(worker, elder: Member, volunteer: Member, item: str = "company") -> int:
    instance_id = api.start_instance(process_key="time_bank", actor=worker, data={
        "elder": str(elder.pk), "item": item, "requested_by": "elder"}).id
    complete(instance_id, "Task_Match", worker, {"volunteer": str(volunteer.pk)})
    return instance_id


def serve(instance_id: int, worker, signed_in: dt.datetime, signed_out: dt.datetime):
    return complete(instance_id, "Task_Service", worker, {
        "signed_in_at": signed_in.isoformat(), "signed_out_at": signed_out.isoformat(), "done": "陪老人聊天、读报"})


def confirm(instance_id: int, worker, paid_with: str = "free", confirmed: str = "yes"):
    data = {"confirmed": confirmed}
    if confirmed == "yes":
        data.update(confirmed_by="elder", method="signature", rating="5", paid_with=paid_with)
    return complete(instance_id, "Task_Confirm", worker, data)


def service(worker, elder, volunteer, signed_in, signed_out, paid_with: str = "free", confirmed: str = "yes") -> int:
    """A whole service up to the elder's confirmation: deposited, or waiting for the supervisor."""
    instance_id = request(worker, elder, volunteer)
    serve(instance_id, worker, signed_in, signed_out)
    confirm(instance_id, worker, paid_with, confirmed)
    return instance_id


def session_of(instance_id: int) -> ServiceSession:
    return ServiceSession.objects.get(instance_id=instance_id)


def session_of_volunteer(volunteer: Member) -> ServiceSession:
    """The volunteer's latest service."""
    return ServiceSession.objects.filter(volunteer=volunteer).order_by("-created_at", "-pk").first()


def balance(m: Member) -> Decimal:
    return ledger.balance(ledger.account_of(m))


def consent(how: str = "signed") -> ledger.Consent:
    """The member's agreement to give hours away, as the worker records it (a moment ago)."""
    return ledger.Consent(how, timezone.now() - dt.timedelta(minutes=10))


def give_hours(m: Member, amount, actor) -> None:
    """Hours a member already holds (earned before the test begins)."""
    ledger.deposit(m, amount, session=None, actor=actor, note="earlier service")
