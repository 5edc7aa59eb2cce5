"""The production database role (manage.py create_app_role): the application, connected as a role
that owns nothing, runs its steps as usual, but the database refuses it any UPDATE, DELETE or TRUNCATE
of the append-only audit tables and any change to their triggers (only the tables' owner could lift
them). PostgreSQL only: the embedded SQLite default has no roles."""
from __future__ import annotations

import contextlib
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from engine.models import AuditEvent, HumanTask
from tests.conftest import is_postgres
from tests.processes.child_protection.flows import complete, start_case

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not is_postgres(), reason="database roles are PostgreSQL's")]


@contextlib.contextmanager
def connected_as(role: str):
    """The application's own connection, reopened as `role` (trust authentication on the test server)."""
    saved = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = role
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["USER"] = saved


@pytest.fixture
def app_role():
    name = f"caseflow_app_test_{os.getpid()}"
    out = StringIO()
    call_command("create_app_role", name, stdout=out)
    assert "created role" in out.getvalue() and "engine_auditevent" in out.getvalue()
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {name}")
        cursor.execute(f"DROP ROLE {name}")


def refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    return str(caught.value)


def test_the_app_role_runs_steps_but_cannot_rewrite_or_unprotect_the_audit_tables(app_role, users, deployed):
    with connected_as(app_role):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == app_role
        instance_id = start_case(users)  # a step: tasks, audit events, outbox, case record and its history
        complete(users, instance_id, "Task_Intake")
        assert AuditEvent.objects.filter(instance_id=instance_id).count() >= 2
        assert HumanTask.objects.filter(instance_id=instance_id, status="completed").exists()
        for table in ("engine_auditevent", "cases_accesslog", "child_protection_childprotectioncaseevent"):
            assert "permission denied" in refused(f"UPDATE {table} SET id = id")
            assert "permission denied" in refused(f"DELETE FROM {table}")
            assert "permission denied" in refused(f"TRUNCATE {table}")
        assert "must be owner" in refused("ALTER TABLE engine_auditevent DISABLE TRIGGER caseflow_append_only")
        assert "must be owner" in refused("ALTER TABLE engine_auditevent DISABLE TRIGGER ALL")
        assert "must be owner" in refused("DROP TRIGGER caseflow_append_only ON engine_auditevent")
        assert "must be owner" in refused("DROP TABLE cases_accesslog")
        assert "permission denied" in refused("CREATE TABLE caseflow_sneaky (id int)")
        assert "permission denied" in refused("SET session_replication_role = replica")
        with connection.cursor() as cursor:  # everything else is ordinary read and write
            cursor.execute("UPDATE engine_humantask SET draft_data = draft_data WHERE instance_id = %s", [instance_id])
    # Run again (after a migrate) it updates the role, and it refuses a role that could lift triggers.
    out = StringIO()
    call_command("create_app_role", app_role, stdout=out)
    assert "updated role" in out.getvalue()
    with pytest.raises(CommandError, match="plain role name"):
        call_command("create_app_role", "x; DROP TABLE engine_auditevent", stdout=StringIO())
    with pytest.raises(CommandError, match="tables' owner"):
        call_command("create_app_role", "postgres", stdout=StringIO())  # the owner itself (here a superuser too)
