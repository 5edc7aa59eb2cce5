from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = _("Accounts and villages")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry
        from engine.station import Village

        registry.register_option_source("villages", lambda: list(Village.objects.values_list("code", "name")))
        registry.register_option_source("my_villages", my_villages)
        registry.register_option_source("workers", station_workers)


def my_villages(user) -> list[tuple[str, str]]:
    """The villages this user works in — all of them for township-wide staff and for the system —:
    where a form that starts work in one village lets them choose (the start hook refuses the rest)."""
    from engine import registry
    from engine.station import Village

    villages = registry.villages_for(user) if user is not None else None
    query = Village.objects.all() if villages is None else Village.objects.filter(code__in=villages)
    return list(query.values_list("code", "name"))


def station_workers() -> list[tuple[str, str]]:
    """The station's social workers, by name and the villages they work in (a supervisor may give
    work to any of them, e.g. to cover sick leave)."""
    from django.contrib.auth import get_user_model

    people = (get_user_model().objects.filter(is_active=True, groups__name="worker")
              .prefetch_related("staff_profile__villages").order_by("first_name", "username").distinct())
    choices = []
    for person in people:
        profile = getattr(person, "staff_profile", None)
        villages = "、".join(v.name for v in profile.villages.all()) if profile is not None else ""
        name = (person.get_full_name() or person.first_name or person.username).strip()
        choices.append((person.username, f"{name}（{villages}）" if villages else name))
    return choices
