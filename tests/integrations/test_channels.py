"""Channels (integrations/notifications): routing from outbox channel to targets, e-mail through
Django's mail backends, SMS through the console and the HTTP provider (against a stub server started
here: success, signature, 5xx, timeout), partial failures retried only where they failed, and quiet
hours that hold back a reminder but never a child-protection escalation."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail

from engine import api, clock
from engine.errors import DeliveryDeferred, DeliveryIncomplete
from engine.models import OutboxMessage, OutboxStatus
from integrations.notifications import sms
from integrations.notifications.router import ChannelRouter

SECRET = "stub-secret"
ROUTER = "integrations.notifications.router.ChannelRouter"
UTC = dt.timezone.utc
NIGHT = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # 23:30 station time


class Gateway:
    """A stub SMS gateway on loopback: answers what `mode` says and keeps what it received."""

    def __init__(self):
        self.mode, self.received = "ok", []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append((dict(self.headers), body))
                if gateway.mode == "slow":
                    gateway.release.wait(5)
                status = 503 if gateway.mode == "5xx" else 200
                answer = json.dumps({"id": "gw-1"}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(settings):
    stub = Gateway()
    settings.CASEFLOW_SMS = {"provider": "http", "url": stub.url, "account": "station-1", "key": SECRET, "timeout": 0.3}
    yield stub
    stub.close()


def test_the_http_provider_signs_its_request_and_passes_the_key(gateway):
    receipt = sms.provider().send(to=["13800000001"], text="短信", key="7:abc:sla_breach")
    assert receipt == "gw-1"
    headers, body = gateway.received[0]
    assert headers["Idempotency-Key"] == "7:abc:sla_breach"
    expected = hmac.new(SECRET.encode(), headers["X-Caseflow-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Caseflow-Signature"] == expected
    assert json.loads(body) == {"account": "station-1", "to": ["13800000001"], "text": "短信", "key": "7:abc:sla_breach", "sender": ""}


def test_the_http_provider_names_a_5xx_and_a_timeout(gateway):
    gateway.mode = "5xx"
    with pytest.raises(sms.SmsError, match="HTTP 503"):
        sms.provider().send(to=["1"], text="x", key="k")
    gateway.mode = "slow"
    with pytest.raises(sms.SmsError, match="did not answer within 0.3 s"):
        sms.provider().send(to=["1"], text="x", key="k")


@pytest.mark.django_db
def test_a_failing_gateway_retries_through_the_outbox_and_the_email_is_not_sent_twice(settings, gateway):
    settings.CASEFLOW_NOTIFIER_BACKEND = ROUTER
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CASEFLOW_CHANNEL_ROUTES = {"notify.reminder": [{"backend": "email", "to": ["duty@example.org"]},
                                                            {"backend": "sms", "to": ["13800000001"]}]}
    settings.CASEFLOW_PUBLIC_URL = "https://caseflow.example"
    gateway.mode = "5xx"
    now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    message = OutboxMessage.objects.create(key="42:x:reminder", channel="notify.reminder", payload={"task": "随访"},
                                           created_at=now, next_attempt_at=now)
    with clock.frozen_at(now):
        assert api.deliver_outbox() == 0
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING and message.delivered == ["email"] and "HTTP 503" in message.last_error
    assert len(mail.outbox) == 1 and mail.outbox[0].extra_headers["X-Caseflow-Key"] == "42:x:reminder"
    assert "https://caseflow.example/cases/42/" in mail.outbox[0].body
    gateway.mode = "ok"
    with clock.frozen_at(message.next_attempt_at):
        assert api.deliver_outbox() == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT and len(mail.outbox) == 1 and len(gateway.received) == 2


def test_an_unrouted_channel_goes_to_the_catch_all_and_an_unknown_backend_is_named(settings, caplog):
    settings.CASEFLOW_CHANNEL_ROUTES = {"*": [{"backend": "log"}], "report.gap": [{"backend": "pigeon"}]}
    assert ChannelRouter().send(channel="anything", payload={"a": 1}, key="k1") == "log:k1"
    with pytest.raises(DeliveryIncomplete, match="unknown backend 'pigeon'"):
        ChannelRouter().send(channel="report.gap", payload={}, key="k2")


def test_quiet_hours_hold_back_a_reminder_until_morning(settings):
    settings.CASEFLOW_SMS = {"provider": "console"}
    settings.CASEFLOW_SMS_QUIET_HOURS = "22:00-07:00"
    settings.CASEFLOW_CHANNEL_ROUTES = {"*": [{"backend": "sms", "to": ["13800000001"]}]}
    with time_machine.travel(NIGHT, tick=False):
        with pytest.raises(DeliveryDeferred) as held:
            ChannelRouter().send(channel="notify.reminder", payload={"instance": 3}, key="3:a:reminder")
    assert held.value.until == dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with time_machine.travel(NIGHT.replace(hour=12), tick=False):
        assert ChannelRouter().send(channel="notify.reminder", payload={}, key="3:a:reminder").startswith("console:")


@pytest.mark.parametrize("channel,payload", [
    ("sla.breach", {"process": "micro_fund"}),  # a missed deadline, of any process
    ("partner.police", {}),
    ("partner.civil_affairs", {}),
    ("sla.warning", {"process": "child_protection"}),  # anything of a child-protection case
    ("notify.reminder", {"urgent": True}),
])
def test_quiet_hours_never_delay_an_escalation_or_a_child_protection_message(settings, channel, payload):
    settings.CASEFLOW_SMS = {"provider": "console"}
    settings.CASEFLOW_SMS_QUIET_HOURS = "22:00-07:00"
    settings.CASEFLOW_CHANNEL_ROUTES = {"*": [{"backend": "sms", "to": ["13800000001"]}]}
    with time_machine.travel(NIGHT, tick=False):
        assert ChannelRouter().send(channel=channel, payload=payload, key="9:t:x").startswith("console:")


@pytest.mark.django_db
def test_a_deferred_text_does_not_count_as_an_attempt(settings):
    settings.CASEFLOW_NOTIFIER_BACKEND = ROUTER
    settings.CASEFLOW_SMS = {"provider": "console"}
    settings.CASEFLOW_SMS_QUIET_HOURS = "22:00-07:00"
    settings.CASEFLOW_CHANNEL_ROUTES = {"*": [{"backend": "sms", "to": ["13800000001"]}]}
    with time_machine.travel(NIGHT, tick=False):
        message = OutboxMessage.objects.create(key="5:a:r", channel="notify.reminder", payload={}, created_at=clock.now(),
                                               next_attempt_at=clock.now())
        assert api.deliver_outbox() == 0
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING and message.attempts == 0
    assert message.next_attempt_at == dt.datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 07:00 station time
