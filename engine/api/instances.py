"""Starting, cancelling, retrying and sharing process instances."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from engine import catalog, forms
from engine.errors import FormInvalid, InvalidState, NotFound, NotPermitted
from engine.models import AuditKind, InstanceStatus, ProcessInstance
from engine.people import display_name
from engine.permissions import SYSTEM, in_scope, supervises, user_groups
from engine.selectors.cases import get_instance, staff_roles_of
from engine.selectors.definitions import latest
from engine.spiff import runtime
from engine.types import InstanceInfo, TaskInfo

User = get_user_model()
CANCEL_REASON_MAX_LENGTH = 500  # what the audit event keeps; a page's reason field has the same limit


def require_user(actor):
    if actor is None or not getattr(actor, "is_active", False):
        raise NotPermitted(_("Sign in as an active user to do this."))


def start_instance(*, process_key: str, data: dict | None = None, actor) -> InstanceInfo:
    """Start the latest version of a process as `actor`, with the start form's data. The answer is
    what the step knows: the new instance and the tasks it opened."""
    require_user(actor)
    row = latest(process_key)
    definition = catalog.definition(row.pk)
    if definition.start_group not in user_groups(actor):
        raise NotPermitted(_("Your role may not start '%(name)s'.") % {"name": definition.name})
    form = definition.form(definition.start_event_id)
    with forms.acting_as(actor):
        cleaned = forms.clean_form_data(form, data or {}) if form is not None else forms.clean_form_data(None, data)
    if cleaned.get("village") and not in_scope(actor, cleaned["village"]):
        raise FormInvalid({"village": [_("You do not work in this village.")]})
    variables = {k: v for k, v in cleaned.items() if form and k in forms.process_variables(form)}
    step = runtime.start(row, actor, variables, cleaned)
    instance = step.instance
    return InstanceInfo(
        id=instance.pk, process_key=instance.process_key, version=definition.version, status=instance.status,
        village=instance.village, subject=instance.subject, started_at=instance.started_at, ended_at=instance.ended_at,
        error_message=instance.error_message, error_element=instance.error_element,
        open_tasks=[TaskInfo.from_row(r, instance.subject, assignee=r.assignee) for r in step.new_rows],
    )


def cancel_instance(*, instance_id: int, actor, reason: str, only_in_error: bool = False) -> InstanceInfo:
    """Cancel a running instance or one in error (a supervisor of its village, with a reason). With
    `only_in_error` (the incidents page) an instance that is no longer in error — retried meanwhile —
    is refused with InvalidState instead of being cancelled while it runs."""
    require_user(actor)
    village = ProcessInstance.objects.filter(pk=instance_id).values_list("village", flat=True).first()
    if village is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    if not supervises(actor, village):
        raise NotPermitted(_("Only a supervisor or an administrator may cancel a case."))
    if not (reason or "").strip():
        raise InvalidState(_("Give a reason for cancelling."))
    if len(reason.strip()) > CANCEL_REASON_MAX_LENGTH:
        raise InvalidState(_("The reason may be at most %(n)d characters long.") % {"n": CANCEL_REASON_MAX_LENGTH})

    def act(step: runtime.Step):
        allowed = (InstanceStatus.ERROR,) if only_in_error else (InstanceStatus.RUNNING, InstanceStatus.ERROR)
        if step.instance.status not in allowed:
            raise InvalidState(_("The process instance is %(status)s.") % {"status": step.instance.get_status_display()})
        runtime.cancel(step, reason.strip())

    runtime.run_step(instance_id, actor, act, require_running=False)
    return get_instance(instance_id=instance_id, viewer=SYSTEM, with_history=False)


def retry_instance(*, instance_id: int, actor) -> InstanceInfo:
    """Run the failed step of an instance in error again (an operator's action, after a fix). Only an
    instance still in error is retried: a second retry of one already running (a double submit, two
    administrators at once) is refused with InvalidState and changes nothing. The retry is audited
    (`retried`, with the error it clears); if the step fails again, the instance is back in error with
    the new message and its own `error` event."""
    require_user(actor)
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may retry a failed case."))

    def act(step: runtime.Step):
        instance = step.instance
        if instance.status != InstanceStatus.ERROR:
            raise InvalidState(_("The process instance is %(status)s, not in error: there is nothing to retry.") % {
                "status": instance.get_status_display()})
        step.audit(AuditKind.RETRIED, {"element": instance.error_element, "message": instance.error_message},
                   bpmn_id=instance.error_element)
        runtime.retry(step)

    runtime.run_step(instance_id, actor, act, require_running=False)
    return get_instance(instance_id=instance_id, viewer=SYSTEM, with_history=False)


def share_instance(*, instance_id: int, username: str, actor) -> None:
    """Let one more member of staff open this instance — a django-guardian grant. Only roles that
    may hold the process's data qualify: never an applicant organisation or an outside office."""
    from guardian.shortcuts import assign_perm

    require_user(actor)
    instance = ProcessInstance.objects.filter(pk=instance_id).defer("state").first()
    if instance is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    if not supervises(actor, instance.village):
        raise NotPermitted(_("Only a supervisor of this village may share a case."))
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(_("No active user named '%(name)s'.") % {"name": username})
    if not user_groups(user) & staff_roles_of(catalog.definition(instance.definition_id)):
        raise NotPermitted(_("%(user)s's role may not hold this case's data; share it only with staff of this process.") % {
            "user": display_name(user)})
    with transaction.atomic():
        assign_perm("engine.view_processinstance", user, instance)
        runtime.write_audit(instance, AuditKind.SHARED, actor, {"shared_with": username})
