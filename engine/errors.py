"""Errors the engine raises to its callers. Each carries a message a person can act on; the portal,
the CLI and the API turn them into a page, a line on stderr or a 4xx answer — never a traceback."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


class CaseflowError(Exception):
    code = "error"

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return str(self.message)


class NotFound(CaseflowError):
    code = "not_found"


class NotPermitted(CaseflowError):
    code = "forbidden"


class AlreadyCompleted(CaseflowError):
    """Someone else completed (or the process cancelled) the task first. Nothing was changed."""

    code = "already_completed"


class ConcurrentUpdate(CaseflowError):
    """Another operation changed the instance while this one ran; nothing was changed. Try again."""

    code = "conflict"


class InvalidState(CaseflowError):
    code = "invalid_state"


class StepFailed(InvalidState):
    """The step could not be saved (the diagram produced a value no database can hold): nothing of
    it was applied, and the instance now shows the error state with the element."""

    code = "step_failed"


class FormInvalid(CaseflowError):
    """Submitted data failed the task's form; `field_errors` maps each field key to messages."""

    code = "invalid"

    def __init__(self, field_errors: dict[str, list[str]]):
        super().__init__(_("The form has errors."))
        self.field_errors = field_errors

    def __str__(self):
        lines = [str(self.message)]
        for key, messages in self.field_errors.items():
            lines.extend(f"  {key}: {m}" for m in messages)
        return "\n".join(lines)


@dataclass(frozen=True)
class ElementProblem:
    element_id: str | None
    message: str

    def __str__(self):
        return f"{self.element_id}: {self.message}" if self.element_id else str(self.message)


@dataclass(frozen=True)
class ElementWarning(ElementProblem):
    """Something deploy decided for the admin and did not refuse for (a Camunda candidate group the
    lane overrides, a user task given the generic confirm form): it names the element, the version
    is deployed, and the studio shows it apart from problems."""


class DefinitionInvalid(CaseflowError):
    """A BPMN file (or its forms) was refused on deploy; `problems` names each element and what is wrong."""

    code = "invalid_definition"

    def __init__(self, problems: list[ElementProblem]):
        super().__init__(_("The process definition was refused."))
        self.problems = problems

    def __str__(self):
        return "\n".join([str(self.message), *(f"  {p}" for p in self.problems)])


class DeliveryIncomplete(Exception):
    """A notifier backend's answer when some targets of a message's route took it and others failed:
    the outbox keeps `done` (their names) and a retry sends only to the rest. Not a CaseflowError:
    it never reaches a person, it is the outbox's record of a partial send."""

    def __init__(self, message: str, *, done: tuple[str, ...] = ()):
        super().__init__(message)
        self.done = tuple(done)


class DeliveryDeferred(Exception):
    """A notifier backend's answer when a message may not go out yet (non-urgent SMS in quiet hours):
    the outbox tries again at `until` without counting an attempt. `done` as for DeliveryIncomplete."""

    def __init__(self, message: str, *, until, done: tuple[str, ...] = ()):
        super().__init__(message)
        self.until = until
        self.done = tuple(done)
