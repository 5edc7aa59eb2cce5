"""The embedded default (SQLite, one writer) under people completing tasks at the same moment: every
request waits its turn instead of failing with "database is locked", and a task two people complete
at once goes to the first — the others get the project's 409 page, never a 500."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_simultaneous_completions_on_sqlite_queue_and_conflicts_answer_409(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(CASEFLOW_VAR_DIR=str(tmp_path), STATIC_ROOT=str(tmp_path / "static"), PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "portal" / "sqlite_race.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    statuses = json.loads(run.stdout.strip().splitlines()[-1])
    assert statuses["different"] == [302] * 6, statuses["different"]  # six people, six different tasks: all saved
    assert sorted(statuses["same"]) == [302] + [409] * 29, statuses["same"]  # thirty on one task: one wins
