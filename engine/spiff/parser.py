"""Hardened BPMN loading, validation on deploy, and the per-version spec cache.

A diagram arrives from an admin's browser or a file: it is parsed by our own lxml parser (no DTD,
no entities, no network, no huge trees, comments and processing instructions dropped) before
SpiffWorkflow sees it, and refused with the element id and a reason when anything in it could not
run safely: user tasks outside a role's lane, timers that are not ISO-8601 literals, expressions the
sandbox would refuse, service tasks nobody registered, forms that are malformed.

A diagram drawn in Camunda Modeler (or bpmn.io) is read too (docs/adr/0015): unquoted timer literals,
`camunda:candidateGroups` as the role where no lane names one, `camunda:formKey`/`camunda:formRef` as
the name of the form, and a user task without a form gets a generic confirm form. What deploy had to
decide for the admin comes back as warnings naming the element, beside the problems that refuse.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import get_language, gettext as _
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR as SPIFF_VALIDATOR, SpiffBpmnParser

from engine import business_calendar, registry
from engine.errors import DefinitionInvalid, ElementProblem, ElementWarning

from . import scripting, serializer, variables

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}
CAMUNDA = "{%s}" % NS["camunda"]
MAX_ELEMENTS = 20_000
_LANE_ROLE = re.compile(r"\(\s*([a-z][a-z0-9_]*)\s*\)\s*$")


def _hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )


def load_xml(data: bytes | str) -> etree._Element:
    """Parse untrusted BPMN XML or raise DefinitionInvalid; never expands entities or fetches."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    limit = getattr(settings, "CASEFLOW_BPMN_MAX_BYTES", 2 * 1024 * 1024)
    if len(data) > limit:
        raise DefinitionInvalid([ElementProblem(None, _("The file is larger than %(limit)d bytes.") % {"limit": limit})])
    try:
        data.decode("utf-8")  # stored as text; and the checks below read bytes, which only holds for UTF-8
    except UnicodeDecodeError:
        raise DefinitionInvalid([ElementProblem(None, _("The file is not UTF-8 text; save the diagram as UTF-8."))]) from None
    head = data[:4096].lower()
    if b"<!doctype" in data.lower() or b"<!entity" in head:
        raise DefinitionInvalid([ElementProblem(None, _("Document type declarations and entities are not allowed in BPMN files."))])
    try:
        root = etree.fromstring(data, parser=_hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise DefinitionInvalid([ElementProblem(None, _("The file is not well-formed XML: %(error)s") % {"error": exc})]) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise DefinitionInvalid([ElementProblem(None, _("Document type declarations and entities are not allowed in BPMN files."))])
    count = 0
    for node in root.iter():
        count += 1
        if isinstance(node, etree._Entity):
            raise DefinitionInvalid([ElementProblem(None, _("Entity references are not allowed in BPMN files."))])
        if count > MAX_ELEMENTS:
            raise DefinitionInvalid([ElementProblem(None, _("The file has more than %(n)d elements.") % {"n": MAX_ELEMENTS})])
    if etree.QName(root).namespace != NS["bpmn"] or etree.QName(root).localname != "definitions":
        raise DefinitionInvalid([ElementProblem(None, _("The root element must be bpmn:definitions."))])
    return root


def process_elements(data: bytes | str) -> tuple[str | None, set[str]]:
    """(id of the one executable process or None, the ids of its elements and the names of the forms
    they name with camunda:formKey/formRef), through the hardened parser: what a new version of a
    diagram keeps of the one before it."""
    root = load_xml(data)
    executable = [p for p in root.findall("bpmn:process", NS) if p.get("isExecutable", "true").lower() == "true"]
    if len(executable) != 1:
        return None, set()
    nodes = list(executable[0].iter(f"{{{NS['bpmn']}}}*"))
    return executable[0].get("id"), {n.get("id") for n in nodes if n.get("id")} | {k for k in map(form_name, nodes) if k}


def form_steps(data: bytes | str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """The elements of the executable process that take a form, in document order, as (id, name,
    kind, the steps its `review_of` property names): user and manual tasks, and plain start events
    (a start event waiting for a timer or a message takes no form). What the studio's form editor
    lists; the deploy checks judge the diagram, not this."""
    root = load_xml(data)
    executable = [p for p in root.findall("bpmn:process", NS) if p.get("isExecutable", "true").lower() == "true"]
    if len(executable) != 1:
        return []
    result = []
    kinds = {"userTask": "task", "manualTask": "task", "startEvent": "start"}
    for node in executable[0].iter(*(f"{{{NS['bpmn']}}}{k}" for k in kinds)):
        kind = kinds[etree.QName(node).localname]
        if not node.get("id") or (kind == "start" and any("EventDefinition" in etree.QName(c).localname for c in node)):
            continue
        review = ""
        for prop in node.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
            if prop.get("name") == "review_of":
                review = prop.get("value", "")
        result.append((node.get("id"), node.get("name") or "", kind, tuple(i.strip() for i in review.split(",") if i.strip())))
    return result


def form_name(node) -> str | None:
    """The form a Camunda Modeler element names: camunda:formRef="intake", or camunda:formKey in any
    of its spellings ("intake", "camunda-forms:deployment:intake.form", "embedded:app:forms/intake.html")."""
    value = (node.get(f"{CAMUNDA}formRef") or node.get(f"{CAMUNDA}formKey") or "").strip()
    if not value:
        return None
    value = re.split(r"[:/]", value)[-1]
    value = re.sub(r"\.(form|json|html?)$", "", value, flags=re.IGNORECASE)
    return value or None


def candidate_groups(node) -> list[str]:
    """camunda:candidateGroups (on a user task) or camunda:candidateStarterGroups (on a process), in order."""
    value = node.get(f"{CAMUNDA}candidateGroups") or node.get(f"{CAMUNDA}candidateStarterGroups") or ""
    return [g.strip() for g in value.split(",") if g.strip()]


def lane_role(lane_name: str | None) -> str | None:
    """'社工 (worker)' -> 'worker'; a lane named just 'worker' works too."""
    if not lane_name:
        return None
    match = _LANE_ROLE.search(lane_name)
    code = match.group(1) if match else lane_name.strip()
    return code if code in registry.roles() else None


@dataclass
class UserTaskInfo:
    bpmn_id: str
    name: str
    lane: str
    candidate_group: str
    properties: dict = field(default_factory=dict)


# spiffworkflow:property names on a user task that the engine understands. Deploy reads them from
# the XML and stores them with the definition, so routing never depends on where SpiffWorkflow keeps
# extensions on its spec objects (3.2.0: task_spec.extensions, on the inner spec of a multi-instance):
#   assignee_from        - a workflow variable (or sandboxed expression) giving the username the
#                          task is assigned to (e.g. each reviewer's instance of a review panel)
#   candidate_group_from - a variable or expression giving the group that may claim the task
#                          (the applicant organisation's own group; a provider's group per referral:
#                          provider_groups[referral_id]), instead of the lane's role
#   context_from         - a variable or expression saying what this task (instance) is about,
#                          stored on the task row for its page (which referral a provider answers)
#   review_of            - the steps whose submissions this task is about, shown open above its
#                          form (a review shows the application; an approval the plan): element
#                          ids, comma-separated. Without it, the step done just before.
#   withdrawn_after      - an element id: once that activity is no longer running (every reviewer of a
#                          panel has scored), this task is withdrawn — a reminder's follow-up task
#                          hanging off a non-interrupting timer must not keep the case open for ever
TASK_PROPERTIES = {"assignee_from", "candidate_group_from", "context_from", "review_of", "withdrawn_after"}
# spiffworkflow:property names on a timer event:
#   clock_starts_from    - a workflow variable holding the moment the timer's duration counts from
#                          (the report's received_at), instead of the moment the timer is reached
#   calendar             - "working_days": the duration (whole days, PnD) counts the station's working days
#                          (engine/business_calendar.py) instead of calendar time
#   reminder             - "true" on a non-interrupting boundary timer: a reminder on the way to the task's
#                          real deadline (5 days of 10 to answer a referral), so it neither is the task's
#                          deadline in the inbox nor breaches it when it fires
TIMER_PROPERTIES = {"clock_starts_from", "calendar", "reminder"}
# Names SpiffWorkflow gives its own task specs; an element with one of them breaks every start.
RESERVED_ELEMENT_IDS = {"Start", "End", "Root"}


def _task_properties(node, problems) -> dict:
    props = {}
    for prop in node.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
        name, value = prop.get("name", ""), prop.get("value", "")
        if name not in TASK_PROPERTIES:
            continue  # other tools' properties are allowed and ignored
        if name == "withdrawn_after":
            known = {n.get("id") for n in node.getparent().iter(f"{{{NS['bpmn']}}}*") if n.get("id")}
            if value.strip() not in known or value.strip() == node.get("id"):
                problems.append(ElementProblem(node.get("id"), _("Property withdrawn_after must name another element of this process, not '%(value)s'.") % {
                    "value": value[:60]}))
                continue
            props[name] = value.strip()
            continue
        if name == "review_of":
            ids = [i.strip() for i in value.split(",") if i.strip()]
            known = {n.get("id") for n in node.getparent().iter(f"{{{NS['bpmn']}}}userTask", f"{{{NS['bpmn']}}}manualTask",
                                                                  f"{{{NS['bpmn']}}}startEvent")}
            unknown = [i for i in ids if i not in known]
            if not ids or unknown:
                problems.append(ElementProblem(node.get("id"), _("Property review_of must list user tasks of this process, not '%(value)s'.") % {
                    "value": ", ".join(unknown)[:60] or value[:60]}))
                continue
            props[name] = ",".join(ids)
            continue
        try:
            scripting.check_expression(value)  # a variable name, or an expression such as groups[referral_id]
        except scripting.ExpressionRefused:
            problems.append(ElementProblem(node.get("id"), _("Property %(name)s must name a workflow variable, not '%(value)s'.") % {"name": name, "value": value[:40]}))
            continue
        props[name] = value
    return props


@dataclass
class ParsedDefinition:
    process_id: str
    name: str
    spec_dict: dict
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)
    start_group: str | None = None
    start_event_id: str | None = None
    timers: dict[str, dict] = field(default_factory=dict)
    # The forms this version runs with: those supplied, plus for each user task and the start event
    # the form it names by formKey/formRef, or (user tasks) the generic confirm form, by element id.
    forms: dict[str, dict] = field(default_factory=dict)
    warnings: list[ElementWarning] = field(default_factory=list)


def _element_name(node) -> str:
    return node.get("name") or node.get("id")


FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "task", "userTask", "manualTask",
    "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway", "complexGateway", "subProcess", "callActivity", "transaction",
}


