"""Schemathesis against the live OpenAPI document (/api/v1/openapi.json), every operation.

The document is fetched from the running Django application (WSGI, in process); each operation
is called with generated valid and invalid inputs, authenticated with an administrator's
personal token, on the database under test (SQLite or PostgreSQL). Checks: no server error,
status codes, content types and bodies conform to the document.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from cper.accounts.models import Role
from cper.api.services import token_create
from tests.accounts.factories import UserFactory

# Kept modest so the whole run stays well under two minutes on both databases.
MAX_EXAMPLES = 25

app = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def admin_token(hdf: Any) -> str:
    user = UserFactory(role=Role.ADMINISTRATOR)
    return token_create(user=user, name="schemathesis").raw


@pytest.fixture
def wsgi_in_test_transaction() -> Any:
    """Calls go through Django's WSGI handler, which closes the database connection at the end
    of each request; like Django's test client, keep it open so the test's transaction (and its
    data) survives from one call to the next."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_openapi_document(
    case: Any, admin_token: str, wsgi_in_test_transaction: None, settings: Any
) -> None:
    settings.CPER_API_RATE_TOKEN = "100000/min"
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})
