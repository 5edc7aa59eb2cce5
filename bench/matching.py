"""Needs -> resources matching at township scale: 10,000 households and 500 resources.

Prints one JSON object: load time of households with members (the baseline, measured in the same
run), matching time for every household's needs, and their ratio. Run:
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/caseflow SECRET_KEY=x python bench/matching.py`
(it creates and drops its own database)."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
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

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

HOUSEHOLDS = int(os.environ.get("BENCH_HOUSEHOLDS", "10000"))
RESOURCES = int(os.environ.get("BENCH_RESOURCES", "500"))
CATEGORIES = ["medical_aid", "job_training", "temporary_care", "education", "housing", "psychological",
              "assistive_devices", "employment", "other"]
RULE_POOL = [
    {"fact": "per_capita_income", "op": "lt", "value": 12000}, {"fact": "per_capita_income", "op": "lt", "value": 8000},
    {"fact": "age", "op": "gte", "value": 6}, {"fact": "age", "op": "lte", "value": 18}, {"fact": "age", "op": "gte", "value": 60},
    {"fact": "disability_certificate", "op": "eq", "value": True}, {"fact": "school_enrolled", "op": "eq", "value": True},
    {"fact": "resident", "op": "eq", "value": True}, {"fact": "benefits", "op": "not_contains", "value": "dibao"},
]


def main() -> None:
    from processes.needs_matching import matching
    from processes.needs_matching.models import Household, Member, Resource

    setup_test_environment()
    if connection.vendor == "postgresql":  # its own database: a concurrent `make test` (test_caseflow) is never clobbered
        connection.settings_dict.setdefault("TEST", {})["NAME"] = os.environ.get("BENCH_MATCHING_DB", "test_caseflow_bench_matching")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    rng = random.Random(7)
    try:
        started = time.perf_counter()
        households = Household.objects.bulk_create(
            Household(code=f"HH-{i:05d}", village=rng.choice(["dongshan", "xishui", "nanling", "beipo"]), head_name="户主",
                      annual_income=Decimal(rng.randrange(3000, 60000)), benefits=rng.choice([[], ["dibao"]]),
                      resident=rng.random() > 0.05) for i in range(HOUSEHOLDS))
        Member.objects.bulk_create(
            (Member(household=h, name=f"成员{j}", relation="家人", age=rng.randrange(1, 90), sex="female",
                    disability_certificate=rng.random() < 0.1, school_enrolled=rng.random() < 0.3)
             for h in households for j in range(rng.randrange(1, 6))), batch_size=5000)
        Resource.objects.bulk_create(
            Resource(name=f"资源{i}", kind=rng.choice(["policy", "social"]), provider="提供方",
                     categories=rng.sample(CATEGORIES, rng.randrange(1, 3)), rules=rng.sample(RULE_POOL, rng.randrange(0, 4)),
                     capacity_left=Decimal(rng.randrange(0, 50)), capacity_total=Decimal(50)) for i in range(RESOURCES))
        setup_seconds = time.perf_counter() - started

        # Baseline: load every household with its members and latest income (what any per-household page pays).
        started = time.perf_counter()
        loaded = Household.prime_incomes(Household.objects.prefetch_related("members"))
        load_seconds = time.perf_counter() - started

        needs = {h.pk: [{"category": rng.choice(CATEGORIES), "urgency": rng.choice(["high", "medium", "low"]),
                         "member": f"成员{rng.randrange(0, 2)}"} for _ in range(2)] for h in loaded}
        started = time.perf_counter()
        catalogue = matching.Catalogue(Resource.objects.all(), dt.date(2026, 11, 29))
        catalogue_seconds = time.perf_counter() - started
        per_household, candidates, gaps = [], 0, 0
        started = time.perf_counter()
        for h in loaded:
            t0 = time.perf_counter()
            result = matching.match_household(needs[h.pk], h, catalogue)
            per_household.append((time.perf_counter() - t0) * 1000)
            candidates += sum(len(m.candidates) for m in result)
            gaps += sum(m.is_gap for m in result)
        match_seconds = time.perf_counter() - started
        per_household.sort()
        print(json.dumps({
            "database": connection.vendor, "households": len(loaded), "resources": RESOURCES, "needs": 2 * len(loaded),
            "setup_s": round(setup_seconds, 2), "load_households_with_members_s": round(load_seconds, 3),
            "build_catalogue_ms": round(catalogue_seconds * 1000, 2),
            "match_all_s": round(match_seconds, 3), "ratio_match_to_load": round(match_seconds / load_seconds, 3),
            "per_household_median_ms": round(statistics.median(per_household), 3),
            "per_household_p95_ms": round(per_household[int(len(per_household) * 0.95)], 3),
            "candidates_checked": candidates, "gaps": gaps,
        }, indent=2))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