def _unreachable(container) -> list[ElementProblem]:
    """Elements no path reaches, each a problem naming it: within the process and within each
    sub-process reached, from its start events (and event sub-processes, which their event starts),
    along sequence flows, and to the boundary events of every activity reached. An element that can
    never run is a drawing left half-done (a task not yet connected, an end event left behind)."""
    nodes = {n.get("id"): n for n in container if isinstance(n.tag, str) and etree.QName(n).localname in FLOW_NODE_TAGS and n.get("id")}
    successors: dict[str, list[str]] = {}
    for flow in container.findall("bpmn:sequenceFlow", NS):
        successors.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    for node_id, node in nodes.items():
        if etree.QName(node).localname == "boundaryEvent" and node.get("attachedToRef"):
            successors.setdefault(node.get("attachedToRef"), []).append(node_id)
    roots = [i for i, n in nodes.items() if etree.QName(n).localname == "startEvent"
             or (etree.QName(n).localname == "subProcess" and n.get("triggeredByEvent", "false").lower() == "true")]
    reached, stack = set(), list(roots)
    while stack:
        node_id = stack.pop()
        if node_id in reached or node_id not in nodes:
            continue
        reached.add(node_id)
        stack.extend(successors.get(node_id, []))
    problems = [ElementProblem(i, _("%(name)s cannot be reached: no path from the start leads to it. Connect it, or delete it.") % {
        "name": n.get("name") or i}) for i, n in nodes.items() if i not in reached]
    for node_id in reached:
        if etree.QName(nodes[node_id]).localname in ("subProcess", "transaction"):
            problems.extend(_unreachable(nodes[node_id]))
    return problems


