"""The error pages, in French and in the DSFR, without any technical detail.

Django renders 403 and 404 with the request (templates 403.html, 404.html). For 400 and 500 it
renders without it; these handlers render with it, so the pages carry the site's header, and
fall back to a page that needs nothing (no database, no context processor) when that fails —
a 500 is often the database being away.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader

log = logging.getLogger(__name__)


def _render(request: HttpRequest, template: str, status: int) -> HttpResponse:
    try:
        body = loader.render_to_string(template, {}, request=request)
    except Exception:
        log.exception("page d'erreur %s rendue sans le contexte du site", status)
        body = loader.render_to_string(
            "server/error_bare.html",
            {"status": status, "SITE_CONFIG": SimpleNamespace(**settings.CPER_SITE)},
        )
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, "400.html", 400)


def server_error(request: HttpRequest) -> HttpResponse:
    return _render(request, "500.html", 500)
