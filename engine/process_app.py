"""A process is one folder: the base of every process package's app.

A process package subclasses `ProcessApp` in its `apps.py` and states only what is its own:

    class HomeVisitsApp(ProcessApp):
        verbose_name = _("Home visits")
        roles = {"visitor": _("Home visitor")}
        demo_users = [("visitor1", "visitor", "探访员 甲", ["dongshan"])]

Everything else follows from where the folder is. The process key is the app label (the folder's
name); the diagram is `bpmn/<key>.bpmn` beside the folder; the forms are `<folder>/forms/<element
id>.json`; `<folder>/handlers.py` is imported at start-up, so the services, hooks and option lists it
registers exist before the first step; `<folder>/urls.py` is mounted by the portal; demo data is the
management command `demo_<key>` when the folder has one; translations live in `<folder>/locale`
(Django reads every installed app's `locale/`). A folder may bring further processes of its domain
that share its records (`also_processes`, ADR 0031). Packages are found, not listed: every folder with an
`apps.py` under `processes/` (and under the folders named in CASEFLOW_EXTRA_PROCESSES) is installed.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from django.apps import AppConfig


@dataclass(frozen=True)
class NavEntry:
    """A link in every page's header, shown to the holders of `roles` (all signed-in users when empty)."""

    url_name: str
    label: str
    roles: frozenset = frozenset()


class ProcessApp(AppConfig):
    default = False  # the base itself is never an app: Django picks the one default config of apps.py
    default_auto_field = "django.db.models.BigAutoField"

    # role code -> label; a BPMN lane named "label (code)" routes its tasks to the group `code`
    roles: dict = {}
    # roles that see a case only through their own tasks or a grant, never by village
    involvement_only_roles: frozenset = frozenset()
    # setting name -> value, used when the project's settings do not set it
    settings_defaults: dict = {}
    nav: tuple = ()
    # role code -> url name: people holding only such roles land on that page, not the task inbox
    home_pages: dict = {}
    # (username, role, display name, village codes or None for township-wide) made by `manage.py demo`
    demo_users: tuple = ()
    # its cases are minors' files (PIPL sensitive personal information): opening one needs a reason,
    # and outside the case's holders a supervisor's approval (ADR 0020)
    minors_files: bool = False
    # further processes of the same domain, sharing this folder's records (ADR 0031): each key's diagram
    # is `bpmn/<key>.bpmn` and its forms `<folder>/forms/<key>/`; hooks, option lists and case summaries
    # are registered for that key in this folder's handlers.py, and `minors_files` covers them too
    also_processes: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "default" not in cls.__dict__:
            cls.default = True
        if "name" not in cls.__dict__:
            cls.name = cls.__module__.rpartition(".")[0]

    def __init__(self, app_name, app_module):
        super().__init__(app_name, app_module)
        # Before any model or handler module is imported, so what reads settings at import sees them.
        from django.conf import settings

        for name, value in self.settings_defaults.items():
            if not hasattr(settings, name):
                setattr(settings, name, value)

    @property
    def key(self) -> str:
        return self.label

    @property
    def diagram_path(self) -> Path:
        return Path(self.path).parent / "bpmn" / f"{self.key}.bpmn"

    @property
    def forms_dir(self) -> Path:
        return Path(self.path) / "forms"

    @property
    def demo_command(self) -> str | None:
        name = f"demo_{self.key}"
        return name if importlib.util.find_spec(f"{self.name}.management.commands.{name}") else None

    def ready(self):
        from engine import registry

        if importlib.util.find_spec(f"{self.name}.handlers"):
            importlib.import_module(f"{self.name}.handlers")
        registry.register_process(self.key, self.diagram_path, self.forms_dir)
        for key in self.also_processes:
            registry.register_process(key, self.diagram_path.with_name(f"{key}.bpmn"), self.forms_dir / key)
        registry.register_roles(self.roles, involvement_only=self.involvement_only_roles)
        if self.minors_files:
            for key in (self.key, *self.also_processes):
                registry.register_minors_process(key)
        for entry in self.nav:
            registry.register_nav(entry)
        for role, url_name in self.home_pages.items():
            registry.register_home_page(role, url_name)
        registry.register_demo(self.key, users=tuple(self.demo_users), command=self.demo_command)