def validate_and_parse(xml: bytes | str, forms: dict[str, dict], known_services: set[str], form_checker, *,
                       checksum: str | None = None, generic_form=None) -> ParsedDefinition:
    """Validate a diagram and its forms; return what deploy stores. Raises DefinitionInvalid.

    `generic_form()` gives the form a user task without one runs with (with a warning); without it,
    such a task is a problem. With the content's `checksum`, a result is reused while what
    validation depends on besides the content (the registered services, hooks, roles and option
    lists, and the language the warnings are in) is unchanged: deploying the same diagram again
    (each start of the server, each test) parses it once per process."""
    if checksum is None:
        return _validate_and_parse(xml, forms, known_services, form_checker, generic_form)
    key = (checksum, frozenset(known_services), tuple(sorted(registry.task_hook_targets())), tuple(sorted(registry.roles())),
           frozenset(registry.option_source_names()), get_language(), generic_form is not None,
           registry.code_variables_key())
    hit = _parsed.get(key)
    if hit is None:
        hit = _validate_and_parse(xml, forms, known_services, form_checker, generic_form)
        with _spec_cache_lock:
            _parsed[key] = hit
            while len(_parsed) > 32:
                _parsed.pop(next(iter(_parsed)))
    return hit


def _validate_and_parse(xml, forms, known_services, form_checker, generic_form=None) -> ParsedDefinition:  # noqa: C901
    root = load_xml(xml)
    problems: list[ElementProblem] = []
    warnings: list[ElementWarning] = []
    processes = root.findall("bpmn:process", NS)
    executable = [p for p in processes if p.get("isExecutable", "true").lower() == "true"]
    if len(executable) != 1:
        raise DefinitionInvalid([ElementProblem(None, _("A definition must contain exactly one executable process."))])
    process = executable[0]
    process_id = process.get("id")

    lanes = {}
    for lane in process.iter(f"{{{NS['bpmn']}}}lane"):
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane.get("name")

    # Element ids: SpiffWorkflow names its own tasks Start, End, Root and <id>.Something.
    for node in process.iter(f"{{{NS['bpmn']}}}*"):
        element_id = node.get("id")
        if element_id and (element_id in RESERVED_ELEMENT_IDS or "." in element_id):
            problems.append(ElementProblem(element_id, _("The id '%(id)s' is reserved by the engine (Start, End, Root, or a dot); rename the element.") % {
                "id": element_id[:64]}))

    # A plain task (the modeler's default shape) says nobody does it: SpiffWorkflow would wait for
    # a person no lane names, and the case would stop there.
    for node in process.iter(f"{{{NS['bpmn']}}}task"):
        problems.append(ElementProblem(node.get("id"), _("A plain task has no kind; make it a user task (a person does it), a script task or a service task.")))

    # Timers: ISO-8601 literals only, never code.
    timers: dict[str, dict] = {}
    for timer in process.iter(f"{{{NS['bpmn']}}}timerEventDefinition"):
        event = timer.getparent()
        options = {}
        for prop in event.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
            name, value = prop.get("name", ""), (prop.get("value") or "").strip()
            if name not in TIMER_PROPERTIES:
                continue
            if name == "reminder":
                if value != "true" or event.tag != f"{{{NS['bpmn']}}}boundaryEvent" or event.get("cancelActivity", "true") != "false":
                    problems.append(ElementProblem(event.get("id"), _(
                        "Only a non-interrupting timer on a task can be a reminder (reminder = true).")))
                else:
                    options[name] = True
                continue
            if name == "calendar":
                problem = _calendar_problem(timer, value)
                if problem:
                    problems.append(ElementProblem(event.get("id"), problem))
                else:
                    options[name] = value
                    missing = business_calendar.unknown_years()
                    if missing:
                        warnings.append(ElementWarning(event.get("id"), business_calendar.unknown_year_message(missing)))
                continue
            if not re.fullmatch(r"[a-z][A-Za-z0-9_]{0,63}", value):
                problems.append(ElementProblem(event.get("id"), _("Property %(name)s must name a workflow variable, not '%(value)s'.") % {"name": name, "value": value[:40]}))
            elif timer.find("bpmn:timeDuration", NS) is None:
                problems.append(ElementProblem(event.get("id"), _("Only a duration timer can count from a moment in the case (%(name)s).") % {"name": name}))
            else:
                options[name] = value
        if options:
            timers[event.get("id")] = options
        if not any(timer.find(f"bpmn:{kind}", NS) is not None for kind in ("timeDuration", "timeDate", "timeCycle")):
            # A timer just drawn in the modeler: say so in the admin's words, not SpiffWorkflow's.
            problems.append(ElementProblem(event.get("id"), _(
                "The timer %(name)s has no time yet: choose after how long, at what date or how often it fires.") % {
                "name": event.get("name") or event.get("id")}))
        for kind in ("timeDuration", "timeDate", "timeCycle"):
            for expr in timer.findall(f"bpmn:{kind}", NS):
                try:
                    literal = scripting.parse_timer_literal(expr.text or "")
                except Exception:
                    problems.append(ElementProblem(event.get("id"), _(
                        "Timer '%(expr)s' is not an ISO-8601 literal (for example PT24H, P3D or 2026-12-01T09:00:00+08:00); "
                        "timers are never evaluated as expressions."
                    ) % {"expr": (expr.text or "").strip()[:80]}))
                else:
                    # Camunda writes P3D, Caseflow "P3D": SpiffWorkflow gets the quoted literal either
                    # way, so both spellings make the same spec (the stored XML stays as uploaded).
                    expr.text = f'"{literal}"'

    # A gateway that chooses one way needs a condition on each way but its default: said here in the
    # admin's words (SpiffWorkflow would refuse it too, in English, naming only the flow's id).
    for gateway in process.iter(f"{{{NS['bpmn']}}}exclusiveGateway"):
        ways = [f for f in process.iter(f"{{{NS['bpmn']}}}sequenceFlow") if f.get("sourceRef") == gateway.get("id")]
        for flow in ways if len(ways) > 1 else []:
            cond = flow.find("bpmn:conditionExpression", NS)
            if flow.get("id") != gateway.get("default") and (cond is None or not (cond.text or "").strip()):
                problems.append(ElementProblem(flow.get("id"), _(
                    "This way out of %(gateway)s has no condition and is not its default flow: give it a condition, "
                    "or make it the default flow.") % {"gateway": gateway.get("name") or gateway.get("id")}))

    # A choice with a condition on every way and no default can find no way at all: the case would
    # stop at the gateway in the error state the first time no condition holds.
    for gateway in process.iter(f"{{{NS['bpmn']}}}exclusiveGateway"):
        ways = [f for f in process.iter(f"{{{NS['bpmn']}}}sequenceFlow") if f.get("sourceRef") == gateway.get("id")]
        conditional = [f for f in ways if (f.findtext("bpmn:conditionExpression", "", NS) or "").strip()]
        default = gateway.get("default") if gateway.get("default") in {f.get("id") for f in ways} else None
        # One conditional way is the same trap: the modeler leaves it when the default's end is deleted.
        if ways and not default and len(conditional) == len(ways):
            problems.append(ElementProblem(gateway.get("id"), _(
                "%(gateway)s has no default flow: when none of its conditions holds, the case would stop here. "
                "Make one way its default flow.") % {"gateway": gateway.get("name") or gateway.get("id")}))
    problems.extend(_unreachable(process))

    # Conditions, scripts, loop and multi-instance expressions: must pass the sandbox's checks.
    for flow in process.iter(f"{{{NS['bpmn']}}}sequenceFlow"):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            _check(problems, flow.get("id"), cond.text, scripting.check_expression)
    for script_task in process.iter(f"{{{NS['bpmn']}}}scriptTask"):
        script = script_task.find("bpmn:script", NS)
        _check(problems, script_task.get("id"), script.text if script is not None else "", scripting.check_script)
    for tag in ("preScript", "postScript"):
        for node in process.iter(f"{{{NS['spiffworkflow']}}}{tag}"):
            owner = node.getparent().getparent()
            _check(problems, owner.get("id"), node.text or "", scripting.check_script)
    for tag in ("loopCardinality", "completionCondition", "loopCondition"):
        for node in process.iter(f"{{{NS['bpmn']}}}{tag}"):
            owner = next((a for a in node.iterancestors() if a.get("id")), node)
            if (node.text or "").strip():
                _check(problems, owner.get("id"), node.text, scripting.check_expression)
    # Anything else SpiffWorkflow evaluates: message correlation and process-variable expressions.
    for node in root.iter(f"{{{NS['bpmn']}}}formalExpression", f"{{{NS['bpmn']}}}messagePath", f"{{{NS['bpmn']}}}condition",
                          f"{{{NS['spiffworkflow']}}}processVariableCorrelation", f"{{{NS['spiffworkflow']}}}expression",
                          f"{{{NS['spiffworkflow']}}}messagePayload"):
        owner = next((a for a in node.iterancestors() if a.get("id")), root)
        if (node.text or "").strip():
            _check(problems, owner.get("id"), node.text, scripting.check_expression)

    # Service tasks: a named operation from the reviewed registry; parameters are expressions.
    for service_task in process.iter(f"{{{NS['bpmn']}}}serviceTask"):
        operator = service_task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        if operator is None:
            problems.append(ElementProblem(service_task.get("id"), _("Service task has no operation; choose one from the registry.")))
            continue
        if operator.get("id") not in known_services:
            problems.append(ElementProblem(service_task.get("id"), _("Service operation '%(name)s' is not registered.") % {"name": operator.get("id")}))
        for param in operator.iter(f"{{{NS['spiffworkflow']}}}parameter"):
            _check(problems, service_task.get("id"), param.get("value") or "", scripting.check_expression)

    # User tasks: each done by a role (its lane's, or Camunda's candidate group where no lane names
    # one), each with a valid form (its own, the one it names, or the generic confirm form).
    resolved_forms = dict(forms)
    user_tasks: dict[str, UserTaskInfo] = {}
    for node in process.iter(f"{{{NS['bpmn']}}}userTask", f"{{{NS['bpmn']}}}manualTask"):
        bpmn_id = node.get("id")
        lane = lanes.get(bpmn_id)
        group = _task_role(node, lane, problems, warnings)
        form, named = _form_for(node, forms)
        if form is None and named is None and generic_form is None:
            problems.append(ElementProblem(bpmn_id, _("User task has no form (forms/%(id)s.json).") % {"id": bpmn_id}))
        elif form is None:
            resolved_forms[bpmn_id] = generic_form()
            if named is None:
                warnings.append(ElementWarning(bpmn_id, _("No form: a generic confirm form is used (a note to read the case and one box to tick).")))
            else:
                warnings.append(ElementWarning(bpmn_id, _("The form '%(name)s' it names was not supplied: a generic confirm form is used.") % {
                    "name": named[:64]}))
        else:
            resolved_forms[bpmn_id] = form
            problems.extend(ElementProblem(bpmn_id, msg) for msg in form_checker(form))
        if group is not None:
            user_tasks[bpmn_id] = UserTaskInfo(bpmn_id, _element_name(node), lane or "", group, _task_properties(node, problems))

    start_events = [n for n in process.findall("bpmn:startEvent", NS) if not len(n.findall("bpmn:*EventDefinition", NS))]
    start_group = start_event_id = None
    if len(start_events) != 1:
        problems.append(ElementProblem(process_id, _("The process needs exactly one plain start event.")))
    else:
        start_event_id = start_events[0].get("id")
        start_group = lane_role(lanes.get(start_event_id))
        starters = candidate_groups(process)
        if start_group is None and starters:
            start_group = _first_group(start_event_id, starters, problems, warnings)
        elif start_group is not None and starters and starters[0] != start_group:
            warnings.append(ElementWarning(start_event_id, _("The lane says role '%(lane)s' starts the process, camunda:candidateStarterGroups says '%(group)s': the lane wins.") % {
                "lane": start_group, "group": starters[0][:64]}))
        if start_group is None and not starters:
            problems.append(ElementProblem(start_event_id, _("The start event must be in the lane of the role that may start the process.")))
        form, named = _form_for(start_events[0], forms)
        if form is not None:
            resolved_forms[start_event_id] = form
            problems.extend(ElementProblem(start_event_id, msg) for msg in form_checker(form))
        elif named is not None:
            warnings.append(ElementWarning(start_event_id, _("The form '%(name)s' it names was not supplied: the process starts without a form.") % {
                "name": named[:64]}))

    # Code written for this process (a ledger hook on "decided") must still find its element: a
    # renamed or deleted task would otherwise silently stop the code from running.
    element_ids = {n.get("id") for n in process.iter(f"{{{NS['bpmn']}}}*") if n.get("id")}
    for key, bpmn_id in registry.task_hook_targets():
        if key == process_id and bpmn_id not in element_ids:
            problems.append(ElementProblem(bpmn_id, _("Code of this process runs when the task %(id)s completes, but the diagram has no such element; keep its id or change the code.") % {
                "id": bpmn_id}))

    # A condition may read only what the forms (process_variable fields), services, scripts and the
    # process's code put into the workflow.
    problems.extend(variables.condition_problems(process, resolved_forms, process_id))

    # Only now hand the tree to SpiffWorkflow (XSD validation and its own structural checks).
    spec_dict = None
    try:
        parser = SpiffBpmnParser(validator=SPIFF_VALIDATOR)
        parser.add_bpmn_xml(root, filename=f"{process_id}.bpmn")
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
        spec_dict = serializer.spec_to_dict(spec, subprocess_specs)
    except ValidationException as exc:
        if not (getattr(exc, "id", None) and exc.id in {p.element_id for p in problems}):
            # (an element already named above is not named again in SpiffWorkflow's English)
            problems.append(ElementProblem(getattr(exc, "id", None) or None, _("BPMN is not valid: %(error)s") % {"error": _first_line(exc)}))
    except Exception as exc:  # SpiffWorkflow raises plain exceptions for some structural errors
        problems.append(ElementProblem(None, _("BPMN could not be parsed: %(error)s") % {"error": _first_line(exc)}))

    if problems:
        raise DefinitionInvalid(problems)
    return ParsedDefinition(
        process_id=process_id, name=process.get("name") or process_id, spec_dict=spec_dict,
        user_tasks=user_tasks, start_group=start_group, start_event_id=start_event_id, timers=timers,
        forms=resolved_forms, warnings=warnings,
    )


