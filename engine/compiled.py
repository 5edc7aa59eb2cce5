"""Queries the ORM compiles once and the step's hot path then runs as plain SQL.

Building a statement costs Django more than running it: the step's lock-and-load query (the task
joined to its instance, FOR UPDATE OF the instance) took about 3 ms of Python to build and turn
into objects against well under 1 ms in the database. Here the ORM still writes the SQL, the type
converters and the object construction — for the database in use, SQLite or PostgreSQL — but once
per connection; each call only executes it with a new primary key. Only for queries whose shape
never changes (one parameter, the key), and only where a step pays for them."""
from __future__ import annotations

import functools
from typing import Callable

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators

_SENTINEL = -7_000_000_001  # stands for the key while compiling; never a real id


class ByKey:
    """`ByKey(lambda key: Model.objects....filter(pk=key))`; `.get(key)` -> the object (with its
    select_related objects and its annotations attached) or None. Must be called where the query may run (inside a
    transaction, for a FOR UPDATE query)."""

    def __init__(self, build: Callable[[int], QuerySet], using: str = "default"):
        self.build, self.using = build, using

    def _compiled(self, connection):
        cache = connection.__dict__.setdefault("_caseflow_compiled", {})
        entry = cache.get(id(self))
        if entry is None:
            compiler = self.build(_SENTINEL).query.get_compiler(using=self.using)
            sql, params = compiler.as_sql()
            positions = [i for i, p in enumerate(params) if p == _SENTINEL]
            if len(positions) != 1:
                raise ValueError("a compiled query takes exactly one key parameter")
            select, klass_info = compiler.select, compiler.klass_info
            fields = klass_info["select_fields"]
            start, end = fields[0], fields[-1] + 1
            entry = {
                "sql": sql, "params": list(params), "position": positions[0], "compiler": compiler,
                "converters": compiler.get_converters([s[0] for s in select[:compiler.col_count]]),
                "model": klass_info["model"], "start": start, "end": end,
                "init_list": [f[0].target.attname for f in select[start:end]],
                "populators": get_related_populators(klass_info, select, self.using),
                "annotations": list((compiler.annotation_col_map or {}).items()),
            }
            cache[id(self)] = entry
        return entry

    def get(self, key: int):
        connection = connections[self.using]
        entry = self._compiled(connection)
        params = list(entry["params"])
        params[entry["position"]] = key
        with step_cursor(connection) as cursor:
            cursor.execute(entry["sql"], params)
            rows = cursor.fetchall()
        if not rows:
            return None
        if entry["converters"]:
            rows = list(entry["compiler"].apply_converters(rows, entry["converters"]))
        row = rows[0]
        obj = entry["model"].from_db(self.using, entry["init_list"], row[entry["start"]:entry["end"]])
        for populator in entry["populators"]:
            populator.populate(row, obj)
        for name, index in entry["annotations"]:
            setattr(obj, name, row[index])
        return obj


def step_cursor(connection, *, prepare: bool = True):
    """The cursor of the step's own statements (the lock, the save, and the step's one read of who
    last did a task of a role, engine/spiff/runtime.py `_last_completers`). On PostgreSQL their parameters
    travel apart from the statement (server-side binding) and each statement is prepared once per
    connection: the server neither parses a 10 KB state out of the statement's text nor plans it
    again on each step. Every other query keeps Django's cursor, and so does a connection whose
    queries are being logged (DEBUG, a test capturing them), which records each statement's text.
    Django turns prepared statements off for connection poolers; docs/adr/0042 says why these are
    on and what a pooler in front of PostgreSQL then needs.

    `prepare=False`: bound on the server and split once per shape, not prepared — for the engine's
    multi-row INSERTs (a timer sweep's batch of audit events, notices and outbox rows), whose
    shapes vary with their row counts and which Django's cursor would quote into one text of
    thousands of literals each time."""
    if connection.vendor != "postgresql" or connection.queries_logged:
        return connection.cursor()
    connection.ensure_connection()
    pg = connection.connection
    if pg.prepare_threshold is None:
        pg.prepare_threshold = _ONLY_WHEN_ASKED  # Django's default turns preparing off altogether
    return connection._prepare_cursor(_prepared_cursor_class(prepare)(pg))


_ONLY_WHEN_ASKED = 2**31 - 1  # psycopg prepares a statement after this many runs, or when told to


