"""ProConnect sign-in end to end with Django's test client against the local OpenID provider:
the button, the provider's login, the return to cper, the account and its role, the sign-out
that also ends the ProConnect session."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.test import Client

from cper.accounts.models import Role, User
from cper.accounts.oidc import discovery
from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from tests.oidc.conftest import proconnect_settings

pytestmark = [pytest.mark.xdist_group("servers"), pytest.mark.django_db]

CONTRACT = "/contrats/hauts-de-france-2021-2027/"
INPUT = re.compile(r"<input[^>]*>")
ATTR = re.compile(r'(\w+)="([^"]*)"')


def provider_login(authorize_url: str, login: str) -> str:
    """Play the agent at the provider: follow its redirects, fill its login form (any password
    is accepted), and return the URL it sends the browser back to (cper's callback)."""
    browser = requests.Session()
    url = authorize_url
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and "<form" in response.text:
            action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', response.text)[1])
            fields = {}
            for tag in INPUT.findall(response.text):
                attrs = dict(ATTR.findall(tag))
                if "name" in attrs:
                    fields[attrs["name"]] = attrs.get("value", "")
            fields.update(login=login, password="nimporte-lequel")
            response = browser.post(
                urljoin(url, action), data=fields, allow_redirects=False, timeout=10
            )
        assert response.status_code in (302, 303), response.text[:500]
        url = urljoin(url, response.headers["Location"])
        if url.startswith("http://testserver/"):
            return url
    raise AssertionError("le fournisseur n'a pas renvoyé vers cper")


def sign_in(client: Client, login: str, next_url: str = "") -> tuple[object, str]:
    start = client.get("/proconnect/connexion/", {"next": next_url} if next_url else {})
    assert start.status_code == 302
    authorize = start["Location"]
    callback = urlsplit(provider_login(authorize, login))
    response = client.get(callback.path, parse_qs(callback.query))
    return response, authorize


def test_the_sign_in_page_offers_proconnect_only_when_it_is_configured(client, settings):
    settings.PROCONNECT_ENABLED = False
    page = client.get("/connexion/").content.decode()
    assert "S’identifier avec" not in page
    assert client.get("/proconnect/connexion/").status_code == 404
    assert client.get("/proconnect/retour/?code=x&state=y").status_code == 404
    settings.PROCONNECT_ENABLED = True
    page = client.get("/connexion/?next=/contrats/").content.decode()
    assert "S’identifier avec" in page and "ProConnect" in page
    assert 'action="/proconnect/connexion/"' in page and 'value="/contrats/"' in page


def test_the_authorization_request_is_proconnect_s(client, proconnect):
    start = client.get("/proconnect/connexion/")
    assert start.status_code == 302
    url = urlsplit(start["Location"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == proconnect and url.path == "/authorize"
    assert query["scope"] == ["openid email given_name usual_name siret uid idp_id"]
    assert query["acr_values"] == ["eidas1"]
    assert query["redirect_uri"] == ["http://testserver/proconnect/retour/"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32


def test_an_agent_of_a_partner_lands_with_the_partner_s_role(client, proconnect, hdf):
    response, _ = sign_in(client, "agent.nord", next_url=CONTRACT)
    assert response.status_code == 302 and response["Location"] == CONTRACT
    # Signed in on the next pages (the session's backend is ProConnect's).
    assert "Camille Lefebvre" in client.get(CONTRACT).content.decode()
    user = User.objects.get(email="camille.lefebvre@nord.exemple.fr")
    assert (user.first_name, user.last_name) == ("Camille", "Lefebvre")
    assert user.role == Role.PARTNER_MANAGER
    assert user.organisation.code == "departement-59"
    assert not user.has_usable_password()
    assert int(client.session["_auth_user_id"]) == user.pk
    entry = AuditEntry.objects.get(action=AuditAction.USER_CREATED, subject_id=str(user.pk))
    assert "ProConnect" in entry.message and "22590001800011" in entry.message


def test_an_agent_of_no_partner_lands_as_an_observer(client, proconnect, hdf):
    response, _ = sign_in(client, "agent.inconnu")
    assert response.status_code == 302
    user = User.objects.get(email="dominique.bernard@exemple.gouv.fr")
    assert user.role == Role.OBSERVER and user.organisation is None
    assert int(client.session["_auth_user_id"]) == user.pk


def test_signing_in_again_is_the_same_account(client, proconnect, hdf):
    sign_in(client, "agent.nord")
    client.logout()
    sign_in(client, "agent.nord")
    assert User.objects.filter(email="camille.lefebvre@nord.exemple.fr").count() == 1
    # Nothing changed: no entry beyond the creation.
    assert not AuditEntry.objects.filter(action=AuditAction.USER_UPDATED).exists()


def test_a_replayed_or_forged_return_signs_nobody_in(client, proconnect, hdf):
    start = client.get("/proconnect/connexion/")
    callback = urlsplit(provider_login(start["Location"], "agent.nord"))
    forged = {**parse_qs(callback.query), "state": ["x" * 32]}
    # Django answers a SuspiciousOperation with its 400 page.
    assert client.get(callback.path, forged).status_code == 400
    assert "_auth_user_id" not in client.session
    # The provider says the agent gave up: back to the sign-in page, which says so.
    client.get("/proconnect/connexion/")
    state = next(iter(client.session["oidc_states"]))
    response = client.get("/proconnect/retour/", {"error": "access_denied", "state": state})
    assert response.status_code == 302 and response["Location"] == "/connexion/?proconnect=echec"
    page = client.get(response["Location"]).content.decode()
    assert "La connexion avec ProConnect n'a pas abouti" in page
    assert not User.objects.filter(email="camille.lefebvre@nord.exemple.fr").exists()


def test_signing_out_ends_the_proconnect_session_too(client, proconnect, hdf):
    sign_in(client, "agent.nord")
    id_token = client.session["oidc_id_token"]
    response = client.post("/deconnexion/")
    assert "_auth_user_id" not in client.session
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{proconnect}/session/end"
    query = parse_qs(url.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == ["http://testserver/proconnect/deconnecte/"]
    # The provider knows the token and the return address (it asks the agent to confirm).
    assert requests.get(response["Location"], timeout=10).status_code == 200
    back = client.get("/proconnect/deconnecte/", {"state": query["state"][0]})
    assert back.status_code == 302 and back["Location"] == "/"


def test_a_password_sign_in_needs_no_provider(client, settings, hdf, django_user_model):
    """A local account signs in and out while ProConnect is configured but its provider is
    down."""
    for key, value in proconnect_settings("http://127.0.0.1:9").items():
        setattr(settings, key, value)
    django_user_model.objects.create_user("locale", password="motdepasse-local")
    response = client.post(
        "/connexion/", {"username": "locale", "password": "motdepasse-local", "next": "/"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"]
    assert "locale" in client.get(CONTRACT).content.decode()
    response = client.post("/deconnexion/")
    assert response.status_code == 302 and response["Location"] == "/"
    # The button, while the provider is down, leads back to the sign-in page, which says so.
    response = client.get("/proconnect/connexion/")
    assert response.status_code == 302 and response["Location"] == "/connexion/?proconnect=echec"
    assert "n'a pas abouti" in client.get(response["Location"]).content.decode()


def test_signing_out_while_proconnect_is_down_still_signs_out(client, proconnect, hdf, settings):
    sign_in(client, "agent.nord")
    settings.PROCONNECT_ISSUER = "http://127.0.0.1:9"
    discovery.cache_clear()
    response = client.post("/deconnexion/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session
