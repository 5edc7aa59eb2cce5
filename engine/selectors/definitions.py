"""Reads about deployed processes: which a user may start, and their names."""
from __future__ import annotations

from django.utils.translation import gettext as _

from engine.errors import NotFound
from engine.models import ProcessDefinition
from engine.permissions import user_groups
from engine.types import StartableProcess


def latest(key: str) -> ProcessDefinition:
    definition = ProcessDefinition.objects.defer("spec", "bpmn_xml").filter(key=key).order_by("-version").first()
    if definition is None:
        raise NotFound(_("No process '%(key)s' is deployed.") % {"key": key})
    return definition


def startable_processes(*, actor) -> list[StartableProcess]:
    """The latest version of each process whose start lane is one of the actor's roles."""
    groups = user_groups(actor)
    latest: dict[str, ProcessDefinition] = {}
    for definition in ProcessDefinition.objects.defer("spec", "bpmn_xml").order_by("key", "-version"):
        latest.setdefault(definition.key, definition)
    return [StartableProcess(d.key, d.name, d.version, d.forms.get(d.start_event_id))
            for d in latest.values() if d.start_group in groups]


# -- instances -----------------------------------------------------------------------------------

def process_names() -> dict[str, str]:
    """Process key -> name of its latest version (for filters and labels)."""
    names = {}
    for key, name in ProcessDefinition.objects.order_by("key", "-version").values_list("key", "name"):
        names.setdefault(key, name)
    return names


