"""System checks: every bundled diagram deploys cleanly (parses, every service task registered,
every user task in a role's lane with a valid form) — caught at `manage.py check`, not in the field."""
from django.core.checks import Error, register

from engine import forms, registry
from engine.errors import DefinitionInvalid


@register()
def bundled_processes_are_valid(app_configs, **kwargs):
    from engine.api import read_forms_dir
    from engine.spiff import parser

    errors = []
    for package in registry.packages().values():
        try:
            parser.validate_and_parse(package.bpmn_path.read_bytes(), read_forms_dir(package.forms_dir),
                                      registry.service_names(), forms.check_form_definition)
        except DefinitionInvalid as exc:
            errors.extend(Error(f"{package.bpmn_path.name}: {p}", id="caseflow.E001") for p in exc.problems)
        except OSError as exc:
            errors.append(Error(f"{package.bpmn_path}: {exc}", id="caseflow.E002"))
    return errors
