"""Notifier backends. Each `send(channel=, payload=, key=)` returns a receipt; `key` is the outbox
idempotency key, passed on so a receiver can drop a repeat after a crash between send and commit."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("caseflow.notify")


class BaseNotifier:
    def send(self, *, channel: str, payload: dict, key: str) -> str:
        raise NotImplementedError


class LogNotifier(BaseNotifier):
    """The embedded default: writes each message to the log (no outside systems are configured)."""

    def send(self, *, channel: str, payload: dict, key: str) -> str:
        # The payload may carry a child's case facts: it is not written to logs.
        log.info("notify %s key=%s (%d fields)", channel, key, len(payload))
        return f"log:{key}"


class LocmemNotifier(BaseNotifier):
    """For tests: keeps messages in memory, like Django's locmem e-mail backend."""

    sent: list[dict] = []
    _lock = threading.Lock()

    def send(self, *, channel: str, payload: dict, key: str) -> str:
        with self._lock:
            self.sent.append({"channel": channel, "payload": payload, "key": key})
        return f"locmem:{len(self.sent)}"

    @classmethod
    def reset(cls):
        with cls._lock:
            cls.sent.clear()
