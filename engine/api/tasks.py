"""Acting on human tasks: claim, release, assign, save a draft, complete. Completing is one step of
the runtime (lock and load in one query, act, write projections, save); the others change only the
task row, under the instance's lock, and record the change."""
from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from engine import clock, forms, projections, registry
from engine.api.instances import require_user
from engine.errors import AlreadyCompleted, InvalidState, NotFound, NotPermitted, StepFailed
from engine.journal import record_now
from engine.models import AuditKind, HumanTask, ProcessInstance, TaskStatus
from engine.people import display_name
from engine.permissions import can_hold, can_work_on, in_scope, supervises, user_groups
from engine.spiff import runtime
from engine.types import StepOutcome, TaskInfo

User = get_user_model()


def claim_task(*, task_id: int, actor) -> TaskInfo:
    require_user(actor)
    with transaction.atomic():
        row = _lock_task(task_id)
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if row.candidate_group not in user_groups(actor) or not in_scope(actor, row.village):
            raise NotPermitted(_("This task belongs to another role or village."))
        if row.assignee_id not in (None, actor.pk):
            raise InvalidState(_("This task is already claimed by %(user)s.") % {"user": row.assignee.get_username()})
        if projections.set_assignee(row.pk, actor, only_if_unassigned=True):
            record_now(row.instance, AuditKind.CLAIMED, actor, {"task": row.name}, bpmn_id=row.bpmn_id, task=row)
    row.assignee = actor
    return TaskInfo.from_row(row, row.instance.subject)


def release_task(*, task_id: int, actor, reason: str = "") -> TaskInfo:
    require_user(actor)
    with transaction.atomic():
        row = _lock_task(task_id)
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if row.assignee_id != actor.pk and not supervises(actor, row.village):
            raise NotPermitted(_("Only the person holding the task or a supervisor may release it."))
        if row.named:
            raise InvalidState(_("This task was given to %(user)s by name and cannot go back to the group; a supervisor may assign it to someone else.") % {
                "user": display_name(row.assignee)})
        projections.set_assignee(row.pk, None)
        record_now(row.instance, AuditKind.RELEASED, actor, {"task": row.name, "reason": reason}, bpmn_id=row.bpmn_id, task=row)
    row.assignee = None
    return TaskInfo.from_row(row, row.instance.subject)


def assign_task(*, task_id: int, assignee_username: str, actor, reason: str) -> TaskInfo:
    """A supervisor gives an open task to someone of its role — from any village of the station, to
    cover sick leave — or takes it over themselves. The reason is recorded."""
    require_user(actor)
    if not (reason or "").strip():
        raise InvalidState(_("Give a reason for the assignment."))
    assignee = User.objects.filter(username=assignee_username, is_active=True).first()
    if assignee is None:
        raise NotFound(_("No active user named '%(name)s'.") % {"name": assignee_username})
    with transaction.atomic():
        row = _lock_task(task_id)
        if row.status != TaskStatus.OPEN:
            raise AlreadyCompleted(_("This task is no longer open; it was completed or withdrawn."))
        if not supervises(actor, row.village):
            raise NotPermitted(_("Only a supervisor of this village may assign its tasks."))
        if not can_hold(assignee, row, any_village=True):
            raise InvalidState(_("%(user)s does not have the role this task needs.") % {"user": display_name(assignee)})
        projections.set_assignee(row.pk, assignee)
        record_now(row.instance, AuditKind.ASSIGNED, actor, {"task": row.name, "assignee": assignee_username, "reason": reason.strip(),
                                                             "across_villages": not in_scope(assignee, row.village)},
                   bpmn_id=row.bpmn_id, task=row)
    row.assignee = assignee
    return TaskInfo.from_row(row, row.instance.subject)


