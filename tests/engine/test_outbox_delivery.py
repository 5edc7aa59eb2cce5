"""The outbox out of the lock (ADR 0022): claim with a lease in a short transaction, send with no
transaction open, record guarded by the claim token; back-off with jitter, `failed` after the last
attempt, a crash between send and record re-sends once with the same key, two deliverers never send
one message at the same time, and a slow provider blocks neither a step nor a sweep."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from engine import api, clock, journal, outbox
from engine.jobs import kick_outbox
from engine.models import AuditEvent, OutboxMessage, OutboxStatus
from tests.processes.child_protection.flows import FORMS, complete, start_case
from tests.threads import race

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
BACKEND = "tests.engine.test_outbox_delivery."


def queue(n=1, channel="notify.reminder", at=T0) -> list[OutboxMessage]:
    return [OutboxMessage.objects.create(key=f"t:{at.timestamp()}:{i}", channel=channel, payload={"n": i}, created_at=at, next_attempt_at=at)
            for i in range(n)]


class FailingNotifier:
    calls: list[str] = []

    def send(self, *, channel, payload, key, done=()):
        FailingNotifier.calls.append(key)
        raise ConnectionError("gateway down")


class RecordingNotifier:
    """Counts sends per key and notices two sends of one key at the same moment."""

    lock = threading.Lock()
    in_flight: set[str] = set()
    sends: list[str] = []
    overlaps: list[str] = []
    pause = threading.Event()

    def send(self, *, channel, payload, key, done=()):
        with self.lock:
            if key in self.in_flight:
                self.overlaps.append(key)
            self.in_flight.add(key)
            self.sends.append(key)
        self.pause.wait(0.005)  # overlap the racing deliverers a little
        with self.lock:
            self.in_flight.discard(key)
        return f"rec:{key}"

    @classmethod
    def reset(cls):
        cls.in_flight, cls.sends, cls.overlaps = set(), [], []


class HeldNotifier:
    """A slow provider: it waits, in the deliverer's thread, until the test lets it go, and notes
    whether its thread had a transaction open meanwhile."""

    entered = threading.Event()
    release = threading.Event()
    seen: dict = {}

    def send(self, *, channel, payload, key, done=()):
        HeldNotifier.seen[key] = {"in_atomic_block": connection.in_atomic_block}
        HeldNotifier.entered.set()
        if not HeldNotifier.release.wait(60):
            raise TimeoutError("the test never released the provider")
        return f"held:{key}"


@pytest.fixture
def no_kick():
    """Delivery only when the test calls it (the after-commit kick would deliver in the test's thread)."""
    journal.set_outbox_kicker(None)
    yield
    journal.set_outbox_kicker(kick_outbox)


@pytest.mark.django_db
def test_failing_provider_backs_off_with_jitter_then_fails_and_admins_can_retry(settings, users, client, django_capture_on_commit_callbacks):
    settings.CASEFLOW_NOTIFIER_BACKEND = BACKEND + "FailingNotifier"
    settings.CASEFLOW_OUTBOX = {"max_attempts": 4, "backoff_seconds": 30}
    (message,) = queue()
    now = T0
    for attempt in range(1, 5):
        with clock.frozen_at(now):
            assert api.deliver_outbox() == 0
            with clock.frozen_at(now + dt.timedelta(seconds=1)):
                assert api.deliver_outbox() == 0  # not due again before its back-off
        message.refresh_from_db()
        assert message.attempts == attempt and message.last_error == "ConnectionError: gateway down"
        assert message.claim_token == "" and message.lease_until is None
        if attempt < 4:
            assert message.status == OutboxStatus.PENDING
            full = 30 * 2 ** (attempt - 1)  # doubling, with half of it random
            assert now + dt.timedelta(seconds=full / 2) <= message.next_attempt_at <= now + dt.timedelta(seconds=full)
            now = message.next_attempt_at
        else:
            assert message.status == OutboxStatus.FAILED
    with clock.frozen_at(now + dt.timedelta(days=30)):
        assert api.deliver_outbox() == 0
    assert len(FailingNotifier.calls) == 4
    FailingNotifier.calls.clear()

    # The administrator sees it, with the error, and queues it once; a double submit changes nothing.
    client.force_login(users["admin"])
    page = client.get("/studio/incidents/messages/")
    assert page.status_code == 200 and "gateway down" in page.content.decode() and "notify.reminder" in page.content.decode()
    settings.CASEFLOW_NOTIFIER_BACKEND = "integrations.notifications.backends.LocmemNotifier"
    with clock.frozen_at(now + dt.timedelta(days=31)), django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"/studio/incidents/messages/{message.pk}/retry/", follow=True)
        second = client.post(f"/studio/incidents/messages/{message.pk}/retry/", follow=True)
    assert first.status_code == second.status_code == 200
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT and message.attempts == 1  # the kick after the retry delivered it
    assert "已送达" in second.content.decode()  # "This message was delivered; nothing was done."
    retried = AuditEvent.objects.filter(kind="message_retried")
    assert retried.count() == 1 and retried.get().data["error"] == "ConnectionError: gateway down" and retried.get().actor == users["admin"]
    assert "notify.reminder" not in client.get("/studio/incidents/messages/").content.decode()


