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


class TestRun(models.Model):
    """An administrator's test run of a draft (ADR 0016): the draft's diagram and forms as they were when
    the run started (the run keeps testing that version; a later save of the draft is only flagged), and
    the engine's state of the run — workflow, sandbox clock, log — as `engine.api` hands it back. One
    per administrator and draft; deploying or discarding the draft removes it with the draft."""

    __test__ = False  # not a pytest class, whatever a test module imports

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="test_runs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    draft_revision = models.PositiveIntegerField(help_text="the draft's revision the run started from")
    bpmn_xml = models.TextField()
    forms = models.JSONField(default=dict, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="engine.api's SandboxState.stored")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("test run")
        verbose_name_plural = _("test runs")
        constraints = [models.UniqueConstraint(fields=["draft", "user"], name="studio_testrun_one_per_admin_and_draft")]

    def __str__(self):
        return f"test run of {self.draft_id} by {self.user_id}"
