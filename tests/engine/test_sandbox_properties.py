"""Property: any expression or script in the sandbox's language (tests/engine/expression_grammar.py)
either finishes within the budget or is refused — in the worker, as the engine runs it."""
from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings

from engine.spiff import backstop, scripting
from engine.spiff.scripting import Limits

from .expression_grammar import EXPRESSIONS, NAMES, SCRIPTS

# A loaded 2-core CI machine: no per-example deadline from hypothesis (the backstop is the deadline
# under test), modest example counts so the suite stays fast, no example database on disk.
settings.register_profile("sandbox", max_examples=60, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMITS = Limits()
# hard_seconds, plus a worker start after a kill and the pickling of NAMES on a loaded machine
# The backstop's bound: hard_seconds of the worker's CPU, and WALL_FACTOR times that on the clock
# however busy the machine (ADR 0017 addendum); one second more for the worker's replacement.
WITHIN = LIMITS.hard_seconds * backstop.WALL_FACTOR + 1.0


def _finishes_or_is_refused(run, source):
    started = time.monotonic()
    try:
        value = run(source, NAMES, LIMITS)
    except Exception:  # noqa: BLE001 - refused, or an ordinary error (TypeError, ZeroDivisionError ...): both end the step visibly
        value = None
    elapsed = time.monotonic() - started
    assert elapsed < WITHIN, f"{source!r} took {elapsed:.2f}s"
    assert scripting.weight(value, LIMITS.max_output_bytes) <= LIMITS.max_output_bytes


@settings(settings.get_profile("sandbox"))
@given(EXPRESSIONS)
def test_every_expression_finishes_within_the_budget_or_is_refused(source):
    _finishes_or_is_refused(scripting.evaluate_expression, source)


@settings(settings.get_profile("sandbox"), max_examples=40)
@given(SCRIPTS)
def test_every_script_finishes_within_the_budget_or_is_refused(source):
    _finishes_or_is_refused(scripting.execute_script, source)
