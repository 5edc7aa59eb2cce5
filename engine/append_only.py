"""The append-only audit tables (ADR 0020) and the one sanctioned way round them: key rotation
(ADR 0019) re-encrypts their rows without changing what they say.

`suspended(connection, table)` lifts a table's row triggers (the append-only refusal, and on
PostgreSQL also pghistory's tracking, since a re-encryption is not a change of content) for the
caller's transaction only: it must be used inside `transaction.atomic()`, so the triggers come back
when the transaction ends whatever happens. On PostgreSQL `ALTER TABLE ... DISABLE TRIGGER` takes the
table's exclusive lock until then, so writers of that table wait for the rotation of it."""
from __future__ import annotations

import contextlib
from typing import Iterator

TABLES = ("engine_auditevent", "cases_accesslog")


def sqlite_trigger(table: str) -> str:
    return (f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'caseflow: {table} is append-only (UPDATE refused)'); END")


@contextlib.contextmanager
def suspended(connection, table: str) -> Iterator[None]:
    if not connection.in_atomic_block:
        raise RuntimeError("append_only.suspended needs the caller's transaction")
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and _has_user_triggers(cursor, table):
            cursor.execute(f"ALTER TABLE {quoted} DISABLE TRIGGER USER")
            yield
            # Rows rewritten under a deferred foreign key leave trigger events pending, and a table
            # with pending events cannot be altered: check them now, then defer again as before.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute(f"ALTER TABLE {quoted} ENABLE TRIGGER USER")
        elif connection.vendor == "sqlite" and table in TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
            yield
            cursor.execute(sqlite_trigger(table))
        else:
            yield


def _has_user_triggers(cursor, table: str) -> bool:
    """Whether the table has triggers of its own (not the foreign keys' internal ones): only those
    tables are altered, and so locked."""
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal)", [table])
    return bool(cursor.fetchone()[0])
