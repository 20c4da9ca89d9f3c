"""Settings, driven by the environment only.

Two profiles share this module (see README "Profiles"):
- ``embedded`` (default): SQLite in WAL mode under ``var/``, Celery on kombu's filesystem
  transport, email to the console. Nothing to install but Python.
- ``production``: ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL`` (broker and cache), SMTP via
  ``EMAIL_URL``, a strong ``SECRET_KEY``; refuses to start with DEBUG on.

``DATABASE_URL`` and ``REDIS_URL`` may also be set on the embedded profile (CI does so to
run the suite on PostgreSQL and Redis).
"""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

PROFILE = env.str("ITSM_PROFILE", default="embedded")
if PROFILE not in ("embedded", "production"):
    raise ImproperlyConfigured(f"ITSM_PROFILE must be 'embedded' or 'production', not {PROFILE!r}")
PRODUCTION = PROFILE == "production"

VAR_DIR = Path(env.str("ITSM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

_INSECURE_KEY = "embedded-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else _INSECURE_KEY)
# Off by default on both profiles: the demo is a product, not a debug session.
DEBUG = env.bool("DEBUG", default=False)


def _secret_key_is_weak(key: str) -> bool:
    # Same bar as Django's security.W009: long, varied, not one of ours.
    return len(key) < 50 or len(set(key)) < 5 or key == _INSECURE_KEY or key.startswith(
        "django-insecure"
    )


if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("The production profile refuses to start with DEBUG on.")
    if not SECRET_KEY:
        raise ImproperlyConfigured("The production profile needs SECRET_KEY to be set.")
    if _secret_key_is_weak(SECRET_KEY):
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak: use at least 50 random characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    if not env.str("DATABASE_URL", default=""):
        raise ImproperlyConfigured("The production profile needs DATABASE_URL (PostgreSQL).")
    if not env.str("REDIS_URL", default=""):
        raise ImproperlyConfigured("The production profile needs REDIS_URL.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    # ours
    "itsm",  # template tags and formats of the project package
    "audit",
    "accounts",
    "tickets",
    "cmdb",
    "incidents",
    "notifications",
    "sla",
    "availability",
    "changes",
    "problems",
    "fleet",
    "remediation",
    "knowledge",
    "trends",
    "desk",
    "portal",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "itsm.urls"
WSGI_APPLICATION = "itsm.wsgi.application"
ASGI_APPLICATION = "itsm.asgi.application"
FORM_RENDERER = "itsm.form_renderer.FormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
_sqlite_path = VAR_DIR / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{_sqlite_path}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the worker and beat read while the web process writes; IMMEDIATE
            # takes the write lock at BEGIN so two writers queue instead of deadlocking.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
elif env.bool("DB_POOL", default=os.environ.get("ITSM_WEB_PROCESS") == "1"):
    # Under ASGI every request runs its view in a thread of its own, so a persistent
    # connection (CONN_MAX_AGE) is never reused: each request would open a PostgreSQL
    # connection, about half the cost of a small API call (docs/benchmarks.md). The web
    # process (itsm/asgi.py) therefore keeps a pool; workers and commands keep one
    # persistent connection each.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=2),
        "max_size": env.int("DB_POOL_MAX", default=8),
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }
elif os.environ.get("ITSM_WEB_PROCESS") == "1":
    # No pool in the web process: a connection kept per request thread would outlive its
    # thread and pile up until PostgreSQL refuses more (docs/benchmarks.md).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling, login rate limits) ------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "itsm.cache.SharedRedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "itsm"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

# --- Auth -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.CachedPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 10)
# Sessions are read from the cache (written through to the database, which stays the
# record): one query less on every page.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Failed logins: 5 per username and address, then a 15-minute cool-off.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- I18N / time ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["itsm.formats"]

# --- Static and uploaded files --------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# Embedded serves static files straight from the source folders (no collectstatic step).
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# --- Endpoint fleet (docs/agent.md) ---------------------------------------------------
# The job-signing private key: read by the dispatching worker only, never by the web.
FLEET_SIGNING_KEY_FILE = env.str("FLEET_SIGNING_KEY_FILE",
                                 default=str(VAR_DIR / "keys" / "fleet-signing.pem"))
FLEET_HEARTBEAT_SECONDS = env.int("FLEET_HEARTBEAT_SECONDS", default=60)
FLEET_INVENTORY_SECONDS = env.int("FLEET_INVENTORY_SECONDS", default=3600)
FLEET_MESSAGE_MAX_BYTES = env.int("FLEET_MESSAGE_MAX_BYTES", default=2 * 1024 * 1024)
# Requests per agent per minute on the channel (messages, polls).
FLEET_RATE_PER_MINUTE = env.int("FLEET_RATE_PER_MINUTE", default=120)
# Threads per pool of the agent channel (fleet/hub.py): the channel's database work runs
# there in batches, never one thread per connection.
FLEET_CHANNEL_THREADS = env.int("FLEET_CHANNEL_THREADS", default=2)

ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=20 * 1024 * 1024)
ATTACHMENT_ALLOWED_TYPES = env.list(
    "ATTACHMENT_ALLOWED_TYPES",
    default=[
        "text/plain", "text/csv", "application/pdf", "application/json", "application/zip",
        "image/png", "image/jpeg", "image/gif", "image/webp",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "message/rfc822", "application/octet-stream",
    ],
)
# Largest non-file request body (JSON, form fields); file uploads are limited separately
# by ATTACHMENT_MAX_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Incidents: duplicate suggestions (incidents/similar.py, docs/incidents.md) --------
INCIDENT_DUPLICATES_RECENT_HOURS = env.float("INCIDENT_DUPLICATES_RECENT_HOURS", default=4)
INCIDENT_DUPLICATES_WINDOW_DAYS = env.int("INCIDENT_DUPLICATES_WINDOW_DAYS", default=30)
INCIDENT_DUPLICATES_MAX_CANDIDATES = env.int("INCIDENT_DUPLICATES_MAX_CANDIDATES", default=300)
INCIDENT_DUPLICATES_MIN_SCORE = env.float("INCIDENT_DUPLICATES_MIN_SCORE", default=0.3)

# --- Email ----------------------------------------------------------------------------
if PRODUCTION or env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="servicedesk@example.com")
# Where links in emails point (the address people open the desk and portal at).
ITSM_BASE_URL = env.str("ITSM_BASE_URL", default="http://127.0.0.1:8000")

