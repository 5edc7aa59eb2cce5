"""A timer the diagram marks as a reminder (`reminder = true` on a non-interrupting boundary timer)
is not a deadline: the task it hangs on carries no due date from it, and its firing opens what the
diagram says without marking the task late or sending a breach notice."""
import datetime as dt

import pytest

from engine import api
from engine.errors import DefinitionInvalid
from engine.models import AuditEvent, HumanTask, OutboxMessage

from . import samples

pytestmark = pytest.mark.django_db


def reminder_timer(key: str, interrupting: bool = False):
    xml, forms = samples.boundary_timer(key)
    xml = xml.replace('cancelActivity="false" attachedToRef="Task_B">',
                      f'cancelActivity="{str(interrupting).lower()}" attachedToRef="Task_B"><bpmn:extensionElements><spiffworkflow:properties>'
                      '<spiffworkflow:property name="reminder" value="true"/></spiffworkflow:properties></bpmn:extensionElements>')
    return xml, forms


def test_a_reminder_sets_no_deadline_and_breaches_nothing_when_it_fires(users):
    samples.deploy(reminder_timer("reminded"), users["admin"])
    instance_id = api.start_instance(process_key="reminded", data=samples.START, actor=users["intake"]).id
    api.complete_task(task_id=HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_A").pk, data=samples.RECORD,
                      actor=users["intake"])
    task = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_B")
    assert task.due_at is None
    assert api.fire_due_timers(as_of=task.created_at + dt.timedelta(hours=25)).timers_fired == 1
    task.refresh_from_db()
    assert task.status == "open" and task.sla_breached_at is None
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Escalate", status="open").exists()  # the reminder's path
    assert not OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").exists()


def test_the_same_timer_unmarked_is_the_tasks_deadline_and_breaches_it(users):
    samples.deploy(samples.boundary_timer("deadline"), users["admin"])
    instance_id = api.start_instance(process_key="deadline", data=samples.START, actor=users["intake"]).id
    api.complete_task(task_id=HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_A").pk, data=samples.RECORD,
                      actor=users["intake"])
    task = HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_B")
    assert task.due_at is not None
    api.fire_due_timers(as_of=task.created_at + dt.timedelta(hours=25))
    task.refresh_from_db()
    assert task.sla_breached_at is not None
    assert OutboxMessage.objects.filter(instance_id=instance_id, channel="sla.breach").exists()


def test_an_interrupting_timer_cannot_be_a_reminder(users):
    with pytest.raises(DefinitionInvalid) as refused:
        samples.deploy(reminder_timer("not_a_reminder", interrupting=True), users["admin"])
    assert any(p.element_id == "Timer_B" and "reminder" in str(p) for p in refused.value.problems)


def test_one_sweep_breaches_the_tasks_its_timers_guard_and_not_the_ones_they_withdrew(users):
    """A sweep's batch writes each breach with the step's save from the open tasks it read under the
    locks (docs/adr/0043). An interrupting timer withdraws its task in the same step: that task was
    open when the batch read it, and it must not be marked late or escalated."""
    xml, forms = samples.boundary_timer("cut")
    samples.deploy((xml.replace('cancelActivity="false" attachedToRef="Task_B"', 'cancelActivity="true" attachedToRef="Task_B"'), forms),
                   users["admin"])
    samples.deploy(samples.boundary_timer("late"), users["admin"])
    cases = {}
    for key in ("cut", "late"):
        for _ in range(3):
            instance_id = api.start_instance(process_key=key, data=samples.START, actor=users["intake"]).id
            api.complete_task(task_id=HumanTask.objects.get(instance_id=instance_id, bpmn_id="Task_A").pk, data=samples.RECORD,
                              actor=users["intake"])
            cases.setdefault(key, []).append(instance_id)
    opened = max(HumanTask.objects.filter(bpmn_id="Task_B").values_list("created_at", flat=True))

    result = api.fire_due_timers(as_of=opened + dt.timedelta(hours=25))

    assert result.timers_fired == 6 and result.conflicts == 0
    withdrawn = HumanTask.objects.filter(instance_id__in=cases["cut"], bpmn_id="Task_B")
    assert {t.status for t in withdrawn} == {"cancelled"} and all(t.sla_breached_at is None for t in withdrawn)
    assert not AuditEvent.objects.filter(instance_id__in=cases["cut"], kind="escalated").exists()
    assert not OutboxMessage.objects.filter(instance_id__in=cases["cut"], channel="sla.breach").exists()
    late = HumanTask.objects.filter(instance_id__in=cases["late"], bpmn_id="Task_B")
    assert {t.status for t in late} == {"open"} and all(t.sla_breached_at is not None for t in late)
    escalated = AuditEvent.objects.filter(instance_id__in=cases["late"], kind="escalated")
    assert sorted(e.instance_id for e in escalated) == sorted(cases["late"])
    assert {e.task_id for e in escalated} == {t.pk for t in late}
    assert OutboxMessage.objects.filter(instance_id__in=cases["late"], channel="sla.breach").count() == 3