@pytest.mark.django_db
def test_only_administrators_see_or_retry_undelivered_messages(settings, users, client):
    settings.CASEFLOW_NOTIFIER_BACKEND = BACKEND + "FailingNotifier"
    (message,) = queue()
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxStatus.FAILED, attempts=8, last_error="boom")
    for name in ("intake", "worker", "supervisor", "civil", "outsider"):
        client.force_login(users[name])
        assert client.get("/studio/incidents/messages/").status_code == 403
        assert client.post(f"/studio/incidents/messages/{message.pk}/retry/").status_code == 403
    message.refresh_from_db()
    assert message.status == OutboxStatus.FAILED and not AuditEvent.objects.filter(kind="message_retried").exists()
    FailingNotifier.calls.clear()


@pytest.mark.django_db
def test_a_crash_between_send_and_record_resends_once_with_the_same_key(settings, sent):
    settings.CASEFLOW_OUTBOX = {"lease_seconds": 300}
    (message,) = queue()
    backend = outbox.notifier()
    with clock.frozen_at(T0):
        (claimed,) = outbox.claim(10)
        outbox.send(backend, claimed)  # ... and the deliverer dies before recording it
        assert api.deliver_outbox() == 0  # its lease still holds: nobody sends it meanwhile
    with clock.frozen_at(T0 + dt.timedelta(seconds=301)):
        assert api.deliver_outbox() == 1  # the lease ran out: claimed again and sent again
        assert api.deliver_outbox() == 0
        # The dead deliverer's late record (had it woken up) is refused: the claim is not its own any more.
        assert outbox.record(claimed, outbox.Outcome("sent", receipt="late")) is False
    assert [m["key"] for m in sent] == [message.key, message.key]
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT and message.attempts == 2 and message.receipt != "late"


@pytest.mark.django_db
def test_a_deliverer_that_keeps_dying_on_the_last_attempt_leaves_a_failed_message(settings, sent):
    settings.CASEFLOW_OUTBOX = {"lease_seconds": 60, "max_attempts": 1}
    (message,) = queue()
    with clock.frozen_at(T0):
        outbox.claim(10)  # claimed, never recorded
    with clock.frozen_at(T0 + dt.timedelta(seconds=61)):
        assert api.deliver_outbox() == 0
    message.refresh_from_db()
    assert message.status == OutboxStatus.FAILED and "lease ran out" in message.last_error and sent == []


