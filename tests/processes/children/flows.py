"""Helpers for the children's tests: a child in the archive, a case opened and walked through the facade."""
from __future__ import annotations

import datetime as dt

from engine import api, clock
from engine.models import HumanTask
from processes.children.handlers import new_child


def child(village="dongshan", name="王小明", **extra):
    return new_child(village=village, name=name, consent_group=extra.pop("consent_group", True),
                     consent_date=extra.pop("consent_date", dt.date(2026, 9, 1)), **extra)


def task(instance_id, bpmn_id):
    return HumanTask.objects.filter(instance_id=instance_id, bpmn_id=bpmn_id, status="open").order_by("pk").first()


def open_case(actor, **data):
    form = {"child_from": "new", "child_name": "李小红", "village": "dongshan", "referral": "school", "concerns": "上课不说话，焦虑", **data}
    return api.start_instance(process_key="children", actor=actor, data=form).id


def assess(instance_id, actor):
    api.complete_task(task_id=task(instance_id, "Task_Assessment").pk, actor=actor, data={
        "needs": ["psychological", "social"], "risk_level": "medium", "mental_state": "紧张、睡眠差", "summary": "社交焦虑，需个别辅导"})


def plan(instance_id, actor):
    end = (clock.today() + dt.timedelta(days=60)).isoformat()
    api.complete_task(task_id=task(instance_id, "Task_CasePlan").pk, actor=actor, data={
        "interventions": [{"goal": "减轻焦虑", "provider": "驻站社工", "expected_end": end},
                          {"goal": "融入同伴", "provider": "学校老师", "expected_end": end}]})


def serve(instance_id, actor, next_step="continue", note="家访，与奶奶交流"):
    api.complete_task(task_id=task(instance_id, "Task_Service").pk, actor=actor, data={
        "held_on": clock.today().isoformat(), "kind": "home_visit", "note": note, "next_step": next_step})


def close(instance_id, actor):
    api.complete_task(task_id=task(instance_id, "Task_Closure").pk, actor=actor, data={"outcome": "goals_met", "summary": "目标达成"})


def decide(instance_id, actor, decision="approve", comments=""):
    api.complete_task(task_id=task(instance_id, "Task_ApproveClosure").pk, actor=actor,
                      data={"closure_decision": decision, "comments": comments})
