"""What a step records besides the workflow's state: audit events and outside effects (the outbox).
A step buffers both and writes each in one statement when it saves, then tells the registry's event
listeners, in the same transaction; changes outside a step (a claim, an assignment, a share) use
`record_now`. Outbox rows are written with ON CONFLICT DO NOTHING on their idempotency key, and the
after-commit nudge that delivers them is injected (`set_outbox_kicker`), so the engine never imports
the job runner."""
from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Callable, Iterator

from django.db import connection, transaction

from engine import clock, compiled, registry
from engine.models import AuditEvent, OutboxMessage

log = logging.getLogger("caseflow.engine")
_kick_outbox: Callable[[], None] | None = None
# While `batched()` runs: the journals flushed so far, written together when it ends.
_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("caseflow_journal_batch", default=None)


def set_outbox_kicker(kicker: Callable[[], None] | None) -> None:
    """What runs after a commit that queued outside effects (embedded: deliver now; production:
    nudge a worker). Set by engine.apps."""
    global _kick_outbox
    _kick_outbox = kicker


def kick_after_commit() -> None:
    """Deliver (or nudge a deliverer) once the caller's transaction commits: an administrator's retry."""
    if _kick_outbox is not None:
        transaction.on_commit(_kick_outbox, robust=True)


def actor_name(actor) -> str:
    return actor.get_username() if actor is not None else "system"


class Journal:
    """The audit events and outbox messages of one change to one instance, written together."""

    def __init__(self, instance, actor):
        self.instance = instance
        self.actor = actor
        self.events: list[tuple[AuditEvent, object]] = []  # (unsaved event, task row or None)
        self.outbox: list[OutboxMessage] = []
        self.rows: list = []  # other new rows of the step: keys set already (tasks) or read by nobody (timers), one model per list
        self.writes: list[tuple[str, list]] = []  # other writes whose answer nobody reads: (sql, params)

    def audit(self, kind: str, data: dict, *, bpmn_id: str = "", task=None) -> None:
        event = AuditEvent(instance=self.instance, definition_id=self.instance.definition_id, kind=kind, actor=self.actor,
                           actor_name=actor_name(self.actor), bpmn_id=bpmn_id, at=clock.now(), data=data)
        self.events.append((event, task))

    def enqueue(self, key: str, channel: str, payload: dict) -> str:
        now = clock.now()
        if not any(message.key == key for message in self.outbox):
            self.outbox.append(OutboxMessage(key=key, channel=channel, payload=payload, instance=self.instance,
                                             created_at=now, next_attempt_at=now))
        return key

    def later(self, sql: str, params: list) -> None:
        """A write of the step that nobody reads the answer of: made with the step's save."""
        self.writes.append((sql, params))

    def later_rows(self, objs: list) -> None:
        """New rows of one model, their keys set already or read by nobody: inserted with the step's save."""
        if objs:
            self.rows.append(objs)

    def flush(self, save: Callable[[list, list], int] | None = None) -> int | None:
        """Write the buffered events (one INSERT) and outbox messages (one INSERT, repeats dropped by
        their unique key), then run the listeners — all in the caller's transaction. Inside
        `batched()`, they are handed to the batch instead and written when it ends.

        `save(inserts, statements)`: the caller's own write (a step's UPDATE of its instance), given
        the rows and writes to make in the same statement (see compiled.update); its answer is
        returned. Without it, `later` writes and rows are made here, one statement each."""
        rows, writes = [(objs, False) for objs in self.rows], self.writes
        self.rows, self.writes = [], []
        if save is None:
            for objs, _ignore in rows:
                compiled.insert(objs)
            if writes:
                with connection.cursor() as cursor:
                    for sql, params in writes:
                        cursor.execute(sql, params)
            rows, writes = [], []
        pending = _batch.get()
        if pending is not None:
            for event, task in self.events:
                event.task_id = task.pk if task is not None else None
            if self.events or self.outbox:
                pending.append((self.instance, self.events, self.outbox))
            self.events, self.outbox = [], []
            return save(rows, writes) if save is not None else None
        inserts = rows
        if self.events:
            for event, task in self.events:
                event.task_id = task.pk if task is not None else None
            events = [event for event, _task in self.events]
            if save is None:
                compiled.insert(events)
            else:
                inserts.append((events, False))
            listened = _notify_listeners(self.instance, [(event, task) for event, task in self.events])
            if save is None:
                _write(listened)
            else:
                writes = [*writes, *listened]
            self.events = []
        if self.outbox:
            if save is None:
                compiled.insert(self.outbox, ignore_conflicts=True)
            else:
                inserts.append((self.outbox, True))
            self.outbox = []
            if _kick_outbox is not None:
                transaction.on_commit(_kick_outbox, robust=True)
        return save(inserts, writes) if save is not None else None


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Steps of many instances in one transaction (a timer sweep's batch) write their journals
    together when the block ends: one INSERT of audit events, one of outbox messages, and one call
    of each listener with every step's events (one INSERT … SELECT of the notices), instead of
    those statements per step. (New and closed timer rows still go with each step's own save.)
    Still inside the caller's transaction, so nothing changes in what commits or rolls back
    together; on an exception nothing is written."""
    if _batch.get() is not None:
        yield  # already in a batch: its end writes these too
        return
    pending: list = []
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    events = [(instance, event, task) for instance, journal_events, _outbox in pending for event, task in journal_events]
    outbox = [message for _instance, _events, messages in pending for message in messages]
    if events:
        compiled.insert([event for _instance, event, _task in events])
        _write(_notify_many(events))
    if outbox:
        compiled.insert(outbox, ignore_conflicts=True)
        if _kick_outbox is not None:
            transaction.on_commit(_kick_outbox, robust=True)


def _notify_listeners(instance, events) -> list[tuple[str, list]]:
    return _notify_many([(instance, event, task) for event, task in events])


def _notify_many(events) -> list[tuple[str, list]]:
    """Tell the registry's listeners about (instance, audit event, task row or None) triples; the
    writes the batch listeners hand back, for the caller to make (registry.on_events)."""
    per_event, batch = registry.event_listeners(), registry.batch_listeners()
    if not per_event and not batch:
        return []
    notices = [registry.EngineEvent(
        kind=event.kind, instance_id=instance.pk, process_key=instance.process_key, village=instance.village,
        task_id=event.task_id, bpmn_id=event.bpmn_id, actor_name=event.actor_name, data=event.data, subject=instance.subject,
        assignee_id=getattr(task, "assignee_id", None),
    ) for instance, event, task in events]
    writes = []
    for listener in batch:
        writes += listener(notices) or []
    for notice in notices:
        for listener in per_event:
            listener(notice)
    return writes


def _write(writes: list[tuple[str, list]]) -> None:
    if writes:
        with compiled.step_cursor(connection, prepare=False) as cursor:
            for sql, params in writes:
                cursor.execute(sql, params)


def record_now(instance, kind: str, actor, data: dict, *, bpmn_id: str = "", task=None) -> None:
    """One audit event outside a step (a claim, an assignment, a share, a deploy), written at once."""
    journal = Journal(instance, actor)
    journal.audit(kind, data, bpmn_id=bpmn_id, task=task)
    journal.flush()
