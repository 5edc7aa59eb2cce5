"""Named things that processes and integrations plug into the engine, filled by each app's ready():
service operations a diagram may call, hooks that keep a process's own records in step with its
tasks, option lists for form fields, and the bundled process packages `caseflow deploy-bundled` deploys.

Handlers run inside the engine step's transaction and get a context object, never a SpiffWorkflow
task: they may write their own rows, queue outside effects in the outbox, and answer with plain
JSON-ready data."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Protocol


class StepContext(Protocol):
    """What a handler may do inside a step (implemented by engine/spiff/runtime.py)."""

    instance_id: int
    process_key: str
    village: str
    actor: Any  # the user acting, or None for the system (timers)
    memo: dict  # what a handler read once in this step and may reuse (e.g. the case record)

    def enqueue(self, channel: str, payload: dict, *, effect: str) -> str:
        """Queue an outside effect; returns its idempotency key. Same effect twice -> one message."""

    def set_variable(self, name: str, value) -> None: ...

    def task_variable(self, name: str, default=None): ...

    def grant_view(self, *, group: str) -> None: ...

    def set_subject(self, subject: str) -> None: ...

    def set_village(self, village: str) -> None: ...

    def reassign_open_task(self, bpmn_id: str, username: str | None, *, reason: str, from_username: str | None = None,
                           any_village: bool = False) -> int: ...

    def audit(self, kind: str, data: dict, *, bpmn_id: str = "") -> None: ...

    def notify(self, username: str, about: str, *, overdue: bool = False, link: str = "") -> None:
        """Tell one named person something about this case (a notice, and an audit event `notice`):
        e.g. the worker who asked a partner office, that it answered; `overdue`: that it is late;
        `link`: the page of this site the notice leads to (else the case's page)."""

    def update_with_save(self, queryset, **values) -> None:
        """UPDATE the rows of `queryset` with `values`, made with the step's own save (one round
        trip for all of a step's writes). A read later in the same step sees the rows as they were."""


ServiceHandler = Callable[[StepContext, dict], dict]
TaskHook = Callable[[StepContext, dict], None]


@dataclass(frozen=True)
class ProcessPackage:
    key: str
    bpmn_path: Path
    forms_dir: Path


_services: dict[str, ServiceHandler] = {}
_asynchronous_services: set[str] = set()
_task_hooks: dict[tuple[str, str], list[TaskHook]] = {}
_start_hooks: dict[str, list[TaskHook]] = {}
_also_completers: dict[tuple[str, str], Callable[[Any, int], bool]] = {}
_option_sources: dict[str, Callable[[], list[tuple[str, str]]]] = {}
_option_checks: dict[str, Callable[..., dict[str, str]]] = {}
_packages: dict[str, ProcessPackage] = {}
_event_listeners: list[Callable[["EngineEvent"], None]] = []


@dataclass(frozen=True)
class EngineEvent:
    """What listeners hear about each audit event, inside the transaction that wrote it."""

    kind: str
    instance_id: int | None
    process_key: str
    village: str
    task_id: int | None
    bpmn_id: str
    actor_name: str
    data: dict
    subject: str = ""  # the case's subject (case number), to name the case in notices
    assignee_id: int | None = None  # the holder of the task the event is about, if any


_periodic: dict[str, Callable[[], Any]] = {}


def register_periodic(name: str, job: Callable[[], Any]) -> None:
    """A job the sweeper runs every few seconds (embedded) or Celery beat nudges (production)."""
    _periodic[name] = job


def periodic_jobs() -> dict[str, Callable[[], Any]]:
    return dict(_periodic)


_group_labels: list[Callable[[str], str | None]] = []


def register_group_label(provider: Callable[[str], str | None]) -> None:
    """provider(group) -> how people name a group that is not a role (an applicant organisation's
    own group, a partner office's), or None when it does not know the group."""
    _group_labels.append(provider)


def group_label(group: str) -> str | None:
    for provider in _group_labels:
        label = provider(group)
        if label:
            return label
    return None


_case_summaries: dict[str, Callable[[int, Any], list[tuple[str, str]]]] = {}


def register_case_summary(process_key: str, provider: Callable[..., list[tuple[str, str]]]) -> None:
    """provider(instance_id, viewer[, task]) -> [(label, value)] shown at the top of the case and task
    pages (e.g. an application's stage and money); it decides what this viewer may see. With a
    third parameter it also gets the task of a task page (None on the case page)."""
    _case_summaries[process_key] = provider


def case_summary(process_key: str, instance_id: int, viewer, task=None) -> list[tuple[str, str]]:
    import inspect

    provider = _case_summaries.get(process_key)
    if provider is None:
        return []
    if len(inspect.signature(provider).parameters) >= 3:
        return list(provider(instance_id, viewer, task))
    return list(provider(instance_id, viewer))


_person_facets: list[Callable[[str, Any], list[tuple[str, str]]]] = []


def register_person_facet(provider: Callable[[str, Any], list[tuple[str, str]]]) -> None:
    """provider(person_key, viewer) -> [(label, value)] that another process holds about one person
    (a time-bank balance on an elder's page). A person key names a process's own record,
    "<process key>:<id>", or a household by its number, "household:<number>" (what each process
    holds about the members of one household, on the household's page), so processes show each
    other's facts without importing each other; the provider decides what this viewer may see and
    answers [] for a key it does not know."""
    _person_facets.append(provider)


def person_facets(person_key: str, viewer) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    for provider in _person_facets:
        facts.extend(provider(person_key, viewer))
    return facts


@dataclass(frozen=True)
class HouseholdIncome:
    """A household's income as a process last recorded it: the year's income (a month's, times 12,
    when that is what was asked), how many people live on it, and when and by what it was taken."""
    annual_income: Decimal
    size: int
    as_of: date | None
    source: str  # how people name where the figure comes from ("低收入监测入户核实")

    @property
    def per_capita(self) -> Decimal:
        return (self.annual_income / max(1, self.size)).quantize(Decimal("0.01"))


_household_incomes: list[Callable[[list[int]], dict[int, HouseholdIncome]]] = []


def register_household_income(provider: Callable[[list[int]], dict[int, HouseholdIncome]]) -> None:
    """provider(household ids) -> {household id: HouseholdIncome} for the needs-matching households a
    process has a newer income for (the monthly monitoring visit): the matching rules then judge the
    income the station knows now, not the one entered when the household was registered. Asked for
    many households at once, so a list of households costs one query per provider."""
    if provider not in _household_incomes:
        _household_incomes.append(provider)


def household_incomes(household_ids: list[int]) -> dict[int, HouseholdIncome]:
    """The latest income each provider knows of these households (by `as_of`); absent: none known."""
    latest: dict[int, HouseholdIncome] = {}
    for provider in _household_incomes:
        for household_id, income in provider(list(household_ids)).items():
            if household_id not in latest or income.as_of > latest[household_id].as_of:
                latest[household_id] = income
    return latest


_view_labels: dict[str, Any] = {}


def register_view_labels(labels: dict[str, Any]) -> None:
    """{view: label} of the pages a process logs reads of (`api.record_access(view=...)`, `open_record`):
    how the access audit names each page to the people who read it; a lazy translation each."""
    _view_labels.update(labels)


def view_label(view: str) -> str | None:
    label = _view_labels.get(view)
    return str(label) if label is not None else None


_upload_usage: list[Callable[[Any, Any], int]] = []


def register_upload_usage(provider: Callable[[Any, Any], int]) -> None:
    """provider(user, since) -> bytes that user uploaded since that moment into one kind of stored file
    (a task form's attachments, a session's photos, a child's photos): the daily quota counts them all."""
    if provider not in _upload_usage:
        _upload_usage.append(provider)


def uploaded_since(user, since) -> int:
    return sum(int(provider(user, since) or 0) for provider in _upload_usage)


@dataclass(frozen=True)
class SearchHit:
    """One record a search found, as the search page lists it: what kind of record it is, its name or
    number as this viewer may see it, its village and the page that opens it (which checks access
    again, the need-to-know gate of a minor's file included)."""

    kind: str
    title: str
    village: str
    url: str
    detail: str = ""


SEARCH_LIMIT = 30  # hits per provider: a search names a person, it does not list a village
_searches: list[Callable[[str, Any], list[SearchHit]]] = []


def register_search(provider: Callable[[str, Any], list[SearchHit]]) -> None:
    """provider(query, viewer) -> at most SEARCH_LIMIT hits among the records of one process that the
    viewer may see (their villages, their roles). The query is trimmed and at most 40 characters: a
    name or part of one, a record's number, or the last digits of a phone or ID number. Names are
    encrypted at rest, so a provider reads the candidates of the viewer's scope and matches in
    memory. A minor's name is never shown in a hit: the hit names the record that holds it."""
    if provider not in _searches:
        _searches.append(provider)


def search(query: str, viewer) -> list[SearchHit]:
    hits: list[SearchHit] = []
    for provider in _searches:
        hits.extend(provider(query, viewer)[:SEARCH_LIMIT])
    return hits


@dataclass(frozen=True)
class Figure:
    """One number of the station's year that a process counts (awareness sessions held, yuan
    committed, elders screened), for the dashboard against the year's targets.

    compute(year, villages) -> FigureValues over the villages given (None: the whole township);
    `kind` says how months add up: "count" sums them (sessions, person-times, yuan), "share" is a
    percentage at the end of the period (screened of those to screen), so the year's value is the
    latest month's. `drill` is the URL name of the page listing the records behind the number, with
    a fixed query of its own if it needs one ("activities?kind=training"); the dashboard adds
    year= and village=. `decimals`: how many decimals a target of it may have — 0 for a count of
    sessions, people or households, 2 for yuan; a share's target is a percentage, at most 100."""

    code: str
    label: Any
    unit: Any
    compute: Callable[[int, Any], "FigureValues"]
    kind: str = "count"
    drill: str = ""
    order: int = 100
    decimals: int = 0

    @property
    def is_share(self) -> bool:
        return self.kind == "share"


@dataclass(frozen=True)
class FigureValues:
    total: Any
    by_month: dict  # month (1-12) -> value in that month (a count) or at its end (a share)
    by_village: dict  # village code -> the year's value there


_figures: dict[str, Figure] = {}


def register_figure(figure: Figure) -> None:
    _figures[figure.code] = figure


def figures() -> list[Figure]:
    return sorted(_figures.values(), key=lambda f: (f.order, f.code))


def villages_for(user) -> set[str] | None:
    """The village codes a user works in (None: the whole township) — as the engine applies them."""
    from engine.permissions import user_villages

    return user_villages(user)


def on_event(listener: Callable[[EngineEvent], None]) -> Callable[[EngineEvent], None]:
    """listener(event) runs for every audit event, in the same transaction (e.g. notifications)."""
    _event_listeners.append(listener)
    return listener


def event_listeners() -> list[Callable[[EngineEvent], None]]:
    return list(_event_listeners)


_batch_listeners: list[Callable[[list[EngineEvent]], None]] = []


def on_events(listener: Callable[[list[EngineEvent]], list | None]) -> Callable[[list[EngineEvent]], list | None]:
    """listener(events) runs once for all the audit events a step writes, in its transaction: a
    listener that writes rows (notifications) does it in one statement, not one per event. It may
    instead return the writes as [(sql, params), ...] when it reads nothing back from them: the
    step then makes them with its own save (the same transaction, without a round trip of their
    own); outside a step they are made at once."""
    _batch_listeners.append(listener)
    return listener


def batch_listeners() -> list[Callable[[list[EngineEvent]], None]]:
    return list(_batch_listeners)


def register_service(name: str, handler, *, asynchronous: bool = False) -> None:
    """A service task with `<spiffworkflow:serviceTaskOperator id="name">` calls `handler(ctx, params)`
    inside the step's transaction. With `asynchronous=True` the step only queues the call (an outbox
    row in its transaction) and the task waits; a worker then calls `handler(params, key=...)` outside
    any transaction — it may take long or fail and be retried, `key` is the call's idempotency key for
    the outside system — and continues the instance with the dict it answers (the task's result
    variable). After the last failed attempt the case stops in the error state at that task."""
    _services[name] = handler
    if asynchronous:
        _asynchronous_services.add(name)
    else:
        _asynchronous_services.discard(name)


def service(name: str, *, asynchronous: bool = False):
    def decorator(func):
        register_service(name, func, asynchronous=asynchronous)
        return func

    return decorator


def is_asynchronous_service(name: str) -> bool:
    return name in _asynchronous_services


def on_task_completed(process_key: str, bpmn_id: str):
    """`hook(ctx, cleaned_form_data)` runs in the transaction that completes that task."""

    def decorator(func: TaskHook) -> TaskHook:
        _task_hooks.setdefault((process_key, bpmn_id), []).append(func)
        return func

    return decorator


def also_completed_by(process_key: str, bpmn_id: str):
    """`may(user, instance_id) -> bool`: someone outside the task's role who may still complete it in
    this case — decided case by case by the process (a time-bank volunteer signing out of their own
    service on their phone). Only the completion is opened to them: the task stays in its role's
    inbox, and the task page stays closed to them; the process's own page submits for them."""

    def decorator(func):
        _also_completers[(process_key, bpmn_id)] = func
        return func

    return decorator


def may_also_complete(user, process_key: str, bpmn_id: str, instance_id: int) -> bool:
    may = _also_completers.get((process_key, bpmn_id))
    return bool(may is not None and user is not None and getattr(user, "is_active", False) and may(user, instance_id))


def on_start(process_key: str):
    def decorator(func: TaskHook) -> TaskHook:
        _start_hooks.setdefault(process_key, []).append(func)
        return func

    return decorator


def register_option_source(name: str, provider: Callable[..., list[tuple[str, str]]],
                           check: Callable[..., dict[str, str]] | None = None) -> None:
    """Form fields with properties.options_source = name get their choices from provider(),
    provider(user) when it takes one argument (e.g. "the organisations I belong to"), or
    provider(user, variables) when it takes two (the task's workflow data: "this household's members").

    `check(user, values)`: {value: label} for those of `values` the user may choose — what a form's
    cleaning and display ask, answered for the chosen values alone. A long list (the township's
    elders) then costs its length only where it is shown, never for every form sent."""
    _option_sources[name] = provider
    if check is not None:
        _option_checks[name] = check
    else:
        _option_checks.pop(name, None)


def option_check(name: str, user, values: list[str]) -> dict[str, str] | None:
    """{value: label} of `values` the user may choose from the option source `name`, or None when
    the source has no check (then the whole list decides)."""
    check = _option_checks.get(name)
    return None if check is None else check(user, [str(v) for v in values])


def register_process(key: str, bpmn_path: Path, forms_dir: Path) -> None:
    _packages[key] = ProcessPackage(key, Path(bpmn_path), Path(forms_dir))


def service_handler(name: str) -> ServiceHandler | None:
    return _services.get(name)


def service_names() -> set[str]:
    return set(_services)


def task_hooks(process_key: str, bpmn_id: str) -> list[TaskHook]:
    return list(_task_hooks.get((process_key, bpmn_id), ()))


def start_hooks(process_key: str) -> list[TaskHook]:
    return list(_start_hooks.get(process_key, ()))


def option_source(name: str, user=None, variables: dict | None = None) -> list[tuple[str, str]] | None:
    import inspect

    provider = _option_sources.get(name)
    if provider is None:
        return None
    arity = len(inspect.signature(provider).parameters)
    if arity >= 2:
        return provider(user, variables or {})
    return provider(user) if arity == 1 else provider()


def option_source_reads_case(name: str) -> bool:
    """Whether the option source's list depends on the case's data (it takes `variables`)."""
    import inspect

    provider = _option_sources.get(name)
    return provider is not None and len(inspect.signature(provider).parameters) >= 2


def packages() -> dict[str, ProcessPackage]:
    return dict(_packages)


# -- what process apps bring besides their diagram (engine/process_app.py) ------------------------

_roles: dict[str, Any] = {}
_involvement_only: set[str] = set()
_nav: list[Any] = []
_home_pages: dict[str, str] = {}
_demo: dict[str, tuple[tuple, str | None]] = {}


_minors: set[str] = set()


def register_minors_process(key: str) -> None:
    """The cases of process `key` are minors' files: need-to-know access (ADR 0020)."""
    _minors.add(key)


def minors_processes() -> set[str]:
    from django.conf import settings

    return set(getattr(settings, "CASEFLOW_MINORS_PROCESSES", ())) | _minors


@dataclass(frozen=True)
class MinorsRecord:
    """A process's own record that is not a case but can hold a minor's data (a household with
    children), as the need-to-know check sees it: where it is, how it is named in lists and the
    audit (a number, never a name), whether it holds a minor now, and the cases whose holders hold it."""

    kind: str
    id: int
    process_key: str
    village: str
    subject: str
    has_minors: bool
    instance_ids: tuple = ()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


_minors_records: dict[str, Callable[[int, Any], MinorsRecord | None]] = {}


def register_minors_record(kind: str, resolver: Callable[[int, Any], "MinorsRecord | None"]) -> None:
    """Records of `kind` get the minors' need-to-know rule when they hold a minor (ADR 0020 addendum).
    `resolver(record_id, viewer)` answers the record, or None when there is none or the viewer may
    not see it (`engine.permissions.SYSTEM` sees every record)."""
    _minors_records[kind] = resolver


def minors_record(kind: str, record_id, viewer) -> MinorsRecord | None:
    resolver = _minors_records.get(kind)
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        return None
    return resolver(record_id, viewer) if resolver else None


def minors_record_kinds() -> set[str]:
    return set(_minors_records)


def register_roles(roles: dict, *, involvement_only=()) -> None:
    """Roles a process brings (code -> label); `involvement_only` see cases only through their tasks."""
    _roles.update(roles)
    _involvement_only.update(involvement_only)


def roles() -> dict[str, Any]:
    """Every role: the station's own (settings.CASEFLOW_ROLES) and those the process apps bring."""
    from django.conf import settings

    return {**_roles, **settings.CASEFLOW_ROLES}


def involvement_only_roles() -> set[str]:
    from django.conf import settings

    return set(getattr(settings, "CASEFLOW_INVOLVEMENT_ONLY_ROLES", ())) | _involvement_only


def register_nav(entry) -> None:
    """A header link (engine.process_app.NavEntry)."""
    if entry not in _nav:
        _nav.append(entry)


def nav_entries() -> list[Any]:
    return list(_nav)


def register_home_page(role: str, url_name: str) -> None:
    """A role whose people work only on pages of their own (a time-bank volunteer's passbook): they
    land there after signing in instead of the task inbox, and the header offers nothing else."""
    _home_pages[role] = url_name


def home_page(roles) -> str | None:
    """The url name of the home page for someone holding exactly these roles: only when every role
    they hold has one (anyone with a staff role keeps the inbox)."""
    roles = set(roles)
    if not roles or not roles <= set(_home_pages):
        return None
    return _home_pages[sorted(roles)[0]]


def register_demo(process_key: str, *, users: tuple = (), command: str | None = None) -> None:
    """A process's demo users and the management command that creates its demo cases."""
    _demo[process_key] = (tuple(users), command)


def demo_users() -> list[tuple]:
    return [user for users, _command in _demo.values() for user in users]


def demo_commands() -> list[str]:
    return [command for _users, command in _demo.values() if command]


_code_variables: dict[str, set[str]] = {}


def register_variables(process_key: str, names) -> None:
    """The workflow variables a process's own code sets (`ctx.set_variable` in its hooks and
    services). Deploy cannot see into code, so without this a gateway condition reading one of them
    would look like a typo (parser: a condition may read only variables something puts there)."""
    _code_variables.setdefault(process_key, set()).update(names)


def code_variables(process_key: str) -> set[str]:
    return set(_code_variables.get(process_key, ()))


def code_variables_key() -> frozenset:
    """Every declared (process key, variable): part of what a cached deploy check depends on."""
    return frozenset((key, name) for key, names in _code_variables.items() for name in names)


def task_hook_targets() -> list[tuple[str, str]]:
    """(process key, element id) of every task hook: what the diagrams must keep."""
    return list(dict.fromkeys([*_task_hooks, *_also_completers]))


def start_hook_processes() -> list[str]:
    return list(_start_hooks)


def case_summary_processes() -> list[str]:
    return list(_case_summaries)


def option_source_names() -> set[str]:
    return set(_option_sources)
