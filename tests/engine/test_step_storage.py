"""How a step's own statements reach PostgreSQL (docs/adr/0042): the lock and the save are prepared
once per connection with their parameters sent apart from the statement, and an instance's state is
JSON text compressed with lz4, read back as the same document."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine import api
from engine.models import ProcessInstance
from tests.processes.child_protection.flows import ACTOR_ROLE, FORMS, open_task, start_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _complete(users, instance_id, bpmn_id):
    api.complete_task(task_id=open_task(instance_id, bpmn_id), data=FORMS[bpmn_id], actor=users[ACTOR_ROLE[bpmn_id]])


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_lock_and_the_save_are_prepared_statements_of_the_connection(deployed, users):
    instance_id = start_case(users)
    _complete(users, instance_id, "Task_Intake")
    _complete(users, instance_id, "Task_PoliceReceipt")
    prepared = _prepared()
    saves = [s for s in prepared if 'UPDATE "engine_processinstance" SET "state" = $' in s]
    locks = [s for s in prepared if "FOR UPDATE" in s and '"engine_humantask"' in s and "$1" in s]
    assert saves and locks, prepared
    # the state travels as a parameter: no statement holds a case's data in its text
    assert not any('"caseflow_done"' in s or '"task_spec"' in s for s in prepared)


def test_the_read_of_who_last_did_a_role_is_prepared_too(deployed, users):
    """Approving the plan opens the follow-up for the worker who wrote it: the step reads who last
    did a worker's task in the case, a join planned once per connection."""
    instance_id = start_case(users)
    for bpmn_id in ("Task_Intake", "Task_PoliceReceipt", "Task_Respond", "Task_Assessment", "Task_CasePlan", "Task_ApprovePlan"):
        _complete(users, instance_id, bpmn_id)
    reads = [s for s in _prepared() if "auth_user_groups" in s and '"engine_humantask"' not in s and "engine_humantask h" in s]
    assert reads and all("$1" in s for s in reads), _prepared()
    assert open_task(instance_id, "Task_FollowUp")


def test_a_connection_whose_queries_are_logged_keeps_the_statements_text(deployed, users):
    instance_id = start_case(users)
    with CaptureQueriesContext(connection) as queries:
        _complete(users, instance_id, "Task_Intake")
    texts = [q["sql"] for q in queries.captured_queries]
    assert all(isinstance(t, str) for t in texts), texts
    assert any(t.startswith("WITH") and 'UPDATE "engine_processinstance"' in t for t in texts), texts


def test_the_state_is_json_text_compressed_with_lz4(deployed, users):
    instance_id = start_case(users)
    _complete(users, instance_id, "Task_Intake")
    with connection.cursor() as cursor:
        cursor.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = 'engine_processinstance'::regclass AND attname = 'state'")
        assert cursor.fetchone()[0] == "text"
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        has_lz4 = cursor.fetchone()[0]
        cursor.execute("SELECT pg_column_compression(state), octet_length(state), pg_column_size(state) "
                       "FROM engine_processinstance WHERE id = %s", [instance_id])
        method, text_bytes, stored_bytes = cursor.fetchone()
    assert method == ("lz4" if has_lz4 else "pglz"), method
    assert stored_bytes < text_bytes / 2, (stored_bytes, text_bytes)
    state = ProcessInstance.objects.get(pk=instance_id).state
    assert isinstance(state, dict) and state["format"].startswith("caseflow-spiff")


@pytest.mark.django_db(transaction=True)  # the step's own transaction: no savepoint write carries the context first
def test_a_step_made_in_a_request_still_names_its_user_and_page_in_the_row_history(deployed, users):
    """In a request, django-pghistory puts its context in front of each write; the save, prepared,
    takes it as a statement of its own in the same round trip (compiled._HISTORY_CONTEXT)."""
    import pghistory

    from processes.child_protection.models import ChildProtectionCase

    instance_id = start_case(users)
    _complete(users, instance_id, "Task_Intake")
    worker = users[ACTOR_ROLE["Task_PoliceReceipt"]]
    with pghistory.context(user=worker.pk, url="/tasks/police/"):  # the step's one write is its save
        _complete(users, instance_id, "Task_PoliceReceipt")
    case = ChildProtectionCase.objects.get(instance_id=instance_id)
    event = ChildProtectionCase.pgh_event_model.objects.filter(pgh_obj_id=case.pk, pgh_label="update").latest("pgh_id")
    assert event.police_station == FORMS["Task_PoliceReceipt"]["police_station"]
    assert event.pgh_context is not None and event.pgh_context.metadata == {"user": worker.pk, "url": "/tasks/police/"}
    assert any('UPDATE "engine_processinstance" SET "state" = $' in s for s in _prepared())
    assert any(s.startswith("SELECT set_config('pghistory.context_id', $1, true)") for s in _prepared())
