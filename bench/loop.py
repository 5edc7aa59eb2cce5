"""A user-task loop of 1,000 rounds: does the cost of a step, and the stored state, grow with the
history of an instance?

The diagram (tests/engine/samples.py, user_loop) is deployed through engine.api.deploy_definition:
start -> Task_A (user task with a checkbox `again`) -> exclusive gateway -> back to Task_A while
`again` is ticked, else end. One instance is started and Task_A completed BENCH_LOOP_ROUNDS times
with again=True (then once with again=False, so the case completes), each complete_task call timed
alone (the open task is found between calls with engine.api.get_instance, untimed). Baseline in the same run: the bare durable step (common.Floor) interleaved every round.

Prints: median ms per round for rounds 1-100 and 901-1,000 (and each block of 100), their ratio
(target: flat, ~1), the floor of the same blocks, SQL statements of round 1 and of the last round,
and the stored state after round 100 and after round 1,000: the length of its JSON text and
pg_column_size (what PostgreSQL stores, compressed/TOASTed).

Run: `make bench`, or `.venv/bin/python bench/loop.py`. BENCH_LOOP_ROUNDS (default 1000) scales it
(the blocks are then tenths of the run).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402  (sets up Django)

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_LOOP_ROUNDS", "1000"))
BLOCK = max(1, ROUNDS // 10)
TEST_DB_NAME = os.environ.get("BENCH_LOOP_DB", "test_caseflow_bench_loop")
KEY = "bench_user_loop"


def state_size(instance_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT octet_length(state::text), pg_column_size(state), revision FROM engine_processinstance WHERE id = %s",
                       [instance_id])
        text_bytes, column_bytes, revision = cursor.fetchone()
    return {"json_bytes": text_bytes, "pg_column_size": column_bytes, "revision": revision}


def main() -> int:
    from engine import api
    from tests.engine import samples

    common.configure()
    common.require_postgres("loop")
    with common.test_database(TEST_DB_NAME):
        users = common.make_users()
        xml, forms = samples.user_loop(KEY)
        api.deploy_definition(bpmn_xml=xml, forms_by_element=forms, actor=users["admin"])
        floor = common.Floor()
        # Warm the spec cache and the connection on a throw-away instance of the same diagram.
        warm = common.instance_id_of(api.start_instance(process_key=KEY, data={}, actor=users["worker"]))
        for again in (True, True, False):
            api.complete_task(task_id=common.open_task_id(warm), data={"again": again}, actor=users["worker"])
        floor.timed(50)
        common.freeze_heap()

        instance_id = common.instance_id_of(api.start_instance(process_key=KEY, data={}, actor=users["worker"]))
        round_ms, floor_ms, sizes, sql = [], [], {}, {}
        started_all = time.perf_counter()
        for round_no in range(1, ROUNDS + 1):
            floor_ms += floor.timed(1)
            task_id = common.open_task_id(instance_id)  # untimed: a read through the facade
            capture = round_no in (1, ROUNDS)
            ctx = CaptureQueriesContext(connection) if capture else None
            if ctx is not None:
                ctx.__enter__()
            started = time.perf_counter()
            result = api.complete_task(task_id=task_id, data={"again": True}, actor=users["worker"])
            round_ms.append((time.perf_counter() - started) * 1000)
            if ctx is not None:
                ctx.__exit__(None, None, None)
                sql[round_no] = common.captured_sql(ctx)
            assert result.status == "running", result.status
            if round_no in (BLOCK, ROUNDS):
                sizes[round_no] = state_size(instance_id)
        total_s = time.perf_counter() - started_all
        result = api.complete_task(task_id=common.open_task_id(instance_id), data={"again": False}, actor=users["worker"])
        assert result.status == "completed", result.status

        blocks = [round_ms[i:i + BLOCK] for i in range(0, ROUNDS, BLOCK)]
        floor_blocks = [floor_ms[i:i + BLOCK] for i in range(0, ROUNDS, BLOCK)]
        first, last = statistics.median(blocks[0]), statistics.median(blocks[-1])
        floor_first, floor_last = statistics.median(floor_blocks[0]), statistics.median(floor_blocks[-1])
        label_first, label_last = f"rounds_1_{BLOCK}", f"rounds_{ROUNDS - len(blocks[-1]) + 1}_{ROUNDS}"
        result = {
            **common.environment(),
            "rounds": ROUNDS,
            "seconds": round(total_s, 1),
            "ms_per_round": {
                label_first: common.summary_ms(blocks[0]),
                label_last: common.summary_ms(blocks[-1]),
                "median_of_each_block": [round(statistics.median(b), 2) for b in blocks],
            },
            "ratio_last_to_first_block": common.ratio(last, first, 2),
            "floor_step_median_ms": {label_first: round(floor_first, 3), label_last: round(floor_last, 3)},
            "ratio_to_floor": {label_first: common.ratio(first, floor_first, 1), label_last: common.ratio(last, floor_last, 1)},
            "sql_statements": {f"round_{k}": len(v) for k, v in sql.items()},
            "sql_kinds": {f"round_{k}": common.statement_breakdown(v)["kinds"] for k, v in sql.items()},
            "state": {f"after_round_{k}": v for k, v in sizes.items()},
            "state_growth_bytes_per_round": round((sizes[ROUNDS]["json_bytes"] - sizes[BLOCK]["json_bytes"]) / max(1, ROUNDS - BLOCK), 1)
            if ROUNDS > BLOCK else None,
            "target": "flat: ratio_last_to_first_block ~1, state size not growing with rounds",
        }
    common.emit(result, (
        f"loop of {ROUNDS}: {first:.1f} ms/round in {label_first} -> {last:.1f} ms in {label_last} "
        f"(x{result['ratio_last_to_first_block']}; floor {floor_first:.2f} -> {floor_last:.2f} ms); state "
        f"{sizes[BLOCK]['json_bytes']} -> {sizes[ROUNDS]['json_bytes']} bytes JSON, "
        f"{sizes[BLOCK]['pg_column_size']} -> {sizes[ROUNDS]['pg_column_size']} stored"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
