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
from django.views.decorators.http import require_GET, require_POST

from engine import api, selectors
from engine.errors import CaseflowError, DefinitionInvalid, ElementProblem, NotFound, NotPermitted

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
    return {"processes": api.process_versions(viewer=request.user), "import_max_mb": _megabytes(IMPORT_MAX_BYTES), **extra}


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
def edit(request, key: str):
    version, xml = api.definition_xml(key=key, viewer=request.user)
    detail = api.definition_version(key=key, version=version, viewer=request.user)
    config = {
        "xml": xml,
        "checkUrl": reverse("studio-check", args=[key]),
        "deployUrl": reverse("studio-deploy", args=[key]),
        "csrf": get_token(request),
        "messages": {
            "loading": _("Loading the diagram…"),
            "unreadable": _("The diagram could not be opened in the modeler: %(error)s"),
            "checking": _("Checking…"),
            "deploying": _("Deploying…"),
            "noProblems": _("No problems: this diagram can be deployed."),
            "noProblemsWarnings": _("No problems: this diagram can be deployed. Warnings to read: %(count)s (below)."),
            "problem": _("One problem: fix the marked element and check again."),
            "problems": _("%(count)s problems: fix the marked elements and check again."),
            "refusedOne": _("Not deployed: one problem. Fix the marked element and try again."),
            "refused": _("Not deployed: %(count)s problems. Fix the marked elements and try again."),
            "deployed": _("Deployed as version %(version)s. New cases start on it; running cases stay on their version."),
            "unchanged": _("Nothing changed: this diagram is already version %(version)s."),
            "failed": _("The server did not answer as expected (%(error)s). Are you still signed in? Nothing was deployed."),
            "confirmDeploy": _("Deploy this diagram as a new version of the process? New cases will start on it; running cases stay on their version."),
            "wholeFile": _("The diagram"),
            "notOnCanvas": _("(not on the canvas)"),
            "openVersion": _("Open the new version"),
            "leave": _("The diagram has changes that were not deployed."),
        },
    }
    return render(request, "studio/edit.html", {"info": detail.info, "config": config})


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


@require_POST
@admin_only
def check(request, key: str):
    api.definition_xml(key=key, viewer=request.user)  # the process exists
    xml = _posted_xml(request)
    if xml is None:
        return _too_large()
    _forms, problems = _check(xml, key)
    return JsonResponse({"ok": not problems, "problems": _problems_json(problems), "warnings": _warnings_of(problems)})


@require_POST
@admin_only
def deploy(request, key: str):
    api.definition_xml(key=key, viewer=request.user)  # the process exists
    xml = _posted_xml(request)
    if xml is None:
        return _too_large()
    forms, problems = _check(xml, key)
    if problems:
        return JsonResponse({"ok": False, "problems": _problems_json(problems)}, status=400)
    try:
        info = api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=request.user)
    except DefinitionInvalid as exc:
        return JsonResponse({"ok": False, "problems": _problems_json(exc.problems)}, status=400)
    except NotPermitted as exc:
        return JsonResponse({"ok": False, "problems": _problems_json([ElementProblem(None, str(exc))])}, status=403)
    except CaseflowError as exc:
        return JsonResponse({"ok": False, "problems": _problems_json([ElementProblem(None, str(exc))])}, status=409)
    return JsonResponse({"ok": True, "created": info.created, "version": info.version, "warnings": _warnings_of(info),
                         "url": reverse("studio-version", args=[info.key, info.version])}, status=201 if info.created else 200)


@require_POST
@admin_only
def import_file(request):
    """An uploaded .bpmn file becomes a new version of its process (with the forms of the elements that
    keep their id), or the page lists why not. Hostile files are refused by the hardened parser."""
    upload = request.FILES.get("file")  # (a large one was spooled to a temporary file, never into memory)
    if upload is None:
        problems = [ElementProblem(None, _("Choose a BPMN file to import."))]
    elif upload.size > IMPORT_MAX_BYTES:
        problems = [ElementProblem(None, _("The file is larger than %(mb)s MB; a BPMN diagram is far smaller.") % {
            "mb": _megabytes(IMPORT_MAX_BYTES)})]
    elif upload.size == 0:
        problems = [ElementProblem(None, _("The file is empty."))]
    else:
        xml = upload.read(IMPORT_MAX_BYTES + 1)
        forms, problems = _check(xml, None)
        if not problems:
            try:
                info = api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=request.user)
            except DefinitionInvalid as exc:
                problems = list(exc.problems)
            except CaseflowError as exc:
                problems = [ElementProblem(None, str(exc))]
            else:
                if info.created:
                    messages.success(request, _("Imported %(name)s as version %(version)d.") % {"name": info.name, "version": info.version})
                else:
                    messages.success(request, _("Nothing changed: this file is already version %(version)d of %(name)s.") % {
                        "name": info.name, "version": info.version})
                for warning in info.warnings:  # shown on the version page, apart from the success
                    messages.warning(request, _("Warning: %(element)s: %(message)s") % {
                        "element": warning.element_id or _("The diagram"), "message": warning.message})
                return redirect("studio-version", key=info.key, version=info.version)
    name = upload.name if upload is not None else ""
    return render(request, "studio/list.html", _list_context(request, problems=problems, import_name=name), status=400)
