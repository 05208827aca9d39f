"""Gatehouse settings: one module, driven by environment variables.

Nothing set gives the embedded `make run` defaults (SQLite, no broker service, the local
development OpenID provider). `DJANGO_PRODUCTION=1` switches to deployment defaults and refuses
to start without a real secret.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"


def envbool(name: str, default: str = "False") -> bool:
    return os.getenv(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.getenv(name, "")
    return int(value) if value.strip() else default


def envfloat(name: str, default: float) -> float:
    value = os.getenv(name, "")
    return float(value) if value.strip() else default


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (for container secrets)."""
    path = os.getenv(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.getenv(name, default)


PRODUCTION = envbool("DJANGO_PRODUCTION")
DEBUG = envbool("DEBUG", "False" if PRODUCTION else "True")
DEV_SECRET_KEY = "gatehouse-dev-secret-key-not-for-production-use-0123456789abcdef"
SECRET_KEY = envsecret("SECRET_KEY", "" if PRODUCTION else DEV_SECRET_KEY)
if PRODUCTION and (not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION is set but SECRET_KEY is missing: set SECRET_KEY or SECRET_KEY_FILE "
        "to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.getenv("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = os.getenv("SITE_NAME", "Gatehouse")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # index expressions with operator classes (Account name search)
    "django_htmx",
    "mozilla_django_oidc",
    "accounts",
    "campaigns",
    "tokens",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost after security: a view failing on the database answers 503 with Retry-After.
    "webui.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After auth and htmx: re-checks OIDC logins with the provider, HX-Redirect for htmx requests.
    "accounts.oidc.middleware.SessionRefresh",
]

if PRODUCTION:  # serves collected static files from gunicorn; runserver does it in development
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "webui.urls"
WSGI_APPLICATION = "webui.wsgi.application"
ASGI_APPLICATION = "webui.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webui.context_processors.site",
            ],
        },
    },
]
# Django's widget templates, with <input> and <textarea> written out in Python (webui/renderers.py).
FORM_RENDERER = "webui.renderers.FormRenderer"


# 0 behind a pooler that cannot keep prepared statements (PgBouncer before 1.22, or without
# max_prepared_statements, in transaction mode): see accounts/prepared.py.
GATEHOUSE_DB_PREPARED_STATEMENTS = envbool("GATEHOUSE_DB_PREPARED_STATEMENTS", "True")


def database_from_url(url: str) -> dict:
    """DATABASE_URL such as postgresql://user:pass@host:5432/name?sslmode=require or
    sqlite:///path/db.sqlite3; query options (sslmode, connect_timeout, ...) reach psycopg."""
    scheme = urlparse(url).scheme
    if scheme not in {"postgres", "postgresql", "sqlite"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported: use postgresql:// or sqlite://."
        )
    if scheme == "sqlite":
        return dict(dj_database_url.parse(url))
    config = dj_database_url.parse(
        url, conn_max_age=envint("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    options = config.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", envint("DB_CONNECT_TIMEOUT", 5))
    # A statement (or the lock it waits for) may take this long in a web request; Celery
    # workers and management commands get GATEHOUSE_DB_WORKER_STATEMENT_TIMEOUT_MS instead
    # (webui/celery.py).
    # The reads accounts/prepared.py keeps as prepared statements (PreparedQuery with
    # generic_plan=True) are planned once per connection, not on every call. No other statement
    # is prepared, so no other plan changes: Django's cursors bind parameters client-side, which
    # psycopg never prepares. The threshold only lets psycopg prepare when asked (None turns
    # preparing off); no statement reaches it, though psycopg counts them all.
    plans = ""
    if GATEHOUSE_DB_PREPARED_STATEMENTS:
        plans = " -c plan_cache_mode=force_generic_plan"
        options.setdefault("prepare_threshold", 2**31 - 1)
    options.setdefault(
        "options",
        f"-c statement_timeout={envint('GATEHOUSE_DB_STATEMENT_TIMEOUT_MS', 10000)}{plans}",
    )
    return dict(config)


# Local state of `make run` (SQLite file, broker folders, dev IdP keys).
VAR_DIR = Path(os.getenv("GATEHOUSE_VAR_DIR", BASE_DIR / "var"))
DATABASE_URL = envsecret("DATABASE_URL", f"sqlite:///{VAR_DIR / 'gatehouse.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL)}
if PRODUCTION and DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION is set but the database is SQLite (DATABASE_URL is missing or "
        "sqlite://): set DATABASE_URL to the shared PostgreSQL database, e.g. "
        "postgresql://gatehouse@db.example.org:5432/gatehouse?sslmode=require."
    )
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server read while the worker writes during `make run`.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.Account"
AUTHENTICATION_BACKENDS = [
    "accounts.oidc.backend.ProviderBackend",  # OIDC login through the configured providers
    "django.contrib.auth.backends.ModelBackend",  # password login to the admin site
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.getenv("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security headers. The CSP allows no inline script without the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF, "http:", "https:"],  # login/logout post on to the IdP
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Database sessions, each with its account so that one read gives both (accounts.Session).
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 12 * 3600)
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "True")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "True")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"\Ahealthz\Z"]

