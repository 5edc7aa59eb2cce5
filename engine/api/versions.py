"""Versions of a process side by side, and moving running instances from one to another.

A deploy makes a new immutable version; running instances stay on theirs and complete there. An
administrator may move chosen instances to another version of the same process: first a preview
(where each token lands, or why it cannot), then the move, which refuses anything the preview
would refuse — the state may have changed in between — and is audited."""
from __future__ import annotations

from django.utils.translation import gettext as _

from engine import catalog, forms
from engine.api.instances import require_user
from engine.errors import FormInvalid, InvalidState, NotFound, NotPermitted
from engine.models import HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskStatus
from engine.permissions import user_groups
from engine.spiff import runtime
from engine.types import ElementChange, MigrationPreview, TokenLanding, VersionDiff

MIGRATABLE = (InstanceStatus.RUNNING, InstanceStatus.ERROR)


def _require_admin(actor) -> None:
    require_user(actor)
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may compare versions or move cases between them."))


def _version(key: str, version: int):
    row = ProcessDefinition.objects.filter(key=key, version=version).values_list("pk", flat=True).first()
    if row is None:
        raise NotFound(_("Version %(version)s of '%(key)s' does not exist.") % {"version": version, "key": key})
    return catalog.definition(row)


# What a component carries that the portal never renders: form-js's editor gives every component it
# loads a row (`layout: {"row": "Row_<random>"}`), so a form saved once from the studio would otherwise
# count every one of its fields as changed.
IGNORED_IN_DIFF = ("layout",)


def _fields(definition) -> dict[str, dict[str, dict]]:
    return {element: {c["key"]: {k: v for k, v in c.items() if k not in IGNORED_IN_DIFF}
                      for c in forms.fields_of(form or {}) if c.get("key")}
            for element, form in (definition.forms or {}).items()}


def diff_versions(*, key: str, old_version: int, new_version: int, actor) -> VersionDiff:
    """Elements and form fields added, removed and changed from one version to another."""
    _require_admin(actor)
    old, new = _version(key, old_version), _version(key, new_version)
    elements = runtime.version_diff(old.id, new.id)
    old_fields, new_fields = _fields(old), _fields(new)
    added, removed, changed = [], [], []
    for element in sorted(set(old_fields) | set(new_fields)):
        before, after = old_fields.get(element, {}), new_fields.get(element, {})
        added += [(element, k) for k in after if k not in before]
        removed += [(element, k) for k in before if k not in after]
        changed += [(element, k) for k in before if k in after and before[k] != after[k]]
    form_changed = {e for e, _k in added + removed + changed}
    changed_elements = {e: ElementChange(e, name, list(attrs)) for e, name, attrs in elements["changed"]}
    for element in sorted(form_changed - set(changed_elements)):
        if element in new_fields and element in old_fields:
            name = (new.user_tasks or {}).get(element, {}).get("name", "") or element
            changed_elements[element] = ElementChange(element, name, ["form"])
    for element in form_changed & set(changed_elements):
        change = changed_elements[element]
        if "form" not in change.attributes:
            changed_elements[element] = ElementChange(change.element_id, change.name, [*change.attributes, "form"])
    return VersionDiff(
        key=key, old_version=old.version, new_version=new.version,
        added=[ElementChange(e, n) for e, n in elements["added"]], removed=[ElementChange(e, n) for e, n in elements["removed"]],
        changed=sorted(changed_elements.values(), key=lambda c: c.element_id),
        fields_added=added, fields_removed=removed, fields_changed=changed,
    )


def _problems(instance, target, plan, rows) -> list[tuple[str, str]]:
    """Why the plan cannot land, in sentences naming the element."""
    reasons = {
        "removed": _("a token waits here and the new version has no such element"),
        "removed_subprocess": _("a subprocess runs here and the new version no longer has it"),
    }
    problems = [(element, str(reasons.get(why, why))) for element, why in plan.problems]
    old = catalog.definition(instance.definition_id)
    for row in rows:
        new_id = plan.changed_user_tasks.get(row.bpmn_id, row.bpmn_id)
        info = (target.user_tasks or {}).get(new_id) or {}
        if info and info.get("candidate_group") != row.candidate_group:
            problems.append((row.bpmn_id, _("the open task would move from role %(old)s to role %(new)s; complete it first") % {
                "old": row.candidate_group, "new": info.get("candidate_group") or "-"}))
        old_form, new_form = old.form(row.bpmn_id), target.form(new_id)
        if row.draft_data and old_form != new_form:
            problems += [(row.bpmn_id, why) for why in _draft_misfits(row.draft_data, new_form)]
    return problems


