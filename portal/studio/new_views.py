"""Starting a new process in the studio (/studio/new/): the administrator names it (a key and a Chinese
name, optionally an English one) and picks a template; the template becomes the process's first draft
and the modeler opens on it. Nothing is deployed until the administrator deploys the draft."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_http_methods

from engine import api

from . import drafts, process_templates
from .views import admin_only


class NewProcessForm(forms.Form):
    """The page's fields. Every refusal is a sentence next to its field, never a traceback."""

    key = forms.CharField(label=gettext_lazy("Process key"), required=False)
    name = forms.CharField(label=gettext_lazy("Name (Chinese)"), required=False)
    name_en = forms.CharField(label=gettext_lazy("Name in English (optional)"), required=False)
    template = forms.ChoiceField(label=gettext_lazy("Start from"), choices=())
    role = forms.ChoiceField(label=gettext_lazy("Who starts it (the empty template's lane)"), choices=(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(t.name, t.label) for t in process_templates.TEMPLATES.values()]
        self.fields["template"].error_messages["invalid_choice"] = _("Choose one of the templates.")
        self.fields["role"].choices = list(process_templates.lane_roles().items())
        self.fields["role"].error_messages["invalid_choice"] = _("Choose one of the roles.")

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        problem = process_templates.key_problem(key)
        if problem is not None:
            raise forms.ValidationError(problem)
        if api.process_names().get(key) is not None:
            raise forms.ValidationError(_("A process with the key “%(key)s” is already deployed; choose another key.") % {"key": key})
        return key

    def clean_name(self) -> str:
        return _checked_name(self.cleaned_data["name"], required=True)

    def clean_name_en(self) -> str:
        return _checked_name(self.cleaned_data["name_en"], required=False)

    def clean_role(self) -> str:
        return self.cleaned_data.get("role") or "worker"


def _checked_name(value: str, *, required: bool) -> str:
    """A name as people type it: trimmed, one line, not too long (it heads every case of the process)."""
    value = " ".join(value.split())
    if required and not value:
        raise forms.ValidationError(_("Give the process a name."))
    if len(value) > process_templates.NAME_MAX:
        raise forms.ValidationError(_("The name may be at most %(n)d characters long.") % {"n": process_templates.NAME_MAX})
    return value


@require_http_methods(["GET", "POST"])
@admin_only
def new_process(request):
    """GET: the page. POST: the chosen template as the new process's draft, then the modeler on it."""
    if request.method == "GET":
        return _page(request, NewProcessForm(initial={"template": "linear_approval", "role": "worker"}))
    form = NewProcessForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    template = process_templates.TEMPLATES[data["template"]]
    xml, forms_by_element = process_templates.instantiate(template, key=data["key"], name=data["name"], name_en=data["name_en"],
                                                         role=data["role"])
    try:
        with transaction.atomic():
            drafts.create(key=data["key"], name=data["name"], xml=xml, forms=forms_by_element, user=request.user)
    except (ValueError, IntegrityError):
        if not _same_request_again(data["key"], xml, forms_by_element, request.user):
            form.add_error("key", _("A process or draft with the key “%(key)s” already exists; choose another key.") % {"key": data["key"]})
            return _page(request, form, status=400)
    else:
        messages.success(request, _("The draft of “%(name)s” was made from the template “%(template)s”. Nothing is deployed until you deploy it.") % {
            "name": data["name"], "template": template.label})
    return redirect("studio-edit", key=data["key"])


def _same_request_again(key: str, xml: str, forms_by_element: dict, user) -> bool:
    """Whether the draft under `key` is the one this very form made a moment ago (a double click, a
    resent form, two tabs racing): the same person's untouched draft with the same diagram and forms.
    Then the page goes on to it instead of calling the key taken."""
    draft = drafts.find(key)
    return (draft is not None and draft.updated_by_id == user.pk and draft.base_version is None and draft.revision == 1
            and draft.bpmn_xml == xml and draft.forms == forms_by_element)


def _page(request, form: NewProcessForm, status: int = 200):
    return render(request, "studio/new.html", {
        "form": form, "templates": list(process_templates.TEMPLATES.values()),
        "key_max": process_templates.KEY_MAX, "name_max": process_templates.NAME_MAX,
    }, status=status)
