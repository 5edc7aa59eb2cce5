"""The year's targets, as data an administrator edits: one number per figure (a process's count
registered with engine.registry.register_figure) for the township, or for one village."""
from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history
class YearTarget(models.Model):
    year = models.PositiveSmallIntegerField(_("year"))
    figure = models.CharField(_("figure"), max_length=64)
    village = models.CharField(_("village"), max_length=40, blank=True, help_text="empty: the whole township")
    target = models.DecimalField(_("target"), max_digits=14, decimal_places=2)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("target of the year")
        verbose_name_plural = _("targets of the year")
        constraints = [
            models.UniqueConstraint(fields=["year", "figure", "village"], name="dashboard_one_target"),
            models.CheckConstraint(condition=models.Q(target__gte=0), name="dashboard_target_not_negative"),
        ]