# What django-pghistory puts in front of each write made while a request's context is tracked (the
# user and page its history rows name). A prepared statement holds one command, so the cursor below
# sends the two apart, in one round trip.
_HISTORY_CONTEXT = ("SELECT set_config('pghistory.context_id', %s, true), "
                    "set_config('pghistory.context_metadata', %s, true); ")


# How many statement shapes keep their split (below); the save's shapes vary with its rows.
_SHAPES = 512
_SPLITS: dict = {}


@functools.cache
def _prepared_cursor_class(prepare_by_default: bool = True):
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg._queries import PostgresQuery, _query2pg_nocache  # psycopg is pinned exactly

    class StepQuery(PostgresQuery):
        """psycopg keeps a statement's split into text and parameters only for statements under
        4 KB with at most 50 parameters. The save is longer, so psycopg split it again on every
        step: about 0.3 ms of Python, as long as the save's wait on a server that no longer parses
        it. Here each shape is split once."""

        def convert(self, query, vars):
            if vars is None or not isinstance(query, str):
                return super().convert(query, vars)
            key = (query, self._tx.encoding)
            split = _SPLITS.get(key)
            if split is None:
                if len(_SPLITS) >= _SHAPES:
                    _SPLITS.clear()
                split = _SPLITS.setdefault(key, _query2pg_nocache(query.encode(self._tx.encoding), self._tx.encoding))
            self.query, self._want_formats, self._order, self._parts = split
            self.dump(vars)

    class PreparedCursor(ServerBindingCursor):
        _query_cls = StepQuery

        def execute(self, query, params=None, *, prepare=prepare_by_default, binary=None):
            if isinstance(query, str) and query.startswith(_HISTORY_CONTEXT) and isinstance(params, (list, tuple)):
                with self.connection.pipeline():
                    super().execute(_HISTORY_CONTEXT[:-2], params[:2], prepare=True)
                    super().execute(query[len(_HISTORY_CONTEXT):], params[2:], prepare=prepare, binary=binary)
                return self
            return super().execute(query, params, prepare=prepare, binary=binary)

    return PreparedCursor


class Encoded(str):
    """JSON text already encoded (and checked) by the caller, for a JSON column: written as it is
    (an encrypted JSON field, engine.crypto, encrypts the text as it is)."""


def _prepare(field, value, connection):
    if isinstance(value, Encoded) and field.get_internal_type() == "JSONField":  # an encrypted field encrypts it
        if field.db_type(connection) == "jsonb":
            from psycopg.types.json import Jsonb

            return Jsonb(value, dumps=str)  # the text as it is, sent as jsonb
        return str(value)
    return field.get_db_prep_save(value, connection)


def _fields(model, names) -> list:
    return [model._meta.get_field(name) for name in names]


def update(model, key: int, values: dict, *, where: dict | None = None, using: str = "default",
           inserts: list[tuple[list, bool]] = (), statements: list[tuple[str, list]] = ()) -> int:
    """UPDATE one row by key, guarded by equalities (`where`), values prepared by their fields as
    the ORM would: the number of rows changed (0 when the guard failed).

    `inserts`: (unsaved objects of one model, ignore_conflicts) written in the same statement on
    PostgreSQL — data-modifying WITH clauses, one round trip for a step's audit events, outbox
    messages and its instance row — and by `insert` just before the UPDATE elsewhere.
    `statements`: (sql, params) of other writes whose answer nobody reads (closing a step's timers),
    in the same way. Both are written whether or not the guard holds: a caller seeing 0 must roll
    its transaction back. On PostgreSQL they must not touch the row updated (one snapshot)."""
    connection = connections[using]
    inserts = [(objs, ignore) for objs, ignore in inserts if objs]
    names, guards = tuple(values), tuple(where or ())
    if (inserts or statements) and connection.vendor != "postgresql":
        for objs, ignore in inserts:
            insert(objs, ignore_conflicts=ignore, using=using)
        with connection.cursor() as cursor:
            for statement, statement_params in statements:
                cursor.execute(statement, statement_params)
        inserts, statements = [], []
    sql = _cached_update_sql(connection, model, names, guards)
    # The WITH clauses are joined on each call: the statements a step makes with its save (a
    # handler's UPDATE, the notices of its events) vary too much to key a cache by.
    clauses = [f"i{n} AS ({_insert_sql(connection, type(objs[0]), len(objs), False, ignore, _keyed(objs))})"
               for n, (objs, ignore) in enumerate(inserts)]
    clauses += [f"s{n} AS ({statement})" for n, (statement, _params) in enumerate(statements)]
    if clauses:
        sql = "WITH " + ", ".join(clauses) + " " + sql
    params = [p for objs, _ignore in inserts for p in _insert_params(objs, connection)]
    params += [p for _sql, statement_params in statements for p in statement_params]
    params += _update_params(connection, model, key, values, where)
    with step_cursor(connection) as cursor:
        cursor.execute(sql, params)
        changed = cursor.rowcount
    for objs, _ignore in inserts:
        _saved(objs, using, None)
    return changed


