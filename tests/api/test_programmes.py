"""The State's budget chain through the API (issue 12): execution by programme and the AE mises
en place, read and posted (permission: the State's managers and administrators)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.contracts.models import BudgetProgramme
from cper.finance.models import AeMiseEnPlace
from tests.conftest import HDF_SLUG
from tests.finance.factories import line, operation, record

BASE = f"/api/v1/contracts/{HDF_SLUG}"
NOTICE = {
    "programme": "P112",
    "bop": "0112-DR59",
    "year": 2023,
    "amount": "250000.00",
    "date": "2023-02-01",
    "reference": "NOTIF-2023-1",
}


@pytest.mark.django_db
def test_state_manager_posts_ae_and_reads_them_back(state_client, anonymous_client):
    made = state_client.post(f"{BASE}/ae-mises-en-place", NOTICE)
    assert made.status_code == 201, made.json()
    assert made.json()["amount"] == "250000.00" and made.json()["kind"] == "delegation"
    listed = anonymous_client.get(f"{BASE}/ae-mises-en-place").json()
    assert listed["count"] == 1 and listed["results"][0]["bop"] == "0112-DR59"


@pytest.mark.django_db
def test_other_partners_may_not_post_ae_and_refusals_name_the_field(nord_client, admin_client):
    assert nord_client.post(f"{BASE}/ae-mises-en-place", NOTICE).status_code == 403
    refused = admin_client.post(
        f"{BASE}/ae-mises-en-place", {**NOTICE, "kind": "withdrawal", "note": "trop-perçu"}
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "amount"
    assert "dépasse les AE mises en place" in refused.json()["message"]
    assert not AeMiseEnPlace.objects.exists()


@pytest.mark.django_db
def test_execution_by_programme_endpoint_and_generic_keys(hdf, state_client, anonymous_client):
    op = operation(hdf, code="F-P112")
    op.published = True
    op.save(update_fields=["published"])
    p112 = BudgetProgramme.objects.get(code="P112")
    state = line(op, "etat", "300000.00", budget_nature="ae_cp", programme=p112, bop="0112-DR59")
    record(state, "commitment", dt.date(2022, 4, 1), "200000.00", "2100000042")
    record(state, "payment", dt.date(2022, 6, 1), "50000.00", "DP-1")
    assert state_client.post(f"{BASE}/ae-mises-en-place", NOTICE).status_code == 201
    body = anonymous_client.get(
        f"{BASE}/execution/programmes", {"as_of": "2023-12-31", "group_by": "programme"}
    ).json()
    rows = {r["key"]["programme"]: r for r in body["results"]}
    assert rows["P112"]["ae_delegated"] == "250000.00"
    assert rows["P112"]["ae_committed"] == "200000.00"
    assert rows["P112"]["cp_paid"] == "50000.00"
    assert rows["P112"]["ae_commitment_rate"] == "80.00"
    assert Decimal(rows["P112"]["contractualised"]) > 0  # the State's P112 maquette (YAML)
    generic = anonymous_client.get(
        f"{BASE}/execution",
        {"as_of": "2023-12-31", "group_by": "bop", "programme": "P112"},
    ).json()
    assert [(r["key"]["bop"], r["committed"]) for r in generic["results"]] == [
        ("0112-DR59", "200000.00")
    ]
