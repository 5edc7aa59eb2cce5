"""Every read of the engine, for the portal, the processes, the command line and the facade: lists
and pages built from indexed queries on the projection rows, each checking what the user may see.

- `tasks`: the inbox and one task (its form, draft, what a returned step starts from, what it is about);
- `cases`: which instances a user may open, an instance and its history as a viewer may read them,
  submitted forms, the diagram state, sharing;
- `definitions`: which processes a user may start, their names; for administrators, every version
  of every process (the process studio);
- `incidents`: the instances in error, for administrators; `outbox`: the messages that did not go out;
- `operations`: counts an operator watches (/readyz, /metrics), no case content;
- `memo`: `one_page()`, inside which a page's repeated reads (its task, what the viewer may read) are made once."""
from engine.selectors.cases import (  # noqa: F401
    AUDIT_LABELS, STATUS_LABELS, case_summary, diagram_state, get_instance, instance_for_user, instances_exist,
    shareable_people, staff_roles_of, submitted_forms, visible_instances,
)
from engine.selectors.definitions import (  # noqa: F401
    definition_archive, definition_version, definition_xml, latest, movable_cases, process_names, process_versions, startable_processes,
    version_labels,
)
from engine.selectors.sla import MAX_MONTHS, SlaRow, may_read_sla_report, on_time_shares, sla_report, sla_report_villages  # noqa: F401
from engine.selectors.operations import database_problem, operational_numbers, sweep_lag_seconds  # noqa: F401
from engine.selectors.incidents import Incident, IncidentPage, incidents, may_read_incidents  # noqa: F401
from engine.selectors.outbox import UndeliveredMessage, UndeliveredPage, undelivered_count, undelivered_messages  # noqa: F401
from engine.selectors.memo import one_page  # noqa: F401
from engine.selectors.tasks import (  # noqa: F401
    DUE_SOON, MAX_PAGE, TABS, InboxPage, can_supervise, eligible_assignees, focus_forms, inbox, may_complete,
    open_task_count, open_tasks_due_between, open_tasks_for_user, open_tasks_of, open_tasks_of_instances, overdue_tasks,
    previous_submission, return_notice, task_draft, task_for_user, task_form, task_row, task_variables, tasks_for_user, village_work,
)
from engine.permissions import SYSTEM  # noqa: F401,E402 - the viewer the engine reads as (every read takes one)
from engine.permissions import user_groups as roles_of  # noqa: F401,E402 - the roles (groups) a user holds
from engine.selectors.access import (  # noqa: F401,E402
    APPROVAL, NONE, PURPOSES_OFFERED, REASON, AccessAuditRow, AccessRequestInfo, access_need, access_request, access_requests_to_decide,
    active_approval, approval_hours, holds_case, holds_record, is_minors_file, latest_request, may_decide, may_read_minors_audit, minors_audit,
    minors_audit_years, minors_requests, record_need,
)