# Cache: local memory for one process; Redis when shared (several gunicorn workers). Redis
# away: every read misses and pages go on (webui/cache.py); short timeouts so none waits long.
CACHE_URL = os.getenv("CACHE_URL", "")
CACHES = {
    "default": {
        "BACKEND": "webui.cache.FailOpenRedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
if PRODUCTION and not CACHE_URL:
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION is set but CACHE_URL is missing, so the login rate limit and the key "
        "caches would be kept per process: set CACHE_URL to the shared Redis, e.g. "
        "redis://redis.example.org:6379/1."
    )

# Email: console in development, SMTP when EMAIL_HOST is set.
EMAIL_HOST = os.getenv("EMAIL_HOST", "")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": EMAIL_HOST,
            "port": envint("EMAIL_PORT", 587),
            "username": os.getenv("EMAIL_HOST_USER", ""),
            "password": envsecret("EMAIL_HOST_PASSWORD"),
            "use_tls": envbool("EMAIL_USE_TLS", "True"),
            "timeout": 10,
        },
    }
    if EMAIL_HOST
    else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
}
del EMAIL_HOST  # deprecated name; MAILERS is the one source
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Gatehouse <gatehouse@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Gatehouse admins", a) for a in envlist("ADMIN_EMAILS")]

# Celery. Without CELERY_BROKER_URL, `make run` uses kombu's filesystem broker (no service needed).
CELERY_BROKER_URL = envsecret("CELERY_BROKER_URL", "filesystem://")
if PRODUCTION and CELERY_BROKER_URL.startswith("filesystem://"):
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION is set but CELERY_BROKER_URL is missing (or filesystem://, which "
        "reaches only the workers on this machine): set CELERY_BROKER_URL to the shared Redis, "
        "e.g. redis://redis.example.org:6379/0."
    )
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery-control"),
    }
else:
    # A task whose worker died is handed out again after this long. Longer tasks may be handed
    # to a second worker while still running: each long job takes a lock or claims its rows,
    # so the second copy does nothing (or finishes the work the first one left).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 5 * 60),
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
    }
# A pool child that dies mid-task gives its task back to the queue instead of acknowledging it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Web requests that queue work must not hang while the broker is away: two quick tries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # the worker keeps reconnecting, never gives up
GATEHOUSE_DB_WORKER_STATEMENT_TIMEOUT_MS = envint(
    "GATEHOUSE_DB_WORKER_STATEMENT_TIMEOUT_MS", 10 * 60 * 1000
)
# A sync run whose worker stopped beating this long is marked failed (checked every minute).
GATEHOUSE_SYNC_RUN_STALE_SECONDS = envint("GATEHOUSE_SYNC_RUN_STALE_SECONDS", 3 * 60)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict = {}
# Memberships past their end date lose access within the hour; reminders once a day.
CELERY_BEAT_SCHEDULE["campaigns-memberships-expire"] = {
    "task": "campaigns.tasks.memberships_expire",
    "schedule": crontab(minute=5),
    "kwargs": {"beat": True},
}
CELERY_BEAT_SCHEDULE["campaigns-membership-reminders"] = {
    "task": "campaigns.tasks.membership_reminders_send",
    "schedule": crontab(minute=15, hour=envint("GATEHOUSE_REMINDER_HOUR", 8)),
    "kwargs": {"beat": True},
}
CELERY_BEAT_SCHEDULE["sync-runs-reap"] = {
    "task": "accounts.tasks.sync_runs_reap_stale",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}