def _calendar_problem(timer, value: str) -> str | None:
    """Why a timer's `calendar` property cannot be used, or None: only working days, only for a
    duration in whole days (P3D), which is what a working-day count means."""
    if value != business_calendar.WORKING_DAYS:
        return _("Property calendar can only be '%(value)s' (count working days), not '%(given)s'.") % {
            "value": business_calendar.WORKING_DAYS, "given": value[:40]}
    duration = timer.find("bpmn:timeDuration", NS)
    literal = (duration.text or "").strip().strip('"') if duration is not None else ""
    match = re.fullmatch(r"P(\d{1,3})D", literal)
    if not match or not 0 < int(match.group(1)) <= business_calendar.MAX_DAYS:
        return _("A timer that counts working days needs a duration in whole days (for example P3D), not '%(expr)s'.") % {
            "expr": literal[:40] or "-"}
    return None


def _task_role(node, lane, problems, warnings) -> str | None:
    """The role that does a user task: its lane's; where the lane names none (or there is no lane),
    the first of camunda:candidateGroups. Both, disagreeing: the lane wins, with a warning."""
    bpmn_id = node.get("id")
    group, groups = lane_role(lane), candidate_groups(node)
    if group is not None:
        if groups and groups[0] != group:
            warnings.append(ElementWarning(bpmn_id, _("The lane says role '%(lane)s', camunda:candidateGroups says '%(group)s': the lane wins.") % {
                "lane": group, "group": ", ".join(groups)[:80]}))
        return group
    if groups:
        return _first_group(bpmn_id, groups, problems, warnings)
    if lane is None:
        problems.append(ElementProblem(bpmn_id, _("User task is not in a lane; put it in the lane of the role that does it (or give it a candidate group).")))
    else:
        problems.append(ElementProblem(bpmn_id, _("Lane '%(lane)s' does not name a known role, e.g. '社工 (worker)'.") % {"lane": lane}))
    return None


