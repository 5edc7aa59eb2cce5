"""A step is a handful of statements: lock and load in one query, one write per kind of row, the
instance's guarded UPDATE. Counted (not timed) over the child-protection path, so a change that
adds a query per row or a re-read fails here instead of slowing every township down."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine import api, journal
from tests.processes.child_protection.flows import ACTOR_ROLE, FORMS, open_task, start_case

# PostgreSQL's counts: SQLite has no data-modifying WITH, so there the save's writes are statements of their own.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
PATH = ["Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan",
        "Task_ApprovePlan", "Task_FollowUp", "Task_Closure", "Task_ApproveClosure"]
MEAN_BUDGET, MAX_BUDGET = 4, 5  # BEGIN and COMMIT aside: 6 and 7 with them (the issue asks a mean of at most 8); today 3.1 and 4
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def test_a_step_of_the_child_protection_path_stays_within_its_statement_budget(deployed, users):
    journal.set_outbox_kicker(None)  # delivery is a job of its own, not part of the step
    try:
        instance_id = start_case(users)
        counts = {}
        for bpmn_id in PATH:
            task_id = open_task(instance_id, bpmn_id)
            with CaptureQueriesContext(connection) as queries:
                api.complete_task(task_id=task_id, data=FORMS[bpmn_id], actor=users[ACTOR_ROLE[bpmn_id]])
            counts[bpmn_id] = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    finally:
        from engine import jobs

        journal.set_outbox_kicker(jobs.kick_outbox)
    per_step = {k: len(v) for k, v in counts.items()}
    mean = sum(per_step.values()) / len(per_step)
    worst = max(per_step, key=per_step.get)
    assert mean <= MEAN_BUDGET and per_step[worst] <= MAX_BUDGET, (
        f"statements per step {per_step} (mean {mean:.1f}); the heaviest, {worst}:\n" + "\n".join(s[:160] for s in counts[worst]))


SWEEP_BUDGET_PER_TIMER = 1  # the instance, with its escalation task row, its breached task and its timer rows (3 before)


def test_a_sweep_fires_each_timer_within_its_statement_budget(deployed, users):
    """Twenty child-protection cases past their 24-hour deadline, fired in one sweep: per timer the
    statements that write its own rows, plus a few per batch (the claim, the re-check, one INSERT
    each of audit events, notices and outbox messages for the whole batch)."""
    import datetime as dt

    from engine.models import HumanTask, Timer

    journal.set_outbox_kicker(None)
    try:
        cases = [start_case(users) for _ in range(20)]
        for instance_id in cases:
            api.complete_task(task_id=open_task(instance_id, "Task_Intake"), data=FORMS["Task_Intake"], actor=users[ACTOR_ROLE["Task_Intake"]])
        deadline = max(Timer.objects.filter(instance_id__in=cases, bpmn_id="Timer_Response24h").values_list("due_at", flat=True))
        with CaptureQueriesContext(connection) as queries:
            result = api.fire_due_timers(as_of=deadline + dt.timedelta(minutes=1))
    finally:
        from engine import jobs

        journal.set_outbox_kicker(jobs.kick_outbox)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    assert result.timers_fired == 20 and result.conflicts == 0
    assert HumanTask.objects.filter(instance_id__in=cases, bpmn_id="Task_SupervisorEscalation").count() == 20
    assert len(statements) <= SWEEP_BUDGET_PER_TIMER * 20 + 10, (
        f"{len(statements)} statements for 20 timers:\n" + "\n".join(s[:160] for s in statements[:40]))
