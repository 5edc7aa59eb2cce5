"""Settings, read from the environment so one code base runs embedded (SQLite, no broker) and in
production (PostgreSQL, Redis, Celery worker and beat). See README.md, "Configuration"."""
from pathlib import Path
import json
import os
import re

import dj_database_url
import structlog
from django.utils.translation import gettext_lazy as _

import processes

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
# Production mode is PostgreSQL (DATABASE_URL set); the embedded default (`make run`) is SQLite in var/.
PRODUCTION = bool(os.environ.get("DATABASE_URL"))
# System checks an operator has read and accepts, comma-separated (e.g. caseflow.W002 once the coming
# year's holidays are entered on the calendar page while chinese-calendar has not been updated yet).
SILENCED_SYSTEM_CHECKS = [c.strip() for c in os.environ.get("CASEFLOW_SILENCED_CHECKS", "").split(",") if c.strip()]
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]

VAR_DIR = Path(os.environ.get("CASEFLOW_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Encryption at rest of personal data (engine/crypto.py, ADR 0019): Fernet keys, newest first. The
# embedded default generates one into var/encryption.key (0600) on first run; production must set them.
from engine.crypto import key_file_keys, parse_keys  # noqa: E402  (no Django state at import)

CASEFLOW_ENCRYPTION_KEYS = parse_keys(os.environ.get("CASEFLOW_ENCRYPTION_KEYS", ""))
if not CASEFLOW_ENCRYPTION_KEYS:
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "CASEFLOW_ENCRYPTION_KEYS must be set when DATABASE_URL is set (production mode): comma-separated Fernet keys, "
            "newest first; make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
    CASEFLOW_ENCRYPTION_KEYS = key_file_keys(VAR_DIR)


def embedded_secret_key(var_dir: Path) -> str:
    """The embedded default's own key: made at random on first run, kept in var/secret-key (0600) and
    read on every later run, so sessions survive a restart and no installation shares a public key."""
    from django.core.management.utils import get_random_secret_key

    path = var_dir / "secret-key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if key:
            return key
        raise
    with os.fdopen(fd, "w") as out:
        out.write(get_random_secret_key() + "\n")
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or (embedded_secret_key(VAR_DIR) if not PRODUCTION else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set (production mode).")

INSTALLED_APPS = [
    "django_prometheus",  # request, response and database metrics at /metrics (portal/operations)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # single-use recovery codes beside the authenticator app
    "csp",
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
    "portal.dashboard",
    "portal.sla",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.accounts.middleware.UserLanguageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.accounts.middleware.SessionLimitsMiddleware",
    "portal.accounts.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.BusyDatabaseMiddleware",
    "axes.middleware.AxesMiddleware",  # last of ours, as django-axes asks: answers a locked-out login
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username before any password check
    # Django's ModelBackend, reading a session's user with its profile and second-factor device at once.
    # Sessions signed in before it named ModelBackend: migration accounts 0006 renames it in them.
    "portal.accounts.backends.StaffBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Accounts and the web (docs/adr/0018) ---
# Lock-out: after AXES_FAILURE_LIMIT failed sign-ins of one username from one address, that pair is
# refused until an administrator unlocks it (Django admin → Access attempts → "Unlock") or the
# cool-off passes.
AXES_FAILURE_LIMIT = int(os.environ.get("CASEFLOW_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("CASEFLOW_LOGIN_LOCKOUT_HOURS", "1"))  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not logged by axes (failures are)
AXES_CLIENT_IP_CALLABLE = "portal.accounts.security.client_ip"
# Second factor (TOTP): required of these roles when CASEFLOW_REQUIRE_2FA is on (the default in
# production mode); offered to everyone, and asked at every sign-in of anyone who enrolled.
CASEFLOW_REQUIRE_2FA = env_bool("CASEFLOW_REQUIRE_2FA", PRODUCTION)
CASEFLOW_2FA_ROLES = {"admin", "civil_affairs"}
OTP_TOTP_ISSUER = os.environ.get("CASEFLOW_OTP_ISSUER", "Caseflow")
# Sessions: an absolute lifetime from sign-in and an idle timeout, both checked on every request.
CASEFLOW_SESSION_MAX_SECONDS = int(float(os.environ.get("CASEFLOW_SESSION_HOURS", "8")) * 3600)
CASEFLOW_SESSION_IDLE_SECONDS = int(float(os.environ.get("CASEFLOW_SESSION_IDLE_MINUTES", "30")) * 60)
SESSION_COOKIE_AGE = CASEFLOW_SESSION_MAX_SECONDS
SESSION_COOKIE_SAMESITE = "Lax"
# HTTPS: on in production (secure cookies, HSTS, redirect to https); CASEFLOW_HTTPS=0 turns it off,
# e.g. behind nothing on a closed network. Behind a TLS-terminating proxy set CASEFLOW_TRUST_X_FORWARDED_PROTO=1.
CASEFLOW_HTTPS = env_bool("CASEFLOW_HTTPS", PRODUCTION)
SECURE_SSL_REDIRECT = CASEFLOW_HTTPS
SESSION_COOKIE_SECURE = CASEFLOW_HTTPS
CSRF_COOKIE_SECURE = CASEFLOW_HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("CASEFLOW_HSTS_SECONDS", "31536000")) if CASEFLOW_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CASEFLOW_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("CASEFLOW_HSTS_PRELOAD", True)
# Probes and the metrics scraper talk plain HTTP to the process, behind the TLS proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env_bool("CASEFLOW_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"  # the studio's form preview is a srcdoc frame, which loads no page of ours
# Content-Security-Policy: scripts only from this site (no inline script, no eval); styles also
# inline, for the diagram and form libraries (bpmn-js, form-js) that style their SVG and editors so.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    },
}

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
    "default": {"BACKEND": "engine.crypto.EncryptedFileSystemStorage"},  # uploads encrypted at rest (ADR 0019)
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(os.environ.get("CASEFLOW_MEDIA_DIR", VAR_DIR / "media"))
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # one file
MAX_FILES_PER_FIELD = 10
MAX_TASK_REQUEST_BYTES = int(os.environ.get("CASEFLOW_MAX_TASK_REQUEST_MB", "60")) * 1024 * 1024  # one submission, all files
UPLOAD_QUOTA_BYTES_PER_DAY = int(os.environ.get("CASEFLOW_UPLOAD_QUOTA_MB", "200")) * 1024 * 1024  # per person
# An antivirus hook: the dotted path of a callable(name: str, data: bytes) -> str | None that returns
# why a file is refused (None = clean), e.g. a wrapper around clamd. Unset: no scan.
CASEFLOW_UPLOAD_SCANNER = os.environ.get("CASEFLOW_UPLOAD_SCANNER", "")
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
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING below (structured, with job ids)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits out a broker outage instead of exiting
CELERY_WORKER_CONSUMER = "portal.celery:Consumer"  # ... and reconnects every second, not after up to 30 s
CELERY_BROKER_CONNECTION_TIMEOUT = 2  # a web request's after-commit nudge gives up fast when Redis is down
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# Beat only nudges: the database says what is due. The sweep's interval bounds how late a timer fires
# while workers are up (the 24-hour escalation: at most this plus one sweep).
CELERY_BEAT_SCHEDULE = {
    "sweep-due-timers": {"task": "engine.jobs.sweep_due_timers", "schedule": float(os.environ.get("CASEFLOW_SWEEP_SECONDS", "3"))},
    "deliver-outbox": {"task": "engine.jobs.deliver_outbox", "schedule": float(os.environ.get("CASEFLOW_OUTBOX_SECONDS", "30"))},
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
    "CASEFLOW_NOTIFIER_BACKEND", "integrations.notifications.router.ChannelRouter"
)
# Outbox channel -> targets (log, email, sms); "*" for every other channel. JSON in the environment.
CASEFLOW_CHANNEL_ROUTES = json.loads(os.environ.get("CASEFLOW_CHANNEL_ROUTES", "") or '{"*": [{"backend": "log"}]}')
# Never held back by quiet hours (child-protection messages are urgent by their process too).
CASEFLOW_URGENT_CHANNELS = {"sla.breach", "partner.police", "partner.civil_affairs"}
# SMS: "console" (the log) or "http" (a signed JSON POST to CASEFLOW_SMS_URL).
CASEFLOW_SMS = {"provider": os.environ.get("CASEFLOW_SMS_PROVIDER", "console")}
if CASEFLOW_SMS["provider"] == "http":
    CASEFLOW_SMS.update(url=os.environ.get("CASEFLOW_SMS_URL", ""), account=os.environ.get("CASEFLOW_SMS_ACCOUNT", ""),
                        key=os.environ.get("CASEFLOW_SMS_KEY", ""), sender=os.environ.get("CASEFLOW_SMS_SENDER", ""),
                        timeout=float(os.environ.get("CASEFLOW_SMS_TIMEOUT", "5")))
CASEFLOW_SMS_QUIET_HOURS = os.environ.get("CASEFLOW_SMS_QUIET_HOURS", "")  # e.g. "22:00-07:00", station time
CASEFLOW_PUBLIC_URL = os.environ.get("CASEFLOW_PUBLIC_URL", "")  # links in e-mail and SMS, e.g. https://caseflow.example
# E-mail through Django's backends (the console one unless configured).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "caseflow@localhost")
# Outbox delivery (engine/outbox.py, ADR 0022): attempts before `failed`, claim lease, back-off.
CASEFLOW_OUTBOX = {
    "max_attempts": int(os.environ.get("CASEFLOW_OUTBOX_MAX_ATTEMPTS", "8")),
    "lease_seconds": int(os.environ.get("CASEFLOW_OUTBOX_LEASE_SECONDS", "300")),
    "send_seconds": 60, "batch": 10, "backoff_seconds": 30, "backoff_max_seconds": 6 * 3600,
}
# The embedded default sweeps due timers in-process every few seconds (no broker needed).
# An approval to open a minor's file outside its holders lasts this long (ADR 0020).
CASEFLOW_MINORS_APPROVAL_HOURS = float(os.environ.get("CASEFLOW_MINORS_APPROVAL_HOURS", "24"))
CASEFLOW_INPROCESS_SWEEP_SECONDS = float(os.environ.get("CASEFLOW_INPROCESS_SWEEP_SECONDS", "5"))
# Warnings before a deadline, at these shares (percent) of a task's time (engine/api/sla.py); a process
# may have its own as CASEFLOW_SLA_WARNINGS_<PROCESS KEY> (its ProcessApp's settings_defaults).
_warning_shares = os.environ.get("CASEFLOW_SLA_WARNINGS", "50,80")
if not re.fullmatch(r"\s*(\d{1,2}\s*(,\s*\d{1,2}\s*)*)?", _warning_shares):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"CASEFLOW_SLA_WARNINGS must be percents between 1 and 99 separated by commas (e.g. 50,80), not {_warning_shares!r}.")
CASEFLOW_SLA_WARNINGS = [int(p) for p in _warning_shares.split(",") if p.strip() and int(p) > 0]
# Operations (portal/operations): /metrics is answered to these addresses (comma-separated, CIDR allowed)
# or to a bearer token; /readyz fails when the oldest waiting timer is past due by more than this.
CASEFLOW_METRICS_ALLOW = [a.strip() for a in os.environ.get("CASEFLOW_METRICS_ALLOW", "127.0.0.1,::1").split(",") if a.strip()]
CASEFLOW_METRICS_TOKEN = os.environ.get("CASEFLOW_METRICS_TOKEN", "")
CASEFLOW_READY_MAX_SWEEP_LAG_SECONDS = float(os.environ.get("CASEFLOW_READY_MAX_SWEEP_LAG_SECONDS", "120"))
# Limits of the restricted expression evaluator (engine/spiff/scripting.py).
CASEFLOW_EXPRESSION_MAX_STEPS = 20_000
CASEFLOW_EXPRESSION_MAX_SECONDS = 0.5
CASEFLOW_EXPRESSION_MAX_SIZE = 100_000
CASEFLOW_BPMN_MAX_BYTES = 2 * 1024 * 1024

# --- Logs: structlog through Django's LOGGING. Every line (structlog's and the standard library's) goes
# through one formatter that adds the context bound on the step path (instance_id, task_id, act) and in
# Celery jobs (job, job_id): JSON lines in production, readable lines on the embedded default.
# CASEFLOW_LOG_FORMAT=json|console overrides the choice.
CASEFLOW_LOG_FORMAT = os.environ.get("CASEFLOW_LOG_FORMAT", "json" if PRODUCTION else "console")
_LOG_PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "foreign_pre_chain": _LOG_PRE_CHAIN,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer(ensure_ascii=False)]
                  if CASEFLOW_LOG_FORMAT == "json" else [structlog.dev.ConsoleRenderer(colors=False)]),
            ],
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"caseflow": {"level": os.environ.get("CASEFLOW_LOG_LEVEL", "INFO")}},
}
structlog.configure(
    processors=[structlog.stdlib.filter_by_level, *_LOG_PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)