# --- Security (production) ------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz and /readyz are probed over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "itsm.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "itsm.api.throttling.AnonRateThrottle",
        "itsm.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "itsm.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ITSM platform API",
    "DESCRIPTION": (
        "REST API of the service desk. Authenticate with a personal API token "
        "(`Authorization: Bearer <token>`) or a browser session. Errors always have the "
        "shape `{code, message, fields}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        # Impact and urgency share one 1-3 scale; one name for both.
        "ImpactUrgencyEnum": "incidents.models.Impact",
        "IncidentStateEnum": "incidents.models.IncidentState",
        # Reviews and CIs both have a "status": keep the CIs' existing name.
        "ReviewStatusEnum": "incidents.models.ReviewStatus",
        "StatusEnum": "cmdb.models.CIStatus",
        # SLA and licence metrics are both a "metric": keep the licences' existing name.
        "SlaMetricEnum": "sla.models.Metric",
        "MetricEnum": "cmdb.models.LicenceMetric",
        "AgreementKindEnum": "sla.models.AgreementKind",
        "TimerStateEnum": "sla.models.TimerState",
        "ChangeStateEnum": "changes.workflow.ChangeState",
        "ProblemStateEnum": "problems.workflow.ProblemState",
        "ApprovalStateEnum": "changes.models.ApprovalState",
        "TemplateStatusEnum": "changes.models.TemplateStatus",
        "ChangeTypeEnum": "changes.models.ChangeType",
        "RiskLevelEnum": "changes.models.RiskLevel",
        "ApprovalRuleEnum": "changes.models.ApprovalRule",
        "CabDecisionEnum": "changes.models.CabDecision",
        "CabMeetingStatusEnum": "changes.models.CabMeetingStatus",
        "LiveQueryKindEnum": "fleet.models.QueryKind",
        # Remediation's kinds, risks and states share their field names with others.
        "RemediationActionKindEnum": "remediation.models.ActionKind",
        "RemediationAuthorityKindEnum": "remediation.models.AuthorityKind",
        "RemediationRiskEnum": "remediation.models.ActionRisk",
        "RemediationRunStateEnum": "remediation.models.RunState",
        "KnowledgeArticleStateEnum": "knowledge.models.ArticleState",
        "KnowledgeVersionStateEnum": "knowledge.models.VersionState",
        "KnowledgeAudienceEnum": "knowledge.models.Audience",
        "RemediationExecutionStateEnum": "remediation.models.ExecutionState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "itsm.api.errors.add_error_responses",
    ],
}

