"""The engine's public facade. The portal, jobs, management commands and tests call these functions;
nothing outside engine/ touches SpiffWorkflow. Keyword-only arguments, ids and an actor (a user, or
None for the system) in; plain dataclasses out (engine.types); engine.errors raised.

Writes live in `access` (asking for and deciding access to a minor's file, the access log), `definitions` (deploy), `testruns` (a studio draft run in memory, which writes nothing), `instances` (start, cancel, retry, share), `versions` (diff, migration preview and move), `tasks` (claim,
release, assign, draft, complete), `timers` (sweep, outbox delivery), `outbox` (an administrator's retry of a message) and
`sla` (warnings before a deadline); every read lives in engine.selectors
and is re-exported here under the names pages have always used."""
from engine.api.access import (  # noqa: F401
    REASON_MAX_LENGTH, clean_reason, decide_access, keep_reason, minors_record, open_case_file, open_record, reason_given_today,
    record_access, request_access, request_record_access,
)
from engine.api.calendar import (  # noqa: F401
    NOTE_MAX_LENGTH, CalendarEntry, calendar_year, calendar_year_known, may_edit_calendar, remove_calendar_day, set_calendar_day, unknown_calendar_message,
    unknown_calendar_years,
)
from engine.api.accounts import record_second_factor_reset, second_factor_resets  # noqa: F401
from engine.api.definitions import (  # noqa: F401
    deploy_bundled, deploy_definition, deploy_file, diagram_elements, forms_carried_over, read_forms_dir, require_deployer, validate_definition,
)
from engine.api.forms import (  # noqa: F401
    DATE_LIMIT_WORDS, FIELD_TYPES, LAYOUT_TYPES, MAX_DECIMAL_DIGITS, RESERVED_KEYS, check_form, form_steps, option_source_names, role_names,
)
from engine.api.instances import (  # noqa: F401
    CANCEL_REASON_MAX_LENGTH, cancel_instance, require_user, retry_instance, share_instance, start_instance,
)
from engine.api.outbox import retry_message  # noqa: F401
from engine.api.sla import warn_before_deadlines, warning_percents  # noqa: F401
from engine.api.tasks import assign_task, claim_task, complete_task, release_task, save_draft  # noqa: F401
from engine.api.testruns import (  # noqa: F401
    MAX_JUMP_HOURS, advance_sandbox_clock, complete_sandbox_task, prepare_sandbox_run, sandbox_state, start_sandbox_run,
)
from engine.api.timers import deliver_outbox, fire_due_timers  # noqa: F401
from engine.api.versions import diff_versions, migrate_instance, preview_migration  # noqa: F401
from engine.forms import FieldSpec, describe_form  # noqa: F401 - part of the facade for pages
from engine.people import display_name, group_label, sees_people  # noqa: F401
from engine.photos import CleanPhoto, PhotoRefused, clean_photo  # noqa: F401 - photos kept outside task forms
from engine.photos import redraw as redraw_photo, sniff_image  # noqa: F401 - a picture attached to a task form
from engine.selectors import (  # noqa: F401
    APPROVAL, NONE, PURPOSES_OFFERED, REASON, SYSTEM, AccessAuditRow, AccessRequestInfo, access_need, access_request,
    access_requests_to_decide, active_approval, approval_hours, is_minors_file, latest_request, may_decide, may_read_minors_audit,
    minors_audit, minors_audit_years, minors_requests, record_need,
    AUDIT_LABELS, STATUS_LABELS, can_supervise, case_summary, definition_archive, definition_version, definition_xml, diagram_state,
    eligible_assignees, focus_forms, get_instance, instances_exist, may_complete, movable_cases, previous_submission, process_names,
    process_versions, return_notice, shareable_people, startable_processes, submitted_forms, task_draft, task_form,
    task_variables, version_labels,
    MAX_MONTHS, SlaRow, may_read_sla_report, sla_report, sla_report_villages,
)
from engine.types import (  # noqa: F401
    DefinitionInfo, DiagramState, ElementChange, EventInfo, FieldValue, FormProblem, FormStep, InstanceInfo, MigrationPreview, MovableCase,
    Person, ProcessVersions, ReturnNotice, SandboxDraft, SandboxLogEntry, SandboxState, SandboxTask, SandboxTimer, StartableProcess,
    StepForm, StepOutcome, SubmittedForm, SweepResult, TaskInfo, TokenLanding, VersionDetail,
    VersionDiff, VersionInfo, VersionLabels,
)
