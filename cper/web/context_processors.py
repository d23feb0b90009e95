"""Template context shared by every page: the operator's identity and the main navigation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# (label, url name): pages register here as they are built; missing names are skipped.
MAIN_NAV = [
    ("Accueil", "web:home"),
]


def site(request: HttpRequest) -> dict[str, Any]:
    # django-dsfr's own context processor reads a DsfrConfig row on every request; ours reads
    # settings, so the Marianne block is configured by environment and costs no query.
    nav = []
    for label, name in MAIN_NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        current = request.path == url or (url != "/" and request.path.startswith(url))
        nav.append({"label": label, "url": url, "current": current})
    return {"SITE_CONFIG": SimpleNamespace(**settings.CPER_SITE), "main_nav": nav}
