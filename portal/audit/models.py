"""Row history of the station's user accounts (django-pghistory, PostgreSQL triggers; ADR 0020). The
process packages track their own records (case records, households and members, resources, ledger
entries) where they are declared. Password hashes and login times are not copied into the history.

The triggers are declared on a proxy of django.contrib.auth's User, so that their migration is this
app's (pgtrigger would otherwise write one into Django's own auth app)."""
import pghistory
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 exclude=["password", "last_login"], append_only=True, model_name="UserEvent")
class TrackedUser(User):
    class Meta:
        proxy = True
        verbose_name = _("user")
        verbose_name_plural = _("users")
