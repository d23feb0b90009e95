"""The API's answers to the attacks of issue 15: a line lowered or cancelled below its
commitments is refused (item 4); the permission comes before any lookup of a partner's file
number, replays always say so, and database refusals are French 422s naming the field, never
the database's text (item 8)."""

from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from django.db import DataError, IntegrityError, connection, connections, transaction

from cper.api.errors import _database_error
from cper.api.main import api
from cper.finance.models import Movement
from cper.operations.models import FinancingLine, LineStatus, Operation
from tests.api.conftest import ApiClient, client_for, user_with_role
from tests.conftest import HDF_SLUG
from tests.finance import factories as f
from tests.operations.factories import make_operation, valid_siret

pytestmark = pytest.mark.django_db

BASE = f"/api/v1/contracts/{HDF_SLUG}"


@pytest.fixture
def committed(hdf):
    op = f.operation(hdf, code="F-FLOOR")
    line = f.line(op, "etat", "200000.00")
    f.record(line, "commitment", dt.date(2023, 6, 1), "150000.00")
    return line


# --- item 4 ---------------------------------------------------------------------------------


def test_lowering_a_line_below_its_commitments_is_a_422(committed, state_client):
    response = state_client.patch(f"{BASE}/financing-lines/{committed.pk}", {"amount": "100000"})
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["field"] == "amount"
    assert "inférieur à l'engagé" in body["message"]
    assert "désengager d'abord 50\u202f000,00\u00a0€" in body["message"]
    assert FinancingLine.objects.get(pk=committed.pk).amount == 200000


def test_cancelling_a_committed_line_is_a_422(committed, state_client):
    response = state_client.post(
        f"{BASE}/financing-lines/{committed.pk}/cancel", {"reason": "doublon"}
    )
    assert response.status_code == 422, response.json()
    assert "désengager d'abord 150\u202f000,00\u00a0€" in response.json()["message"]
    assert FinancingLine.objects.get(pk=committed.pk).status == LineStatus.ACTIVE


# --- item 8 ---------------------------------------------------------------------------------


def _new_operation(reference: str) -> dict:
    return {
        "title": "Opération témoin",
        "owner": {"siret": valid_siret(4242), "name": "Témoin", "legal_category": "commune"},
        "objective": "2.2",
        "communes": ["59350"],
        "external_references": [{"partner": "etat", "reference": reference}],
    }


def test_an_existing_file_number_is_no_oracle_for_those_who_may_not_create(
    hdf, instructor_client, observer_client
):
    assert instructor_client.post(f"{BASE}/operations", _new_operation("DOS-1")).status_code == 201
    known = observer_client.post(f"{BASE}/operations", _new_operation("DOS-1"))
    unknown = observer_client.post(f"{BASE}/operations", _new_operation("DOS-2"))
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()
    assert "Idempotent-Replayed" not in known


def _race(n: int, post) -> list:
    barrier = threading.Barrier(n)
    out: list = []

    def run() -> None:
        try:
            barrier.wait(timeout=60)
            out.append(post())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers: the race needs PostgreSQL (DATABASE_URL)",
)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_by_external_id_carry_the_header(hdf):
    op = f.operation(hdf, code="F-RACE-HDR")
    line = f.line(op, "etat", "300000.00")
    f.record(line, "commitment", dt.date(2022, 4, 1), "300000.00", "EJ-H")
    token = client_for(user_with_role("partner_manager", "etat")).token
    payload = {
        "financing_line": line.pk,
        "kind": "payment",
        "date": "2023-01-15",
        "amount": "25000.00",
        "reference": "MDT-H",
        "external_id": "race-header",
    }
    answers = _race(3, lambda: ApiClient(token).post(f"{BASE}/movements", payload))
    assert Movement.objects.filter(financing_line=line, kind="payment").count() == 1
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 201], statuses
    for a in answers:
        assert (a.get("Idempotent-Replayed") == "true") == (a.status_code == 200)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_with_one_file_number_make_one_operation(hdf):
    token = client_for(user_with_role("instructor", "etat")).token
    answers = _race(
        3, lambda: ApiClient(token).post(f"{BASE}/operations", _new_operation("DOS-RACE"))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 201], [a.json() for a in answers]
    assert Operation.objects.filter(external_references__reference="DOS-RACE").count() == 1
    for a in answers:
        assert (a.get("Idempotent-Replayed") == "true") == (a.status_code == 200)


def _request(body: bytes = b"{}") -> SimpleNamespace:
    return SimpleNamespace(method="POST", path="/api/v1/test", body=body, META={}, user=None)


def _answer(exc: Exception, body: bytes = b"{}") -> tuple[int, dict]:
    import json

    response = _database_error(api, _request(body), exc)  # type: ignore[arg-type]
    return response.status_code, json.loads(response.content)


def test_a_duplicate_is_a_french_422_naming_the_field(hdf):
    make_operation(hdf, code="T-DUP")
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        make_operation(hdf, code="T-DUP")
    status, body = _answer(caught.value)
    assert status == 422
    assert body["field"] == "code"
    assert body["message"].startswith("Cette valeur est déjà utilisée")
    assert "duplicate" not in body["message"].lower() and "unique" not in body["message"].lower()


@needs_postgresql
def test_a_nul_or_too_long_value_refused_by_postgresql_is_a_french_422(hdf):
    op = make_operation(hdf, code="T-NUL")
    with pytest.raises(DataError) as caught, transaction.atomic():
        Operation.objects.filter(pk=op.pk).update(title="a\x00b")
    status, body = _answer(caught.value, b'{"title": "a\\u0000b"}')
    assert status == 422 and body["field"] == "title"
    assert "caractère nul" in body["message"] and "PostgreSQL" not in body["message"]
    with pytest.raises(DataError) as caught, transaction.atomic():
        Operation.objects.filter(pk=op.pk).update(code="x" * 500)
    status, body = _answer(caught.value)
    assert status == 422 and body["message"] == "Texte trop long pour être enregistré."
    assert "character varying" not in body["message"]
