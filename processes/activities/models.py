"""An activity is one session held on one day in one village. Its attendance is either a roster's
members ticked present (an after-school class, a training cohort: person-times are counted from
names) or plain counts for an open event (an awareness session in the square). Rosters hold
children's names, so names are encrypted at rest like every other personal field."""
from __future__ import annotations

import uuid

import pghistory
from django.db import models
from django.utils.translation import gettext_lazy as _, pgettext_lazy  # "activities": words other catalogues translate otherwise

from engine.crypto import EncryptedCharField


class ActivityKind(models.TextChoices):
    AFTER_SCHOOL = "after_school", _("After-school class")
    AWARENESS = "awareness", _("Child-protection awareness session")
    TRAINING = "training", _("Skills training")
    COACHING = "coaching", _("Coaching of a community organisation")
    OTHER = "other", _("Other activity")


class ActivityStatus(models.TextChoices):
    PLANNED = "planned", _("planned")
    RECORDED = "recorded", _("recorded, awaiting review")
    APPROVED = "approved", pgettext_lazy("activities", "approved")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history
class Roster(models.Model):
    """A standing group that meets again and again: the class of one after-school point, a cohort.
    Its workers (its creator, then whoever a supervisor of the village puts on it) run it with the
    village's supervisors: they alone see its members by name (ADR 0041)."""

    village = models.CharField(_("village"), max_length=40, db_index=True)
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=ActivityKind.choices, default=ActivityKind.AFTER_SCHOOL)
    workers = models.ManyToManyField("auth.User", verbose_name=pgettext_lazy("activities", "workers running the group"), blank=True,
                                     related_name="+")
    active = models.BooleanField(pgettext_lazy("activities", "active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("roster")
        verbose_name_plural = _("rosters")
        constraints = [models.UniqueConstraint(fields=["village", "name"], name="activities_roster_unique_name")]

    def __str__(self) -> str:
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history
class RosterMember(models.Model):
    roster = models.ForeignKey(Roster, on_delete=models.PROTECT, related_name="members")
    name = EncryptedCharField(_("name"), max_length=50)  # encrypted at rest: mostly children
    minor = models.BooleanField(_("under 18"), default=True)
    guardian_consent = models.BooleanField(_("guardian's consent recorded"), default=False)
    # The member's household in the needs-matching register, by its number, when the worker links it:
    # the household's page then lists the sessions the member attended. Encrypted like the name.
    household_code = EncryptedCharField(_("household number"), max_length=24, null=True, blank=True)
    active = models.BooleanField(pgettext_lazy("activities", "active"), default=True)
    joined_on = models.DateField(_("joined on"))

    class Meta:
        verbose_name = _("roster member")
        verbose_name_plural = _("roster members")


class Activity(models.Model):
    instance_id = models.BigIntegerField(unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=ActivityKind.choices)
    title = models.CharField(pgettext_lazy("activities", "title"), max_length=80)
    village = models.CharField(_("village"), max_length=40, db_index=True)
    place = models.CharField(_("place"), max_length=80)
    held_on = models.DateField(_("date"), db_index=True)
    facilitator = models.CharField(_("facilitator"), max_length=50)
    partner = models.CharField(_("partner"), max_length=80, blank=True)
    roster = models.ForeignKey(Roster, on_delete=models.PROTECT, null=True, blank=True, related_name="activities")
    status = models.CharField(_("status"), max_length=20, choices=ActivityStatus.choices, default=ActivityStatus.PLANNED)
    participants = models.PositiveIntegerField(_("participants"), default=0)  # person-times of this session
    children = models.PositiveIntegerField(_("of whom children"), default=0)
    recorded_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [models.Index(fields=["village", "held_on"], name="activities_village_date")]


class Attendance(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="attendance")
    member = models.ForeignKey(RosterMember, on_delete=models.PROTECT, related_name="attendance")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "member"], name="activities_attendance_once")]


def new_token() -> str:
    return uuid.uuid4().hex


def _photo_path(instance, filename) -> str:
    return f"activities/photos/{instance.token[:2]}/{instance.token}"


class ActivityPhoto(models.Model):
    """A photo of a session (a few a session), for the report and the station's year. Redrawn without
    its metadata (EXIF GPS) and encrypted at rest by the default storage (ADR 0019); shown to whoever
    may see the session (staff of its village), each view logged. Whoever adds one confirms that the
    people recognisable in it agreed — for a child, the guardian."""

    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to=_photo_path)
    content_type = models.CharField(max_length=20)
    size = models.PositiveIntegerField()
    caption = EncryptedCharField(_("caption"), max_length=100, blank=True)
    uploaded_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The form's one-time token: the same form sent twice (a double tap, a resubmitted page) is one photo.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        verbose_name = _("session photo")
        verbose_name_plural = _("session photos")