def update_statement(model, key: int, values: dict, *, where: dict | None = None, using: str = "default") -> tuple[str, list]:
    """(sql, params) of the guarded UPDATE `update` would run, for a caller that makes it later
    (a step's write made with its save, journal.later)."""
    connection = connections[using]
    return _cached_update_sql(connection, model, tuple(values), tuple(where or ())), _update_params(connection, model, key, values, where)


def _cached_update_sql(connection, model, names: tuple, guards: tuple) -> str:
    cache = connection.__dict__.setdefault("_caseflow_compiled", {})
    sql = cache.get((model, "update", names, guards))
    if sql is None:
        sql = cache.setdefault((model, "update", names, guards), _update_sql(connection, model, names, guards))
    return sql


def _update_sql(connection, model, names: tuple, guards: tuple) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in _fields(model, names))
    conditions = " AND ".join(f"{quote(f.column)} = %s" for f in [model._meta.pk, *_fields(model, guards)])
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {conditions}"


def _update_params(connection, model, key: int, values: dict, where: dict | None) -> list:
    params = [_prepare(f, values[f.name], connection) for f in _fields(model, tuple(values))]
    params.append(key)
    params += [f.get_db_prep_value(where[f.name], connection) for f in _fields(model, tuple(where or ()))]
    return params


def _insert_fields(model, keyed: bool = False) -> list:
    """The columns an INSERT names: all but the key, unless the rows carry their keys (`keyed`)."""
    return [f for f in model._meta.concrete_fields if keyed or not f.primary_key]


def _keyed(objs: list) -> bool:
    return objs[0].pk is not None


def _insert_sql(connection, model, count: int, ids: bool, ignore_conflicts: bool, keyed: bool = False) -> str:
    cache = connection.__dict__.setdefault("_caseflow_compiled", {})
    key = (model, "insert", count, ids, ignore_conflicts, keyed)
    sql = cache.get(key)
    if sql is None:
        from django.db.models.constants import OnConflict

        fields = _insert_fields(model, keyed)
        quote, ops = connection.ops.quote_name, connection.ops
        conflict = OnConflict.IGNORE if ignore_conflicts else None
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = (f"{ops.insert_statement(on_conflict=conflict)} {quote(model._meta.db_table)} "
               f"({', '.join(quote(f.column) for f in fields)}) VALUES {', '.join([row] * count)}")
        suffix = ops.on_conflict_suffix_sql(fields, conflict, None, None) if conflict else ""
        if suffix:
            sql += " " + suffix
        if ids:
            sql += f" RETURNING {quote(model._meta.pk.column)}"
        sql = cache.setdefault(key, sql)
    return sql


def _insert_params(objs: list, connection) -> list:
    fields = _insert_fields(type(objs[0]), _keyed(objs))
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]


def _saved(objs: list, using: str, keys: list | None) -> None:
    for index, obj in enumerate(objs):
        obj._state.adding, obj._state.db = False, using
        if keys is not None:
            obj.pk = keys[index]


def insert(objs: list, *, ids: bool = False, ignore_conflicts: bool = False, using: str = "default") -> None:
    """INSERT unsaved objects of one model in one statement, as `bulk_create` would, without its
    per-call compilation. `ids`: read the new keys back (RETURNING) onto the objects;
    `ignore_conflicts`: a row a unique constraint refuses is dropped (the vendor's own syntax)."""
    if not objs:
        return
    connection = connections[using]
    sql = _insert_sql(connection, type(objs[0]), len(objs), ids, ignore_conflicts, _keyed(objs))
    with step_cursor(connection, prepare=False) as cursor:
        cursor.execute(sql, _insert_params(objs, connection))
        keys = [r[0] for r in cursor.fetchall()] if ids else None
    _saved(objs, using, keys)

