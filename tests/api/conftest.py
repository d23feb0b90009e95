"""Fixtures of the API tests: users of each role, their tokens, a JSON client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cper.accounts.models import Organisation, Role
from cper.api.services import token_create
from tests.accounts.factories import UserFactory


class ApiClient:
    """Django's test client speaking JSON, with an optional bearer token."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            path,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers=self._headers(headers),
        )

    def patch(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.patch(
            path, json.dumps(body), content_type="application/json", headers=self._headers(headers)
        )


def make_user(**fields: Any) -> Any:
    """A saved user (the factory sets the password without saving it, which would log a
    session out at its next request)."""
    user = UserFactory(**fields)
    user.save()
    return user


def user_with_role(role: str, organisation_code: str | None = None, **extra: Any) -> Any:
    organisation = Organisation.objects.get(code=organisation_code) if organisation_code else None
    return make_user(role=role, organisation=organisation, **extra)


def first_page_and_listed(
    client: Any, url: str, params: dict[str, Any]
) -> tuple[Any, int, list[str]]:
    """(the first page of a cursor list, one item per page, the SQL it ran; how many items
    walking every page lists): to hold the first page's `count` to what the pages give."""
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(url, {**params, "limit": 1}).json()
    # (read before the next requests: each one empties the connection's query log)
    sql = [q["sql"] for q in ctx.captured_queries]
    listed, cursor = len(body["results"]), body["next_cursor"]
    while cursor:
        page = client.get(url, {**params, "limit": 1, "cursor": cursor}).json()
        listed, cursor = listed + len(page["results"]), page["next_cursor"]
    return body, listed, sql


def client_for(user: Any) -> ApiClient:
    return ApiClient(token_create(user=user, name="tests").raw)


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anonymous_client() -> ApiClient:
    return ApiClient()


@pytest.fixture
def admin_client(hdf: Any) -> ApiClient:
    return client_for(user_with_role(Role.ADMINISTRATOR))


@pytest.fixture
def observer_client(hdf: Any) -> ApiClient:
    return client_for(user_with_role(Role.OBSERVER))


@pytest.fixture
def instructor_client(hdf: Any) -> ApiClient:
    return client_for(user_with_role(Role.INSTRUCTOR, "etat"))


@pytest.fixture
def nord_client(hdf: Any) -> ApiClient:
    """A manager of the Nord département (partner `dep-59`)."""
    return client_for(user_with_role(Role.PARTNER_MANAGER, "departement-59"))


@pytest.fixture
def state_client(hdf: Any) -> ApiClient:
    """A manager of the State (partner `etat`)."""
    return client_for(user_with_role(Role.PARTNER_MANAGER, "etat"))
