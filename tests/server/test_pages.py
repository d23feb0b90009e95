"""What a visitor of the production site gets from cper.server, through Django's test client:
the health endpoint, the request id, the French error pages, and pages that a strict
Content-Security-Policy lets render whole."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views import defaults

from cper.server import errors

SLUG = "hauts-de-france-2021-2027"


def test_health_says_the_database_answers_and_names_the_version(client, db) -> None:
    response = client.get("/sante")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    body = json.loads(response.content)
    assert body["statut"] == "ok"
    assert body["base_de_donnees"] == "ok"
    assert body["version"] == "0.1.0"
    queue = body["file_des_taches"]
    assert queue == "absent" or set(queue) == {
        "en_attente",
        "en_cours",
        "attente_la_plus_ancienne_s",
    }


def test_health_answers_503_when_the_database_does_not(client, db, monkeypatch) -> None:
    from cper.server import health

    def broken() -> str:
        return "erreur"

    monkeypatch.setattr(health, "database_state", broken)
    response = client.get("/sante")
    assert response.status_code == 503
    assert json.loads(response.content)["statut"] == "erreur"


def test_the_request_id_of_the_proxy_comes_back_and_a_new_one_is_made_otherwise(client, db) -> None:
    given = client.get("/sante", headers={"X-Request-ID": "nginx-4f2a.17"})
    assert given["X-Request-ID"] == "nginx-4f2a.17"
    made = client.get("/sante")
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    # Not something to copy into logs and headers as is.
    odd = client.get("/sante", headers={"X-Request-ID": "a b\u00e9<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", odd["X-Request-ID"])


def test_the_request_id_is_on_the_log_lines_of_its_request(client, db, caplog) -> None:
    caplog.set_level("INFO", logger="cper.requests")
    client.get("/sante", headers={"X-Request-ID": "req-123"})
    (line,) = [r for r in caplog.records if r.name == "cper.requests"]
    assert line.request_id == "req-123"  # type: ignore[attr-defined]
    assert (line.status, line.path) == (200, "/sante")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "heading"),
    [(400, "Requête incorrecte"), (500, "Erreur inattendue")],
)
def test_400_and_500_pages_are_french_dsfr_pages(db, status: int, heading: str) -> None:
    request = RequestFactory().get("/une-page")
    response = (
        errors.bad_request(request, Exception("détail interne"))
        if status == 400
        else errors.server_error(request)
    )
    html = response.content.decode()
    assert response.status_code == status
    assert f"<h1>{heading}</h1>" in html
    assert "fr-header" in html
    assert "détail interne" not in html


def test_the_500_page_still_renders_when_the_site_context_fails(db, monkeypatch) -> None:
    from cper.web import context_processors

    def broken(request: object) -> str:
        raise RuntimeError("base indisponible")

    monkeypatch.setattr(context_processors, "current_contract_slug", broken)
    response = errors.server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Erreur inattendue" in html
    assert "base indisponible" not in html


def test_a_missing_page_is_the_french_404_without_technical_detail(client, hdf) -> None:
    response = client.get(f"/contrats/{SLUG}/nexiste-pas/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page non trouvée</h1>" in html
    assert "Erreur 404" in html
    for technical in ("urlpatterns", "Traceback", "URLconf", "Using the", "nexiste-pas"):
        assert technical not in html


def test_a_refused_page_is_the_french_403(hdf) -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    # The services' refusals are French sentences meant for the user: the page gives them.
    reason = "Connectez-vous pour enregistrer un engagement ou un paiement sur cette ligne."
    response = defaults.permission_denied(request, PermissionDenied(reason))
    html = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Accès refusé</h1>" in html
    assert reason in html
    bare = defaults.permission_denied(request, PermissionDenied()).content.decode()
    assert "Vous n’avez pas les droits nécessaires" in bare


class _Inline(HTMLParser):
    """What a strict CSP would block: inline scripts and styles without the nonce, style=
    attributes, on…= handlers."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.blocked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in found:
            if name == "style" or name.startswith("on"):
                self.blocked.append(f"<{tag} {name}=…>")
        executable = found.get("type") in (None, "", "module", "text/javascript")
        inline = tag == "script" and executable and not found.get("src")
        if inline and found.get("nonce") != self.nonce:
            self.blocked.append("<script> en ligne")
        if tag == "style" and found.get("nonce") != self.nonce:
            self.blocked.append("<style> en ligne")


PAGES = [
    f"/contrats/{SLUG}/tableau-de-bord/",
    f"/contrats/{SLUG}/",
    f"/contrats/{SLUG}/territoires/",
    f"/contrats/{SLUG}/axes/2/",
    f"/contrats/{SLUG}/emploi-formation-orientation/",
    f"/contrats/{SLUG}/maquette/",
    f"/contrats/{SLUG}/operations/",
    f"/contrats/{SLUG}/operations/comites/",
    f"/contrats/{SLUG}/donnees/",
    "/connexion/",
    "/api/v1/docs",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_a_strict_csp_and_nothing_it_would_block(client, hdf, path: str) -> None:
    from cper.accounts.models import Role, User

    # An instructor sees every page, the committees and the imports included.
    client.force_login(User.objects.create_user("csp-instructeur", role=Role.INSTRUCTOR))
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    match = re.search(r"'nonce-([^']+)'", policy)
    parser = _Inline(match.group(1) if match else "")
    parser.feed(response.content.decode())
    assert parser.blocked == []
