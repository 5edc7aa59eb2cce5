"""Case pages (diagram, timeline, who holds what), starting a process, attachments, sharing."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engine import api, selectors
from engine.errors import CaseflowError, FormInvalid, NotFound

from .access import gate
from .models import Attachment


def _visible_instance(user, instance_id):
    try:
        return selectors.instance_for_user(user, instance_id)
    except NotFound:
        raise Http404(_("No such case, or not yours to see.")) from None


@login_required
def case_page(request, instance_id: int):
    instance = _visible_instance(request.user, instance_id)
    refused = gate(request, instance_id=instance.id, process_key=instance.process_key, village=instance.village, view="case")
    if refused is not None:
        return refused
    earlier = api.submitted_forms(instance_id=instance.id, viewer=request.user)
    tokens = {t for form in earlier for f in form.fields for t in f.files}
    return render(request, "portal/case.html", {
        "instance": instance, "history": list(reversed(instance.history)), "earlier": earlier,
        "summary": api.case_summary(instance_id=instance.id, process_key=instance.process_key, viewer=request.user),
        "attachments": {a.token: a for a in Attachment.objects.filter(token__in=tokens)},
        "sees_people": api.sees_people(request.user),
        "shareable": api.shareable_people(instance_id=instance.id, actor=request.user),
    })


@login_required
def case_diagram(request, instance_id: int):
    instance = _visible_instance(request.user, instance_id)
    # Drawn by the case page's script after the page itself was opened (and logged): the same gate, not logged again.
    if gate(request, instance_id=instance.id, process_key=instance.process_key, village=instance.village, view="diagram", log=False):
        return JsonResponse({"error": _("Give your reason for opening this case first.")}, status=403)
    state = api.diagram_state(instance_id=instance.id, viewer=request.user)
    return JsonResponse({"xml": state.bpmn_xml, "completed": state.completed, "active": state.active, "overdue": state.overdue,
                         "latest": state.latest})


@login_required
@require_POST
def share(request, instance_id: int):
    instance = _visible_instance(request.user, instance_id)
    username = request.POST.get("username", "").strip()
    try:
        api.share_instance(instance_id=instance.id, username=username, actor=request.user)
        names = {p.username: p.label for p in api.shareable_people(instance_id=instance.id, actor=request.user)}
        messages.success(request, _("The case is now shared with %(user)s.") % {"user": names.get(username, username)})
    except CaseflowError as exc:
        messages.error(request, str(exc))
    return redirect("case", instance_id=instance.id)


@login_required
def attachment(request, token: str):
    item = Attachment.objects.filter(token=token).first()
    if item is None:
        raise Http404(_("No such file."))
    instance = _visible_instance(request.user, item.instance_id)
    refused = gate(request, instance_id=instance.id, process_key=instance.process_key, village=instance.village, view="attachment")
    if refused is not None:
        return refused
    # A photo (its type read from its content when it was uploaded: JPEG, PNG, WebP) opens in the
    # browser, so a proof of a visit is seen on a phone without a download; anything else downloads.
    inline = item.content_type in {"image/jpeg", "image/png", "image/webp"}
    return FileResponse(item.file.open("rb"), as_attachment=not inline, filename=item.original_name, content_type=item.content_type)


@login_required
def start_list(request):
    return render(request, "portal/start_list.html", {"processes": api.startable_processes(actor=request.user)})


@login_required
def start_form(request, key: str):
    process = next((p for p in api.startable_processes(actor=request.user) if p.key == key), None)
    if process is None:
        raise Http404(_("You cannot start this process."))
    fields = api.describe_form(process.form, user=request.user)
    values, errors = {}, {}
    if request.method == "POST":
        values = {f.key: (request.POST.getlist(f.key) if f.kind == "checklist" else
                          (f.key in request.POST) if f.kind == "checkbox" else request.POST.get(f.key, "")) for f in fields}
        try:
            info = api.start_instance(process_key=key, data=values, actor=request.user)
        except FormInvalid as exc:
            errors = exc.field_errors
            messages.error(request, _("Please correct the fields marked below."))
        except CaseflowError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Started: %(subject)s") % {"subject": info.subject or info.id})
            mine = [t for t in info.open_tasks if t.id in {x.id for x in selectors.tasks_for_user(request.user)}]
            return redirect("task", task_id=mine[0].id) if mine else redirect("case", instance_id=info.id)
    return render(request, "portal/start_form.html", {"process": process, "fields": fields, "values": values, "errors": errors},
                  status=400 if errors else 200)
