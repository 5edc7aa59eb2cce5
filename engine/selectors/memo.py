"""Answers a page asks for more than once, read once: inside `one_page()`, a read marked
`@remembered` answers the same arguments with the same result (or the same refusal) without going
back to the database.

The task page asked for its task row twelve times and for what the viewer may read of the case four
times (35 queries, about 150 ms of a 2-core machine's time a page). Only reads whose answer cannot
change while one page is drawn are marked, and only a page that writes nothing it then reads again
opens `one_page()` (a GET); outside it every call reads the database as before. A user, a model row
or SYSTEM is keyed by its type and primary key; a set by its members."""
from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Callable, Iterator

from engine.errors import CaseflowError

_answers: contextvars.ContextVar[dict | None] = contextvars.ContextVar("caseflow_page_reads", default=None)


@contextlib.contextmanager
def one_page() -> Iterator[None]:
    """Reads marked `@remembered` are made once each while the block runs."""
    token = _answers.set({})
    try:
        yield
    finally:
        _answers.reset(token)


def _key(value):
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    pk = getattr(value, "pk", None)
    if pk is not None and hasattr(value, "_meta"):
        return (value._meta.label, pk)
    return value


def remembered(read: Callable) -> Callable:
    """Answer `read` once per page for the same arguments (see the module's docstring)."""
    @functools.wraps(read)
    def once(*args, **kwargs):
        answers = _answers.get()
        if answers is None:
            return read(*args, **kwargs)
        try:
            key = (read.__qualname__, read.__module__, tuple(_key(a) for a in args),
                   tuple(sorted((name, _key(v)) for name, v in kwargs.items())))
            hash(key)
        except TypeError:  # an argument that cannot be a key (a dict): read as usual
            return read(*args, **kwargs)
        if key in answers:
            refused, answer = answers[key]
            if refused:
                raise answer
            return answer
        try:
            answer = read(*args, **kwargs)
        except CaseflowError as exc:  # NotFound, NotPermitted: the same refusal the second time
            answers[key] = (True, exc)
            raise
        answers[key] = (False, answer)
        return answer

    return once