def save_draft(*, task_id: int, data: dict, actor) -> None:
    """Keep unsubmitted form data (not validated) so a killed browser or a lost signal loses nothing."""
    require_user(actor)
    row = HumanTask.objects.select_related("completed_by").filter(pk=task_id).first()
    if row is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    _require_open(row)
    if not can_work_on(actor, row):
        raise NotPermitted(_("This task is not yours to complete."))
    if not isinstance(data, dict) or len(json.dumps(data, default=str)) > 200_000:
        raise InvalidState(_("The draft is too large to keep."))
    projections.save_draft(row.pk, data)


def complete_task(*, task_id: int, data: dict, actor) -> StepOutcome:
    """Validate `data` against the task's form and complete it; the process runs on to its next wait.

    Raises FormInvalid (field errors; nothing changes), AlreadyCompleted (someone was first),
    NotPermitted (not this user's task). Answers with what the step knows: the instance's status
    and the tasks this step opened."""
    require_user(actor)

    def act(step: runtime.Step, row: HumanTask):
        _require_open(row)
        if not can_work_on(actor, row) and not registry.may_also_complete(actor, row.process_key, row.bpmn_id, row.instance_id):
            raise NotPermitted(_("This task is not yours to complete."))
        form = step.definition.form(row.bpmn_id)
        variables = runtime.task_data(step, row)
        with forms.acting_as(actor, {**variables, "__forms__": step.definition.forms}):
            cleaned = forms.clean_form_data(form, data)
        projections.complete(row, actor=actor, data=cleaned, at=clock.now(), journal=step.journal)  # made with the step's save
        step.completed = {"spiff_id": row.spiff_task_id, "bpmn_id": row.bpmn_id, "data": cleaned, "candidate_group": row.candidate_group}
        step.audit(AuditKind.COMPLETED, {"task": row.name, "data": cleaned}, bpmn_id=row.bpmn_id, task=row)
        # Hooks run first: they may refuse (FormInvalid) or set variables the workflow then reads;
        # the effects they queue are keyed by this task.
        with step.origin(str(row.spiff_task_id), data=variables, bpmn_id=row.bpmn_id):
            for hook in registry.task_hooks(step.instance.process_key, row.bpmn_id):
                hook(step, cleaned)
        runtime.complete_ready_task(step, row, {k: v for k, v in cleaned.items() if k in forms.process_variables(form or {})})

    try:
        step = runtime.run_step(None, actor, act, task_id=task_id, precheck=_require_open)
    except StepFailed:
        # Nothing was applied and the case now shows its error; what the person typed is kept.
        projections.save_draft(task_id, data if isinstance(data, dict) else None)
        raise
    instance = step.instance
    return StepOutcome(instance_id=instance.pk, status=instance.status, subject=instance.subject, revision=instance.revision,
                       new_tasks=[TaskInfo.from_row(r, instance.subject, assignee=r.assignee) for r in step.new_rows])


def _lock_task(task_id: int) -> HumanTask:
    """Lock the task's instance, then load the task: the order every step uses, so a claim never
    deadlocks with a completion or a timer sweep on the same instance."""
    instance_id = HumanTask.objects.filter(pk=task_id).values_list("instance_id", flat=True).first()
    if instance_id is None:
        raise NotFound(_("Task %(id)s does not exist.") % {"id": task_id})
    ProcessInstance.objects.select_for_update().filter(pk=instance_id).values_list("pk", flat=True).first()
    return (HumanTask.objects.select_for_update(of=("self",)).select_related("instance", "assignee", "completed_by")
            .defer("instance__state").get(pk=task_id))


def _require_open(row: HumanTask) -> None:
    if row.status == TaskStatus.COMPLETED:
        raise AlreadyCompleted(_("This task is no longer open; it was completed by %(user)s.") % {
            "user": row.completed_by.get_username() if row.completed_by_id else _("the process")})
    if row.status != TaskStatus.OPEN:
        raise AlreadyCompleted(_("This task is no longer open; it was withdrawn by the process."))
