"""The production database role the application runs under (PostgreSQL): `python manage.py
create_app_role caseflow_app --password-env CASEFLOW_APP_DB_PASSWORD`, run as the tables' owner
after every `migrate`.

Why: the audit tables (the engine's audit trail, the access log, the row-history event tables) are
append-only by triggers, and a table's owner may lift or drop its triggers. The application must
therefore not connect as the owner. This command creates (or brings up to date) a login role that
owns nothing, is no superuser and no member of the owner, and has
- SELECT, INSERT, UPDATE, DELETE on every other table of the schema and use of its sequences;
- only SELECT and INSERT on the append-only tables (found by their `append_only` triggers);
- no TRUNCATE, REFERENCES or TRIGGER anywhere, so it can neither empty a table nor alter one.
Migrations, `rotate_keys` and this command keep running as the owner. Run it again after each
migrate: tables a migration created get their grants then (it is idempotent)."""
from __future__ import annotations

import os
import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DML = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY = "SELECT, INSERT"


def append_only_tables(cursor, schema: str) -> list[str]:
    """Tables of the schema with an append-only trigger (ours `caseflow_append_only`, pgtrigger's `pgtrigger_append_only_*`)."""
    cursor.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND t.tgname LIKE %s AND n.nspname = %s ORDER BY 1", ["%append_only%", schema])
    return [row[0] for row in cursor.fetchall()]


def schema_tables(cursor, schema: str) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema])
    return [row[0] for row in cursor.fetchall()]


class Command(BaseCommand):
    help = ("Create or update the PostgreSQL login role the application runs under in production: DML on the application's "
            "tables, only SELECT and INSERT on the append-only audit tables, owner of nothing.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="the role's name, e.g. caseflow_app")
        parser.add_argument("--password-env", default="",
                            help="name of an environment variable holding the role's password (never on the command line)")
        parser.add_argument("--schema", default="public")

    def handle(self, *args, name: str, password_env: str, schema: str, **options):
        if connection.vendor != "postgresql":
            raise CommandError("create_app_role is for PostgreSQL; the embedded SQLite default has no database roles.")
        if not ROLE_NAME.match(name):
            raise CommandError(f"'{name}' is not a plain role name (lowercase letters, digits and _, at most 63).")
        password = os.environ.get(password_env, "") if password_env else ""
        if password_env and not password:
            raise CommandError(f"The environment variable {password_env} is empty or not set.")
        quote = connection.ops.quote_name
        role = quote(name)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            owner = cursor.fetchone()[0]
            if owner == name:
                raise CommandError("Run this as the tables' owner (the role migrations run as), for another role than itself.")
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [name])
            found = cursor.fetchone()
            if found is None:
                cursor.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")
                created = True
            else:
                created = False
                if found[0]:
                    raise CommandError(f"The role {name} is a superuser: it could lift every trigger. Use another role.")
                cursor.execute(f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")
            if password:
                cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
            cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [name, owner])
            if cursor.fetchone()[0]:
                raise CommandError(f"The role {name} is a member of the tables' owner {owner}: it could act as the owner.")
            cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s", [name])
            if cursor.fetchone()[0]:
                raise CommandError(f"The role {name} owns tables: the application's role must own nothing.")
            cursor.execute("SELECT current_database()")
            cursor.execute(f"GRANT CONNECT ON DATABASE {quote(cursor.fetchone()[0])} TO {role}")
            cursor.execute(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {role}")
            cursor.execute(f"REVOKE CREATE ON SCHEMA {quote(schema)} FROM {role}")
            protected = set(append_only_tables(cursor, schema))
            tables = schema_tables(cursor, schema)
            for table in tables:
                cursor.execute(f"REVOKE ALL ON {quote(schema)}.{quote(table)} FROM {role}")
                cursor.execute(f"GRANT {APPEND_ONLY if table in protected else DML} ON {quote(schema)}.{quote(table)} TO {role}")
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {role}")
        self.stdout.write(
            f"{'created' if created else 'updated'} role {name}: read and write on {len(tables) - len(protected)} tables, "
            f"read and append only on {len(protected)} ({', '.join(sorted(protected))}); owner of nothing. "
            "Run this again after every migrate.")
