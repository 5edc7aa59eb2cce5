"""One package per process: its diagram under bpmn/, its forms, its records and the handlers it
registers with the engine (see engine/process_app.py). Packages are found, not listed: every folder
here with an apps.py is a process, and so is every such folder under the directories named in the
environment variable CASEFLOW_EXTRA_PROCESSES (separated like PATH), which join this package — a
station's own processes kept outside the repository, or a process a test brings."""
import os
from pathlib import Path

__path__ = [*__path__, *(str(Path(p).resolve()) for p in os.environ.get("CASEFLOW_EXTRA_PROCESSES", "").split(os.pathsep) if p)]


def discovered() -> list[str]:
    """Dotted names of the process packages, for INSTALLED_APPS."""
    found = set()
    for root in __path__:
        for child in Path(root).iterdir():
            if (child / "apps.py").is_file() and child.name.isidentifier():
                found.add(f"{__name__}.{child.name}")
    return sorted(found)
