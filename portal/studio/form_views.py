"""The studio's form editor (administrators only): the form-js editor on one step's form of a process's
draft, a save that the server checks field by field (the engine's own form checks, through engine.api),
and a live preview that is the portal's real server-rendered form — the same partial the task page uses,
in a 360-px frame — so what the admin sees is what a worker's phone will show.

The browser only edits; the server decides. Every answer is JSON (save) or a page (preview), never a
traceback, whatever was posted."""
from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import Http404, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from engine import api
from engine.errors import DefinitionInvalid

from . import drafts
from .views import _draft_or_404, admin_only

log = logging.getLogger(__name__)

# A posted form larger than this is refused before it is read: the biggest bundled form is ~10 KB.
FORM_MAX_BYTES = getattr(settings, "CASEFLOW_STUDIO_FORM_MAX_BYTES", 256 * 1024)
SCHEMA_VERSION = 16  # form-js 1.x


def form_steps(draft) -> list:
    """The draft's steps that take a form (start event first, then the user tasks), or [] when its
    diagram cannot be read (the modeler shows why)."""
    try:
        steps = api.form_steps(bpmn_xml=draft.bpmn_xml)
    except DefinitionInvalid:
        return []
    return sorted(steps, key=lambda s: s.kind != "start")


def _step_or_404(draft, element: str):
    for step in form_steps(draft):
        if step.element_id == element:
            return step
    raise Http404(_("No such page, or not yours to see."))


def _blank_form(element: str) -> dict:
    return {"type": "default", "schemaVersion": SCHEMA_VERSION, "id": f"Form_{element}", "components": []}


@require_GET
@admin_only
def form_editor(request, key: str, element: str):
    """The form-js editor on one step's form of the draft, with the preview beside it."""
    draft = _draft_or_404(key, request.user)
    step = _step_or_404(draft, element)
    steps = form_steps(draft)
    names = {s.element_id: s.name or s.element_id for s in steps}
    config = {
        "schema": draft.forms.get(element) or _blank_form(element),
        "revision": draft.revision,
        "saveUrl": reverse("studio-form-save", args=[key, element]),
        "previewUrl": reverse("studio-form-preview", args=[key, element]),
        "csrf": get_token(request),
        "maxBytes": FORM_MAX_BYTES,
        "types": sorted(api.FIELD_TYPES | api.LAYOUT_TYPES),
        "fieldTypes": sorted(api.FIELD_TYPES),
        "roles": [[code, api.group_label(code)] for code in api.role_names()],
        "optionSources": api.option_source_names(),
        "masks": [["", _("Not masked")], ["id_number", _("ID number (4401**********1234)")], ["phone", _("Phone number (138****5678)")]],
        "typeNames": _type_names(),
        "messages": _messages(),
        "ui": _editor_words(),
    }
    return render(request, "studio/form_editor.html", {
        "draft": draft, "step": step, "steps": steps, "config": config,
        "review_names": [names.get(i, i) for i in step.review_of],
        "info": {"name": draft.name or key, "key": key, "version": draft.base_version},
    })


def _type_names() -> dict[str, str]:
    """The palette's names of the field types the portal renders."""
    return {
        "textfield": _("Text (one line)"), "textarea": _("Text (several lines)"), "number": _("Number"),
        "datetime": _("Date / time"), "select": _("Drop-down list"), "radio": _("Choose one"),
        "checklist": _("Choose several"), "checkbox": _("Tick box"), "filepicker": _("Files"),
        "dynamiclist": _("List of rows"), "text": _("Text to read"), "separator": _("Line"),
        "spacer": _("Space"), "group": _("Group"),
    }


