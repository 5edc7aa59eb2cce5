"""What the engine's facade and selectors hand out: frozen dataclasses of plain values. Nothing here
touches the database except `TaskInfo.from_row`, which reads a row already loaded."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from engine.people import display_name


@dataclass(frozen=True)
class DefinitionInfo:
    id: int
    key: str
    version: int
    name: str
    created: bool  # False when the same file was already deployed
    warnings: tuple = ()  # ElementWarning: what deploy decided for the admin (ADR 0015)


class ProblemList(list):
    """`validate_definition`'s answer: the problems (ElementProblem) that would refuse the diagram,
    and, as `.warnings`, the ElementWarnings a deploy would carry."""

    def __init__(self, problems=(), warnings=()):
        super().__init__(problems)
        self.warnings = list(warnings)


@dataclass(frozen=True)
class TaskInfo:
    id: int
    instance_id: int
    process_key: str
    bpmn_id: str
    name: str
    lane: str
    candidate_group: str
    assignee: str | None
    status: str
    village: str
    subject: str
    created_at: dt.datetime
    due_at: dt.datetime | None
    sla_breached_at: dt.datetime | None
    completed_by: str | None
    completed_at: dt.datetime | None
    named: bool = False  # routed to this person by name (a panel's reviewer): never the group's
    context: object = None  # what this task is about (context_from), e.g. a referral id
    assignee_label: str | None = None  # the holder's display name
    returned: bool = False  # a step sent back with reasons: "returned" in the inbox

    @classmethod
    def from_row(cls, row, subject: str = "", assignee=None) -> "TaskInfo":
        """From a HumanTask row (its assignee and completer loaded, or `assignee` given)."""
        holder = assignee if assignee is not None else (row.assignee if row.assignee_id else None)
        completer = row.completed_by if row.completed_by_id else None
        return cls(
            id=row.pk, instance_id=row.instance_id, process_key=row.process_key, bpmn_id=row.bpmn_id, name=row.name,
            lane=row.lane, candidate_group=row.candidate_group, assignee=holder.get_username() if holder else None,
            status=row.status, village=row.village, subject=subject, created_at=row.created_at, due_at=row.due_at,
            sla_breached_at=row.sla_breached_at, completed_by=completer.get_username() if completer else None,
            completed_at=row.completed_at, named=row.named, context=row.context,
            assignee_label=display_name(holder) if holder else None, returned=row.returned,
        )


@dataclass(frozen=True)
class EventInfo:
    at: dt.datetime
    kind: str
    actor: str  # the username (or "system"), as recorded
    bpmn_id: str
    data: dict
    actor_label: str = ""  # how the viewer reads the actor: a display name, or a role for outsiders
    target_label: str = ""  # whom the event concerns (an assignment, a share), by display name


@dataclass(frozen=True)
class InstanceInfo:
    id: int
    process_key: str
    version: int
    status: str
    village: str
    subject: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    error_message: str
    error_element: str
    open_tasks: list[TaskInfo] = field(default_factory=list)
    history: list[EventInfo] = field(default_factory=list)


@dataclass(frozen=True)
class StepOutcome:
    """What a completed task led to, as the step knows it without reading anything back."""

    instance_id: int
    status: str  # of the instance: running, completed, error
    subject: str
    revision: int
    new_tasks: list[TaskInfo] = field(default_factory=list)  # the tasks this step opened


@dataclass(frozen=True)
class SweepResult:
    instances: int
    timers_fired: int
    conflicts: int


@dataclass(frozen=True)
class OperationalNumbers:
    """What /metrics and /readyz report (engine.selectors.operations): counts and ages in seconds."""

    open_tasks: int
    overdue_tasks: int
    timers_due: int
    sweep_lag_seconds: float
    outbox_backlog: int
    outbox_oldest_seconds: float
    outbox_failed: int
    instances_in_error: int


@dataclass(frozen=True)
class StartableProcess:
    key: str
    name: str
    version: int
    form: dict | None


@dataclass(frozen=True)
class Person:
    username: str
    label: str
    note: str = ""  # e.g. "another village"


@dataclass(frozen=True)
class FieldValue:
    key: str
    label: str
    value: str
    sensitive: bool
    files: tuple = ()  # attachment tokens of a file field, for the page to name and link
    rows: tuple = ()  # a list field: each row as ((column label, value), ...) in the form's column order


@dataclass(frozen=True)
class SubmittedForm:
    task_name: str
    bpmn_id: str
    completed_by: str
    completed_at: dt.datetime
    fields: list[FieldValue]
    completed_by_label: str = ""
    superseded: bool = False  # an earlier round of a step done again since (a returned application)
    id: int = 0  # the task's id


@dataclass(frozen=True)
class ReturnNotice:
    task_name: str
    by: str
    at: dt.datetime
    fields: list[FieldValue]


@dataclass(frozen=True)
class DiagramState:
    bpmn_xml: str
    completed: list[str]
    active: list[str]
    overdue: list[str]
    latest: str = ""  # the element done most recently, to show on a phone when nothing is open


@dataclass(frozen=True)
class ElementChange:
    element_id: str
    name: str
    attributes: list[str] = field(default_factory=list)  # what differs: SpiffWorkflow spec attributes, "name", "form"


@dataclass(frozen=True)
class VersionDiff:
    """Two versions of one process compared: elements and form fields added, removed and changed."""

    key: str
    old_version: int
    new_version: int
    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    fields_added: list[tuple[str, str]] = field(default_factory=list)  # (element id, field key)
    fields_removed: list[tuple[str, str]] = field(default_factory=list)
    fields_changed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class TokenLanding:
    state: str  # ready, waiting, started, error
    old_element: str
    old_name: str
    new_element: str | None
    new_name: str
    rearmed: bool = False  # a changed timer starts its clock again


@dataclass(frozen=True)
class MigrationPreview:
    """Where each token of a running instance would land on another version, and why it cannot
    (`problems`: element id and a sentence). Empty problems: the migration may go ahead."""

    instance_id: int
    from_version: int
    to_version: int
    landings: list[TokenLanding] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class VersionInfo:
    """One deployed version of a process, as the process studio lists it (administrators only)."""

    id: int
    key: str
    version: int
    name: str
    deployed_by: str  # a display name; "" when the system deployed it
    deployed_at: dt.datetime
    checksum: str
    user_task_count: int
    running: int  # instances of this version still running (or stopped with an error)
    instances: int  # every instance ever started on this version
    latest: bool  # new cases start on this version


@dataclass(frozen=True)
class ProcessVersions:
    key: str
    name: str  # of the latest version
    versions: tuple[VersionInfo, ...]  # newest first

    @property
    def latest(self) -> VersionInfo:
        return self.versions[0]


@dataclass(frozen=True)
class StepForm:
    """A user task (or the start event) of a version, with the form people fill in there."""

    bpmn_id: str
    name: str
    role: str  # the role code of its lane ("" for the start event without a role)
    form_id: str  # the form-js schema's id, "" without a form
    field_labels: tuple[str, ...]  # in the active language

    @property
    def field_count(self) -> int:
        return len(self.field_labels)


@dataclass(frozen=True)
class VersionLabels:
    """What a version's elements and form fields are called, for pages that show ids in words (the
    studio's diff and migration pages)."""

    names: dict[str, str]  # element id -> its name in the diagram ("" when unnamed)
    kinds: dict[str, str]  # element id -> BPMN element type ("userTask", "boundaryEvent", ...)
    timers: frozenset[str]  # elements that carry a timer
    fields: dict[str, dict[str, str]]  # element id -> field key -> label (active language)
    clocks: dict[str, str]  # timer id -> the case variable its clock counts from (clock_starts_from)
    start_event_id: str

    def field_label(self, key: str) -> str:
        """The label of a case variable in any of the version's forms (the start form first); the key itself otherwise."""
        for element in [self.start_event_id, *self.fields]:
            label = self.fields.get(element, {}).get(key)
            if label:
                return label
        return key


