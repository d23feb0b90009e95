"""Schemathesis against the live OpenAPI document (/api/v1/openapi.json), every operation.

The document is fetched from the running Django application (WSGI, in process); each operation
is called with generated valid and invalid inputs, authenticated with an administrator's
personal token, on the database under test (SQLite or PostgreSQL) holding a small register.
Checks (all of Schemathesis's defaults): no server error; status codes, content types, headers
and bodies conform to the document; invalid input is rejected, valid input is not refused as
malformed. A schema-valid request may still be refused by a domain rule (an unknown code, a
payment above the commitment): that is a 422, accepted here for valid input.

The schema is loaded lazily, when the test runs (`schemathesis.pytest.from_fixture`): building
the cases of every operation costs seconds, and at collection it was paid by every pytest
process, including those that never run this test (`-k`, each xdist worker). The operations are
then subtests of one test; each case runs in a savepoint rolled back after it, so every case
sees the same register whatever the cases before it wrote.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.core.parameters import ParameterLocation

from cper.accounts.models import Role
from cper.api.services import token_create
from cper.audit.services import Actor
from tests.accounts.factories import UserFactory
from tests.conftest import HDF_SLUG

# The examples of the fuzzing phase, per operation and per mode (valid, invalid). Schemathesis's
# coverage phase runs first whatever this number: every boundary and every wrong type of every
# parameter and body field, some 2,700 calls, which is the systematic part. The fuzzing phase
# adds random combinations on top: 10 of them (25 before) cost a third less of this module's
# time. A deeper, randomised run:
#   CPER_SCHEMATHESIS_EXAMPLES=500 pytest tests/api/test_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("CPER_SCHEMATHESIS_EXAMPLES", "10"))
DEEP = "CPER_SCHEMATHESIS_EXAMPLES" in os.environ

CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
schema = schemathesis.pytest.from_fixture("api_schema")

# Real identifiers of the register built by the `register` fixture, by path parameter name.
KNOWN: dict[str, Any] = {}


@contextmanager
def connection_kept_open() -> Iterator[None]:
    """Calls go through Django's WSGI handler, which closes the database connection at the end
    of each request; like Django's test client, keep it open so the test's transaction (and its
    data) survives from one call to the next."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="session")
def api_schema() -> Any:
    """The OpenAPI document as the application serves it, with the case hook below."""
    with connection_kept_open():
        loaded = schemathesis.openapi.from_wsgi(
            "/api/v1/openapi.json", get_wsgi_application(), config=CONFIG
        )
    loaded.hook(map_case)
    return loaded


def map_case(context: Any, case: Any) -> Any:
    """Aim valid cases at real rows, so the fuzzing goes past the 404 of unknown ids: the
    contract's slug always, a real id two times out of three (decided by the generated value,
    so that Hypothesis can still explore both)."""
    meta = case.meta
    path_negative = meta is not None and meta.is_negative_at(ParameterLocation.PATH)
    query_negative = meta is not None and meta.is_negative_at(ParameterLocation.QUERY)
    if case.path_parameters and not path_negative:
        params = dict(case.path_parameters)
        for name, value in params.items():
            if name == "slug":
                params[name] = HDF_SLUG
            elif name in KNOWN and isinstance(value, int) and value % 3:
                params[name] = KNOWN[name]
        case.path_parameters = params
    if case.query and "cursor" in case.query and not query_negative:
        # An opaque cursor only comes from a previous page; a made-up one is a 400.
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case


@pytest.fixture
def register(hdf: Any) -> dict[str, Any]:
    """A programmed operation with a State and a Nord line (committed and partly paid when the
    finance app is there) on a committee's agenda."""
    from cper.operations.models import Committee, Decision
    from tests.operations.factories import make_line, make_operation

    op = make_operation(hdf, code="S-0001", status="programmed", published=True)
    state = make_line(op, "etat", "300000.00")
    make_line(op, "dep-59", "200000.00")
    try:
        from cper.finance.services import movement_record
    except ImportError:  # pragma: no cover - the ledger is not there yet
        movement_record = None
    if movement_record is not None:
        for kind, day, amount, reference in (
            ("commitment", dt.date(2022, 4, 1), "300000.00", "EJ-1"),
            ("payment", dt.date(2022, 6, 1), "100000.00", "MDT-1"),
        ):
            movement_record(
                actor=Actor.system(),
                financing_line=state,
                kind=kind,
                date=day,
                amount=amount,
                reference=reference,
            )
    committee = Committee.objects.create(
        contract=hdf, kind="programmation", date=dt.date(2022, 3, 1)
    )
    Decision.objects.create(committee=committee, operation=op, outcome="approved")
    KNOWN.update(operation_id=op.pk, line_id=state.pk, committee_id=committee.pk, number=1)
    return KNOWN


@pytest.fixture
def admin_token(hdf: Any) -> str:
    user = UserFactory(role=Role.ADMINISTRATOR)
    return token_create(user=user, name="schemathesis").raw


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis's lazy schemas read and rename `item._nodeid`, which pytest 9.2 no longer
    has (the id is a structured `NodeId`): give it the plain id to read. Its renaming then
    changes nothing; each operation is still reported as a subtest labelled with its method and
    path."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def unthrottled(settings: Any) -> None:
    """Set once for the test, not in its body: the body runs for every case, and each
    assignment stacks one more layer of overridden settings."""
    settings.CPER_API_RATE_TOKEN = "100000/min"


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    with connection_kept_open():
        yield


SETTINGS = hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not DEEP,
    database=None,
)


def conforms(case: Any, admin_token: str) -> None:
    with transaction.atomic():
        case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})
        transaction.set_rollback(True)


# Two tests rather than one, so that pytest-xdist can run the reads and the writes side by side.
@pytest.mark.django_db
@schema.include(method="GET").parametrize()
@SETTINGS
def test_reads_conform_to_the_openapi_document(
    case: Any,
    register: dict[str, Any],
    admin_token: str,
    wsgi_in_test_transaction: None,
    unthrottled: None,
) -> None:
    conforms(case, admin_token)


@pytest.mark.django_db
@schema.exclude(method="GET").parametrize()
@SETTINGS
def test_writes_conform_to_the_openapi_document(
    case: Any,
    register: dict[str, Any],
    admin_token: str,
    wsgi_in_test_transaction: None,
    unthrottled: None,
) -> None:
    conforms(case, admin_token)
