"""Outbox delivery with a slow provider: BENCH_OUTBOX_MESSAGES (400) due messages, a provider that
takes BENCH_OUTBOX_SEND_MS (20 ms) per send (a sleep: a gateway's round trip), delivered by 1, 2 and
4 deliverer threads at once (each its own database connection) calling engine.api.deliver_outbox.

Printed per run: wall time, messages per second, and the time spent inside the outbox's own
transactions (the claim of a batch, the record of each result: timed around engine.outbox.claim and
engine.outbox.record) — the longest one and their total — beside the provider's time. Before ADR 0022
every send ran inside its transaction, so the longest transaction was at least one send.

Baseline in the same run: the provider alone, sequentially (messages × send time) — one deliverer
cannot beat it; more deliverers divide it. Checks: every message sent exactly once, no two sends of
one key at the same time.

Run: `.venv/bin/python bench/outbox.py` with DATABASE_URL set (PostgreSQL).
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_OUTBOX_MESSAGES", "400"))
SEND_MS = float(os.environ.get("BENCH_OUTBOX_SEND_MS", "20"))
MODES = [int(n) for n in os.environ.get("BENCH_OUTBOX_DELIVERERS", "1,2,4").split(",")]


class SlowProvider:
    lock = threading.Lock()
    in_flight: set = set()
    sends: list = []
    overlaps: list = []

    def send(self, *, channel, payload, key, done=()):
        with self.lock:
            if key in self.in_flight:
                self.overlaps.append(key)
            self.in_flight.add(key)
            self.sends.append(key)
        time.sleep(SEND_MS / 1000)
        with self.lock:
            self.in_flight.discard(key)
        return "ok"


def timed(function, samples: list):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            samples.append(time.perf_counter() - started)
    return wrapper


def run(deliverers: int) -> dict:
    from engine import api, outbox
    from engine.models import OutboxMessage

    OutboxMessage.objects.all().delete()
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    OutboxMessage.objects.bulk_create([OutboxMessage(key=f"bench:{deliverers}:{i}", channel="notify.reminder", payload={"i": i},
                                                     created_at=now, next_attempt_at=now) for i in range(MESSAGES)])
    SlowProvider.in_flight, SlowProvider.sends, SlowProvider.overlaps = set(), [], []
    claims, records = [], []
    original = outbox.claim, outbox.record
    outbox.claim, outbox.record = timed(outbox.claim, claims), timed(outbox.record, records)
    try:
        def work():
            try:
                while api.deliver_outbox(limit=MESSAGES):
                    pass
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(deliverers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        outbox.claim, outbox.record = original
    sent = OutboxMessage.objects.filter(status="sent").count()
    floor = MESSAGES * SEND_MS / 1000
    return {
        "deliverers": deliverers, "wall_s": round(wall, 3), "messages_per_s": round(MESSAGES / wall, 1),
        "ratio_to_sequential_provider": common.ratio(wall, floor),
        "transaction_ms": {"longest": round(max(claims + records) * 1000, 2), "claim": common.summary_ms([c * 1000 for c in claims]),
                           "record": common.summary_ms([r * 1000 for r in records]),
                           "total_s": round(sum(claims) + sum(records), 3)},
        "provider_total_s": round(len(SlowProvider.sends) * SEND_MS / 1000, 3),
        "sent": sent, "sends": len(SlowProvider.sends), "keys_sent_twice": len(SlowProvider.sends) - len(set(SlowProvider.sends)),
        "overlapping_sends": len(SlowProvider.overlaps),
    }


def main() -> None:
    common.configure()
    common.require_postgres("outbox")
    settings.CASEFLOW_NOTIFIER_BACKEND = f"{__name__}.SlowProvider"  # this module as run (__main__)
    with common.test_database("test_caseflow_bench_outbox"):
        runs = [run(n) for n in MODES]
    result = {"benchmark": "outbox", "messages": MESSAGES, "send_ms": SEND_MS,
              "sequential_provider_s": round(MESSAGES * SEND_MS / 1000, 3), "runs": runs, **common.environment()}
    line = "; ".join(f"{r['deliverers']} deliverer(s): {r['messages_per_s']} msg/s, longest transaction {r['transaction_ms']['longest']} ms "
                     f"(send {SEND_MS:g} ms)" for r in runs)
    common.emit(result, f"outbox: {line}")


if __name__ == "__main__":
    main()
