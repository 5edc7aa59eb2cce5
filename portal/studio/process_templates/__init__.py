"""The templates a new process starts from: each folder here holds `diagram.bpmn` (with full DI, so the
modeler draws it tidily) and `forms/<element id>.json`. The diagram names the process through
placeholders — `{{process_id}}`, `{{process_name}}`, `{{process_name_en}}`, `{{start_lane}}` — that
`instantiate` fills in: the key is a validated slug, every other value is XML-escaped, so a name with
markup or quotes can never change the diagram's structure. Each template, instantiated, passes the
engine's deploy checks (tests/portal/test_studio_new.py deploys and runs every one)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from engine import registry

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
# A process key becomes the BPMN process id (an XML name: a letter first) and a URL segment.
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
KEY_MIN, KEY_MAX = 2, 40
NAME_MAX = 100
# Keys a new process may not take: the studio's own URL segments, SpiffWorkflow's task names, and
# words that would read as something else in a URL or a log. Keys whose code ships with the portal
# (a process app's hooks, case summaries) are reserved too: see `reserved_keys`.
RESERVED = frozenset({"new", "import", "import_archive", "incidents", "edit", "save", "deploy", "discard", "diff",
                      "migrate", "test", "forms", "studio", "admin", "start", "end", "root", "static", "media",
                      "api", "none", "null", "true", "false"})
# The roles the empty template's one lane may name: every station role except the administrator's,
# who deploys processes but takes no part in them.
NOT_A_LANE = frozenset({"admin"})


@dataclass(frozen=True)
class Template:
    name: str  # the folder
    label: object  # lazily translated
    description: object
    chooses_role: bool = False  # the start lane's role comes from the page

    @property
    def folder(self) -> Path:
        return HERE / self.name


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("empty", _("Empty"), _("A start and an end event in one lane, for the role you choose: draw the rest in the modeler."),
             chooses_role=True),
    Template("linear_approval", _("Application and approval"), _(
        "A social worker fills in an application, a supervisor approves it or returns it for changes; "
        "a returned application goes back to the worker. Forms for each step.")),
    Template("monthly_visit", _("Monthly home visit"), _(
        "A social worker visits and records the date, blood pressure and notes; then a timer opens the next "
        "visit every month until a supervisor ends the follow-up.")),
)}


def reserved_keys() -> set[str]:
    """RESERVED, plus every key that code of the portal already belongs to (a process app's package,
    its start and task hooks): a new process under such a key would run that code."""
    return set(RESERVED) | set(registry.packages()) | set(registry.start_hook_processes()) | {
        key for key, _element in registry.task_hook_targets()}


def key_problem(key: str) -> str | None:
    """Why `key` cannot name a new process (before looking at what is deployed or drafted), or None."""
    if not key:
        return str(_("Give the process a key."))
    if len(key) > KEY_MAX or len(key) < KEY_MIN:
        return str(_("The key must be %(min)d to %(max)d characters long.") % {"min": KEY_MIN, "max": KEY_MAX})
    if not KEY_PATTERN.fullmatch(key):
        return str(_("The key may hold only lowercase letters a–z, digits and underscores, and must begin with a letter."))
    if key in reserved_keys():
        return str(_("“%(key)s” is reserved; choose another key.") % {"key": key})
    return None


def lane_roles() -> dict[str, str]:
    """Role code -> its name in Chinese, for the empty template's lane (lanes are named in Chinese
    whatever the administrator reads, like the bundled processes': 社工 (worker))."""
    with translation.override("zh-hans"):
        return {code: str(label) for code, label in sorted(registry.roles().items()) if code not in NOT_A_LANE}


def instantiate(template: Template, *, key: str, name: str, name_en: str = "", role: str = "worker") -> tuple[str, dict]:
    """(the diagram's XML, its forms by element id) for a new process. `key` must have passed
    `key_problem`; `role` must be one of `lane_roles()`. Raises ValueError otherwise."""
    if key_problem(key) is not None:
        raise ValueError(f"not a valid process key: {key!r}")
    roles = lane_roles()
    if role not in roles:
        raise ValueError(f"not a role a lane may name: {role!r}")
    values = {
        "process_id": key,
        "process_name": _attribute(name),
        "process_name_en": _attribute(name_en),
        "start_lane": _attribute(f"{roles[role]} ({role})"),
    }
    source = (template.folder / "diagram.bpmn").read_text(encoding="utf-8")
    xml = PLACEHOLDER.sub(lambda m: values[m.group(1)], source)  # one pass: a value is never read as a placeholder
    forms = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted((template.folder / "forms").glob("*.json"))}
    return xml, forms


def _attribute(value: str) -> str:
    """A value for a double-quoted XML attribute: markup, ampersands and quotes escaped, and the
    characters XML 1.0 cannot hold at all (control characters) dropped."""
    value = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", value)
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