# An embargo ends at local midnight: announced (audit, mail) within the hour.
CELERY_BEAT_SCHEDULE["campaigns-embargoes-lift"] = {
    "task": "campaigns.tasks.embargoes_lift",
    "schedule": crontab(minute=7),
    "kwargs": {"beat": True},
}

# Identity providers (Rucio-format idpsecrets.json) and Rucio's [oidc] knobs.
GATEHOUSE_IDPSECRETS = os.getenv(
    "GATEHOUSE_IDPSECRETS", "" if PRODUCTION else str(BASE_DIR / "devidp" / "idpsecrets.dev.json")
)
GATEHOUSE_EXPECTED_AUDIENCE = os.getenv("GATEHOUSE_EXPECTED_AUDIENCE", "rucio")
GATEHOUSE_EXPECTED_SCOPE = os.getenv("GATEHOUSE_EXPECTED_SCOPE", "openid profile")
GATEHOUSE_ADMIN_ISSUER = os.getenv("GATEHOUSE_ADMIN_ISSUER", "")  # Rucio's admin_issuer nickname
# Calls to providers (discovery, keys, token and userinfo endpoints): seconds to wait for an
# answer. Their signing keys (accounts/keys.py, for login and inspection alike): fresh for 6 h,
# a stale copy used up to 2 days while the provider is away, and a key set fetched again for an
# unknown key id at most once per GATEHOUSE_KEYS_REFETCH_SECONDS.
GATEHOUSE_HTTP_TIMEOUT = envint("GATEHOUSE_HTTP_TIMEOUT", 10)
GATEHOUSE_KEYS_FRESH_SECONDS = envint("GATEHOUSE_KEYS_FRESH_SECONDS", 6 * 3600)
GATEHOUSE_KEYS_STALE_SECONDS = envint("GATEHOUSE_KEYS_STALE_SECONDS", 2 * 86400)
GATEHOUSE_KEYS_REFETCH_SECONDS = envint("GATEHOUSE_KEYS_REFETCH_SECONDS", 60)
# Login (accounts.oidc): scopes asked for (offline_access is added when the provider offers it),
# login starts allowed per client address per minute, how long a started login stays valid, and
# how often a logged-in session is re-checked with its provider (silently, prompt=none).
GATEHOUSE_LOGIN_SCOPES = os.getenv("GATEHOUSE_LOGIN_SCOPES", "openid profile email")
GATEHOUSE_LOGIN_RATE = envint("GATEHOUSE_LOGIN_RATE", 20)
GATEHOUSE_LOGIN_STATE_TTL = envint("GATEHOUSE_LOGIN_STATE_TTL", 600)
GATEHOUSE_SESSION_RENEW_SECONDS = envint("GATEHOUSE_SESSION_RENEW_SECONDS", 15 * 60)
# How long a login's tokens are kept fresh with its refresh token (Rucio's default: 96 hours).
GATEHOUSE_LOGIN_REFRESH_LIFETIME_HOURS = envint("GATEHOUSE_LOGIN_REFRESH_LIFETIME_HOURS", 96)
# Reverse proxies whose X-Forwarded-For names the client (login rate limit, audit addresses).
GATEHOUSE_TRUSTED_PROXIES = envlist("GATEHOUSE_TRUSTED_PROXIES")
# Token inspection: issuers trusted besides the providers
# (a JSON list; format in tokens/inspect.py). Storage elements: tokens.models.StorageElement.
GATEHOUSE_EXTRA_ISSUERS = os.getenv("GATEHOUSE_EXTRA_ISSUERS", "[]")
# Storage-token issuer (tokens/issuer/; the issuer is SITE_URL): how long storage caches its
# keys (retired keys stay in the JWKS this much longer), the audience a subject token must carry
# to be exchanged here, the multimap op alias of Gatehouse's own tokens, the client_id of tokens
# asked for without a registered client, and issuances allowed per minute per account/client.
GATEHOUSE_ISSUER_KEY_CACHE = envint("GATEHOUSE_ISSUER_KEY_CACHE", 6 * 3600)
GATEHOUSE_ISSUER_AUDIENCE = os.getenv("GATEHOUSE_ISSUER_AUDIENCE", SITE_URL)
GATEHOUSE_ISSUER_OP_ALIAS = os.getenv("GATEHOUSE_ISSUER_OP_ALIAS", "gatehouse")
GATEHOUSE_ISSUER_CLIENT_ID = os.getenv("GATEHOUSE_ISSUER_CLIENT_ID", "gatehouse")
GATEHOUSE_ISSUER_RATE_ACCOUNT = envint("GATEHOUSE_ISSUER_RATE_ACCOUNT", 60)
GATEHOUSE_ISSUER_RATE_CLIENT = envint("GATEHOUSE_ISSUER_RATE_CLIENT", 6000)

