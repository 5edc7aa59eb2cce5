"""The children's own records. A child's growth archive (`Child`) outlives every case and group: it
holds what the station knows about the child, encrypted at rest wherever it is about the person
(ADR 0019); cases (`ChildCase`) follow one child through the case-management process; groups
(`Group`) meet in sessions and screen their members before and after with a scale an administrator
maintains (`Scale`). Lists show a child's number, never more than the staff of its village may see."""
from __future__ import annotations

import uuid

import pghistory
from django.db import models
from django.utils.translation import pgettext_lazy

from engine.crypto import EncryptedCharField, EncryptedIntegerField, EncryptedJSONField, EncryptedTextField


class Sex(models.TextChoices):
    MALE = "male", pgettext_lazy("children", "boy")
    FEMALE = "female", pgettext_lazy("children", "girl")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history
class Child(models.Model):
    """A child's growth archive (成长档案)."""

    code = models.CharField(pgettext_lazy("children", "archive number"), max_length=24, unique=True)
    village = models.CharField(pgettext_lazy("children", "village"), max_length=40, db_index=True)
    name = EncryptedCharField(pgettext_lazy("children", "name"), max_length=50)
    sex = models.CharField(pgettext_lazy("children", "sex"), max_length=8, choices=Sex.choices, blank=True)
    birth_date = EncryptedCharField(pgettext_lazy("children", "date of birth"), max_length=10, blank=True)  # ISO date; encrypted
    left_behind = models.BooleanField(pgettext_lazy("children", "left-behind child"), default=False)
    school = EncryptedCharField(pgettext_lazy("children", "school"), max_length=80, blank=True)
    grade = EncryptedCharField(pgettext_lazy("children", "grade"), max_length=20, blank=True)
    guardian_name = EncryptedCharField(pgettext_lazy("children", "guardian"), max_length=50, blank=True)
    guardian_relation = EncryptedCharField(pgettext_lazy("children", "guardian's relation"), max_length=20, blank=True)
    guardian_phone = EncryptedCharField(pgettext_lazy("children", "guardian's phone"), max_length=20, blank=True)
    family_support = EncryptedTextField(pgettext_lazy("children", "family and support"), blank=True)
    health = EncryptedTextField(pgettext_lazy("children", "health"), blank=True)
    disability = EncryptedTextField(pgettext_lazy("children", "disability"), blank=True)
    # The child's household in the needs-matching register, by its number (the person key
    # "household:<number>"): its page then shows this archive's case and groups to those who may open it.
    household_code = EncryptedCharField(pgettext_lazy("children", "household number"), max_length=24, null=True, blank=True)
    consent_group = models.BooleanField(pgettext_lazy("children", "guardian consents to group work"), default=False)
    consent_photo = models.BooleanField(pgettext_lazy("children", "guardian consents to photos"), default=False)
    consent_date = models.DateField(pgettext_lazy("children", "consent given on"), null=True, blank=True)
    active = models.BooleanField(pgettext_lazy("children", "active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = pgettext_lazy("children", "child's archive")
        verbose_name_plural = pgettext_lazy("children", "children's archives")

    def __str__(self) -> str:
        return self.code


def new_token() -> str:
    return uuid.uuid4().hex


def _photo_path(instance, filename) -> str:
    return f"children/photos/{instance.token[:2]}/{instance.token}"  # never the child's name or the file's


class ChildPhoto(models.Model):
    """A photo in the child's growth archive. Added only while the guardian's consent to photos is on
    record; withdrawing it deletes the archive's photos (the page asks first, with their number). The file is the photo redrawn without its metadata (EXIF GPS)
    and encrypted at rest by the default storage (ADR 0019); the caption is encrypted too."""

    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to=_photo_path)
    content_type = models.CharField(max_length=20)
    size = models.PositiveIntegerField()
    caption = EncryptedCharField(pgettext_lazy("children", "caption"), max_length=100, blank=True)
    taken_on = models.DateField(pgettext_lazy("children", "taken on"), null=True, blank=True)
    uploaded_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The form's one-time token: the same form sent twice (a double tap, a resubmitted page) is one photo.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("children", "child's photo")
        verbose_name_plural = pgettext_lazy("children", "children's photos")


class MentalState(models.Model):
    """A dated note on the child's mental state (mood, anxiety, relations), newest first on the page."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="mental_states")
    recorded_on = models.DateField(pgettext_lazy("children", "date"))
    note = EncryptedTextField(pgettext_lazy("children", "mental state"))
    recorded_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The form's one-time token: the same form sent twice (a double tap, a resubmitted page) is one entry.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)


class ContactKind(models.TextChoices):
    LETTER = "letter", pgettext_lazy("children", "quarterly family letter")
    VIDEO = "video", pgettext_lazy("children", "parent video session")
    VISIT_SCHOOL = "visit_school", pgettext_lazy("children", "home visit with the school")
    VISIT_WOMEN = "visit_women", pgettext_lazy("children", "home visit with the women's federation")


JOINT_VISITS = (ContactKind.VISIT_SCHOOL, ContactKind.VISIT_WOMEN)


class FamilyContact(models.Model):
    """Contact with the child's family and the station's partners, per child: the quarterly letter to
    the parents working away, a video session with them, a home visit made together with the school or
    the women's federation. Who took part and what was said are about people: encrypted (ADR 0019)."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="contacts")
    kind = models.CharField(pgettext_lazy("children", "kind"), max_length=16, choices=ContactKind.choices)
    held_on = models.DateField(pgettext_lazy("children", "date"))
    people = EncryptedCharField(pgettext_lazy("children", "by whom / who took part"), max_length=200, blank=True)
    minutes = models.PositiveSmallIntegerField(pgettext_lazy("children", "minutes"), null=True, blank=True)  # video sessions
    partner_org = EncryptedCharField(pgettext_lazy("children", "partner organisation"), max_length=80, blank=True)
    partner_person = EncryptedCharField(pgettext_lazy("children", "partner's person"), max_length=50, blank=True)
    summary = EncryptedTextField(pgettext_lazy("children", "summary"))  # a visit's findings
    follow_up = EncryptedTextField(pgettext_lazy("children", "follow-up agreed"), blank=True)
    recorded_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The form's one-time token: the same form sent twice (a double tap, a resubmitted page) is one record.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("children", "contact with the family")
        verbose_name_plural = pgettext_lazy("children", "contacts with the family")
        indexes = [models.Index(fields=["kind", "held_on"], name="children_contact_kind_date")]


class VisitStatus(models.TextChoices):
    ASKED = "asked", pgettext_lazy("children", "asked, waiting for the partner")
    VISITED = "visited", pgettext_lazy("children", "visited")
    NOT_VISITED = "not_visited", pgettext_lazy("children", "could not visit")
    CANCELLED = "cancelled", pgettext_lazy("children visit", "cancelled")


class JointVisit(models.Model):
    """A joint home visit asked of a partner office (the school's education office, the women's
    federation) as a task of the process `children_joint_visit` (ADR 0031): the office named — its
    group, and only it — records its part; a visit made becomes the child's `FamilyContact` (counted
    in the year's joint visits), one that could not be made keeps the partner's reason here."""

    instance_id = models.BigIntegerField(unique=True)
    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="joint_visits")
    village = models.CharField(pgettext_lazy("children", "village"), max_length=40, db_index=True)
    office = models.CharField(pgettext_lazy("children", "partner office's group"), max_length=80)
    office_label = models.CharField(pgettext_lazy("children", "partner office"), max_length=80)
    kind = models.CharField(pgettext_lazy("children", "kind"), max_length=16, choices=ContactKind.choices)
    planned_on = models.DateField(pgettext_lazy("children", "date agreed"))
    purpose = EncryptedTextField(pgettext_lazy("children", "purpose"))
    asked_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(pgettext_lazy("children", "status"), max_length=16, choices=VisitStatus.choices, default=VisitStatus.ASKED)
    answered_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    contact = models.OneToOneField(FamilyContact, on_delete=models.PROTECT, null=True, blank=True, related_name="joint_visit")
    not_visited_reason = EncryptedTextField(pgettext_lazy("children", "why the visit could not be made"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = pgettext_lazy("children", "joint home visit")
        verbose_name_plural = pgettext_lazy("children", "joint home visits")


class CaseStage(models.TextChoices):
    ASSESSMENT = "assessment", pgettext_lazy("children", "assessment")
    PLAN = "plan", pgettext_lazy("children", "case plan")
    SERVICES = "services", pgettext_lazy("children", "services and follow-up")
    CLOSURE = "closure", pgettext_lazy("children", "closure awaiting approval")
    CLOSED = "closed", pgettext_lazy("children case", "closed")
    CANCELLED = "cancelled", pgettext_lazy("children case", "cancelled")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), append_only=True)  # row history
