"""Settings for every environment. Every knob comes from the environment (django-environ).

The defaults are production's (DEBUG off), so a missing variable never turns development mode on:
production sets SECRET_KEY, DATABASE_URL and REDIS_URL. `make run` (scripts/run.py) turns DEBUG on and
with it the development key, SQLite and the embedded Redis it starts. `ticketing.settings.test` adjusts a
few for the test suite.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ

from apps.common.tunables import read as read_tunables
from ticketing.tunables import ALL as ALL_TUNABLES

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The apps' own knobs, each declared once in apps/<app>/tunables.py (docs/SETTINGS.md), read here.
tuned = read_tunables(ALL_TUNABLES, os.environ)
globals().update(tuned)

DEV_SECRET_KEY = "django-insecure-dev-only-key-change-me-in-production-0123456789"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else None)
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
if SECRET_KEY == DEV_SECRET_KEY and not DEBUG:
    # The development key is public (it is in this file): tokens signed with it can be forged.
    raise environ.ImproperlyConfigured("SECRET_KEY is the published development key; set a secret one.")
# Signs ticket codes (apps.tickets.signing): base64 of a raw Ed25519 private key. `make run` keeps a
# development one under .run/; production has no default (a published key would let anyone forge
# tickets), and the system check tickets.E001 says what is wrong with a malformed one.
TICKET_SIGNING_KEY = env.str("TICKET_SIGNING_KEY", default="")
if not TICKET_SIGNING_KEY and not DEBUG:
    raise environ.ImproperlyConfigured(
        "TICKET_SIGNING_KEY must be set when DEBUG is off: base64 of a raw 32-byte Ed25519 private key "
        "(python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "apps.common.admin_site.ThrottledAdminConfig",  # django.contrib.admin, its login rate limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.common",
    "apps.accounts",
    "apps.concerts",
    "apps.queue",
    "apps.reservations",
    "apps.tickets",
    "apps.payments",
    "apps.web",
]

MIDDLEWARE = [
    "apps.common.middleware.RequestIdMiddleware",
    "apps.common.middleware.QueuedTooLongMiddleware",
    "apps.common.middleware.MetricsMiddleware",
    "apps.common.middleware.AllowedHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.queue.fast_path.QueueFastPathMiddleware",
    "apps.reservations.fast_path.HoldFastPathMiddleware",
    "apps.payments.fast_path.PaymentFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.common.site_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.common.site_middleware.AuthenticationMiddleware",
    "apps.common.site_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.common.csp.HtmlCSPMiddleware",
    "apps.common.middleware.ApiErrorMiddleware",
    "apps.common.middleware.ReplicaReadsMiddleware",
]

ROOT_URLCONF = env.str("ROOT_URLCONF", default="ticketing.urls")
WSGI_APPLICATION = "ticketing.wsgi.application"
ASGI_APPLICATION = "ticketing.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------


def database_config(url: str) -> dict:
    """One database alias from a URL, with the options each engine needs for the booking rules."""
    config = env.db_url_config(url)
    engine = config["ENGINE"]
    options = config.setdefault("OPTIONS", {})
    if engine == "django.db.backends.sqlite3":
        # Several processes (web, worker, beat) write the file at once. IMMEDIATE transactions take
        # the write lock up front, which is what keeps seat and wallet rules true on SQLite
        # (it ignores select_for_update); WAL lets readers run beside the writer.
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    elif engine in ("django.db.backends.mysql",):
        # Django's backend with a one-round-trip begin and multi-statement round trips (apps.common.mysql).
        config["ENGINE"] = "apps.common.mysql"
        options.setdefault("charset", "utf8mb4")
        # READ COMMITTED: a locking read sees the latest committed row, not a stale snapshot.
        options.setdefault("isolation_level", "read committed")
        options.setdefault(
            "init_command",
            f"SET sql_mode='STRICT_TRANS_TABLES', innodb_lock_wait_timeout={tuned['DB_LOCK_WAIT_TIMEOUT_SECONDS']}",
        )
        options.setdefault("connect_timeout", 5)
        config.setdefault("TEST", {})["CHARSET"] = "utf8mb4"
        config["TEST"]["COLLATION"] = "utf8mb4_unicode_ci"
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    config["ATOMIC_REQUESTS"] = False
    return config


DATABASES = {"default": database_config(env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
# A read replica for catalogue reads that may be a little stale (apps.common.db_router).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = database_config(env.str("DATABASE_REPLICA_URL"))
    DATABASES["replica"].setdefault("TEST", {})["MIRROR"] = "default"
DATABASE_ROUTERS = ["apps.common.db_router.ReplicaRouter"]
REPLICA_READ_URL_NAMES = {"concerts", "concert-detail", "concert-dates"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Argon2id at OWASP's parameters first (apps/accounts/hashers.py); PBKDF2 stays second so that
# the hashes made before verify, and Django re-hashes them with Argon2id on the next login.
PASSWORD_HASHERS = [
    "apps.accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis: cache, waiting queue, token deny-list, Celery broker -------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Short timeouts: when Redis is gone, requests answer 503 at once instead of hanging a worker.
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=1.0)
REDIS_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=0.5)
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="")
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=50)

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT_SECONDS,
            "SOCKET_CONNECT_TIMEOUT": REDIS_CONNECT_TIMEOUT_SECONDS,
        },
    }
}

# django-redis's connection factory, able to hand out a Redis Cluster client (apps.common.redis).
DJANGO_REDIS_CONNECTION_FACTORY = "apps.common.redis.ClusterConnectionFactory"

# --- Celery --------------------------------------------------------------------------------
# Celery's Redis transport does not speak Redis Cluster: with a cluster REDIS_URL, the broker must be
# named (a single Redis, or RabbitMQ: amqp://…).
_cluster = REDIS_URL.startswith(("redis+cluster://", "rediss+cluster://"))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=None if _cluster else REDIS_URL)
if CELERY_BROKER_URL is None:
    raise environ.ImproperlyConfigured("REDIS_URL names a Redis Cluster: set CELERY_BROKER_URL too.")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a request must not hang when the broker is down: fail fast, the caller decides.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
    "max_retries": 1,
}
CELERY_TIMEZONE = "UTC"
# The worker logs through LOGGING (JSON lines with the request id), not a handler of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Queues: what buyers wait for (hold release, queue admission, the outbox relay) runs on the
# `booking` queue, which has a worker of its own, so it never sits behind e-mail.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "apps.accounts.tasks.purge_*": {"queue": "default"},  # housekeeping, not e-mail (first match wins)
    "apps.accounts.tasks.*": {"queue": "email"},
    "apps.reservations.tasks.send_*": {"queue": "email"},
    "apps.payments.tasks.send_*": {"queue": "email"},
    "apps.reservations.tasks.release_expired_holds_task": {"queue": "booking"},
    "apps.queue.tasks.*": {"queue": "booking"},
    "apps.common.tasks.relay_outbox_task": {"queue": "booking"},
}
# Every task has time limits (the booking tasks set tighter ones): a hung SMTP server or a stuck
# query frees its worker instead of holding it for ever. Soft raises inside the task; hard kills it.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)

# --- Email ---------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tickets@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Queue entry needs a verified e-mail (403 EMAIL_NOT_VERIFIED): on in production, off in development
# (`make run`, where DEBUG is on) unless set.
REQUIRE_VERIFIED_EMAIL = env.bool("REQUIRE_VERIFIED_EMAIL", default=not DEBUG)

# --- DRF / JWT / OpenAPI ---------------------------------------------------------------------
# What checks the queue access token of the views that declare `QueueGated` (apps/common/queue_gate.py).
QUEUE_GATE = "apps.queue.gate.QueueGate"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.common.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "apps.common.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "apps.common.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.common.schema.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        # Per client IP; separate budgets, so buyers behind one NAT refreshing their tokens do not
        # lock each other out of logging in. Refresh counts per user (the token's) and, far more
        # generously, per IP.
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "admin_login": env.str("THROTTLE_ADMIN_LOGIN", default="10/min"),
        "refresh": env.str("THROTTLE_REFRESH", default="20/min"),
        "refresh_ip": env.str("THROTTLE_REFRESH_IP", default="600/min"),
        "verify_email": env.str("THROTTLE_VERIFY_EMAIL", default="10/min"),
        "signup": env.str("THROTTLE_SIGNUP", default="5/min"),
        "charge": env.str("THROTTLE_CHARGE", default="30/min"),
        "queue_enter": env.str("THROTTLE_QUEUE_ENTER", default="30/min"),
        "hold": env.str("THROTTLE_HOLD", default="30/min"),
        "pay": env.str("THROTTLE_PAY", default="30/min"),
        "queue_enter_ip": env.str("THROTTLE_QUEUE_ENTER_IP", default="600/min"),
        "hold_ip": env.str("THROTTLE_HOLD_IP", default="600/min"),
        "pay_ip": env.str("THROTTLE_PAY_IP", default="600/min"),
        "anon_ip": env.str("THROTTLE_ANON_IP", default="60/min"),
    },
    # How many trusted reverse proxies stand in front of the web processes: the client address used
    # by every per-IP rate limit is then read from X-Forwarded-For (apps.common.throttling).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TTL_SECONDS", default=15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TTL_SECONDS", default=7 * 24 * 3600)),
    # Rotation and replay detection are the accounts service's (TokenFamily.refresh_jti), not simplejwt's
    # views or blacklist app.
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Verified once per process, then remembered (VERIFIED_ACCESS_TOKENS_KEPT; apps/accounts/access_tokens.py).
    "AUTH_TOKEN_CLASSES": ("apps.accounts.access_tokens.RememberedAccessToken",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Concert ticketing API",
    "DESCRIPTION": "Waiting queue, seat holds and wallet payments for concert dates.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.accounts.models.Role",
        "LedgerKindEnum": "apps.accounts.models.LedgerKind",
        "SeatStatusEnum": "apps.concerts.models.SeatStatus",
        "ReservationStatusEnum": "apps.reservations.models.ReservationStatus",
        "PaymentStatusEnum": "apps.payments.models.PaymentStatus",
        "QueueStatusEnum": "apps.queue.models.QueueStatus",
        "TicketStatusEnum": "apps.tickets.models.TicketStatus",
    },
    # Path ids as apps.common.converters.IdConverter matches them (1 to 18 digits; 0 is not found).
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}},
}

# --- Internationalisation, static files --------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "apps.web.storage.StaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request bodies: the API takes small JSON documents only.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# --- Security (production: DEBUG=False) -----------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# On every HTML page (apps.common.csp): everything from this origin only, no inline script or style,
# no eval. The API docs alone add inline styles (Swagger UI's page has a <style> block).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^api/health(/live|/ready)?$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logs, metrics, error reporting ------------------------------------------------------------
# JSON lines (apps.common.logs) with the request id on every record; LOG_FORMAT=plain for reading by eye.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.common.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "apps.common.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# /metrics: with METRICS_TOKEN set, scrapers send `Authorization: Bearer <token>`; without a token it is
# served only when METRICS_OPEN is on (default: while DEBUG is). Multiprocess: PROMETHEUS_MULTIPROC_DIR.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_OPEN = env.bool("METRICS_OPEN", default=DEBUG)

# Sentry, only when SENTRY_DSN is set: errors of requests and Celery tasks, tagged with the request id.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from apps.common.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
