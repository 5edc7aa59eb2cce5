"""The station every layer works with: its villages, where each member of staff works (the scope
the engine applies to every task and case), and the log of who read which case (minors' data: every
read of a child's file is recorded — PIPL art. 28, 未成年人网络保护条例). Public: the portal and the
process packages import these, never the engine's other models."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Village(models.Model):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["position", "code"]
        db_table = "accounts_village"  # the table kept its name when the model moved from the portal
        verbose_name = _("village")
        verbose_name_plural = _("villages")

    def __str__(self):
        return self.name


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    villages = models.ManyToManyField(Village, blank=True, verbose_name=_("villages"), db_table="accounts_staffprofile_villages")
    township_wide = models.BooleanField(_("works in every village"), default=False,
                                        help_text=_("Supervisors, the civil-affairs office and administrators work township-wide."))
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)

    class Meta:
        db_table = "accounts_staffprofile"
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self):
        return str(self.user)


def villages_of(user) -> set[str] | None:
    """The scope the engine applies: None = township-wide; a user without a profile sees no village."""
    return identity(user)[1]


def identity(user) -> tuple[set[str], set[str] | None]:
    """(roles, villages) of a user in one query: the groups it belongs to, and the villages it works
    in (None: the whole township; empty: no profile, no village)."""
    from django.contrib.auth import get_user_model

    rows = get_user_model().objects.filter(pk=user.pk).values_list(
        "groups__name", "staff_profile__id", "staff_profile__township_wide", "staff_profile__villages__code")
    groups, villages, has_profile, township_wide = set(), set(), False, False
    for group, profile_id, wide, village in rows:
        if group:
            groups.add(group)
        if profile_id is not None:
            has_profile, township_wide = True, bool(wide)
        if village:
            villages.add(village)
    if not has_profile:
        return groups, set()
    return groups, None if township_wide else villages


class AccessLog(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    instance_id = models.BigIntegerField(db_index=True)
    process_key = models.CharField(max_length=64)
    view = models.CharField(max_length=32)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "cases_accesslog"
        ordering = ["-at"]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log entries")

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The access log is append-only.")
        super().save(*args, **kwargs)
