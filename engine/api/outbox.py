"""An administrator's retry of an outside message that did not go out (the portal's
undelivered-messages page). Delivery itself is `engine.api.deliver_outbox` (engine/outbox.py)."""
from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from engine import clock, journal
from engine.api.instances import require_user
from engine.errors import InvalidState, NotFound, NotPermitted
from engine.models import AuditEvent, AuditKind, OutboxMessage, OutboxStatus
from engine.permissions import user_groups
from engine.selectors.outbox import undelivered_condition


def retry_message(*, message_id: int, actor) -> str:
    """Queue one failed or stuck message again, due now, with its attempts counted from zero; answer
    its channel. Only a message still undelivered is queued: a second retry (a double submit, two
    administrators at once) finds it queued and is refused with InvalidState, changing nothing; a
    message being sent right now is refused too. The retry is audited (`message_retried`, on the
    message's case when it has one, with the error it clears) in the same transaction."""
    require_user(actor)
    if "admin" not in user_groups(actor):
        raise NotPermitted(_("Only an administrator may send a message again."))
    now = clock.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().defer("payload").filter(pk=message_id).first()
        if message is None:
            raise NotFound(_("Message %(id)s does not exist.") % {"id": message_id})
        if message.channel.startswith("service:"):
            raise InvalidState(_("This is the call of a service task: retry its case on the incidents page."))
        if not OutboxMessage.objects.filter(undelivered_condition(now), pk=message.pk).exists():
            if message.status == OutboxStatus.SENT:
                raise InvalidState(_("This message was delivered; nothing was done."))
            if message.status == OutboxStatus.SENDING:
                raise InvalidState(_("This message is being sent right now; nothing was done."))
            raise InvalidState(_("This message is already queued to be sent; nothing was done."))
        OutboxMessage.objects.filter(pk=message.pk, status=message.status, attempts=message.attempts).update(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, claim_token="", lease_until=None)
        data = {"message": message.key, "channel": message.channel, "status": message.status, "attempts": message.attempts,
                "error": message.last_error}
        if message.instance_id is not None:
            journal.record_now(message.instance, AuditKind.MESSAGE_RETRIED, actor, data)
        else:
            AuditEvent.objects.create(kind=AuditKind.MESSAGE_RETRIED, actor=actor, actor_name=journal.actor_name(actor), at=now, data=data)
        journal.kick_after_commit()
    return message.channel
