"""Notifier backends: what engine.outbox hands each message to. `send(channel=, payload=, key=,
done=())` returns a receipt or raises; `key` is the outbox idempotency key, passed on so a receiver
can drop a repeat after a crash between send and commit; `done` names the route's targets that took
the message on an earlier attempt (see integrations.notifications.router). The default backend is the
router; these two stand alone."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("caseflow.notify")


class BaseNotifier:
    def send(self, *, channel: str, payload: dict, key: str, done: tuple[str, ...] = ()) -> str:
        raise NotImplementedError


class LogNotifier(BaseNotifier):
    """Writes each message to the log (no outside systems are configured)."""

    def send(self, *, channel: str, payload: dict, key: str, done: tuple[str, ...] = ()) -> str:
        # The payload may carry a child's case facts: it is not written to logs.
        log.info("notify %s key=%s (%d fields)", channel, key, len(payload))
        return f"log:{key}"


class LocmemNotifier(BaseNotifier):
    """For tests: keeps messages in memory, like Django's locmem e-mail backend."""

    sent: list[dict] = []
    _lock = threading.Lock()

    def send(self, *, channel: str, payload: dict, key: str, done: tuple[str, ...] = ()) -> str:
        with self._lock:
            self.sent.append({"channel": channel, "payload": payload, "key": key})
        return f"locmem:{len(self.sent)}"

    @classmethod
    def reset(cls):
        with cls._lock:
            cls.sent.clear()
