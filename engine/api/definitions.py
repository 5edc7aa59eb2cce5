"""Deploying processes: a diagram and its forms become an immutable, numbered version."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from engine import catalog, forms, registry
from engine.errors import DefinitionInvalid, ElementProblem, InvalidState, NotPermitted
from engine.models import AuditKind, ProcessDefinition
from engine.permissions import user_groups
from engine.spiff import parser
from engine.types import DefinitionInfo, ProblemList


def require_deployer(actor) -> None:
    """Only an administrator deploys. `None` is the system itself (the bundled processes deployed by
    `manage.py demo`, fixtures, scripts run by whoever holds the database): it may always deploy."""
    if actor is None:
        return
    if not getattr(actor, "is_active", False):
        raise NotPermitted(_("Sign in as an active user to do this."))
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may deploy a process."))


def deploy_definition(*, bpmn_xml: bytes | str, forms_by_element: dict[str, dict], actor=None) -> DefinitionInfo:
    """Validate and store a new immutable version; the same content twice returns the existing one.
    The actor must be an administrator, or None for the system (`require_deployer`).

    `forms_by_element` maps element ids (or, for an element with camunda:formKey/formRef, the form's
    name) to form-js schemas. The version stores the XML as given and the forms it runs with (a user
    task without one gets the generic confirm form); `DefinitionInfo.warnings` lists what deploy
    decided for the admin, each naming its element (ADR 0015)."""
    require_deployer(actor)
    bpmn_xml, _input_checksum, parsed = _validated(bpmn_xml, forms_by_element)
    forms_by_element = parsed.forms
    checksum = _checksum(bpmn_xml, forms_by_element)
    warnings = tuple(parsed.warnings)
    with transaction.atomic():
        existing = ProcessDefinition.objects.select_for_update().filter(key=parsed.process_id).order_by("-version").first()
        if existing is not None and existing.checksum == checksum:
            return DefinitionInfo(existing.pk, existing.key, existing.version, existing.name, created=False, warnings=warnings)
        version = (existing.version if existing else 0) + 1
        try:
            definition = ProcessDefinition.objects.create(
                key=parsed.process_id, version=version, name=parsed.name, bpmn_xml=bpmn_xml.decode("utf-8"),
                forms=forms_by_element, spec=parsed.spec_dict, checksum=checksum, deployed_by=actor,
                user_tasks={k: {"name": v.name, "lane": v.lane, "candidate_group": v.candidate_group, "properties": v.properties}
                            for k, v in parsed.user_tasks.items()},
                start_group=parsed.start_group, start_event_id=parsed.start_event_id, timers=parsed.timers,
            )
        except IntegrityError:
            raise InvalidState(_("Another version of '%(key)s' was deployed at the same moment; try again.") % {"key": parsed.process_id}) from None
        data = {"key": definition.key, "version": version, "checksum": checksum}
        if warnings:
            data["warnings"] = [{"element": w.element_id, "message": str(w.message)} for w in warnings]
        _record_deploy(definition, actor, data)
        transaction.on_commit(lambda: catalog.remember(definition))  # a deploy rolled back must leave no snapshot
    return DefinitionInfo(definition.pk, definition.key, definition.version, definition.name, created=True, warnings=warnings)


def _checksum(bpmn_xml: bytes, forms_by_element: dict[str, dict]) -> str:
    return hashlib.sha256(bpmn_xml + json.dumps(forms_by_element, sort_keys=True).encode()).hexdigest()


def _validated(bpmn_xml: bytes | str, forms_by_element: dict[str, dict]) -> tuple[bytes, str, parser.ParsedDefinition]:
    """The deploy checks (the hardened parse, then every check that names an element): raises
    DefinitionInvalid with all the problems found."""
    if isinstance(bpmn_xml, str):
        bpmn_xml = bpmn_xml.encode("utf-8")
    checksum = _checksum(bpmn_xml, forms_by_element)
    parsed = parser.validate_and_parse(bpmn_xml, forms_by_element, registry.service_names(), forms.check_form_definition,
                                       checksum=checksum, generic_form=forms.generic_confirm_form)
    return bpmn_xml, checksum, parsed


def validate_definition(*, bpmn_xml: bytes | str, forms_by_element: dict[str, dict], process_key: str | None = None) -> ProblemList:
    """What `deploy_definition` would refuse this diagram for, without deploying it: the same checks,
    each problem naming its element (None for the file as a whole); empty when it would deploy. With
    `process_key`, a diagram whose process has another id is a problem too (an editor of one process
    must not deploy over another). The answer's `.warnings` are what deploy would decide for the admin
    and deploy anyway (`ElementWarning`s); they are known only once there are no problems."""
    try:
        if process_key is not None:
            # Another process's diagram: that alone is the answer (its other problems are noise here,
            # e.g. conditions reading fields of forms this editor does not have).
            process_id, _elements = parser.process_elements(bpmn_xml)
            if process_id is not None and process_id != process_key:
                return ProblemList([_other_process(process_key, process_id)])
        _bpmn, _checksum, parsed = _validated(bpmn_xml, forms_by_element)
    except DefinitionInvalid as exc:
        return ProblemList(exc.problems)
    if process_key is not None and parsed.process_id != process_key:
        return ProblemList([_other_process(process_key, parsed.process_id)])
    return ProblemList([], warnings=parsed.warnings)


def _other_process(process_key: str, process_id: str) -> ElementProblem:
    return ElementProblem(process_id, _("The process id must stay '%(key)s' (this diagram's is '%(id)s'); a new id would deploy another process.") % {
        "key": process_key, "id": process_id})


def forms_carried_over(*, bpmn_xml: bytes | str) -> dict[str, dict]:
    """The forms of the latest deployed version of this diagram's process, for the elements that keep
    their id in it: an edited or imported diagram deploys with the forms its user tasks had. Raises
    DefinitionInvalid when the file cannot be read (the hardened parser's refusals)."""
    process_id, element_ids = parser.process_elements(bpmn_xml)
    if process_id is None:
        return {}
    latest = ProcessDefinition.objects.filter(key=process_id).order_by("-version").values_list("forms", flat=True).first()
    # The generic confirm form deploy gave a task without one is not the admin's: left out, the
    # task gets it again with its warning.
    return {element_id: form for element_id, form in (latest or {}).items() if element_id in element_ids and not forms.is_generic(form)}


def diagram_elements(*, bpmn_xml: bytes | str) -> tuple[str | None, set[str]]:
    """(the id of the diagram's one executable process or None, the ids of its elements and the form
    names they give with camunda:formKey/formRef), read by the hardened parser; raises DefinitionInvalid
    when the file cannot be read."""
    return parser.process_elements(bpmn_xml)


def read_forms_dir(forms_dir: Path) -> dict[str, dict]:
    """Forms next to a diagram: forms/<element id>.json. Malformed JSON is a deploy error."""
    result = {}
    for path in sorted(Path(forms_dir).glob("*.json")):
        try:
            result[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DefinitionInvalid([ElementProblem(path.stem, _("Form file is not valid JSON: %(error)s") % {"error": exc})]) from None
    return result


def deploy_file(*, bpmn_path: Path, forms_dir: Path | None = None, actor=None) -> DefinitionInfo:
    require_deployer(actor)  # before a byte of the file is read
    bpmn_path = Path(bpmn_path)
    if forms_dir is None:
        package = registry.packages().get(bpmn_path.stem)
        forms_dir = package.forms_dir if package else bpmn_path.parent.parent / bpmn_path.stem / "forms"
    return deploy_definition(bpmn_xml=bpmn_path.read_bytes(), forms_by_element=read_forms_dir(forms_dir), actor=actor)


def deploy_bundled(*, actor=None) -> list[DefinitionInfo]:
    """Deploy every process package registered by processes/*/apps.py (unchanged ones are skipped)."""
    require_deployer(actor)
    return [deploy_file(bpmn_path=p.bpmn_path, forms_dir=p.forms_dir, actor=actor) for p in registry.packages().values()]


def _record_deploy(definition: ProcessDefinition, actor, data: dict) -> None:
    from engine import clock
    from engine.journal import actor_name
    from engine.models import AuditEvent

    AuditEvent.objects.create(definition=definition, kind=AuditKind.DEPLOYED, actor=actor, actor_name=actor_name(actor),
                              at=clock.now(), data=data)
