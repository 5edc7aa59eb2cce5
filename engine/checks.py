"""System checks: every bundled diagram deploys cleanly (parses, every service task registered,
every user task in a role's lane with a valid form, every element a hook of its process needs still
there, every option list its forms name provided) and all process code names a process that exists
— caught at `manage.py check` (run by migrate and by the server's start), not in the field."""
from django.core.checks import Error, Warning, register

from engine import forms, registry
from engine.errors import DefinitionInvalid


@register()
def bundled_processes_are_valid(app_configs, **kwargs):
    from engine.api import read_forms_dir
    from engine.spiff import parser

    errors = []
    for package in registry.packages().values():
        try:
            parsed = parser.validate_and_parse(package.bpmn_path.read_bytes(), read_forms_dir(package.forms_dir),
                                               registry.service_names(), forms.check_form_definition,
                                               generic_form=forms.generic_confirm_form)
            # A bundled process would deploy, but with something decided for it (a task without its
            # form gets the generic confirm form): the author should hear of it here (ADR 0015).
            errors.extend(Warning(f"{package.bpmn_path.name}: {w}", id="caseflow.W001") for w in parsed.warnings)
        except DefinitionInvalid as exc:
            errors.extend(Error(f"{package.bpmn_path.name}: {p}", id="caseflow.E001") for p in exc.problems)
        except OSError as exc:
            errors.append(Error(f"{package.bpmn_path}: {exc}", id="caseflow.E002"))
    return errors


@register()
def process_code_names_known_processes(app_configs, **kwargs):
    """Hooks and page summaries registered for a process key that no process package provides (a
    typo, or a folder renamed) would never run."""
    known = set(registry.packages())
    named = [("hook", key) for key, _bpmn_id in registry.task_hook_targets()]
    named += [("start hook", key) for key in registry.start_hook_processes()]
    named += [("case summary", key) for key in registry.case_summary_processes()]
    return [Error(f"a {what} is registered for the process '{key}', which no process package provides", id="caseflow.E003")
            for what, key in named if key not in known]


@register()
def holiday_calendar_knows_the_coming_year(app_configs, **kwargs):
    """A year within reach that chinese-calendar has no holidays for: working-day deadlines in it
    would count Monday to Friday, which is a guess the operator must hear about (update the package)."""
    from engine import business_calendar

    missing = business_calendar.unknown_years()
    return [Warning(business_calendar.unknown_year_message(missing), id="caseflow.W002")] if missing else []
