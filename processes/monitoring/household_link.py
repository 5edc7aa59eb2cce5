"""The one place that reads the needs-matching household a monitored household is, without importing
that package (processes never import each other): its households come through the option list
`households` it registers (the viewer's own villages), and the household as a record — village,
number, whether a child lives there, its needs cases — through the minors-record resolver it
registers for `household` (ADR 0020 addendum). A needs case is started and looked up through the
engine's facade, as any other case."""
from __future__ import annotations

from dataclasses import dataclass

from engine import api, registry

KIND = "household"
OPEN = ("running", "error")


@dataclass(frozen=True)
class LinkedHousehold:
    id: int
    code: str
    village: str
    head_name: str
    has_minors: bool
    instance_ids: tuple


def choices(user) -> list[tuple[str, str]]:
    """The needs-matching households this user may see, as (id, "number head")."""
    return registry.option_source(KIND + "s", user) or []


def find(household_id, user=None) -> LinkedHousehold | None:
    """The household if it exists (and, with a user, if that user may see it)."""
    record = registry.minors_record(KIND, household_id, api.SYSTEM if user is None else user)
    if record is None:
        return None
    head = ""
    if user is not None:
        label = dict(choices(user)).get(str(record.id), "")
        head = label[len(record.subject):].strip() if label.startswith(record.subject) else ""
    return LinkedHousehold(record.id, record.subject, record.village, head, record.has_minors, tuple(record.instance_ids))


def open_needs_case(household_id) -> int | None:
    """The household's needs-matching case still under way, if any: one chain of aid per household."""
    household = find(household_id)
    if household is None:
        return None
    for instance_id in reversed(household.instance_ids):
        if api.get_instance(instance_id=instance_id, viewer=api.SYSTEM, with_history=False).status in OPEN:
            return instance_id
    return None
