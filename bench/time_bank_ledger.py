"""The time bank's ledger movement (lock the account, sum its entries, check, append) on an account with
few and with many entries, beside the bare durable transaction that appends one row (the baseline,
measured in the same run).

Prints one JSON object: median milliseconds of a redemption on an account of `BENCH_FEW` (10) and of
`BENCH_MANY` (5,000) entries, the bare insert, and the ratios. Run:
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/caseflow SECRET_KEY=x CASEFLOW_ENCRYPTION_KEYS=... python bench/time_bank_ledger.py`
(it creates and drops its own database)."""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

FEW = int(os.environ.get("BENCH_FEW", "10"))
MANY = int(os.environ.get("BENCH_MANY", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from processes.time_bank import ledger
    from processes.time_bank.models import LedgerEntry, Member, ServiceSession

    setup_test_environment()
    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = os.environ.get("BENCH_TIME_BANK_DB", "test_caseflow_bench_time_bank")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        user = get_user_model().objects.create(username="bench")
        now = timezone.now()

        def member(entries: int) -> tuple[Member, ServiceSession]:
            m = Member.objects.create(village="dongshan", kind="elder", name="老人", birth_year=1940, status="approved",
                                      registered_by=user, registered_at=now)
            account = ledger.account_of(m)
            LedgerEntry.objects.bulk_create(LedgerEntry(account=account, kind="deposit", hours=Decimal("1"), balance_after=Decimal(i + 1),
                                                        at=now - dt.timedelta(minutes=entries - i)) for i in range(entries))
            session = ServiceSession.objects.create(instance_id=m.pk, village="dongshan", elder=m, item="company", requested_by="elder",
                                                    created_at=now)
            return m, session

        def redemptions(m, session) -> list[float]:
            times = []
            account = ledger.account_of(m)
            for _ in range(ROUNDS):
                started = time.perf_counter()
                ledger.redeem(account, Decimal("0.01"), session=session, actor=user)
                times.append(time.perf_counter() - started)
            return times

        def bare_inserts(m) -> list[float]:
            times = []
            account = ledger.account_of(m)
            for _ in range(ROUNDS):
                started = time.perf_counter()
                with transaction.atomic():
                    LedgerEntry.objects.create(account=account, kind="deposit", hours=Decimal("0.01"), balance_after=Decimal("1"), at=now)
                times.append(time.perf_counter() - started)
            return times

        few, many = member(FEW), member(MANY)
        bare = statistics.median(bare_inserts(member(1)[0])) * 1000
        few_ms = statistics.median(redemptions(*few)) * 1000
        many_ms = statistics.median(redemptions(*many)) * 1000
        print(json.dumps({
            "rounds": ROUNDS, "bare_insert_ms": round(bare, 2),
            f"redeem_{FEW}_entries_ms": round(few_ms, 2), f"redeem_{MANY}_entries_ms": round(many_ms, 2),
            "ratio_few_to_bare": round(few_ms / bare, 2), "ratio_many_to_few": round(many_ms / few_ms, 2),
        }))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