@dataclass(frozen=True)
class MovableCase:
    """A running (or failed) instance on an earlier version of a process, as the migration page lists it."""

    instance_id: int
    subject: str
    village: str
    version: int
    status: str  # running, error
    started_at: dt.datetime
    waiting_at: tuple[str, ...]  # the names of its open tasks
    error_element: str  # where it stopped, for an instance in error


@dataclass(frozen=True)
class VersionDetail:
    info: VersionInfo
    start: StepForm | None
    steps: tuple[StepForm, ...]  # the user tasks, in the diagram's order


# -- test runs of a studio draft (engine.api.testruns, ADR 0016) ------------------------------------

@dataclass(frozen=True)
class SandboxDraft:
    """A draft that would deploy, as a test run starts it: its start form and the role that starts it."""
    key: str
    name: str
    start_event_id: str
    start_role: str
    start_form: dict | None
    warnings: tuple = ()  # ElementWarning, as deploy would carry them


@dataclass(frozen=True)
class SandboxTask:
    """A task of a test run waiting for a person: its form, and the role (lane) that would do it."""
    id: str  # the SpiffWorkflow task id, as text: what a completion names
    bpmn_id: str
    name: str
    lane: str
    role: str
    assignee: str | None  # a person the diagram routes it to by a variable, if any
    form: dict | None
    variables: dict  # the task's workflow data, for forms whose choices or limits read it


@dataclass(frozen=True)
class SandboxTimer:
    element: str
    name: str
    due_at: dt.datetime


@dataclass(frozen=True)
class SandboxLogEntry:
    """One line of a test run's log. `kind`: started, hooks (not run), service (would call; `details`
    has operation, params and the assumed result), completed (data), task_ready, withdrawn, clock
    (a jump; `details['to']`), timer (fired; due_at), limit, ended, error (message)."""
    kind: str
    at: dt.datetime
    element: str
    name: str
    details: dict


@dataclass(frozen=True)
class SandboxState:
    """A test run after an action: what the page shows, and `stored`, the opaque JSON the caller keeps
    and hands back for the next action."""
    status: str  # running, completed, error
    clock: dt.datetime
    started_clock: dt.datetime
    tasks: tuple  # SandboxTask
    timers: tuple  # SandboxTimer, soonest first
    log: tuple  # SandboxLogEntry, oldest first
    completed: tuple  # element ids done, for the diagram
    active: tuple  # element ids open or waiting
    error_element: str
    error_message: str
    stored: dict
    forms: dict = field(default_factory=dict)  # element id -> the form it runs with, to name the log's data fields
@dataclass(frozen=True)
class FormStep:
    """An element of a diagram that takes a form (the studio's form editor lists them): a user or
    manual task, or the start event. `review_of`: the steps whose submissions the task page shows open
    above this form (the diagram's `review_of` property; empty: the step done just before)."""

    element_id: str
    name: str
    kind: str  # "task" or "start"
    review_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormProblem:
    """Why a form cannot be saved or deployed, naming the field when there is one: its key (as the
    admin typed it) and its form-js `id`, so the editor can select it."""

    message: str
    key: str | None = None
    field_id: str | None = None