def _first_group(element_id, groups, problems, warnings) -> str | None:
    """The first Camunda group as a Caseflow role: a problem if no such role, a warning if there were more."""
    first = groups[0]
    if first not in registry.roles():
        problems.append(ElementProblem(element_id, _("Candidate group '%(group)s' is not a known role (known: %(roles)s).") % {
            "group": first[:64], "roles": ", ".join(sorted(registry.roles()))}))
        return None
    if len(groups) > 1:
        warnings.append(ElementWarning(element_id, _("Several candidate groups (%(groups)s): only the first, '%(group)s', does this step.") % {
            "groups": ", ".join(groups)[:80], "group": first}))
    return first


def _form_for(node, forms) -> tuple[dict | None, str | None]:
    """(the form supplied for an element — by its id, else by the name its formKey/formRef gives, as
    a file name or as the form's own id —, that name or None)."""
    named = form_name(node)
    if node.get("id") in forms:
        return forms[node.get("id")], named
    if named is None:
        return None, None
    if named in forms:
        return forms[named], named
    by_id = [f for f in forms.values() if isinstance(f, dict) and f.get("id") == named]
    return (by_id[0] if by_id else None), named


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _check(problems, element_id, source, checker):
    try:
        checker(source or "")
    except scripting.ExpressionRefused as exc:
        problems.append(ElementProblem(element_id, _("Expression refused: %(why)s") % {"why": exc.translated()}))


# -- the caches ------------------------------------------------------------------------------
_spec_cache: dict[int | str, tuple] = {}
_parsed: dict[tuple, ParsedDefinition] = {}  # validation results by content and registry (oldest first)
_spec_cache_lock = threading.Lock()


def cached_spec(key: int | str, spec_dict_loader):
    """(spec, subprocess_specs) of a definition version (`key`: its content checksum, or its id),
    restored once per process and reused. Versions are immutable and specs are never changed, so
    the cache never needs invalidating, and versions of the same content share one spec."""
    hit = _spec_cache.get(key)
    if hit is not None:
        return hit
    with _spec_cache_lock:
        hit = _spec_cache.get(key)
        if hit is None:
            hit = serializer.spec_from_dict(spec_dict_loader())
            _spec_cache[key] = hit
        return hit


def clear_spec_cache():
    """For tests that simulate a process restart."""
    _spec_cache.clear()
    _parsed.clear()
