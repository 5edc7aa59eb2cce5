"""The process studio, for administrators only: every process with its versions and the instances on
each, a version's diagram, steps and forms, export and import of BPMN files, and the bpmn-js modeler
whose Check and Deploy run the engine's own deploy checks (docs/adr/0013)."""
from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from engine import api, selectors
from engine.errors import CaseflowError, DefinitionInvalid, ElementProblem, NotFound, NotPermitted

from . import archive, drafts, listing, panel

# An uploaded file larger than this is refused before it is read (the engine's own cap is larger).
IMPORT_MAX_BYTES = getattr(settings, "CASEFLOW_STUDIO_IMPORT_MAX_BYTES", 1024 * 1024)


def admin_only(view):
    """Signed-in administrators only; everyone else gets the portal's usual "not yours" 404."""
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if "admin" not in selectors.roles_of(request.user):
            raise Http404(_("No such page, or not yours to see."))
        try:
            return view(request, *args, **kwargs)
        except (NotFound, NotPermitted):
            raise Http404(_("No such page, or not yours to see.")) from None
    return wrapped


def _problems_json(problems: list[ElementProblem]) -> list[dict]:
    return [{"element": p.element_id, "message": str(p.message)} for p in problems]


@require_GET
@admin_only
def process_list(request):
    return render(request, "studio/list.html", _list_context(request))


def _list_context(request, **extra) -> dict:
    processes = api.process_versions(viewer=request.user)
    return {"processes": processes, **listing.list_extras(processes, request.user), "import_max_mb": _megabytes(IMPORT_MAX_BYTES),
            **extra}


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


@require_GET
@admin_only
def version_page(request, key: str, version: int):
    detail = api.definition_version(key=key, version=version, viewer=request.user)
    return render(request, "studio/version.html", {"detail": detail, "info": detail.info})


@require_GET
@admin_only
def version_diagram(request, key: str, version: int):
    """The diagram for the viewer (the case page's script): nothing is marked done or open."""
    _version, xml = api.definition_xml(key=key, version=version, viewer=request.user)
    return JsonResponse({"xml": xml, "completed": [], "active": [], "overdue": [], "latest": ""})


