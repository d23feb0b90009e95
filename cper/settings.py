"""Django settings for cper, read from the environment.

DATABASE_URL (default: a SQLite file under var/), DJANGO_DEBUG (off unless set), SECRET_KEY
(required by a production start), ALLOWED_HOSTS, the HTTPS variables, and CPER_* variables for
the operator's identity (the Marianne block is configurable). Every variable of a production
deployment: docs/deploiement.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CPER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Tests (pytest, `manage.py test`) run with DEBUG off but over plain HTTP and without
# collectstatic: the production defaults below (HTTPS, hashed static files) are not theirs.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]

# Off unless asked for: `make run` sets DJANGO_DEBUG=1 for the local demo. With DEBUG on, an
# error shows a technical page (settings, variables) to whoever made the request.
DEBUG = _env_bool("DJANGO_DEBUG", False)
# A production start (`cper serve`, the WSGI application) refuses to run with DEBUG off and no
# SECRET_KEY (cper.server.checks.refuse_without_secret_key); the key below serves the local
# demo, the tests and the management commands only.
SECRET_KEY_FROM_ENVIRONMENT = bool(os.environ.get("SECRET_KEY"))
SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-insecure-key-change-me-in-production"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "dsfr",
    "widget_tweaks",
    "cper.accounts",
    "cper.audit",
    "cper.territories",
    "cper.contracts",
    "cper.maquette",
    "cper.operations",
    "cper.finance",
    "cper.io",
    "cper.api",
    "cper.web",
    "cper.demo",
    # issue 16: closings and reports, indicators, forecasts
    "cper.closings",
    "cper.indicators",
    "cper.forecasts",
]

MIDDLEWARE = [
    # The request id first, so that every log line of the request carries it.
    "cper.server.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise right after SecurityMiddleware: static files get the security headers and
    # skip everything else.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The Content-Security-Policy header (policy in the production block below).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "cper.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cper.web.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "cper.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'cper.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and os.environ.get(
    "CPER_PG_JIT", ""
).strip() not in {"1", "on"}:
    # PostgreSQL compiles a query it guesses costly (JIT) before running it: 100 ms or more for
    # the dashboards' alerts at scale M, which then run in 50 ms. The application's queries are
    # short; `cper contract check` takes as long without it. CPER_PG_JIT=1 gives it back.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout make the embedded database usable by the dev server and the CLI
    # at the same time.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/connexion/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("CPER_STATIC_ROOT", VAR_DIR / "static"))
# In production, `collectstatic` writes compressed copies and hashed names (cacheable forever,
# served by WhiteNoise); the local demo and the tests read the apps' files as they are, with
# no collectstatic. CPER_STATIC_MANIFEST=1/0 forces one or the other.
STATIC_MANIFEST = _env_bool("CPER_STATIC_MANIFEST", not DEBUG and not TESTING)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The operator's identity: DSFR is reserved to State services; another operator sets these.
CPER_SITE = {
    "site_title": os.environ.get(
        "CPER_SITE_TITLE", "CPER — suivi des contrats de plan État-Région"
    ),
    "site_tagline": os.environ.get(
        "CPER_SITE_TAGLINE", "Programmation, financement et exécution des CPER"
    ),
    "header_brand_html": os.environ.get(
        "CPER_BRAND_HTML", "Préfet<br>de la région<br>Hauts-de-France"
    ),
    "footer_brand_html": os.environ.get(
        "CPER_BRAND_HTML", "Préfet<br>de la région<br>Hauts-de-France"
    ),
    "accessibility_status": os.environ.get("CPER_ACCESSIBILITY", "PART"),
}

# Logs go to the standard error, one JSON object a line in production (python-json-logger),
# each with the request id of the request that wrote it (cper.server.requestid); plain text
# with DEBUG on. CPER_LOG_FORMAT=json|text forces one; LOG_LEVEL sets the root level.
LOG_FORMAT = os.environ.get("CPER_LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cper.server.requestid.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC, whatever the server's time zone.
            "timestamp": "time",
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # One line per request (method, path, status, duration): the access log (runserver writes
    # its own under DEBUG).
    "loggers": {
        "cper.requests": {
            "level": os.environ.get(
                "CPER_ACCESS_LOG_LEVEL", "WARNING" if TESTING or DEBUG else "INFO"
            )
        },
    },
}

# --- API (cper.api) -------------------------------------------------------------------------
# django-ninja as an app: its Swagger UI page uses the JS/CSS it ships (static files), no CDN.
INSTALLED_APPS += ["ninja"]
# Sliding-window rate limits: per personal token, and per address for anonymous callers. They
# are counted in Django's cache (the default per-process memory cache unless CACHES says
# otherwise; use a shared cache such as Redis or the database cache with several processes).
CPER_API_RATE_TOKEN = os.environ.get("CPER_API_RATE_TOKEN", "600/min")
CPER_API_RATE_ANONYMOUS = os.environ.get("CPER_API_RATE_ANONYMOUS", "120/min")
# Anonymous callers are counted by address: the number of reverse proxies in front of the
# application whose X-Forwarded-For is trusted (0: the socket's address, not spoofable).
NINJA_NUM_PROXIES = int(os.environ.get("CPER_NUM_PROXIES", "0"))
# --- end of API -----------------------------------------------------------------------------

# Each block below belongs to one area; a block appends to INSTALLED_APPS / MIDDLEWARE itself.
# --- production (safe defaults, static files, CSP, logs) ------------------------------------
# `cper serve` (gunicorn), /sante, the request id, the error pages (cper.server); django-csp for
# the Content-Security-Policy header. Deployment: docs/deploiement.md.
INSTALLED_APPS += ["csp", "cper.server"]
# collectstatic leaves out the DSFR files that no page loads (cper.server.apps).
INSTALLED_APPS = [
    "cper.server.apps.StaticFilesConfig" if app == "django.contrib.staticfiles" else app
    for app in INSTALLED_APPS
]


def _env_list(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


# HTTPS by default when DEBUG is off: redirect to https, Secure cookies, HSTS. CPER_HTTPS=0 turns
# the defaults off for a plain-HTTP service on a trusted network (each variable below may still
# be set on its own).
HTTPS = _env_bool("CPER_HTTPS", not DEBUG and not TESTING)
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", HTTPS)
# A load balancer may probe the health endpoint over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^sante$"]
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
# Behind a reverse proxy that terminates TLS: "HTTP_X_FORWARDED_PROTO,https". Only when the proxy
# sets (and overwrites) that header: otherwise a client could claim https itself.
_proxy_header = _env_list("SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (_proxy_header[0], _proxy_header[1]) if len(_proxy_header) == 2 else None
# Origins allowed to POST forms besides the site itself, e.g. "https://cper.example.gouv.fr".
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# WhiteNoise serves STATIC_ROOT (filled by collectstatic) in production; without the manifest
# (local demo, tests) it finds the files in the apps at each request, as runserver does.
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = not STATIC_MANIFEST
# django-dsfr marks its stylesheets and scripts with the SRI digests of its own files; collected
# with hashed names, the stylesheets name their fonts and icons by hashed names too, so their
# bytes (and digests) differ and the browser would refuse them. Same-origin files, themselves
# named by their content: the digests add nothing there.
DSFR_USE_INTEGRITY_CHECKSUMS = not STATIC_MANIFEST

# Content-Security-Policy (django-csp 4): only this site's own files; no inline script or style
# but a tag carrying the request's nonce (`request.csp_nonce`): the print styles of the relevé de
# décisions, inline because WeasyPrint reads the page from a string. SVG charts use presentation
# attributes (fill=…), never style=; data: images are the DSFR's icons. No form-action: signing
# out of ProConnect redirects a form's POST to the provider.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'", csp_constants.NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# --- end of production ----------------------------------------------------------------------

# --- shared stores (cache, login throttling, rate limits) -----------------------------------
# What several worker processes must agree on lives in the database: sessions, the cache, login
# failures (django-axes), the API's rate counters (cper.api.ratelimit) and idempotency records.
from importlib.util import find_spec  # noqa: E402

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

SESSION_ENGINE = "django.contrib.sessions.backends.db"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes writing one SQLite file: a transaction that reads then writes (django-
    # axes recording a failed login, get_or_create…) fails at once with "database is locked"
    # when another process wrote in between; BEGIN IMMEDIATE takes the write lock first and
    # waits its turn (the busy timeout above) instead.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
# The cache: a table of the database (created by `cper migrate`), or Redis with
# CPER_CACHE_URL=redis://… (Django's own backend; the `redis` package is then needed).
CPER_CACHE_URL = os.environ.get("CPER_CACHE_URL", "").strip()
if CPER_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    if find_spec("redis") is None:
        raise ImproperlyConfigured(
            "CPER_CACHE_URL désigne un serveur Redis, mais le paquet Python « redis » n'est pas "
            "installé (pip install redis), ou retirez CPER_CACHE_URL pour le cache en base."
        )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CPER_CACHE_URL,
        }
    }
elif CPER_CACHE_URL:
    raise ImproperlyConfigured(
        f"CPER_CACHE_URL : adresse non reconnue « {CPER_CACHE_URL} » (redis://… attendu ; "
        "sans CPER_CACHE_URL, le cache est une table de la base)."
    )
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "cper_cache",
        }
    }

# The figures of the dashboard, focus and scope pages (axis, partner, territory…), kept in that
# cache between requests and rebuilt after any audited write (cper.web.figcache); seconds they
# are kept at most, 0: off.
CPER_FIGURES_CACHE_SECONDS = int(os.environ.get("CPER_FIGURES_CACHE_SECONDS", "600"))

# Invalid API tokens accepted from one address before it is refused (429) without any lookup.
CPER_API_RATE_INVALID_TOKENS = os.environ.get("CPER_API_RATE_INVALID_TOKENS", "20/min")

# Login throttling (django-axes, failures kept in the database): after CPER_LOGIN_FAILURE_LIMIT
# wrong passwords for one account from one address, that pair is locked for the cool-off;
# an address that fails CPER_LOGIN_ADDRESS_LIMIT times (any accounts) is locked as a whole.
# A locked login is refused before any password is hashed. Unlock: `cper user unlock NAME`
# or the admin (« Débloquer la connexion » on users; « Tentatives d'accès »).
INSTALLED_APPS += ["axes"]
# Last, as django-axes requires (it turns a refused login into the lockout page); a later
# block that appends a middleware should insert it before this one.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
# First: refuses a locked login before the next backends hash anything. Other blocks append.
AUTHENTICATION_BACKENDS = [
    "cper.accounts.throttling.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("CPER_LOGIN_FAILURE_LIMIT", "10"))
CPER_LOGIN_ADDRESS_LIMIT = int(os.environ.get("CPER_LOGIN_ADDRESS_LIMIT", "50"))
CPER_LOGIN_COOLOFF_MINUTES = int(os.environ.get("CPER_LOGIN_COOLOFF_MINUTES", "15"))
AXES_COOLOFF_TIME = CPER_LOGIN_COOLOFF_MINUTES / 60  # axes reads a float as hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "cper.accounts.throttling.lockout_response"
# The same address as the API's rate limits (CPER_NUM_PROXIES trusted reverse proxies).
AXES_CLIENT_IP_CALLABLE = "cper.accounts.throttling.client_address"
CPER_NUM_PROXIES = int(os.environ.get("CPER_NUM_PROXIES", "0"))
# --- end of shared stores -------------------------------------------------------------------

# --- background jobs ------------------------------------------------------------------------
# django-tasks with its database backend (django-tasks-db): a job is a row, so it survives a
# web restart and any process sees it; `cper worker` runs them (docs/io.md).
INSTALLED_APPS += ["django_tasks", "django_tasks_db"]
TASKS = {
    "default": {
        "BACKEND": os.environ.get("CPER_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# An uploaded file above this size is imported by a worker; smaller ones within the request.
CPER_IMPORT_BACKGROUND_BYTES = int(os.environ.get("CPER_IMPORT_BACKGROUND_BYTES", 256 * 1024))
# Uploaded files (and their imports' progress files) are deleted after this many days.
CPER_UPLOAD_RETENTION_DAYS = int(os.environ.get("CPER_UPLOAD_RETENTION_DAYS", "30"))
# --- end of background jobs -----------------------------------------------------------------

# --- ProConnect (OpenID Connect) ------------------------------------------------------------
# Sign-in of agents with ProConnect beside local accounts (cper.accounts.oidc, mozilla-django-
# oidc; docs/proconnect.md). Active only with a client id, its secret and the provider (issuer,
# or the four endpoints): otherwise no backend, no button, and /proconnect/… answers 404.
PROCONNECT_CLIENT_ID = os.environ.get("PROCONNECT_CLIENT_ID", "")
PROCONNECT_CLIENT_SECRET = os.environ.get("PROCONNECT_CLIENT_SECRET", "")
# e.g. https://auth.agentconnect.gouv.fr/api/v2 (production, Internet): the endpoints left
# empty below are read from its discovery document at the first sign-in of each process.
PROCONNECT_ISSUER = os.environ.get("PROCONNECT_ISSUER", "").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("PROCONNECT_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("PROCONNECT_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("PROCONNECT_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("PROCONNECT_JWKS_ENDPOINT", "")
PROCONNECT_END_SESSION_ENDPOINT = os.environ.get("PROCONNECT_END_SESSION_ENDPOINT", "")
PROCONNECT_ENABLED = bool(
    PROCONNECT_CLIENT_ID
    and PROCONNECT_CLIENT_SECRET
    and (
        PROCONNECT_ISSUER
        or (
            OIDC_OP_AUTHORIZATION_ENDPOINT
            and OIDC_OP_TOKEN_ENDPOINT
            and OIDC_OP_USER_ENDPOINT
            and OIDC_OP_JWKS_ENDPOINT
            and PROCONNECT_END_SESSION_ENDPOINT
        )
    )
)
OIDC_RP_CLIENT_ID = PROCONNECT_CLIENT_ID
OIDC_RP_CLIENT_SECRET = PROCONNECT_CLIENT_SECRET
# The algorithm declared to ProConnect for the ID token and the userinfo (RS256, ES256, HS256).
OIDC_RP_SIGN_ALGO = os.environ.get("PROCONNECT_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = os.environ.get(
    "PROCONNECT_SCOPES", "openid email given_name usual_name siret uid idp_id"
)
# eidas1: ProConnect's level for agents (set PROCONNECT_ACR_VALUES= to send none).
_proconnect_acr = os.environ.get("PROCONNECT_ACR_VALUES", "eidas1")
OIDC_AUTH_REQUEST_EXTRA_PARAMS = {"acr_values": _proconnect_acr} if _proconnect_acr else {}
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the sign-out
OIDC_TIMEOUT = int(os.environ.get("PROCONNECT_TIMEOUT", "10"))
if not PROCONNECT_ENABLED and (
    PROCONNECT_CLIENT_ID or PROCONNECT_CLIENT_SECRET or PROCONNECT_ISSUER
):
    # Half a configuration would silently leave the agents without their button.
    from django.core.exceptions import ImproperlyConfigured as _ProConnectConfig

    raise _ProConnectConfig(
        "ProConnect incomplet : PROCONNECT_CLIENT_ID, PROCONNECT_CLIENT_SECRET et "
        "PROCONNECT_ISSUER (ou les cinq PROCONNECT_*_ENDPOINT) vont ensemble "
        "(docs/proconnect.md)."
    )
if PROCONNECT_ENABLED:
    AUTHENTICATION_BACKENDS = [
        *globals().get("AUTHENTICATION_BACKENDS", ["django.contrib.auth.backends.ModelBackend"]),
        "cper.accounts.oidc.ProConnectBackend",
    ]
# --- end of ProConnect ----------------------------------------------------------------------

# --- imports: bounds on spreadsheets ------------------------------------------------------------
# A file is read within these bounds (cper.io.bounded): past one, the import is refused with a
# French message naming the setting and the value found. Each can be raised through the
# environment (a bench at scale S or more, a national consolidation run by the operator); the
# defaults keep an import of any accepted file within about 300 MB: measured on SQLite, a
# process starts at ≈ 100 MB, then costs ≈ 3.3 KB a row of operations (20,000 operations in
# wide layout: 164 MB peak) and ≈ 2.7 KB a row of movements (40,000: 204 MB peak).
# - MAX_BYTES: the file as uploaded (the pages' own upload limit).
# - MAX_UNCOMPRESSED_BYTES, MAX_COMPRESSION_RATIO, MAX_ZIP_MEMBERS: an XLSX/ODS zip's
#   directory, checked before any member is read. A sheet's XML compresses 5 to 20 times;
#   zip bombs, 1,000 times.
# - MAX_ROWS, MAX_COLUMNS: the position of any cell that holds a value (empty rows and
#   columns a file declares cost nothing and are not counted). 50,000 rows is a regional
#   register (a few thousand operations, four lines each) or a year of its movements many
#   times over; 200 columns, a wide layout with a column per financer for every partner.
# - MAX_CELLS, MAX_TEXT_BYTES: what is kept in memory (the area the rows cover, ≈ 60 bytes a
#   cell, and the text read).
CPER_IMPORT_MAX_BYTES = int(os.environ.get("CPER_IMPORT_MAX_BYTES", 50 * 1024 * 1024))
CPER_IMPORT_MAX_UNCOMPRESSED_BYTES = int(
    os.environ.get("CPER_IMPORT_MAX_UNCOMPRESSED_BYTES", 256 * 1024 * 1024)
)
CPER_IMPORT_MAX_COMPRESSION_RATIO = int(os.environ.get("CPER_IMPORT_MAX_COMPRESSION_RATIO", 100))
CPER_IMPORT_MAX_ZIP_MEMBERS = int(os.environ.get("CPER_IMPORT_MAX_ZIP_MEMBERS", 1000))
CPER_IMPORT_MAX_ROWS = int(os.environ.get("CPER_IMPORT_MAX_ROWS", 50_000))
CPER_IMPORT_MAX_COLUMNS = int(os.environ.get("CPER_IMPORT_MAX_COLUMNS", 200))
CPER_IMPORT_MAX_CELLS = int(os.environ.get("CPER_IMPORT_MAX_CELLS", 1_000_000))
CPER_IMPORT_MAX_TEXT_BYTES = int(os.environ.get("CPER_IMPORT_MAX_TEXT_BYTES", 64 * 1024 * 1024))
# --- end of imports -------------------------------------------------------------------------

# --- backup ---------------------------------------------------------------------------------
# `cper backup` / `cper restore` / `cper export_full` / `cper import_full` (docs/sauvegarde.md).
INSTALLED_APPS += ["cper.backup"]
# --- end of backup --------------------------------------------------------------------------