# --- Celery ---------------------------------------------------------------------------
CELERY_QUEUES = ("default", "sla", "dispatch", "notify", "events")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = "default"
# Each queue has its own direct exchange and key, so a message reaches one queue only.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in CELERY_QUEUES
)
CELERY_TASK_DEFAULT_EXCHANGE = "default"
CELERY_TASK_DEFAULT_ROUTING_KEY = "default"
# Tasks route by the first part of their name: "sla.tasks.tick" goes to the sla queue.
CELERY_TASK_ROUTES = {
    "sla.*": {"queue": "sla"},
    "remediation.*": {"queue": "dispatch"},
    "fleet.*": {"queue": "dispatch"},
    "notifications.*": {"queue": "notify"},
    "events.*": {"queue": "events"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "knowledge-review-reminders": {
        "task": "knowledge.tasks.send_review_reminders",
        "schedule": crontab(hour=6, minute=30),  # daily, 06:30 UTC
    },
    "purge-expired-credentials": {
        "task": "accounts.tasks.purge_expired_credentials",
        "schedule": 60 * 60,
    },
    "cmdb-expiry-warnings": {
        "task": "cmdb.tasks.send_expiry_warnings",
        "schedule": crontab(hour=7, minute=0),  # daily, 07:00 UTC (CELERY_TIMEZONE)
    },
    "incidents-auto-close": {
        "task": "incidents.tasks.auto_close_resolved",
        "schedule": 60 * 60,
    },
    "fleet-sweep": {
        "task": "fleet.tasks.sweep",
        "schedule": 60,
    },
    "remediation-sweep": {
        "task": "remediation.tasks.sweep",
        "schedule": 30,
    },
    "changes-flag-overdue-retro": {
        "task": "changes.tasks.flag_overdue_retro",
        "schedule": 60 * 60,
    },
    "sla-tick": {
        "task": "sla.tasks.tick",
        "schedule": env.float("SLA_TICK_SECONDS", default=2.0),
    },
    "cmdb-resume-stale-imports": {
        "task": "cmdb.tasks.resume_stale_imports",
        "schedule": 5 * 60,
    },
    "trends-detect": {
        "task": "trends.tasks.detect",
        "schedule": env.float("TRENDS_DETECT_SECONDS", default=60 * 60),
    },
}

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # Each task's "received" and "succeeded" lines, and beat's "sending" line: with the
        # SLA tick every few seconds they would fill the log; failures are still logged.
        **{name: {"level": "INFO" if env.bool("LOG_TASKS", default=False) else "WARNING"}
           for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")},
    },
}
CSRF_FAILURE_VIEW = "itsm.views.csrf_failure"
