"""What the studio's form editor needs of the engine: the form-js subset the portal renders, the
checks a form must pass (each problem naming its field), and the elements of a diagram that take a
form. The editor runs in the browser; the server decides with these."""
from __future__ import annotations

from engine import forms, registry
from engine.spiff import parser
from engine.types import FormProblem, FormStep

FIELD_TYPES = frozenset(forms.FIELD_TYPES)
LAYOUT_TYPES = frozenset(forms.LAYOUT_TYPES)
RESERVED_KEYS = forms.RESERVED_KEYS
DATE_LIMIT_WORDS = frozenset(forms.DATE_LIMIT_WORDS)
MAX_DECIMAL_DIGITS = forms.MAX_DECIMAL_DIGITS


def check_form(*, form) -> list[FormProblem]:
    """Everything that would stop this form from being saved into a draft or deployed, each problem
    naming its field (key and form-js id) when it belongs to one; empty when the form is fine."""
    return [FormProblem(message=str(message), key=key, field_id=field_id) for key, field_id, message in forms.form_problems(form)]


def form_steps(*, bpmn_xml: bytes | str) -> list[FormStep]:
    """The user tasks and the start event of a diagram, which each take a form, in document order.
    Raises DefinitionInvalid when the file cannot be read."""
    return [FormStep(element_id=i, name=name, kind=kind, review_of=review) for i, name, kind, review in parser.form_steps(bpmn_xml)]


def role_names() -> list[str]:
    """Every role a field's `visible_to` may name (the station's and those process apps bring)."""
    return sorted(registry.roles())


def option_source_names() -> list[str]:
    return sorted(registry.option_source_names())