# Token encryption at rest: comma-separated Fernet keys, newest first (rotation: prepend).
GATEHOUSE_TOKEN_KEYS = envlist("GATEHOUSE_TOKEN_KEYS") or envlist("GATEHOUSE_TOKEN_KEYS_VALUE")
if not GATEHOUSE_TOKEN_KEYS and os.getenv("GATEHOUSE_TOKEN_KEYS_FILE"):
    GATEHOUSE_TOKEN_KEYS = [
        k.strip() for k in envsecret("GATEHOUSE_TOKEN_KEYS").splitlines() if k.strip()
    ]
if PRODUCTION and not GATEHOUSE_TOKEN_KEYS:
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION is set but GATEHOUSE_TOKEN_KEYS is missing: generate one with "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
    )

# SCIM sync from IAM (accounts/scim/): which providers, how often, how careful.
# Providers with a SCIM client in idpsecrets.json; by default only Rucio's admin_issuer.
GATEHOUSE_SCIM_IDPS = envlist("GATEHOUSE_SCIM_IDPS") or (
    [GATEHOUSE_ADMIN_ISSUER] if GATEHOUSE_ADMIN_ISSUER else []
)
GATEHOUSE_SCIM_INTERVAL_MINUTES = envint("GATEHOUSE_SCIM_INTERVAL_MINUTES", 30)
GATEHOUSE_SCIM_FAILSAFE_PERCENT = envint("GATEHOUSE_SCIM_FAILSAFE_PERCENT", 10)
GATEHOUSE_SCIM_TIMEOUT = envint("GATEHOUSE_SCIM_TIMEOUT", 30)  # seconds per request
GATEHOUSE_SCIM_ATTEMPTS = envint("GATEHOUSE_SCIM_ATTEMPTS", 5)  # per page
GATEHOUSE_SCIM_BACKOFF_MS = envint("GATEHOUSE_SCIM_BACKOFF_MS", 1000)  # first retry's wait
GATEHOUSE_SCIM_MAX_PASSES = envint("GATEHOUSE_SCIM_MAX_PASSES", 4)
GATEHOUSE_SCIM_WORKERS = envint("GATEHOUSE_SCIM_WORKERS", 4)  # pages fetched at once
GATEHOUSE_SCIM_QUEUE = os.getenv("GATEHOUSE_SCIM_QUEUE", "celery")
CELERY_BEAT_SCHEDULE["scim-sync"] = {
    "task": "accounts.tasks.scim_sync_all",
    "schedule": GATEHOUSE_SCIM_INTERVAL_MINUTES * 60.0,
    "kwargs": {"beat": True},
    "options": {"queue": GATEHOUSE_SCIM_QUEUE, "expires": GATEHOUSE_SCIM_INTERVAL_MINUTES * 60.0},
}

