"""The ledger refuses changes in the database itself, whatever code runs (ADR 0026), with the
engine's trigger function for its audit tables (engine migration 0010).

PostgreSQL: a row trigger raises on UPDATE and DELETE of a ledger entry. SQLite (the embedded
default): a trigger raises on UPDATE; DELETE is left to the ORM's refusal, because Django's test
runner empties tables between transactional tests with DELETE."""
from django.db import migrations

from engine.append_only import sqlite_trigger

TABLE = "time_bank_ledgerentry"


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS caseflow_append_only ON {TABLE}")
        schema_editor.execute(f"CREATE TRIGGER caseflow_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                              f"FOR EACH ROW EXECUTE FUNCTION caseflow_append_only()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only")
        schema_editor.execute(sqlite_trigger(TABLE))


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS caseflow_append_only ON {TABLE}")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only")


class Migration(migrations.Migration):
    dependencies = [("time_bank", "0001_members_services_ledger"), ("engine", "0010_audit_tables_append_only")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
