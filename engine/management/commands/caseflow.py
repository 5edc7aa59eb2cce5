"""The operators' command line over engine.api: deploy, start, tasks, complete, show, fire-timers.

Each subcommand prints a short human summary, or JSON with --json. Errors go to stderr with a
non-zero exit code and a sentence, never a traceback."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from engine import api, selectors
from engine.errors import CaseflowError, FormInvalid


def _jsonable(value):
    if dataclasses.is_dataclass(value):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def _parse_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--as-of: '{text}' is not an ISO-8601 date-time, e.g. 2026-12-01T09:00:00+08:00") from None
    if value.tzinfo is None:
        raise CommandError("--as-of needs a UTC offset, e.g. 2026-12-01T09:00:00+08:00")
    return value


class Command(BaseCommand):
    help = "Run Caseflow processes from the command line (deploy, start, tasks, complete, show, fire-timers)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def add(name, help_text):
            p = sub.add_parser(name, help=help_text)
            p.add_argument("--json", action="store_true", help="print JSON")
            return p

        p = add("deploy", "deploy a BPMN file (forms from processes/<key>/forms/ unless --forms)")
        p.add_argument("file")
        p.add_argument("--forms", help="folder with <element id>.json form files")
        p.add_argument("--user", required=True)
        p = add("deploy-bundled", "deploy every process shipped in processes/")
        p.add_argument("--user")
        p = add("start", "start a process by key")
        p.add_argument("key")
        p.add_argument("--user", required=True)
        p.add_argument("--data", default="{}", help="start form data as a JSON object")
        p = add("tasks", "list the open tasks a user may act on")
        p.add_argument("--user", required=True)
        for name in ("claim", "release"):
            p = add(name, f"{name} a task")
            p.add_argument("task_id", type=int)
            p.add_argument("--user", required=True)
        p = add("assign", "assign a task to someone (supervisors)")
        p.add_argument("task_id", type=int)
        p.add_argument("--to", required=True)
        p.add_argument("--reason", required=True)
        p.add_argument("--user", required=True)
        p = add("complete", "complete a task with form data")
        p.add_argument("task_id", type=int)
        p.add_argument("--user", required=True)
        p.add_argument("--data", default="{}", help="form data as a JSON object")
        p = add("show", "status, open tasks and history of an instance, as this user may read them")
        p.add_argument("instance_id", type=int)
        p.add_argument("--user", required=True, help="whose view: cases they may not see are not shown; fields they may not read are left out")
        p.add_argument("--purpose", default="", help="a minor's file: why it is opened (casework, supervision, cover, oversight, legal, complaint, support)")
        p.add_argument("--reason", default="", help="a minor's file: what it is needed for, in a few words (recorded in the access log)")
        p = add("cancel", "cancel an instance (supervisors, admins)")
        p.add_argument("instance_id", type=int)
        p.add_argument("--reason", required=True)
        p.add_argument("--user", required=True)
        p = add("fire-timers", "fire timers due by now (or --as-of)")
        p.add_argument("--as-of", help="ISO-8601 instant with offset")

    def handle(self, *args, **options):
        action = options["action"]
        try:
            result = getattr(self, "do_" + action.replace("-", "_"))(options)
        except FormInvalid as exc:
            raise CommandError(str(exc)) from None
        except CaseflowError as exc:
            raise CommandError(str(exc)) from None
        if options.get("json"):
            self.stdout.write(json.dumps(_jsonable(result), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(self.summary(action, result))

    # -- actions ----------------------------------------------------------------------------------
    def user(self, username):
        if username is None:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named '{username}'.")
        return user

    @staticmethod
    def data(text):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"--data is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CommandError("--data must be a JSON object, e.g. '{\"risk_level\": \"high\"}'")
        return value

    def do_deploy(self, o):
        path = Path(o["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        return api.deploy_file(bpmn_path=path, forms_dir=Path(o["forms"]) if o["forms"] else None, actor=self.user(o["user"]))

    def do_deploy_bundled(self, o):
        return api.deploy_bundled(actor=self.user(o["user"]))

    def do_start(self, o):
        return api.start_instance(process_key=o["key"], data=self.data(o["data"]), actor=self.user(o["user"]))

    def do_tasks(self, o):
        return selectors.tasks_for_user(self.user(o["user"]))

    def do_claim(self, o):
        return api.claim_task(task_id=o["task_id"], actor=self.user(o["user"]))

    def do_release(self, o):
        return api.release_task(task_id=o["task_id"], actor=self.user(o["user"]))

    def do_assign(self, o):
        return api.assign_task(task_id=o["task_id"], assignee_username=o["to"], reason=o["reason"], actor=self.user(o["user"]))

    def do_complete(self, o):
        return api.complete_task(task_id=o["task_id"], data=self.data(o["data"]), actor=self.user(o["user"]))

    def do_show(self, o):
        """As the portal's case page: the facade checks the user may see the case (else NotFound); a
        minor's file also needs a purpose and a reason from a holder, an approval in force from anyone
        else (ADR 0020). The read is recorded in the access log, a refusal too."""
        user = self.user(o["user"])
        api.open_case_file(instance_id=o["instance_id"], viewer=user, view="cli", purpose=o["purpose"], reason=o["reason"])
        return selectors.get_instance(instance_id=o["instance_id"], viewer=user)

    def do_cancel(self, o):
        return api.cancel_instance(instance_id=o["instance_id"], reason=o["reason"], actor=self.user(o["user"]))

    def do_fire_timers(self, o):
        return api.fire_due_timers(as_of=_parse_time(o["as_of"]) if o["as_of"] else None)

    # -- human output -------------------------------------------------------------------------------
    def summary(self, action, result):
        if isinstance(result, list) and result and isinstance(result[0], api.TaskInfo):
            lines = [f"{'id':>6}  {'instance':>8}  {'group':<14} {'assignee':<14} {'due':<25} name"]
            for t in result:
                lines.append(f"{t.id:>6}  {t.instance_id:>8}  {t.candidate_group:<14} {(t.assignee or '-'):<14} "
                             f"{(t.due_at.isoformat() if t.due_at else '-'):<25} {t.name} [{t.bpmn_id}]")
            return "\n".join(lines)
        if isinstance(result, list):
            return "\n".join(self.summary(action, r) for r in result) or "(none)"
        if isinstance(result, api.InstanceInfo):
            lines = [f"instance {result.id} {result.process_key} v{result.version}: {result.status} {result.subject}"]
            if result.error_message:
                lines.append(f"  error at {result.error_element}: {result.error_message}")
            for t in result.open_tasks:
                lines.append(f"  open task {t.id}: {t.name} [{t.bpmn_id}] group={t.candidate_group} assignee={t.assignee or '-'} due={t.due_at}")
            return "\n".join(lines)
        if isinstance(result, api.DefinitionInfo):
            return f"{result.key} v{result.version} ({'deployed' if result.created else 'unchanged'})"
        if isinstance(result, api.SweepResult):
            return f"timers fired: {result.timers_fired} in {result.instances} instance(s); conflicts: {result.conflicts}"
        if isinstance(result, api.TaskInfo):
            return f"task {result.id} {result.name}: {result.status}, assignee {result.assignee or '-'}"
        return str(result)
