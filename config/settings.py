"""Settings, read from the environment.

One module for every environment. Development (the default) needs no variable at all: SQLite in
``var/``, Celery on a filesystem broker in ``var/celery/``, and the local Intacct sandbox. Production
mode (``APP_ENV=production``, or ``DEBUG=0``) has no fallback for secrets and refuses to start,
naming every missing variable. ``.env.example`` documents each variable.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from intacct.sandbox import GATEWAY_PATH, SANDBOX_SENDER_PASSWORD

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env(name: str, default: str = "") -> str:
    """The variable's value, stripped; ``default`` when it is unset or empty."""
    return os.environ.get(name, "").strip() or default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}."
    )


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {value!r}.") from None


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto`` (meaning ``X-Forwarded-Proto: https``) or ``Name: value`` as
    Django's ``SECURE_PROXY_SSL_HEADER`` (the header's ``request.META`` key and its value)."""
    if not value:
        return None
    name, _, expected = value.partition(":")
    name, expected = name.strip(), expected.strip() or "https"
    if not name or any(c.isspace() for c in name):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER must be a header name, optionally with ': value' "
            f"(e.g. 'X-Forwarded-Proto'); got {value!r}."
        )
    return f"HTTP_{name.upper().replace('-', '_')}", expected


# --- Mode -------------------------------------------------------------------------------------------

APP_ENV = _env("APP_ENV", "development").lower()
if APP_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"APP_ENV must be 'development' or 'production'; got {APP_ENV!r}.")
DEBUG = _env_bool("DEBUG", default=APP_ENV == "development")
if APP_ENV == "production" and DEBUG:
    raise ImproperlyConfigured("DEBUG must not be on with APP_ENV=production.")
PRODUCTION = APP_ENV == "production" or not DEBUG
_MODE_REASON = "APP_ENV=production" if APP_ENV == "production" else "DEBUG=0"

_missing: list[str] = []


def _required(name: str, development_default: str) -> str:
    """A variable production must set; development falls back to ``development_default``."""
    value = _env(name)
    if value:
        return value
    if PRODUCTION:
        _missing.append(name)
        return ""
    return development_default


# --- Secrets ----------------------------------------------------------------------------------------

SECRET_KEY = _required(
    "SECRET_KEY",
    "django-insecure-development-only-never-use-in-production",
)

# Fernet keys for encrypted model fields, newest first: encrypt with the first, decrypt with any, so
# a key is rotated by putting a new one in front and re-encrypting before dropping the old one.
# DEVELOPMENT ONLY: the fallback key is derived from a public string, so it protects nothing.
_DEVELOPMENT_FIELD_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"intacct-connect field encryption: development only").digest()
).decode()
FIELD_ENCRYPTION_KEYS = _split(_required("FIELD_ENCRYPTION_KEYS", _DEVELOPMENT_FIELD_KEY))
ALLOWED_HOSTS = _split(_required("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]"))
CSRF_TRUSTED_ORIGINS = _split(_env("CSRF_TRUSTED_ORIGINS"))

# --- Sage Intacct -----------------------------------------------------------------------------------

# The local gateway emulator (`python -m intacct.sandbox`); empty means none.
SANDBOX_URL = _env("SANDBOX_URL", "" if PRODUCTION else "http://127.0.0.1:8765").rstrip("/")

INTACCT_SENDER_ID = _required("INTACCT_SENDER_ID", "BeanworksMPP")
INTACCT_SENDER_PASSWORD = _required("INTACCT_SENDER_PASSWORD", SANDBOX_SENDER_PASSWORD)
INTACCT_ENDPOINT = _env(
    "INTACCT_ENDPOINT",
    "https://api.intacct.com/ia/xml/xmlgw.phtml" if PRODUCTION else f"{SANDBOX_URL}{GATEWAY_PATH}",
)
# Hosts other than api.intacct.com that a connection's endpoint may point at.
INTACCT_ALLOWED_ENDPOINT_HOSTS = _split(
    _env("INTACCT_ALLOWED_ENDPOINT_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost")
)

# The names the connection guide asks the customer to type, so another AP product can reuse the app.
INTACCT_GUIDE = {
    "PRODUCT_NAME": "Beanworks",
    "WS_USER_ID": "Beanworks",
    "ROLE_NAME": "Beanworks API",
    "SENDER_ID": INTACCT_SENDER_ID,
    "CUSTOM_FIELD_LABEL": "Beanworks",
    "CUSTOM_FIELD_ID": "BEANWORKS",
    "CUSTOM_FIELD_DESCRIPTION": "Link to Beanworks Invoice",
}

# A partial sync that reads deletions from Intacct's audit trail still lists every key of an
# object (a reconciliation) when the object's last listing is older than this; a full sync
# always lists them. 0: list them on every partial sync.
SMARTSYNC_RECONCILE_EVERY_HOURS = _env_int("SMARTSYNC_RECONCILE_EVERY_HOURS", 24)

# --- The customer-success console and its alerts ----------------------------------------------------

# A connection whose current guide step has stood longer than this is flagged *stuck* (and alerted).
CONSOLE_STUCK_AFTER_DAYS = _env_int("CONSOLE_STUCK_AFTER_DAYS", 3)
# Overview rows per page.
CONSOLE_PAGE_SIZE = _env_int("CONSOLE_PAGE_SIZE", 50)
# The address alerts and profile notices come from; the base URL their links start with.
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "connections@localhost")
SITE_URL = _env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Development prints e-mail to the console; production sends it over SMTP (EMAIL_HOST, …).
EMAIL_BACKEND = _env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = _env("EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = _env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = _env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = _env_int("EMAIL_TIMEOUT", 10)

if _missing:
    raise ImproperlyConfigured(
        f"Production mode ({_MODE_REASON}) needs these environment variables, which are unset or "
        f"empty: {', '.join(_missing)}. See .env.example."
    )
for _position, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS entry {_position} is not a Fernet key (32 url-safe "
            "base64-encoded bytes; make one with `python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`)."
        ) from None

# --- Files ------------------------------------------------------------------------------------------

# Runtime state of the embedded setup: the SQLite database and the filesystem broker.
VAR_DIR = Path(_env("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Database ---------------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        _env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=_env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share the file: WAL lets readers run beside a writer,
    # and IMMEDIATE transactions wait for the write lock instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Application ------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "axes",
    "csp",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # The loader is configured in TEMPLATES below rather than by the app.
    "template_partials.apps.SimpleAppConfig",
    "django_celery_beat",
    "connections",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so that static files carry the policy and X-Frame-Options too.
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.product",
                "connections.context_processors.choices",
                "connections.context_processors.console",
            ],
            # The wizard's tags and filters (form_field, copy_value, status_icon…) and humanize's
            # (intcomma, naturaltime) everywhere.
            "builtins": [
                "connections.templatetags.wizard",
                "django.contrib.humanize.templatetags.humanize",
            ],
            # "page.html#name" renders the {% partialdef name %} block of page.html.
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security ---------------------------------------------------------------------------------------

SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _env_bool("SECURE_COOKIES", default=PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
# Plain HTTP is answered with a redirect to HTTPS, except the health check: load balancers probe
# it over HTTP and a redirect would read as down.
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# HSTS (sent on HTTPS responses only): browsers that saw it refuse plain HTTP to this host, and with
# subdomains to every host below it, for that long. Preloading (browsers shipping the host in their
# HSTS list) is hard to undo, so it stays the operator's choice.
SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy every request arrives over HTTP: the header the proxy sets says
# whether the browser's was HTTPS. Only with a proxy that sets it on every request (overwriting
# what the client sent), or any client could claim HTTPS.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(_env("SECURE_PROXY_SSL_HEADER"))
# htmx sends the token from the page (hx-headers on <body>), so scripts never need the cookie.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Only our own scripts, styles and connections: no inline script or style, no eval, no other
# origin. htmx is told not to inject its indicator style (templates/base.html); Pico's icons are
# data: SVGs in its CSS, hence img-src data:. Django 5.2's admin needs no exception (its scripts
# are files, their data in attributes; tests/browser/test_content_security_policy.py checks its
# pages in Chromium). In DEBUG, a failed htmx request shows Django's error page through
# django-htmx's script, which the policy keeps from running that page's inline style and script:
# open the failing URL itself to see it whole (CSPMiddleware sends no policy with DEBUG's 404 and
# 500 pages). The rest of every response's headers come from Django's SecurityMiddleware (nosniff,
# Referrer-Policy, Cross-Origin-Opener-Policy) and XFrameOptionsMiddleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
    }
}
# `check --deploy` warns while HSTS preloading is off; that is a decision (SECURE_HSTS_PRELOAD).
SILENCED_SYSTEM_CHECKS = ["security.W021"]
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.reporting.RedactingExceptionReporterFilter"

# --- Login throttling (django-axes; config/login_throttle.py) ------------------------------------

# A username with LOGIN_FAILURE_LIMIT failed logins, or a client address with
# LOGIN_FAILURE_LIMIT_PER_ADDRESS (at any usernames: an office behind one address shares it), is
# locked out for LOGIN_LOCKOUT_MINUTES after its last failure.
LOGIN_FAILURE_LIMIT = _env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = _env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 20)
LOGIN_LOCKOUT_MINUTES = _env_int("LOGIN_LOCKOUT_MINUTES", 15)
for _name in ("LOGIN_FAILURE_LIMIT", "LOGIN_FAILURE_LIMIT_PER_ADDRESS", "LOGIN_LOCKOUT_MINUTES"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
# Proxies in front of the app that append the client's address to X-Forwarded-For: the address is
# read from there (the peer's otherwise, which behind a proxy is the proxy's for everyone).
TRUSTED_PROXY_COUNT = _env_int("TRUSTED_PROXY_COUNT", 0)

AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# A refused attempt during the lock does not restart it: the lock ends when the page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "config.login_throttle.LoginThrottleHandler"
AXES_LOCKOUT_CALLABLE = "config.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "config.login_throttle.client_ip"
AXES_USERNAME_CALLABLE = "config.login_throttle.client_username"
# Masked in axes' logs and in the form data it keeps (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# No start-up banner in the output of every command.
AXES_VERBOSE = False

# --- Static files -----------------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(_env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production, serve static files straight from static/ and the apps (no collectstatic),
# also under the test runner, which turns DEBUG off.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = not PRODUCTION

# --- Celery -----------------------------------------------------------------------------------------

REDIS_URL = _env("REDIS_URL")
# kombu's filesystem transport ignores the host; naming one keeps kombu from warning about it.
CELERY_BROKER_URL = _env("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost/"
CELERY_TASK_ALWAYS_EAGER = False
# The queue tasks are sent to (web, beat and the tasks workers queue themselves, such as a lost
# sync's restart); workers consume it by default. Apps sharing one Redis each take their own.
CELERY_TASK_DEFAULT_QUEUE = _env("CELERY_TASK_DEFAULT_QUEUE") or "celery"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Progress and outcomes live on database rows, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed housekeeping; django-celery-beat copies these into its tables at start. Per-entity sync
# schedules live there too, written by the app.
CELERY_BEAT_SCHEDULE = {
    "expire-stale-verifications": {
        "task": "connections.tasks.expire_stale_verifications",
        "schedule": 5 * 60.0,
    },
    "expire-stale-syncs": {
        "task": "connections.tasks.expire_stale_syncs",
        "schedule": 10 * 60.0,
    },
    "reverify-connections": {
        "task": "connections.tasks.reverify_connections",
        "schedule": 24 * 60 * 60.0,
    },
    "flag-stuck-connections": {
        "task": "connections.tasks.flag_stuck_connections",
        "schedule": 60 * 60.0,
    },
}
CELERY_TIMEZONE = TIME_ZONE

if CELERY_BROKER_URL.startswith("filesystem://"):
    _celery_dir = VAR_DIR / "celery"
    _folders = {
        "queue": _celery_dir / "queue",
        "processed": _celery_dir / "processed",
        "control": _celery_dir / "control",
    }
    for _folder in _folders.values():
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Producers and workers share one machine, so they write and read the same folder.
        "data_folder_in": str(_folders["queue"]),
        "data_folder_out": str(_folders["queue"]),
        # Claiming a message is a rename into processed/; on the same filesystem only one worker
        # can win it (otherwise kombu copies through the temp folder).
        "store_processed": True,
        "processed_folder": str(_folders["processed"]),
        "control_folder": str(_folders["control"]),
    }
else:
    # An unacknowledged task is redelivered after this long: it must outlast the longest task,
    # or a slow sync would be started a second time while still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT}

# --- Logging ----------------------------------------------------------------------------------------

# Console only, message text only: no handler formats the request (Django's default mail_admins
# handler, which mails POST data, is replaced), and SQL with its parameters is never logged.
LOG_LEVEL = _env("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        # A hand-off link's token opens its pages: never in a log line (access lines, 404/410).
        "handoff_tokens": {"()": "config.log_filters.RedactHandoffTokens"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["handoff_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
