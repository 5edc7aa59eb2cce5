"""The audit tables refuse changes in the database itself, whatever code runs (ADR 0020): the
engine's AuditEvent and the access log of minors' files.

PostgreSQL: a row trigger raises on UPDATE and DELETE of either table. TRUNCATE (the test runner's
flush between transactional tests, a table owner's act) is not a row operation and is not caught;
the trigger itself can be disabled or dropped only by the tables' owner, so a production role that
does not own them (docs/architecture.md, "Append-only audit tables") cannot touch a row. A later data
migration that must rewrite rows (encrypting the payloads) disables the trigger for its own
transaction: ALTER TABLE ... DISABLE TRIGGER caseflow_append_only, then ENABLE.

SQLite (the embedded default): a trigger raises on UPDATE. DELETE is left to the ORM's refusal,
because Django's test runner empties tables between transactional tests with DELETE."""
from django.db import migrations

from engine.append_only import TABLES, sqlite_trigger

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION caseflow_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'caseflow: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)  # no placeholders: its % are RAISE formats
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS caseflow_append_only ON {table}")
            schema_editor.execute(f"CREATE TRIGGER caseflow_append_only BEFORE UPDATE OR DELETE ON {table} "
                                  f"FOR EACH ROW EXECUTE FUNCTION caseflow_append_only()")
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
            schema_editor.execute(sqlite_trigger(table))


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS caseflow_append_only ON {table}")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS caseflow_append_only()")


class Migration(migrations.Migration):
    dependencies = [("engine", "0009_access_requests_and_reasons")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