@pytest.mark.django_db
def test_a_claim_is_not_sent_after_its_lease_is_nearly_spent(settings, sent):
    settings.CASEFLOW_OUTBOX = {"lease_seconds": 120, "send_seconds": 60}
    messages = queue(2)
    with clock.frozen_at(T0):
        claimed = outbox.claim(10)
    with clock.frozen_at(T0 + dt.timedelta(seconds=61)):  # as if earlier sends of the batch took a minute
        outbox.release(claimed)
    for message in messages:
        message.refresh_from_db()
        assert message.status == OutboxStatus.PENDING and message.attempts == 0 and message.claim_token == ""
    with clock.frozen_at(T0 + dt.timedelta(seconds=62)):
        assert api.deliver_outbox() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # threads: each deliverer has its own connection
def test_two_deliverers_never_send_one_message_at_the_same_time(settings, no_kick):
    settings.CASEFLOW_NOTIFIER_BACKEND = BACKEND + "RecordingNotifier"
    settings.CASEFLOW_OUTBOX = {"batch": 3}
    RecordingNotifier.reset()
    messages = queue(40)
    with clock.frozen_at(T0):
        outcomes = race(4, lambda i: api.deliver_outbox(limit=100))
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert sum(result for _, result in outcomes) == 40
    assert RecordingNotifier.overlaps == []
    assert sorted(RecordingNotifier.sends) == sorted(m.key for m in messages)  # each exactly once (nobody crashed)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # threads: the deliverer and the step run on two connections
def test_a_slow_provider_blocks_neither_a_step_nor_a_sweep_on_the_same_case(settings, deployed, users, no_kick):
    settings.CASEFLOW_NOTIFIER_BACKEND = BACKEND + "HeldNotifier"
    HeldNotifier.entered.clear(), HeldNotifier.release.clear(), HeldNotifier.seen.clear()
    instance_id = start_case(users)
    complete(users, instance_id, "Task_Intake")  # queues the police and civil-affairs notices
    assert OutboxMessage.objects.filter(instance_id=instance_id).count() == 2

    delivered = []
    deliverer = threading.Thread(target=lambda: (delivered.append(api.deliver_outbox(limit=1)), connection.close()))
    deliverer.start()
    try:
        assert HeldNotifier.entered.wait(60), "the deliverer never reached the provider"
        # While the provider holds the send: no transaction is open anywhere in this database...
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                           "AND state LIKE 'idle in transaction%%'")
            assert cursor.fetchone()[0] == 0
        # ... and the same case takes a step and a sweep.
        outcome = complete(users, instance_id, "Task_PoliceReceipt", FORMS["Task_PoliceReceipt"])
        assert outcome.status == "running"
        sweep = api.fire_due_timers(as_of=clock.now() + dt.timedelta(hours=25))
        assert sweep.timers_fired >= 1 and sweep.conflicts == 0
        assert deliverer.is_alive()  # all of that happened while the provider was still sending
    finally:
        HeldNotifier.release.set()
        deliverer.join(60)
    assert delivered == [1]
    assert [seen["in_atomic_block"] for seen in HeldNotifier.seen.values()] == [False]
    assert OutboxMessage.objects.filter(channel="sla.breach", instance_id=instance_id).exists()


@pytest.mark.django_db(transaction=True)  # the sweeper thread has its own connection
def test_the_embedded_server_delivers_in_its_sweeper_thread_when_kicked_not_in_the_request(sent):
    import time

    from engine.management.commands.serve import sweep_forever

    (message,) = queue(at=clock.now())
    stop, kicked = threading.Event(), threading.Event()
    sweeper = threading.Thread(target=lambda: (sweep_forever(3600, stop, kicked), connection.close()), daemon=True)
    sweeper.start()
    try:
        kicked.set()  # what the kicker `serve` installs does after a step's commit
        deadline = time.monotonic() + 30
        while OutboxMessage.objects.get(pk=message.pk).status != OutboxStatus.SENT and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set(), kicked.set()
        sweeper.join(30)
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.SENT
    assert [m["key"] for m in sent] == [message.key]