# Rucio provisioning (accounts/rucio/): off unless GATEHOUSE_RUCIO_URL is set.
GATEHOUSE_RUCIO_URL = os.getenv("GATEHOUSE_RUCIO_URL", "").rstrip("/")
GATEHOUSE_RUCIO_AUTH_URL = os.getenv("GATEHOUSE_RUCIO_AUTH_URL", GATEHOUSE_RUCIO_URL).rstrip("/")
GATEHOUSE_RUCIO_ACCOUNT = os.getenv("GATEHOUSE_RUCIO_ACCOUNT", "root")
GATEHOUSE_RUCIO_VO = os.getenv("GATEHOUSE_RUCIO_VO", "")  # multi-VO Rucio only
# Credentials: userpass, or an X.509 client certificate and key (paths); each also as _FILE.
GATEHOUSE_RUCIO_USERNAME = envsecret("GATEHOUSE_RUCIO_USERNAME")
GATEHOUSE_RUCIO_PASSWORD = envsecret("GATEHOUSE_RUCIO_PASSWORD")
GATEHOUSE_RUCIO_CERT = envsecret("GATEHOUSE_RUCIO_CERT")
GATEHOUSE_RUCIO_KEY = envsecret("GATEHOUSE_RUCIO_KEY")
GATEHOUSE_RUCIO_CA = os.getenv("GATEHOUSE_RUCIO_CA", "")  # CA bundle; empty = system CAs
GATEHOUSE_RUCIO_INTERVAL_MINUTES = envint("GATEHOUSE_RUCIO_INTERVAL_MINUTES", 15)
GATEHOUSE_RUCIO_FAILSAFE_PERCENT = envint("GATEHOUSE_RUCIO_FAILSAFE_PERCENT", 10)
GATEHOUSE_RUCIO_TIMEOUT = envint("GATEHOUSE_RUCIO_TIMEOUT", 60)  # seconds per request
GATEHOUSE_RUCIO_ATTEMPTS = envint("GATEHOUSE_RUCIO_ATTEMPTS", 5)  # per request
GATEHOUSE_RUCIO_BACKOFF_MS = envint("GATEHOUSE_RUCIO_BACKOFF_MS", 1000)  # first retry's wait
GATEHOUSE_RUCIO_QUEUE = os.getenv("GATEHOUSE_RUCIO_QUEUE", "celery")
if GATEHOUSE_RUCIO_URL:
    CELERY_BEAT_SCHEDULE["rucio-sync"] = {
        "task": "accounts.tasks.rucio_sync_task",
        "schedule": GATEHOUSE_RUCIO_INTERVAL_MINUTES * 60.0,
        "kwargs": {"beat": True},
        "options": {
            "queue": GATEHOUSE_RUCIO_QUEUE,
            "expires": GATEHOUSE_RUCIO_INTERVAL_MINUTES * 60.0,
        },
    }

# Token lifecycle (tokens/services.py): refresh before expiry, then clean up.
GATEHOUSE_TOKEN_REFRESH_MINUTES = envfloat("GATEHOUSE_TOKEN_REFRESH_MINUTES", 5)
GATEHOUSE_TOKEN_CLEANUP_MINUTES = envfloat("GATEHOUSE_TOKEN_CLEANUP_MINUTES", 5)
CELERY_BEAT_SCHEDULE["token-refresh"] = {
    "task": "tokens.tasks.tokens_refresh_due",
    "schedule": GATEHOUSE_TOKEN_REFRESH_MINUTES * 60.0,
    "kwargs": {"beat": True},
    "options": {"expires": GATEHOUSE_TOKEN_REFRESH_MINUTES * 60.0},
}
CELERY_BEAT_SCHEDULE["token-cleanup"] = {
    "task": "tokens.tasks.tokens_cleanup_expired",
    "schedule": GATEHOUSE_TOKEN_CLEANUP_MINUTES * 60.0,
    "kwargs": {"beat": True},
    "options": {"expires": GATEHOUSE_TOKEN_CLEANUP_MINUTES * 60.0},
}

