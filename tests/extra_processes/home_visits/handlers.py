from django.conf import settings
from django.utils.translation import gettext as _

from engine import registry
from engine.errors import FormInvalid

from .models import Visit

KEY = "home_visits"

registry.register_option_source("visit_kinds", lambda: [("routine", _("Routine visit")), ("urgent", _("Urgent visit"))])


@registry.on_task_completed(KEY, "Task_Visit")
def record_visit(ctx, data):
    if data["minutes"] > settings.HOME_VISITS["longest_minutes"]:
        raise FormInvalid({"minutes": [_("A visit this long is not plausible.")]})
    Visit.objects.create(instance_id=ctx.instance_id, kind=data["kind"], minutes=data["minutes"])
    ctx.set_subject(f"HV-{ctx.instance_id}")