def _draft_misfits(draft: dict, form: dict | None) -> list[str]:
    """What of a saved draft the new form would not take (missing required fields are no misfit:
    a draft is unfinished by nature)."""
    keys = {c["key"] for c in forms.fields_of(form or {}) if c.get("key")}
    misfits = [_("the draft holds field '%(key)s', which the new form no longer has") % {"key": key}
               for key in sorted(draft) if key not in keys and draft.get(key) not in (None, "", [])]
    try:
        forms.clean_form_data(form, {k: v for k, v in draft.items() if k in keys})
    except FormInvalid as exc:
        misfits += [_("the draft's value for '%(key)s' does not fit the new form: %(why)s") % {"key": key, "why": "; ".join(map(str, msgs))}
                    for key, msgs in exc.field_errors.items() if draft.get(key) not in (None, "", [])]
    return misfits


def _preview(instance, target, workflow, rows) -> tuple[MigrationPreview, object]:
    plan = runtime.migration_plan(workflow, target.id)
    landings = [TokenLanding(l.state, l.old_id, l.old_name, l.new_id, l.new_name, l.rearmed) for l in plan.landings]
    preview = MigrationPreview(instance_id=instance.pk, from_version=catalog.definition(instance.definition_id).version,
                               to_version=target.version, landings=landings, problems=_problems(instance, target, plan, rows))
    return preview, plan


def _check_target(instance, version: int):
    if instance.status not in MIGRATABLE:
        raise InvalidState(_("The process instance is %(status)s.") % {"status": instance.get_status_display()})
    target = _version(instance.process_key, version)
    if target.id == instance.definition_id:
        raise InvalidState(_("The case already runs on version %(version)s.") % {"version": version})
    return target


def _open_rows(instance_id: int) -> list[HumanTask]:
    return list(HumanTask.objects.filter(instance_id=instance_id, status=TaskStatus.OPEN))


def preview_migration(*, instance_id: int, to_version: int, actor) -> MigrationPreview:
    """Where each token of the instance would land on `to_version`, and why it cannot."""
    _require_admin(actor)
    instance = ProcessInstance.objects.filter(pk=instance_id).first()
    if instance is None:
        raise NotFound(_("Process instance %(id)s does not exist.") % {"id": instance_id})
    target = _check_target(instance, to_version)
    preview, _plan = _preview(instance, target, runtime.peek(instance), _open_rows(instance_id))
    return preview


def migrate_instance(*, instance_id: int, to_version: int, actor) -> MigrationPreview:
    """Move the instance to `to_version` under its lock, or refuse with the preview's reasons."""
    _require_admin(actor)
    outcome = {}

    def act(step: runtime.Step):
        instance = step.instance
        target = _check_target(instance, to_version)
        rows = _open_rows(instance.pk)
        preview, plan = _preview(instance, target, step.workflow, rows)
        if not preview.safe:
            raise InvalidState(_("This case cannot move to version %(version)s: %(why)s") % {
                "version": to_version, "why": "; ".join(f"{element}: {why}" for element, why in preview.problems)})
        renamed = {}
        for row in rows:
            new_id = plan.changed_user_tasks.get(row.bpmn_id)
            if new_id:
                info = (target.user_tasks or {}).get(new_id) or {}
                renamed[row.spiff_task_id] = (new_id, info.get("name") or new_id, info.get("lane") or row.lane)
        runtime.migrate(step, target.id, renamed)
        outcome["preview"] = preview

    runtime.run_step(instance_id, actor, act, require_running=False)
    return outcome["preview"]
