"""Personal tokens (page, storage, authentication), rate limits, docs and the OpenAPI document."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client

from cper.accounts.models import Role
from cper.api.models import ApiToken
from cper.api.services import token_create
from tests.api.conftest import ApiClient, make_user

pytestmark = pytest.mark.django_db

TOKENS_PAGE = "/compte/jetons/"


def test_owner_creates_lists_and_revokes_a_token_from_the_page(hdf):
    user = make_user(role=Role.OBSERVER)
    browser = Client()
    browser.force_login(user)

    page = browser.post(TOKENS_PAGE, {"name": "Logiciel financier"})
    assert page.status_code == 200
    raw = re.search(r'id="new-token"[^>]*>(cper_[^<]+)<', page.content.decode()).group(1)
    token = ApiToken.objects.get(user=user)
    # Stored hashed: the digest of the secret, never the secret itself.
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert not ApiToken.objects.filter(digest=raw).exists()
    assert token.prefix == raw[:12]
    # Shown once: the list shows only the start of the token.
    listing = browser.get(TOKENS_PAGE).content.decode()
    assert "Logiciel financier" in listing and raw not in listing and token.prefix in listing

    assert ApiClient(raw).get("/api/v1/contracts").status_code == 200
    revoked = browser.post(f"{TOKENS_PAGE}{token.pk}/revoquer/")
    assert revoked.status_code == 302
    response = ApiClient(raw).get("/api/v1/contracts")
    assert response.status_code == 401
    assert response.json()["code"] == "jeton_invalide"


def test_tokens_page_needs_login_and_a_name_and_only_owner_revokes(hdf):
    assert Client().get(TOKENS_PAGE).status_code == 302  # to the login page
    owner, other = make_user(), make_user()
    token = token_create(user=owner, name="à moi").token
    browser = Client()
    browser.force_login(other)
    assert browser.post(TOKENS_PAGE, {"name": "  "}).status_code == 400
    assert browser.post(f"{TOKENS_PAGE}{token.pk}/revoquer/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert browser.get(f"{TOKENS_PAGE}{token.pk}/revoquer/").status_code == 405


@pytest.mark.parametrize(
    "header",
    ["Bearer cper_nope", "Bearer ", "Token abc", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500],
)
def test_bad_credentials_are_401_never_anonymous(hdf, header):
    response = Client().get("/api/v1/contracts", headers={"Authorization": header})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "jeton_invalide" and body["field"] is None


def test_inactive_user_token_is_refused(hdf):
    user = make_user(is_active=False)
    raw = token_create(user=user, name="x").raw
    assert ApiClient(raw).get("/api/v1/contracts").status_code == 401


def test_rate_limit_per_token_with_retry_after(hdf, settings):
    settings.CPER_API_RATE_TOKEN = "3/min"
    first = ApiClient(token_create(user=make_user(), name="a").raw)
    second = ApiClient(token_create(user=make_user(), name="b").raw)
    for _ in range(3):
        assert first.get("/api/v1/contracts").status_code == 200
    refused = first.get("/api/v1/contracts")
    assert refused.status_code == 429
    assert refused.json()["code"] == "trop_de_requetes"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert second.get("/api/v1/contracts").status_code == 200  # another token: its own window


def test_rate_limit_for_anonymous_callers(hdf, settings):
    settings.CPER_API_RATE_ANONYMOUS = "2/min"
    anonymous = ApiClient()
    assert [anonymous.get("/api/v1/contracts").status_code for _ in range(3)] == [200, 200, 429]


def test_docs_are_served_without_any_cdn(hdf):
    page = Client().get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "/static/ninja/swagger-ui.css" in html
    assert not re.search(r"(src|href)=\"https?://", html)


def test_openapi_document_describes_every_operation_with_its_errors(hdf):
    doc = Client().get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "BearerToken" in doc["components"]["securitySchemes"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "404", "429"} <= statuses, (method, path)
            if method == "get":
                assert {} in operation["security"], (method, path)  # token optional
            else:
                assert operation["security"] == [{"BearerToken": []}], (method, path)


def test_administrator_revokes_a_token_from_the_admin(hdf):
    from cper.audit.models import AuditEntry

    owner = make_user()
    created = token_create(user=owner, name="logiciel")
    admin_user = make_user(is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/cper_api/apitoken/",
        {"action": "revoke", "_selected_action": [created.token.pk]},
    )
    assert response.status_code == 302
    created.token.refresh_from_db()
    assert created.token.revoked_at is not None
    entry = AuditEntry.objects.get(action="api_token.revoke")
    assert entry.user == admin_user and entry.via == "admin"
    assert ApiClient(created.raw).get("/api/v1/contracts").status_code == 401
    page = browser.get("/admin/cper_api/apitoken/").content.decode()
    assert created.raw not in page and created.token.digest not in page


def test_anonymous_limit_is_not_dodged_with_forwarded_addresses(hdf, settings):
    settings.CPER_API_RATE_ANONYMOUS = "2/min"
    client = Client()
    statuses = [
        client.get("/api/v1/contracts", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
