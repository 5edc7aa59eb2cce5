"""The studio's working copy of a process: what an administrator is editing, before it is deployed."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Draft(models.Model):
    """One process's diagram and forms as the studio last saved them. There is at most one per process
    key: the modeler, the form editor and the test run all work on it, and deploying it makes a new
    immutable version and removes it. `revision` grows with every save, so a stale tab that saves over
    a newer draft is refused instead of silently undoing someone's work."""

    key = models.SlugField(_("process key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    base_version = models.PositiveIntegerField(_("opened from version"), null=True, blank=True,
                                               help_text="None for a process that has never been deployed")
    bpmn_xml = models.TextField(_("BPMN XML"))
    forms = models.JSONField(_("forms"), default=dict, blank=True, help_text="element id -> form-js schema")
    revision = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("process draft")
        verbose_name_plural = _("process drafts")

    def __str__(self):
        return f"{self.key} draft r{self.revision}"
