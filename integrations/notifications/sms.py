"""SMS through a small provider interface: `ConsoleSmsProvider` for development (writes to the log)
and `HttpSmsProvider`, the shape of a real gateway (a signed JSON POST with a timeout). The provider
is chosen by CASEFLOW_SMS["provider"]; quiet hours hold back non-urgent texts (never a child-protection
message or a missed deadline) until the morning."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import socket
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from engine.errors import DeliveryDeferred

log = logging.getLogger("caseflow.notify")

PROVIDERS = {
    "console": "integrations.notifications.sms.ConsoleSmsProvider",
    "http": "integrations.notifications.sms.HttpSmsProvider",
}


class SmsError(Exception):
    """The provider did not take the text (refused, failed, timed out); the outbox retries."""


class SmsProvider:
    def send(self, *, to: list[str], text: str, key: str) -> str:
        """Send `text` to each number; answer the provider's receipt. `key` is the idempotency key."""
        raise NotImplementedError


class ConsoleSmsProvider(SmsProvider):
    """Development: the text goes to the log with the last four digits of each number."""

    def send(self, *, to: list[str], text: str, key: str) -> str:
        log.info("sms key=%s to=%s\n%s", key, ",".join("…" + number[-4:] for number in to), text)
        return f"console:{key}"


class HttpSmsProvider(SmsProvider):
    """A gateway reached by HTTPS: POST JSON `{account, to, text, key, sender}` to `url` with the headers
    `X-Caseflow-Timestamp` and `X-Caseflow-Signature` (hex HMAC-SHA256 of `<timestamp>.<body>` with the
    account's key) and `Idempotency-Key`; a 2xx answer's JSON `id` is the receipt. A timeout, a
    connection failure or any other status is an `SmsError` naming it (never the text or the numbers)."""

    def __init__(self, *, url: str, account: str, key: str, timeout: float = 5.0, sender: str = ""):
        if not url or not account or not key:
            raise SmsError("the HTTP SMS provider needs CASEFLOW_SMS_URL, CASEFLOW_SMS_ACCOUNT and CASEFLOW_SMS_KEY")
        self.url, self.account, self.secret, self.timeout, self.sender = url, account, key, float(timeout), sender

    def send(self, *, to: list[str], text: str, key: str) -> str:
        body = json.dumps({"account": self.account, "to": to, "text": text, "key": key, "sender": self.sender},
                          ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        signature = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key,
            "X-Caseflow-Timestamp": timestamp, "X-Caseflow-Signature": signature})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the URL is the operator's setting
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            raise SmsError(f"the SMS gateway answered HTTP {exc.code}") from None
        except (TimeoutError, socket.timeout):
            raise SmsError(f"the SMS gateway did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise SmsError(f"the SMS gateway did not answer within {self.timeout:g} s") from None
            raise SmsError(f"the SMS gateway could not be reached: {exc.reason}") from None
        try:
            return str(json.loads(answer or b"{}").get("id") or f"http:{key}")
        except (ValueError, AttributeError):
            return f"http:{key}"


def provider() -> SmsProvider:
    config = dict(getattr(settings, "CASEFLOW_SMS", {}))
    name = config.pop("provider", "console")
    cls = import_string(PROVIDERS.get(name, name))
    return cls(**config) if cls is HttpSmsProvider else cls()


def parse_quiet_hours(text: str) -> tuple[dt.time, dt.time] | None:
    """'22:00-07:00' → (22:00, 07:00); empty → None (no quiet hours)."""
    if not text:
        return None
    start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-", 1))
    return start, end


def quiet_until(now: dt.datetime, quiet: tuple[dt.time, dt.time] | None) -> dt.datetime | None:
    """When the quiet hours that `now` (aware) falls in end, in UTC; None outside them. Local time is TIME_ZONE."""
    if quiet is None:
        return None
    start, end = quiet
    local = timezone.localtime(now)
    at = local.time()
    inside = (start <= at < end) if start < end else (at >= start or at < end)
    if not inside:
        return None
    day = local.date() if at < end else local.date() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, end), local.tzinfo).astimezone(dt.timezone.utc)


def hold_for_quiet_hours(urgent: bool) -> None:
    """Raise DeliveryDeferred for a non-urgent text in quiet hours. Urgent texts always go."""
    if urgent:
        return
    until = quiet_until(timezone.now(), parse_quiet_hours(getattr(settings, "CASEFLOW_SMS_QUIET_HOURS", "")))
    if until is not None:
        raise DeliveryDeferred("quiet hours: the text goes out when they end", until=until)