class ChildCase(models.Model):
    """One individual case of a child. A closed case is never reopened in place: a new case names it
    (`reopened_from`, ADR 00XX). A case opened from a child-protection report names that report's
    instance (`cp_instance_id`)."""

    instance_id = models.BigIntegerField(unique=True)
    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="cases")
    village = models.CharField(pgettext_lazy("children", "village"), max_length=40, db_index=True)
    stage = models.CharField(pgettext_lazy("children", "stage"), max_length=16, choices=CaseStage.choices, default=CaseStage.ASSESSMENT)
    referral = models.CharField(pgettext_lazy("children", "referred by"), max_length=20)
    concerns = EncryptedTextField(pgettext_lazy("children", "concerns at intake"))
    assessment = EncryptedJSONField(pgettext_lazy("children", "assessment"), default=dict, blank=True)
    interventions = EncryptedJSONField(pgettext_lazy("children", "interventions"), default=list, blank=True)
    closure = EncryptedJSONField(pgettext_lazy("children", "closure"), default=dict, blank=True)
    reopened_from = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reopenings")
    cp_instance_id = models.BigIntegerField(pgettext_lazy("children", "child-protection case"), null=True, blank=True)
    opened_on = models.DateField(pgettext_lazy("children", "opened on"))
    closed_on = models.DateField(pgettext_lazy("children", "closed on"), null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("children", "child's case")
        verbose_name_plural = pgettext_lazy("children", "children's cases")


class ServiceRecord(models.Model):
    """One service or follow-up of a case (a visit, counselling, a referral), in the order given."""

    case = models.ForeignKey(ChildCase, on_delete=models.CASCADE, related_name="services")
    held_on = models.DateField(pgettext_lazy("children", "date"))
    kind = models.CharField(pgettext_lazy("children", "kind"), max_length=20)
    note = EncryptedTextField(pgettext_lazy("children", "what was done"))


class Direction(models.TextChoices):
    LOWER_BETTER = "lower_better", pgettext_lazy("children", "a lower score is better")
    HIGHER_BETTER = "higher_better", pgettext_lazy("children", "a higher score is better")


class Scale(models.Model):
    """A screening scale as data an administrator maintains: its range, its cut-off and which way is
    better. A group names the scale it screens with; scores are checked against it."""

    name = models.CharField(pgettext_lazy("children", "name"), max_length=80, unique=True)
    items = models.PositiveSmallIntegerField(pgettext_lazy("children", "number of items"), default=0)
    min_score = models.IntegerField(pgettext_lazy("children", "lowest score"), default=0)
    max_score = models.IntegerField(pgettext_lazy("children", "highest score"))
    cutoff = models.IntegerField(pgettext_lazy("children", "cut-off"), help_text=pgettext_lazy("children", "A score at or beyond the cut-off (on the worse side) needs attention."))
    direction = models.CharField(pgettext_lazy("children", "direction"), max_length=16, choices=Direction.choices, default=Direction.LOWER_BETTER)
    note = models.CharField(pgettext_lazy("children", "note"), max_length=200, blank=True)
    active = models.BooleanField(pgettext_lazy("children", "active"), default=True)

    class Meta:
        verbose_name = pgettext_lazy("children", "screening scale")
        verbose_name_plural = pgettext_lazy("children", "screening scales")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        errors = {}
        if self.max_score is not None and self.min_score is not None and self.max_score <= self.min_score:
            errors["max_score"] = pgettext_lazy("children", "The highest score must be above the lowest.")
        elif self.cutoff is not None and self.max_score is not None and not (self.min_score <= self.cutoff <= self.max_score):
            errors["cutoff"] = pgettext_lazy("children", "The cut-off must lie within the scale's range.")
        if errors:
            raise ValidationError(errors)


class Group(models.Model):
    """A group-work group (小组): a goal, a facilitator, members with their guardian's consent, and the
    workers who run it (its creator, then whoever a supervisor puts on it): they see its members by name."""

    village = models.CharField(pgettext_lazy("children", "village"), max_length=40, db_index=True)
    name = models.CharField(pgettext_lazy("children", "name"), max_length=60)
    goal = models.CharField(pgettext_lazy("children", "goal"), max_length=200)
    facilitator = models.CharField(pgettext_lazy("children", "facilitator"), max_length=50)
    scale = models.ForeignKey(Scale, on_delete=models.PROTECT, null=True, blank=True, related_name="groups")
    workers = models.ManyToManyField("auth.User", verbose_name=pgettext_lazy("children", "workers running the group"), blank=True,
                                     related_name="+")
    active = models.BooleanField(pgettext_lazy("children", "active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = pgettext_lazy("children", "group")
        verbose_name_plural = pgettext_lazy("children", "groups")
        constraints = [models.UniqueConstraint(fields=["village", "name"], name="children_group_unique_name")]

    def __str__(self) -> str:
        return self.name


class GroupMember(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="memberships")
    joined_on = models.DateField(pgettext_lazy("children", "joined on"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "child"], name="children_member_once")]


class GroupSession(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="sessions")
    number = models.PositiveSmallIntegerField(pgettext_lazy("children", "session"))
    held_on = models.DateField(pgettext_lazy("children", "date"))
    content = EncryptedTextField(pgettext_lazy("children", "content"))
    observations = EncryptedTextField(pgettext_lazy("children", "observations"), blank=True)
    present = models.ManyToManyField(Child, related_name="sessions_attended", blank=True)
    recorded_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, null=True, related_name="+")
    # The form's one-time token: the same form sent twice (a double tap, a resubmitted page) is one session.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "number"], name="children_session_number")]


class Phase(models.TextChoices):
    PRE = "pre", pgettext_lazy("children", "before the group")
    POST = "post", pgettext_lazy("children", "after the group")


class Screening(models.Model):
    """A member's score on the group's scale, once before and once after (entering again replaces it)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="screenings")
    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="screenings")
    scale = models.ForeignKey(Scale, on_delete=models.PROTECT, related_name="screenings")
    phase = models.CharField(pgettext_lazy("children", "phase"), max_length=4, choices=Phase.choices)
    score = EncryptedIntegerField(pgettext_lazy("children", "score"))  # a mental-health screening: sensitive, encrypted
    screened_on = models.DateField(pgettext_lazy("children", "date"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "child", "phase"], name="children_screening_once")]