# POSIX id ranges: uids for accounts, gids for campaigns. Never reused.
GATEHOUSE_UID_MIN = envint("GATEHOUSE_UID_MIN", 20000)
GATEHOUSE_UID_MAX = envint("GATEHOUSE_UID_MAX", 29999999)
GATEHOUSE_GID_MIN = envint("GATEHOUSE_GID_MIN", 30000000)
GATEHOUSE_GID_MAX = envint("GATEHOUSE_GID_MAX", 39999999)

# Exports to the storage nodes (multimap, group, passwd, LDIF). {name} and {uid} in the home path.
GATEHOUSE_EXPORT_HOME = os.getenv("GATEHOUSE_EXPORT_HOME", "/home/{name}")
GATEHOUSE_EXPORT_SHELL = os.getenv("GATEHOUSE_EXPORT_SHELL", "/sbin/nologin")
GATEHOUSE_EXPORT_PRIVATE_GROUPS = envbool("GATEHOUSE_EXPORT_PRIVATE_GROUPS", "True")
GATEHOUSE_EXPORT_MAX_DROP = float(os.getenv("GATEHOUSE_EXPORT_MAX_DROP", "0.2"))
GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS = envint("GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS", 10)
GATEHOUSE_LDAP_BASE_DN = os.getenv("GATEHOUSE_LDAP_BASE_DN", "dc=gatehouse,dc=example")

# The permission plan (exports/permissions): owner, group and modes of each campaign data path,
# octal. Under embargo the group reads and others do not; setgid directories so new files
# inherit the campaign's group. An archived campaign keeps these minus group write.
GATEHOUSE_PERMISSIONS_EMBARGO_FILE_MODE = int(
    os.getenv("GATEHOUSE_PERMISSIONS_EMBARGO_FILE_MODE", "0640"), 8
)
GATEHOUSE_PERMISSIONS_EMBARGO_DIR_MODE = int(
    os.getenv("GATEHOUSE_PERMISSIONS_EMBARGO_DIR_MODE", "2750"), 8
)
GATEHOUSE_PERMISSIONS_PUBLIC_FILE_MODE = int(
    os.getenv("GATEHOUSE_PERMISSIONS_PUBLIC_FILE_MODE", "0644"), 8
)
GATEHOUSE_PERMISSIONS_PUBLIC_DIR_MODE = int(
    os.getenv("GATEHOUSE_PERMISSIONS_PUBLIC_DIR_MODE", "2755"), 8
)
# Name the PI and current managers as uploaders (the `writers` field) for the ingest service.
GATEHOUSE_PERMISSIONS_UPLOAD_WRITE = envbool("GATEHOUSE_PERMISSIONS_UPLOAD_WRITE")

# X.509 client certificates arrive from a trusted reverse proxy only. In production none is
# trusted until named: the site's own TLS proxy on 127.0.0.1 passes on headers clients send.
GATEHOUSE_CERT_PROXIES = envlist("GATEHOUSE_CERT_PROXIES", "" if PRODUCTION else "127.0.0.1")
GATEHOUSE_CERT_DN_HEADER = os.getenv("GATEHOUSE_CERT_DN_HEADER", "X-SSL-Client-S-DN")
GATEHOUSE_CERT_VERIFY_HEADER = os.getenv("GATEHOUSE_CERT_VERIFY_HEADER", "X-SSL-Client-Verify")
# Where the proxy asks browsers for a certificate. The same host name on another port (e.g.
# https://gatehouse.example.org:8443) keeps the session cookie, so users stay logged in there.
GATEHOUSE_CERT_LOGIN_URL = os.getenv("GATEHOUSE_CERT_LOGIN_URL", "").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "database_unavailable": {"()": "webui.logs.DatabaseUnavailableFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # Django's error mails to ADMINS, through the one mail path (queued for the worker),
        # at most one per kind of error every ten minutes.
        "mail_admins": {
            "class": "webui.logs.ThrottledAdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        # A request that failed because the database is away: one line, no traceback.
        "django.request": {"filters": ["database_unavailable"]},
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # one line per request: a SCIM sync makes thousands
    },
}
