"""Template context shared by every page: the operator's identity and the main navigation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from cper.contracts.models import Contract

# (label, url name). Contract pages take the contract's slug; names not (yet) defined are
# skipped, so each app adds its pages without touching this list's readers.
MAIN_NAV: list[tuple[str, str]] = [
    ("Tableau de bord", "web:dashboard"),
    ("Contrat", "web:contract"),
    ("Maquette", "maquette:index"),
    ("Opérations", "operations:list"),
    ("Territoires", "web:territories"),
    ("Emploi et formation", "web:focus"),
    ("Données", "io:index"),
]


def current_contract_slug(request: HttpRequest) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match and "slug" in match.kwargs:
        return str(match.kwargs["slug"])
    return Contract.objects.order_by("slug").values_list("slug", flat=True).first()


def site(request: HttpRequest) -> dict[str, Any]:
    # django-dsfr's own context processor reads a DsfrConfig row on every request; ours reads
    # settings, so the Marianne block is configured by environment.
    slug = current_contract_slug(request)
    nav = []
    for label, name in MAIN_NAV:
        try:
            url = reverse(name, kwargs={"slug": slug}) if slug else reverse(name)
        except NoReverseMatch:
            continue
        current = request.path == url or (request.path.startswith(url) and url.count("/") > 3)
        nav.append({"label": label, "url": url, "current": current})
    return {
        "SITE_CONFIG": SimpleNamespace(**settings.CPER_SITE),
        "main_nav": nav,
        "contract_slug": slug,
    }
