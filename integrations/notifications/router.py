"""The default notifier backend: routes each outbox channel to the targets named in settings.

    CASEFLOW_CHANNEL_ROUTES = {
        "sla.breach": [{"backend": "sms", "to": ["+8613800000000"]}, {"backend": "email", "to": ["duty@example.org"]}],
        "*": [{"backend": "log"}],           # every channel not named
    }

Targets: `log` (the log, no payload), `email` (Django's EMAIL_BACKEND), `sms` (the CASEFLOW_SMS provider).
Recipients are the target's `to` plus the payload's `email_to` / `sms_to`. A target may have a `name`
(default: its backend) when a route has two of one kind. In-portal notices are not routed here: the
step that makes them writes them itself (portal/notifications), in its own transaction.

A message goes to every target of its route; the ones that took it are named in `done`, so a retry after
a partial failure (the SMS gateway down, the e-mail sent) sends only to the rest."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage

from engine.errors import DeliveryDeferred, DeliveryIncomplete
from integrations.notifications import sms
from integrations.notifications.backends import BaseNotifier
from integrations.notifications.messages import Message, render

log = logging.getLogger("caseflow.notify")


class RouteError(Exception):
    """A route names a backend that does not exist or a target without recipients."""


def routes() -> dict:
    return getattr(settings, "CASEFLOW_CHANNEL_ROUTES", {}) or {"*": [{"backend": "log"}]}


def route_for(channel: str) -> list[dict]:
    table = routes()
    return list(table.get(channel, table.get("*", [])))


def _log_target(target: dict, channel: str, payload: dict, key: str, message: Message) -> str:
    log.info("notify %s key=%s (%d fields)", channel, key, len(payload))  # never the payload
    return f"log:{key}"


def _email_target(target: dict, channel: str, payload: dict, key: str, message: Message) -> str:
    to = list(target.get("to", [])) + list(payload.get("email_to", []))
    if not to:
        raise RouteError(f"no e-mail recipient for {channel}")
    # The key as Message-ID: a mail system that sees the same message twice can tell.
    safe = "".join(c if c.isalnum() or c in ".-_" else "-" for c in key)
    email = EmailMessage(subject=message.subject, body=message.text, to=to,
                         from_email=settings.DEFAULT_FROM_EMAIL,
                         headers={"Message-ID": f"<{safe}@caseflow>", "X-Caseflow-Key": key})
    email.send(fail_silently=False)
    return f"email:{len(to)}"


def _sms_target(target: dict, channel: str, payload: dict, key: str, message: Message) -> str:
    to = list(target.get("to", [])) + list(payload.get("sms_to", []))
    if not to:
        raise RouteError(f"no SMS recipient for {channel}")
    sms.hold_for_quiet_hours(message.urgent)
    return sms.provider().send(to=to, text=message.text, key=key)


TARGETS = {"log": _log_target, "email": _email_target, "sms": _sms_target}


class ChannelRouter(BaseNotifier):
    def send(self, *, channel: str, payload: dict, key: str, done: tuple[str, ...] = ()) -> str:
        message = render(channel, payload, key)
        finished, receipts, errors, later = list(done), [], [], None
        for target in route_for(channel):
            name = target.get("name") or target.get("backend", "")
            if name in finished:
                continue
            handler = TARGETS.get(target.get("backend", ""))
            try:
                if handler is None:
                    raise RouteError(f"unknown backend {target.get('backend')!r} in CASEFLOW_CHANNEL_ROUTES")
                receipts.append(handler(target, channel, payload, key, message))
                finished.append(name)
            except DeliveryDeferred as exc:
                later = exc.until if later is None else min(later, exc.until)
            except Exception as exc:  # noqa: BLE001 - one target's failure must not stop the others
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        if errors:
            raise DeliveryIncomplete("; ".join(errors), done=tuple(finished))
        if later is not None:
            raise DeliveryDeferred("quiet hours: the text goes out when they end", until=later, done=tuple(finished))
        return "; ".join(receipts)
