"""Shared fixtures: roles and users, the bundled processes deployed, notifications captured."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from engine import api
from integrations.notifications.backends import LocmemNotifier

UTC = dt.timezone.utc


def pytest_configure(config):
    """CASEFLOW_TEST_NOW (an ISO moment with its offset) runs the tests with the clock moved there and
    ticking: `make test-at-new-year` runs the processes and the dated pages at 07:30 on the coming 1 January,
    station time, when the date and the year in UTC are still the old ones."""
    import os

    moment = os.environ.get("CASEFLOW_TEST_NOW")
    if moment:
        import time_machine

        traveller = time_machine.travel(dt.datetime.fromisoformat(moment), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks, SKIP LOCKED, triggers): set DATABASE_URL, as `make test` does")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _english_messages():
    """Engine messages in English in this process, so assertions can read them (pages choose their
    own language per request; the default stays zh-hans)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _forget_rolled_back_definitions():
    """Each test's transaction rolls back, and SQLite hands the same ids to the next test's
    definitions: the catalog (a snapshot per definition id, kept for the life of the process, as
    versions never change once committed) must not outlive the test that read them."""
    yield
    from engine import catalog

    catalog.clear()


@pytest.fixture(autouse=True)
def _notifications(settings):
    settings.CASEFLOW_NOTIFIER_BACKEND = "integrations.notifications.backends.LocmemNotifier"
    LocmemNotifier.reset()
    yield LocmemNotifier.sent
    LocmemNotifier.reset()


@pytest.fixture
def sent():
    return LocmemNotifier.sent


PASSWORD = "x-test-password-1"


def make_user(username, *roles, villages=("dongshan",)):
    """A user with roles (groups) working in `villages` (None = township-wide)."""
    from portal.accounts.management.commands.seed_demo import set_villages

    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    set_villages(user, None if villages is None else list(villages))
    return user


@pytest.fixture
def villages(db):
    """Transactional tests flush the rows the data migration made; put the villages back."""
    from django.conf import settings

    from engine.station import Village

    for position, (code, name) in enumerate(settings.CASEFLOW_VILLAGES.items()):
        Village.objects.get_or_create(code=code, defaults={"name": name, "position": position})


@pytest.fixture
def users(villages):
    return {
        "intake": make_user("intake", "intake_desk"),
        "worker": make_user("worker", "worker"),
        "worker2": make_user("worker2", "worker"),
        "worker_xishui": make_user("worker_xishui", "worker", villages=["xishui"]),
        "supervisor": make_user("supervisor", "supervisor", villages=None),
        "civil": make_user("civil", "civil_affairs", villages=None),
        "admin": make_user("admin", "admin", villages=None),
        "outsider": make_user("outsider", "reviewer"),
    }


@pytest.fixture
def deployed(users):
    return {d.key: d for d in api.deploy_bundled(actor=users["admin"])}


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True, scope="session")
def _static_files_collected(django_db_blocker):
    """Pages name fingerprinted static files (the manifest), as production serves them. The suite's
    processes (pytest-xdist) collect one at a time: the manifest is written whole by one of them. The
    others, and the next run, find it made from the same sources and do not collect again: compressing
    the studio's bundles took 18 s a process."""
    import fcntl

    from django.conf import settings
    from django.core.management import call_command

    root = Path(settings.STATIC_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".collect.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp, sources = root / ".collected-from", _static_sources()
        if not (stamp.exists() and stamp.read_text() == sources and _manifest_complete(root)):
            call_command("collectstatic", interactive=False, verbosity=0)
            stamp.write_text(sources)


def _static_sources() -> str:
    """What collectstatic would collect, as one fingerprint: each source file's path, size and time."""
    import hashlib

    from django.contrib.staticfiles import finders

    digest = hashlib.sha256()
    for finder in finders.get_finders():
        for path, storage in sorted(finder.list([]), key=lambda item: item[0]):
            stat = Path(storage.path(path)).stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _manifest_complete(root: Path) -> bool:
    import json

    try:
        manifest = json.loads((root / "staticfiles.json").read_text())
    except (OSError, ValueError):
        return False
    return all((root / hashed).exists() for hashed in manifest.get("paths", {}).values())


@pytest.fixture(autouse=True, scope="session")
def _static_files_scanned_once(_static_files_collected):
    """WhiteNoise lists every collected file (1,150 of them) each time Django builds its middleware,
    which the test client does once per client: 0.11 s each, two thirds of the access matrix's time.
    The files do not change during the run, so each test process lists them once and every client
    shares the list; what is served, and how, stays WhiteNoise's."""
    import os

    from whitenoise.middleware import WhiteNoiseMiddleware

    original = WhiteNoiseMiddleware.add_files
    listed: dict = {}

    def add_files(self, root, prefix=None):
        if self.autorefresh:
            return original(self, root, prefix)
        key = (os.path.abspath(root), prefix)
        if key not in listed:
            own, self.files = self.files, {}
            original(self, root, prefix)
            listed[key], self.files = self.files, own
        self.files.update(listed[key])

    WhiteNoiseMiddleware.add_files = add_files
    yield
    WhiteNoiseMiddleware.add_files = original


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Test users need no key stretching; production keeps Django's default hashers."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _plain_http_test_server():
    """Tests run with DATABASE_URL set, i.e. in production mode, but against plain-HTTP test servers
    (Django's client, the browser tests' live server): no redirect to https, cookies sent over http, and
    the second factor off unless a test turns it on (tests/portal/test_hardening.py does, and runs
    `check --deploy` with the real production settings in a subprocess)."""
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.CASEFLOW_REQUIRE_2FA = False