@require_GET
@admin_only
def export(request, key: str, version: int):
    _version, xml = api.definition_xml(key=key, version=version, viewer=request.user)
    response = HttpResponse(xml.encode("utf-8"), content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{key}-v{version}.bpmn"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@admin_only
def export_archive(request, key: str, version: int):
    """The version as one .zip: its XML, its forms (forms/<element id>.json) and a small manifest."""
    xml, forms, checksum = api.definition_archive(key=key, version=version, viewer=request.user)
    data = archive.build(key=key, version=version, xml=xml, forms=forms, checksum=checksum)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{key}-v{version}.zip"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _draft_or_404(key: str, user):
    try:
        return drafts.open_draft(key, user)
    except NotFound:
        raise Http404(_("No such page, or not yours to see.")) from None


@require_GET
@admin_only
def edit(request, key: str):
    """The modeler on the process's draft (made from the latest version when there is none). Every
    change is saved to the draft and checked on the server a moment later."""
    draft = _draft_or_404(key, request.user)
    config = {
        "xml": draft.bpmn_xml,
        "revision": draft.revision,
        "saveUrl": reverse("studio-save", args=[key]),
        "deployUrl": reverse("studio-deploy", args=[key]),
        "csrf": get_token(request),
        "messages": {
            "loading": _("Loading the diagram…"),
            "unreadable": _("The diagram could not be opened in the modeler: %(error)s"),
            "checking": _("Checking…"),
            "saving": _("Saving the draft…"),
            "deploying": _("Deploying…"),
            "noProblems": _("Draft saved. No problems: this diagram can be deployed."),
            "noProblemsWarnings": _("Draft saved. No problems: this diagram can be deployed. Warnings to read: %(count)s (below)."),
            "problem": _("Draft saved. One problem: fix the marked element."),
            "problems": _("Draft saved. %(count)s problems: fix the marked elements."),
            "refusedOne": _("Not deployed: one problem. Fix the marked element and try again."),
            "refused": _("Not deployed: %(count)s problems. Fix the marked elements and try again."),
            "deployed": _("Deployed as version %(version)s. New cases start on it; running cases stay on their version."),
            "unchanged": _("Nothing changed: this diagram is already version %(version)s."),
            "failed": _("The server did not answer as expected (%(error)s). Are you still signed in? Nothing was saved."),
            "stale": _("Someone else saved this draft after you opened it. Reload the page to see their changes; yours were not saved."),
            "confirmDeploy": _("Deploy this diagram as a new version of the process? New cases will start on it; running cases stay on their version."),
            "wholeFile": _("The diagram"),
            "notOnCanvas": _("(not on the canvas)"),
            "openVersion": _("Open the new version"),
            "leave": _("The diagram has changes that were not saved yet."),
        },
        "panel": panel.panel_config(draft),
    }
    from .form_views import form_steps  # (the form editor's module imports this one)

    return render(request, "studio/edit.html", {"draft": draft, "config": config, "form_steps": form_steps(draft),
                                                "info": {"name": draft.name or key, "key": key, "version": draft.base_version}})


def _posted_xml(request) -> bytes | None:
    """The XML the modeler sent as the request body; None when it is over the engine's size cap
    (refused before it is read)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.CASEFLOW_BPMN_MAX_BYTES:
        return None
    return request.body


def _too_large() -> JsonResponse:
    problem = ElementProblem(None, _("The file is larger than %(limit)d bytes.") % {"limit": settings.CASEFLOW_BPMN_MAX_BYTES})
    return JsonResponse({"ok": False, "problems": _problems_json([problem])}, status=413)


def _check(xml: bytes, key: str | None) -> tuple[dict, list[ElementProblem]]:
    """(the forms the new version takes over from the latest one, the problems deploy would refuse it
    for — whose `.warnings` are what it would deploy with anyway)."""
    try:
        forms = api.forms_carried_over(bpmn_xml=xml)
    except DefinitionInvalid as exc:
        return {}, list(exc.problems)
    return forms, api.validate_definition(bpmn_xml=xml, forms_by_element=forms, process_key=key)


def _warnings_of(result) -> list[dict]:
    return _problems_json(getattr(result, "warnings", None) or [])


def _posted_revision(request) -> int | None:
    try:
        return int(request.headers.get("X-Caseflow-Revision", ""))
    except ValueError:
        return None


def _save_posted(request, key: str):
    """(the draft with the posted XML saved into it, None) or (None, the JSON answer refusing it)."""
    draft = _draft_or_404(key, request.user)
    xml = _posted_xml(request)
    if xml is None:
        return None, _too_large()
    revision = _posted_revision(request)
    if revision is None:
        return None, JsonResponse({"ok": False, "problems": _problems_json([ElementProblem(None, _("The page sent no draft revision; reload it."))])}, status=400)
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        return None, JsonResponse({"ok": False, "problems": _problems_json([ElementProblem(None, _("The file is not UTF-8 text; save the diagram as UTF-8."))])}, status=400)
    try:
        return drafts.save(draft.key, xml=text, revision=revision, user=request.user), None
    except drafts.StaleDraft as exc:
        return None, JsonResponse({"ok": False, "stale": True, "revision": exc.draft.revision,
                                   "problems": _problems_json([ElementProblem(None, str(exc))])}, status=409)


def _draft_problems(draft) -> tuple[dict, list[ElementProblem]]:
    """(the forms the draft would deploy with, what deploy would refuse it for — `.warnings` are what
    it would deploy with anyway)."""
    try:
        forms = drafts.forms_for_deploy(draft, draft.bpmn_xml)
    except DefinitionInvalid as exc:
        return {}, list(exc.problems)
    return forms, api.validate_definition(bpmn_xml=draft.bpmn_xml, forms_by_element=forms, process_key=draft.key)


@require_POST
@admin_only
def save(request, key: str):
    """The modeler's XML saved into the draft (refused over a newer revision) and checked with the
    deploy checks: the answer lists the problems and warnings, each naming its element."""
    draft, refusal = _save_posted(request, key)
    if refusal is not None:
        return refusal
    _forms, problems = _draft_problems(draft)
    return JsonResponse({"ok": not problems, "revision": draft.revision, "problems": _problems_json(problems),
                         "warnings": _warnings_of(problems)})


@require_POST
@admin_only
def deploy(request, key: str):
    """The posted XML saved into the draft, then the draft (diagram and forms) deployed as a new version;
    the draft is gone once it is a version."""
    draft, refusal = _save_posted(request, key)
    if refusal is not None:
        return refusal
    forms, problems = _draft_problems(draft)
    if problems:
        return JsonResponse({"ok": False, "revision": draft.revision, "problems": _problems_json(problems)}, status=400)
    try:
        info = api.deploy_definition(bpmn_xml=draft.bpmn_xml, forms_by_element=forms, actor=request.user)
    except DefinitionInvalid as exc:
        return JsonResponse({"ok": False, "revision": draft.revision, "problems": _problems_json(exc.problems)}, status=400)
    except NotPermitted as exc:
        return JsonResponse({"ok": False, "problems": _problems_json([ElementProblem(None, str(exc))])}, status=403)
    except CaseflowError as exc:
        return JsonResponse({"ok": False, "revision": draft.revision, "problems": _problems_json([ElementProblem(None, str(exc))])}, status=409)
    drafts.discard(key)
    return JsonResponse({"ok": True, "created": info.created, "version": info.version, "warnings": _warnings_of(info),
                         "url": reverse("studio-version", args=[info.key, info.version])}, status=201 if info.created else 200)


@require_POST
@admin_only
def discard(request, key: str):
    """Throw the draft away: the next edit starts again from the latest version."""
    drafts.discard(key)
    messages.success(request, _("The draft was discarded."))
    if api.process_names().get(key) is None:
        return redirect("studio")
    return redirect("studio-edit", key=key)


@require_POST
@admin_only
def import_file(request):
    """An uploaded .bpmn file becomes a new version of its process (with the forms of the elements that
    keep their id), or the page lists why not. Hostile files are refused by the hardened parser."""
    upload = request.FILES.get("file")  # (a large one was spooled to a temporary file, never into memory)
    problems = _upload_problems(upload, _("Choose a BPMN file to import."), _(
        "The file is larger than %(mb)s MB; a BPMN diagram is far smaller."))
    if not problems:
        xml = upload.read(IMPORT_MAX_BYTES + 1)
        forms, problems = _check(xml, None)
        if not problems:
            response, problems = _deploy_or_problems(request, xml, forms)
            if response is not None:
                return response
    name = upload.name if upload is not None else ""
    return render(request, "studio/list.html", _list_context(request, problems=problems, import_name=name), status=400)


def _upload_problems(upload, missing: str, too_large: str) -> list[ElementProblem]:
    """Why an uploaded file is refused before it is read: none chosen, too large (`too_large`, a
    sentence with %(mb)s), empty."""
    if upload is None:
        return [ElementProblem(None, missing)]
    if upload.size > IMPORT_MAX_BYTES:
        return [ElementProblem(None, too_large % {"mb": _megabytes(IMPORT_MAX_BYTES)})]
    if upload.size == 0:
        return [ElementProblem(None, _("The file is empty."))]
    return []


def _deploy_or_problems(request, xml: bytes, forms: dict):
    """(the redirect after a deploy, []) or (None, the problems that stopped it)."""
    try:
        info = api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=request.user)
    except DefinitionInvalid as exc:
        return None, list(exc.problems)
    except CaseflowError as exc:
        return None, [ElementProblem(None, str(exc))]
    return _deployed(request, info), []


def _deployed(request, info):
    """The messages and the redirect after an import deployed (or found unchanged) a version."""
    if info.created:
        messages.success(request, _("Imported %(name)s as version %(version)d.") % {"name": info.name, "version": info.version})
    else:
        messages.success(request, _("Nothing changed: this file is already version %(version)d of %(name)s.") % {
            "name": info.name, "version": info.version})
    for warning in info.warnings:  # shown on the version page, apart from the success
        messages.warning(request, _("Warning: %(element)s: %(message)s") % {
            "element": warning.element_id or _("The diagram"), "message": warning.message})
    return redirect("studio-version", key=info.key, version=info.version)


@require_POST
@admin_only
def import_archive(request):
    """An uploaded .zip from "Export archive" (a diagram and its forms) becomes a new version with the
    archive's own forms, or the list page shows why not. Read by `archive.read`, which refuses zip
    bombs, paths outside the archive and forms that are not JSON."""
    upload = request.FILES.get("archive")
    problems = _upload_problems(upload, _("Choose a .zip archive to import."), _(
        "The file is larger than %(mb)s MB; a process archive is far smaller."))
    if not problems:
        try:
            xml, forms = archive.read(upload, max_entry_bytes=IMPORT_MAX_BYTES)
        except archive.ArchiveRefused as exc:
            problems = [ElementProblem(element, message) for element, message in exc.problems]
        else:
            problems = api.validate_definition(bpmn_xml=xml, forms_by_element=forms)
            if not problems:
                response, problems = _deploy_or_problems(request, xml, forms)
                if response is not None:
                    return response
    name = upload.name if upload is not None else ""
    return render(request, "studio/list.html", _list_context(request, problems=list(problems), import_name=name, archive=True),
                  status=400)


# -- comparing versions and moving running cases between them (ADR 0014) --------------------------

def _attribute_words(attribute: str, element_id: str, labels) -> str:
    """A changed spec attribute in plain words (the raw name when there are none)."""
    if attribute == "event_definition":
        return _("the timer") if element_id in labels.timers else _("the event it waits for")
    words = {
        "form": _("the form"),
        "lane": _("the role (lane)"),
        "name": _("the name"), "bpmn_name": _("the name"),
        "cond_task_specs": _("the conditions of its outgoing flows"),
        "default_task_spec": _("the default outgoing flow"),
        "script": _("the script"), "prescript": _("the script before it"), "postscript": _("the script after it"),
        "extensions": _("its Caseflow properties (form, service, clock)"),
        "operation_name": _("the service operation"), "operation_params": _("the service's parameters"),
        "typename": _("the kind of element"),
        "cancel_activity": _("whether it interrupts the task it is attached to"),
        "condition": _("the condition"),
        "cardinality": _("how many times it repeats"), "data_input": _("what it repeats over"),
        "data_output": _("what the repetitions collect"),
    }
    return str(words.get(attribute, attribute))


def _version_numbers(key: str, viewer) -> int:
    latest, _xml = api.definition_xml(key=key, viewer=viewer)
    return latest


def _int_param(request, name: str, default: int | None) -> int | None:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise Http404(_("No such page, or not yours to see.")) from None


def _field_rows(diff, old_labels, new_labels) -> list[dict]:
    """The form fields added, removed and changed, grouped per element (the start form first)."""
    rows: dict[str, dict] = {}

    def row(element):
        return rows.setdefault(element, {
            "element_id": element, "added": [], "removed": [], "changed": [],
            "name": (_("Start form") if element == new_labels.start_event_id else
                     new_labels.names.get(element) or old_labels.names.get(element) or element),
        })

    for element, key in diff.fields_added:
        row(element)["added"].append((key, new_labels.fields.get(element, {}).get(key, key)))
    for element, key in diff.fields_removed:
        row(element)["removed"].append((key, old_labels.fields.get(element, {}).get(key, key)))
    for element, key in diff.fields_changed:
        row(element)["changed"].append((key, new_labels.fields.get(element, {}).get(key, key)))
    return sorted(rows.values(), key=lambda r: (r["element_id"] != new_labels.start_event_id, r["element_id"]))


@require_GET
@admin_only
def diff(request, key: str):
    """Two versions compared: elements added, removed and changed (what changed in words), form fields
    per task, and the newer diagram with the added elements in green and the changed ones in amber."""
    latest = _version_numbers(key, request.user)
    to_version = _int_param(request, "to", latest)
    from_version = _int_param(request, "from", to_version - 1)
    if not (1 <= to_version <= latest) or not (1 <= from_version <= latest):
        raise Http404(_("No such page, or not yours to see."))
    detail = api.definition_version(key=key, version=to_version, viewer=request.user)
    context = {"info": detail.info, "key": key, "versions": list(range(latest, 0, -1)), "from_version": from_version,
               "to_version": to_version, "latest": latest}
    if from_version == to_version:
        return render(request, "studio/diff.html", {**context, "same": True})
    result = api.diff_versions(key=key, old_version=from_version, new_version=to_version, actor=request.user)
    old_labels = api.version_labels(key=key, version=from_version, viewer=request.user)
    new_labels = api.version_labels(key=key, version=to_version, viewer=request.user)
    changed = [{"element_id": c.element_id, "name": c.name or new_labels.names.get(c.element_id, ""),
                "kind": new_labels.kinds.get(c.element_id, ""),
                "what": list(dict.fromkeys(_attribute_words(a, c.element_id, new_labels) for a in c.attributes))}
               for c in result.changed]
    markers = {"cf-added": [c.element_id for c in result.added], "cf-changed": [c.element_id for c in result.changed]}
    return render(request, "studio/diff.html", {
        **context, "diff": result, "changed": changed, "field_rows": _field_rows(result, old_labels, new_labels),
        "markers": markers, "nothing": not (result.added or result.removed or result.changed),
    })


MOVE_MAX = 200  # cases chosen at once


def _chosen(values) -> list[int]:
    ids = []
    for raw in values:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            continue
        if value > 0 and value not in ids:
            ids.append(value)
    return ids[:MOVE_MAX]


def _unnamed(kind: str) -> str:
    """An element without a name, by its kind (a join of parallel branches has no name in most diagrams)."""
    words = {"parallelGateway": _("where parallel branches join or split"), "exclusiveGateway": _("a decision"),
             "inclusiveGateway": _("where branches join or split"), "eventBasedGateway": _("a wait for the first of several events"),
             "intermediateCatchEvent": _("a wait"), "boundaryEvent": _("a timer or event on a task")}
    return str(words.get(kind, ""))


def _landing_rows(preview, target_labels, old_labels) -> list[dict]:
    states = {"ready": _("open task"), "waiting": _("waiting"), "started": _("running"), "error": _("stopped by an error")}
    rows = []
    for landing in preview.landings:
        note = ""
        if landing.new_element in target_labels.timers:
            if landing.rearmed:
                clock = target_labels.clocks.get(landing.new_element, "")
                if clock:
                    note = _("The timer changed: its deadline is computed again under the new version, counted from the case's “%(moment)s”.") % {
                        "moment": target_labels.field_label(clock)}
                else:
                    note = _("The timer changed: its deadline is computed again under the new version, counted from the moment of the move.")
            else:
                note = _("Unchanged timer: it keeps its deadline.")
        elif landing.rearmed:
            note = _("The event changed: it waits anew under the new version.")
        elif landing.state == "ready" and landing.new_element:
            note = _("The open task stays where it is, with its holder and draft.")
        rows.append({"state": states.get(landing.state, landing.state), "old_element": landing.old_element,
                     "old_name": landing.old_name or _unnamed(old_labels.kinds.get(landing.old_element, "")),
                     "new_element": landing.new_element,
                     "new_name": landing.new_name or _unnamed(target_labels.kinds.get(landing.new_element or "", "")), "rearmed": landing.rearmed, "note": note})
    return rows


def _previews(request, key: str, ids: list[int], to_version: int, subjects: dict[int, str]) -> list[dict]:
    target = api.version_labels(key=key, version=to_version, viewer=request.user)
    old_labels: dict[int, object] = {}
    result = []
    for instance_id in ids:
        try:
            preview = api.preview_migration(instance_id=instance_id, to_version=to_version, actor=request.user)
        except NotFound:
            result.append({"instance_id": instance_id, "subject": "", "error": _("There is no such case.")})
            continue
        except CaseflowError as exc:
            result.append({"instance_id": instance_id, "subject": subjects.get(instance_id, ""), "error": str(exc)})
            continue
        if preview.from_version not in old_labels:
            old_labels[preview.from_version] = api.version_labels(key=key, version=preview.from_version, viewer=request.user)
        names = old_labels[preview.from_version].names
        result.append({"instance_id": instance_id, "subject": subjects.get(instance_id, ""), "preview": preview, "landings": _landing_rows(preview, target, old_labels[preview.from_version]),
                       "problems": [{"element_id": e, "name": names.get(e, ""), "why": why} for e, why in preview.problems]})
    return result


@require_http_methods(["GET", "POST"])
@admin_only
def migrate(request, key: str):
    """Running cases on earlier versions: choose some, preview where each token lands (and why a case
    cannot move), then move the safe ones. The move recomputes everything under each case's lock."""
    latest = _version_numbers(key, request.user)
    source = request.POST if request.method == "POST" else request.GET
    try:
        to_version = int(source.get("to") or latest)
    except ValueError:
        raise Http404(_("No such page, or not yours to see.")) from None
    if not 1 <= to_version <= latest:
        raise Http404(_("No such page, or not yours to see."))
    detail = api.definition_version(key=key, version=to_version, viewer=request.user)
    cases, total = api.movable_cases(key=key, to_version=to_version, viewer=request.user)
    subjects = {c.instance_id: c.subject for c in cases}
    moved, refused = [], []
    if request.method == "POST":
        for instance_id in _chosen(request.POST.getlist("case")):
            subject = subjects.get(instance_id, "")
            try:
                api.migrate_instance(instance_id=instance_id, to_version=to_version, actor=request.user)
            except NotFound:
                refused.append({"instance_id": instance_id, "subject": "", "why": _("There is no such case.")})
            except CaseflowError as exc:
                refused.append({"instance_id": instance_id, "subject": subject, "why": str(exc)})
            else:
                moved.append({"instance_id": instance_id, "subject": subject})
        chosen, previews = [], []
        if moved:
            cases, total = api.movable_cases(key=key, to_version=to_version, viewer=request.user)
    else:
        chosen = _chosen(request.GET.getlist("case"))
        previews = _previews(request, key, chosen, to_version, subjects) if chosen else []
    safe = [p["instance_id"] for p in previews if "preview" in p and p["preview"].safe]
    return render(request, "studio/migrate.html", {
        "info": detail.info, "key": key, "to_version": to_version, "latest": latest, "cases": cases, "total": total,
        "chosen": chosen, "previews": previews, "safe": safe, "posted": request.method == "POST", "moved": moved, "refused": refused,
    })
