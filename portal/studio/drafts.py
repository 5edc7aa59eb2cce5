"""Opening, saving and discarding a process's draft (portal.studio.models.Draft).

A draft starts as a copy of the latest deployed version (its XML and the admin's own forms, never the
generic confirm form deploy gave a task without one) or, for a new process, as a template. Every save
names the revision it was based on; a save over a newer revision is refused (`StaleDraft`)."""
from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from engine import api

from .models import Draft


class StaleDraft(Exception):
    """Someone saved the draft after this page loaded it."""

    def __init__(self, draft: Draft):
        super().__init__(_("Someone else (%(who)s) saved this draft after you opened it. Reload the page to see their changes; yours were not saved.") % {
            "who": draft.updated_by or _("the system")})
        self.draft = draft


def find(key: str) -> Draft | None:
    return Draft.objects.filter(key=key).first()


def open_draft(key: str, user) -> Draft:
    """The process's draft, made from its latest version when there is none. Raises NotFound when the
    process is neither deployed nor drafted."""
    draft = find(key)
    if draft is not None:
        return draft
    version, xml = api.definition_xml(key=key, viewer=user)
    forms = api.forms_carried_over(bpmn_xml=xml)
    detail = api.definition_version(key=key, version=version, viewer=user)
    draft, _created = Draft.objects.get_or_create(key=key, defaults={
        "name": detail.info.name, "base_version": version, "bpmn_xml": xml, "forms": forms, "updated_by": user})
    return draft


def create(*, key: str, name: str, xml: str, forms: dict, user) -> Draft:
    """A new process's first draft (from a template). Raises ValueError when the key is taken by a
    deployed process or another draft."""
    if api.process_names().get(key) is not None or find(key) is not None:
        raise ValueError(_("A process with the key “%(key)s” already exists.") % {"key": key})
    return Draft.objects.create(key=key, name=name, base_version=None, bpmn_xml=xml, forms=forms, updated_by=user)


def save(draft_key: str, *, xml: str | None = None, forms: dict | None = None, revision: int, user) -> Draft:
    """Store a new diagram and/or forms over the revision the editor started from; raises StaleDraft."""
    with transaction.atomic():
        draft = Draft.objects.select_for_update().get(key=draft_key)
        if draft.revision != revision:
            raise StaleDraft(draft)
        if xml is not None:
            draft.bpmn_xml = xml
        if forms is not None:
            draft.forms = forms
        draft.revision += 1
        draft.updated_by = user
        draft.save()
    return draft


def forms_for_deploy(draft: Draft, xml: bytes | str) -> dict[str, dict]:
    """The draft's forms for the elements (or camunda form names) this diagram still has: a form whose
    task was deleted stays in the draft, in case the task comes back, but is not deployed."""
    _process_id, elements = api.diagram_elements(bpmn_xml=xml)
    return {element: form for element, form in draft.forms.items() if element in elements}


def discard(key: str) -> None:
    Draft.objects.filter(key=key).delete()
