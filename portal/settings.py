"""Settings, read from the environment so one code base runs embedded (SQLite, no broker) and in
production (PostgreSQL, Redis, Celery worker and beat). See README.md, "Configuration"."""
from pathlib import Path
import os

import dj_database_url
from django.utils.translation import gettext_lazy as _

import processes

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    # Only the embedded default may run without a key; production must set one.
    "embedded-insecure-key-set-SECRET_KEY-in-production" if not os.environ.get("DATABASE_URL") else ""
)
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set (production mode).")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]

VAR_DIR = Path(os.environ.get("CASEFLOW_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "django_htmx",
    "pgtrigger",  # PostgreSQL triggers; on SQLite its migration operations do nothing (ADR 0020)
    "pghistory",  # row history of case records, households, resources, ledger entries, users
    "engine",
    "integrations",
    *processes.discovered(),  # every folder of processes/ with an apps.py
    "portal.accounts",
    "portal.notifications",
    "portal.cases",
    "portal.inbox",
    "portal.incidents",
    "portal.studio",
    "portal.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.accounts.middleware.UserLanguageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.BusyDatabaseMiddleware",
]

ROOT_URLCONF = "portal.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]
WSGI_APPLICATION = "portal.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'caseflow.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Who changed a tracked row, and on which page: pghistory attaches the request's user and URL to the
    # history rows its triggers write. It sets a PostgreSQL session variable, so only there.
    MIDDLEWARE.append("pghistory.middleware.HistoryMiddleware")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # SQLite has one writer. Every transaction takes the write lock when it begins (IMMEDIATE), so two
    # people completing tasks at once queue for up to 20 s instead of failing with "database is locked"
    # half-way through; the one who comes second then sees the task done (409), never a 500.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True  # stored in UTC, shown in Asia/Shanghai

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
# Static files are collected (make run / make test do it), fingerprinted and compressed: WhiteNoise
# serves them gzipped with a year's immutable cache, so a phone loads htmx and the diagram viewer once.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(os.environ.get("CASEFLOW_MEDIA_DIR", VAR_DIR / "media"))
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # one file
MAX_FILES_PER_FIELD = 10
MAX_TASK_REQUEST_BYTES = int(os.environ.get("CASEFLOW_MAX_TASK_REQUEST_MB", "60")) * 1024 * 1024  # one submission, all files
UPLOAD_QUOTA_BYTES_PER_DAY = int(os.environ.get("CASEFLOW_UPLOAD_QUOTA_MB", "200")) * 1024 * 1024  # per person
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie

# --- Celery (production). Without a broker, nothing is sent: timers are swept in-process. ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}  # longer than the longest task
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sweep-due-timers": {"task": "engine.jobs.sweep_due_timers", "schedule": 15.0},
    "deliver-outbox": {"task": "engine.jobs.deliver_outbox", "schedule": 30.0},
    "periodic-jobs": {"task": "engine.jobs.run_periodic_jobs", "schedule": 60.0},
}

# --- Caseflow ---
# Roles are Django groups; a BPMN lane named "社工 (worker)" maps to the group "worker". These are the
# station's own; each process app adds the roles it brings (engine.registry.roles()).
CASEFLOW_ROLES = {
    "intake_desk": _("Intake desk"),
    "worker": _("Social worker"),
    "supervisor": _("Supervisor"),
    "admin": _("Administrator"),
}
# Roles that see a case only through their own tasks or an explicit grant, never by village; the
# process apps add theirs (a micro-fund applicant organisation, a reviewer, a partner office).
CASEFLOW_INVOLVEMENT_ONLY_ROLES: set[str] = set()
# Settings of a process (MICRO_FUND, NEEDS_MATCHING, ...) default in its app (processes/<name>/apps.py);
# set one here to override it.
# Villages created by the first migration (code -> name); admins manage them afterwards.
CASEFLOW_VILLAGES = {
    "dongshan": "东山村",
    "xishui": "西水村",
    "nanling": "南岭村",
    "beipo": "北坡村",
    "zhongxin": "中心社区",
    "hetang": "荷塘村",
    "qingshi": "青石村",
}
# How outside effects leave the building (police notices, SMS, e-mail); swappable like EMAIL_BACKEND.
CASEFLOW_NOTIFIER_BACKEND = os.environ.get(
    "CASEFLOW_NOTIFIER_BACKEND", "integrations.notifications.backends.LogNotifier"
)
# The embedded default sweeps due timers in-process every few seconds (no broker needed).
# An approval to open a minor's file outside its holders lasts this long (ADR 0020).
CASEFLOW_MINORS_APPROVAL_HOURS = float(os.environ.get("CASEFLOW_MINORS_APPROVAL_HOURS", "24"))
CASEFLOW_INPROCESS_SWEEP_SECONDS = float(os.environ.get("CASEFLOW_INPROCESS_SWEEP_SECONDS", "5"))
# Limits of the restricted expression evaluator (engine/spiff/scripting.py).
CASEFLOW_EXPRESSION_MAX_STEPS = 20_000
CASEFLOW_EXPRESSION_MAX_SECONDS = 0.5
CASEFLOW_EXPRESSION_MAX_SIZE = 100_000
CASEFLOW_BPMN_MAX_BYTES = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"caseflow": {"level": os.environ.get("CASEFLOW_LOG_LEVEL", "INFO")}},
}