def _messages() -> dict[str, str]:
    """Every sentence the editor's script shows, translated here (the script holds no text)."""
    return {
        "caseflow": _("Caseflow settings"),
        "labelEn": _("English label"),
        "dateLabel": _("Label shown on the task page"),
        "labelEnHelp": _("Shown to people who read the portal in English. Empty: the label above."),
        "helpText": _("Help under the field (Chinese)"),
        "helpEn": _("Help under the field (English)"),
        "sensitive": _("Personal data (a lock is shown next to the label)"),
        "processVariable": _("Used by the diagram (gateway conditions, timers)"),
        "processVariableHelp": _("Only fields marked so are copied into the workflow's data."),
        "shownOnReturn": _("Shown on top of the form when the case is returned to an earlier step"),
        "mask": _("Masking"),
        "maskHelp": _("Shown masked to people who may see the case but do not work on it; exports mask it too."),
        "visibleTo": _("Who may read the value once submitted"),
        "visibleToHelp": _("Tick none: everyone who may see the case. Tick roles: only them (not even administrators)."),
        "notBefore": _("Not before"),
        "notAfter": _("Not after"),
        "dateLimitHelp": _("“today”, another date field of this form, or a workflow variable (e.g. received_at). Empty: no limit."),
        "optionsSource": _("Options from the station's list"),
        "optionsSourceNone": _("(the options below)"),
        "optionEn": _("English label of option “%(label)s”"),
        "decimalDigits": _("Places after the decimal point (0: whole numbers)"),
        "saving": _("Saving the form…"),
        "saved": _("Form saved in the draft. Deploy the process (in the modeler) to use it."),
        "refused": _("Not saved: fix the problems below."),
        "stale": _("Someone else saved this draft after you opened it. Reload the page to see their changes; yours were not saved."),
        "failed": _("The server did not answer as expected (%(error)s). Are you still signed in? Nothing was saved."),
        "tooLarge": _("The form is too large to save."),
        "unsaved": _("Not saved yet."),
        "leave": _("The form has changes that were not saved yet."),
        "previewing": _("Updating the preview…"),
        "previewFailed": _("The preview could not be updated (%(error)s)."),
        "unreadable": _("The form could not be opened in the editor: %(error)s"),
    }


def _editor_words() -> dict[str, str]:
    """form-js's editor has no translation hook in 1.23 (its texts are written into its components), so
    the page swaps the words people read most — the palette and the properties panel's headings and
    labels — for these translations, by exact match."""
    words = [
        ("Components", _("Fields")), ("Search components", _("Search fields")), ("Input", _("Input")),
        ("Selection", _("Choice")), ("Presentation", _("Presentation")), ("Containers", _("Containers")),
        ("General", _("General")), ("Validation", _("Validation")), ("Options", _("Options")),
        ("Field label", _("Label (Chinese)")), ("Group label", _("Label (Chinese)")), ("Key", _("Key")),
        ("Field description", _("Description")), ("Required", _("Required")), ("Minimum length", _("Minimum length")),
        ("Maximum length", _("Maximum length")), ("Minimum", _("Minimum")), ("Maximum", _("Maximum")),
        ("Regular expression pattern", _("Pattern (regular expression)")), ("Label", _("Label")), ("Value", _("Value")),
        ("Text", _("Text")), ("Subtype", _("Kind")), ("Date", _("Date")), ("Time", _("Time")), ("Date & Time", _("Date and time")),
        ("Decimal digits", _("Decimal places")), ("Constraints", _("Limits")), ("Static options", _("Fixed options")),
        ("Disallow past dates", _("No dates in the past")), ("Validation pattern", _("Format")), ("Custom", _("Custom")),
        ("Default value", _("Default value")), ("Build your form", _("Build your form")),
        ("Drag and drop components here to start designing.", _("Drag fields from the left here to build the form.")),
        ("Use the preview panel to test your form.", _("The preview on the right shows the form as a phone will.")),
        ("No components found.", _("No such field type.")), ("Delete item", _("Delete")), ("Create new list item", _("Add")),
        ("Toggle section", _("Open or close")), ("Options source", _("Where the options come from")),
    ]
    return {english: str(chinese) for english, chinese in words}


