"""Django settings for cper, read from the environment.

DATABASE_URL (default: a SQLite file under var/), DJANGO_DEBUG, SECRET_KEY, ALLOWED_HOSTS,
and CPER_* variables for the operator's identity (the Marianne block is configurable).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CPER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
STATIC_ROOT = VAR_DIR / "static"
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
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
# --- end of production ----------------------------------------------------------------------

# --- shared stores (cache, login throttling, rate limits) -----------------------------------
# --- end of shared stores -------------------------------------------------------------------

# --- background jobs ------------------------------------------------------------------------
# --- end of background jobs -----------------------------------------------------------------

# --- ProConnect (OpenID Connect) ------------------------------------------------------------
# --- end of ProConnect ----------------------------------------------------------------------

# --- imports: bounds on spreadsheets ------------------------------------------------------------
# --- end of imports -------------------------------------------------------------------------
