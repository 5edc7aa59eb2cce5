"""Villages of the township and where each staff member works. Roles are Django groups."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Village(models.Model):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("village")
        verbose_name_plural = _("villages")

    def __str__(self):
        return self.name


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    villages = models.ManyToManyField(Village, blank=True, verbose_name=_("villages"))
    township_wide = models.BooleanField(_("works in every village"), default=False,
                                        help_text=_("Supervisors, the civil-affairs office and administrators work township-wide."))
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self):
        return str(self.user)


def villages_of(user) -> set[str] | None:
    """The scope the engine applies: None = township-wide; a user without a profile sees no village."""
    profile = StaffProfile.objects.filter(user=user).prefetch_related("villages").first()
    if profile is None:
        return set()
    if profile.township_wide:
        return None
    return {v.code for v in profile.villages.all()}