# -- save and preview ---------------------------------------------------------------------------------

class Refused(Exception):
    """The posted body is refused before it is checked: (HTTP status, a sentence)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _posted_json(request) -> dict:
    """The posted JSON object, read only when it is under the size cap."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > FORM_MAX_BYTES:
        raise Refused(413, _("The form is larger than %(kb)d KB; a step's form is far smaller.") % {"kb": FORM_MAX_BYTES // 1024})
    body = request.read(FORM_MAX_BYTES + 1)
    if len(body) > FORM_MAX_BYTES:
        raise Refused(413, _("The form is larger than %(kb)d KB; a step's form is far smaller.") % {"kb": FORM_MAX_BYTES // 1024})
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, _("The page sent something that is not a form; reload it.")) from None
    if not isinstance(data, dict) or not isinstance(data.get("schema"), dict):
        raise Refused(400, _("The page sent something that is not a form; reload it."))
    return data


def _problem_json(problem) -> dict:
    return {"key": problem.key, "field": problem.field_id, "message": problem.message}


def _refusal(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"ok": False, "problems": [{"key": None, "field": None, "message": str(message)}], **extra}, status=status)


@require_POST
@admin_only
def save_form(request, key: str, element: str):
    """The posted schema stored as this step's form in the draft, if the engine's form checks pass and
    the draft is still at the posted revision (409 otherwise: another tab or admin saved since)."""
    draft = _draft_or_404(key, request.user)
    _step_or_404(draft, element)
    try:
        data = _posted_json(request)
    except Refused as exc:
        return _refusal(exc.status, str(exc))
    revision = data.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        return _refusal(400, _("The page sent no draft revision; reload it."))
    schema = data["schema"]
    problems = api.check_form(form=schema)
    if problems:
        return JsonResponse({"ok": False, "problems": [_problem_json(p) for p in problems]}, status=400)
    try:
        saved = drafts.save(draft.key, forms={**draft.forms, element: schema}, revision=revision, user=request.user)
    except drafts.StaleDraft as exc:
        return _refusal(409, str(exc), stale=True, revision=exc.draft.revision)
    return JsonResponse({"ok": True, "revision": saved.revision})


@require_POST
@admin_only
def preview_form(request, key: str, element: str):
    """The posted schema rendered by the portal's own form partial, as the task page would show it (in
    the viewer's language, or the one asked for), in a page that cannot be submitted: no action, its
    buttons disabled, and the editor shows it in a sandboxed frame that allows no forms or scripts."""
    draft = _draft_or_404(key, request.user)
    step = _step_or_404(draft, element)
    language = request.GET.get("lang")
    if language not in {code for code, _name in settings.LANGUAGES}:
        language = translation.get_language()
    with translation.override(language):
        try:
            schema = _posted_json(request)["schema"]
        except Refused as exc:
            return _preview(request, step, problems=[str(exc)], status=exc.status)
        problems = [p.message for p in api.check_form(form=schema)]
        if problems:
            return _preview(request, step, problems=problems)
        try:
            fields = api.describe_form(schema, user=request.user)
        except Exception:  # a form that passed the checks and still cannot be shown: say so, log why
            log.exception("studio form preview of %s/%s", key, element)
            return _preview(request, step, problems=[_("This form cannot be shown; check its fields.")])
        return _preview(request, step, fields=fields, components=_layout_only(schema))


def _layout_only(schema: dict) -> int:
    """How many components the portal does not render as inputs (text, lines, groups' own titles)."""
    return sum(1 for c in schema.get("components", []) if isinstance(c, dict) and c.get("type") in api.LAYOUT_TYPES)


def _preview(request, step, *, fields=(), problems=(), components: int = 0, status: int = 200):
    return render(request, "studio/form_preview.html", {
        "step": step, "fields": fields, "problems": problems, "layout_count": components, "values": {}, "errors": {},
        "attachments": {}, "preview": True,
    }, status=status)
