"""Which workflow variables a gateway condition may read, checked on deploy.

Only form fields marked `process_variable` enter the workflow's data (ADR 0004); so do a service
task's result variable, what a script assigns, a multi-instance's items and what the process's code
declares it sets (`registry.register_variables`). A condition that reads anything else would find
nothing when a case reaches the gateway and stop the case there, so deploy refuses it on the flow,
saying whether the name is a field that only lacks the mark or is unknown."""
from __future__ import annotations

from django.utils.translation import gettext as _

from engine import forms as form_rules, registry
from engine.errors import ElementProblem

from . import scripting

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def condition_problems(process, forms_by_element: dict[str, dict], process_id: str) -> list[ElementProblem]:
    """One problem per sequence flow whose condition reads a variable nothing puts into the workflow."""
    known = _variables_set(process, forms_by_element) | registry.code_variables(process_id)
    unmarked = _unmarked_fields(forms_by_element)
    problems = []
    for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
        cond = flow.find(f"{{{BPMN}}}conditionExpression")
        if cond is None or not (cond.text or "").strip():
            continue
        try:
            names = scripting.names_read(cond.text)
        except scripting.ExpressionRefused:
            continue  # already a problem of its own
        for name in sorted(names - known):
            problems.append(ElementProblem(flow.get("id"), _message(name, unmarked.get(name), known)))
    return problems


def _message(name: str, form_element: str | None, known: set[str]) -> str:
    if form_element is not None:
        return _("The condition reads “%(name)s”, a field of the form of %(element)s that is not marked as a process variable: "
                 "its value never reaches the workflow, so the condition cannot see it. Mark the field “process variable” in that form.") % {
            "name": name[:64], "element": form_element}
    return _("The condition reads “%(name)s”, which no form field, service result or script of this process sets; check the spelling "
             "(variables: %(known)s).") % {"name": name[:64], "known": ", ".join(sorted(known))[:300] or _("none")}


def _variables_set(process, forms_by_element: dict[str, dict]) -> set[str]:
    names = set()
    for form in forms_by_element.values():
        names |= {c.get("key") for c in _fields(form) if (c.get("properties") or {}).get("process_variable") == "true"}
    for operator in process.iter(f"{{{SPIFF}}}serviceTaskOperator"):
        if operator.get("resultVariable"):
            names.add(operator.get("resultVariable"))
    for script in [*process.iter(f"{{{BPMN}}}script"), *process.iter(f"{{{SPIFF}}}preScript", f"{{{SPIFF}}}postScript")]:
        try:
            names |= scripting.names_assigned(script.text or "")
        except scripting.ExpressionRefused:
            pass  # already a problem of its own
    for item in process.iter(f"{{{BPMN}}}inputDataItem", f"{{{BPMN}}}outputDataItem"):
        names.update(filter(None, (item.get("name"), item.get("id"))))
    for ref in process.iter(f"{{{BPMN}}}loopDataInputRef", f"{{{BPMN}}}loopDataOutputRef"):
        names.add((ref.text or "").strip())
    return names - {""}


def _unmarked_fields(forms_by_element: dict[str, dict]) -> dict[str, str]:
    """key -> the element whose form has a field by that name without the process_variable mark."""
    unmarked = {}
    for element, form in forms_by_element.items():
        for component in _fields(form):
            key = component.get("key")
            if isinstance(key, str) and (component.get("properties") or {}).get("process_variable") != "true":
                unmarked.setdefault(key, element)
    return unmarked


def _fields(form) -> list[dict]:
    """The form's fields; none for a malformed form (the form check reports it on its element)."""
    try:
        return [c for c in form_rules.fields_of(form) if isinstance(c, dict) and isinstance(c.get("properties") or {}, dict)]
    except (AttributeError, TypeError):
        return []
