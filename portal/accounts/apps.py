from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = _("Accounts and villages")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        from .models import Village, villages_of

        registry.register_scope(villages_of)
        registry.register_option_source("villages", lambda: list(Village.objects.values_list("code", "name")))
