"""The child-protection case record. It outlives any process instance (a case is reopened, audited, reported on): the process
drives the procedure around it and its hooks keep it in step. Reporter and child are confidential:
lists show the case number, never the child's name."""
import pghistory
from django.db import models
from django.utils.translation import gettext_lazy as _

from engine.crypto import EncryptedCharField, EncryptedJSONField, EncryptedTextField


class CaseStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")
    CANCELLED = "cancelled", _("cancelled")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history (ADR 0020)
class ChildProtectionCase(models.Model):
    case_no = models.CharField(_("case number"), max_length=32, unique=True)
    instance_id = models.BigIntegerField(_("process instance"), unique=True)
    village = models.CharField(_("village"), max_length=64, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    received_at = models.DateTimeField(_("report received at"))
    channel = models.CharField(_("channel"), max_length=32)
    # Personal: encrypted at rest (ADR 0019). Number, village, status and dates stay in clear for lists.
    reporter = EncryptedJSONField(_("reporter (confidential)"), default=dict, blank=True)
    child = EncryptedJSONField(_("child (confidential)"), default=dict, blank=True)
    situations = EncryptedJSONField(_("reportable situations"), default=list, blank=True)
    present_danger = models.BooleanField(_("present danger"), default=False)
    risk_level = models.CharField(_("risk level"), max_length=16, blank=True)
    police_station = models.CharField(_("police station"), max_length=100, blank=True)
    police_reported_at = models.DateTimeField(_("reported to police at"), null=True, blank=True)
    police_receipt_no = models.CharField(_("police receipt number"), max_length=40, blank=True)
    police_feedback = EncryptedTextField(_("police feedback"), blank=True)
    # The household register's number of the child's household (needs matching), when the responding
    # worker links it: the household's page then shows this case to those who may open it. Encrypted:
    # which family has a child-protection case is itself confidential; null while not linked.
    household_code = EncryptedCharField(_("household number"), max_length=24, null=True, blank=True)
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("child-protection case")
        verbose_name_plural = _("child-protection cases")
        ordering = ["-received_at"]

    def __str__(self):
        return self.case_no
