"""The app serving cper in production; its static files configuration (collectstatic)."""

from django.apps import AppConfig
from django.contrib.staticfiles.apps import StaticFilesConfig as BaseStaticFilesConfig


class ServerConfig(AppConfig):
    default = True  # the module holds a second AppConfig (below)
    name = "cper.server"
    verbose_name = "Service en production"


# What collectstatic leaves out: the DSFR's per-component, legacy and analytics builds (the pages
# load the bundled dsfr.min.css, utility.min.css and dsfr.module.min.js, which name their fonts
# and icons themselves), and ReDoc (the API's documentation page is Swagger UI). A third fewer
# files to hash and compress at each deployment.
STATIC_IGNORE_PATTERNS = [
    "dsfr/dist/analytics/*",
    "dsfr/dist/component/*",
    "dsfr/dist/core/*",
    "dsfr/dist/layout/*",
    "dsfr/dist/legacy/*",
    "dsfr/dist/scheme/*",
    "dsfr/dist/utility/*/*",
    "ninja/redoc*",
    "README.md",
]


class StaticFilesConfig(BaseStaticFilesConfig):
    default = False
    ignore_patterns = [*BaseStaticFilesConfig.ignore_patterns, *STATIC_IGNORE_PATTERNS]
