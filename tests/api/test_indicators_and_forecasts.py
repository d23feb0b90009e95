"""The API of the indicators (catalogue, values, roll-up; recording a value) and of the
forecasts (payment-credit need, slippage): shapes, permissions, French error bodies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.audit.services import Actor
from cper.forecasts.services import schedule_replace
from cper.indicators.models import IndicatorValue
from tests.finance import factories as ff
from tests.indicators.factories import catalogue, value

pytestmark = pytest.mark.django_db

BASE = "/api/v1/contracts/hauts-de-france-2021-2027"


@pytest.fixture
def op(hdf):
    catalogue(hdf)
    operation = ff.operation(hdf, objective="2.2", communes=("59350",), code="OP-API-1")
    value(operation, "T-M2", planned="1500", achieved="250.5", day=dt.date(2024, 6, 30))
    return operation


def test_catalogue_is_public_with_units_and_summability(anonymous_client, op):
    body = anonymous_client.get(f"{BASE}/indicators").json()
    occ = next(i for i in body["results"] if i["code"] == "T-OCC")
    assert (occ["unit"], occ["unit_label"], occ["summable"]) == ("pourcent", "%", False)
    assert next(i for i in body["results"] if i["code"] == "T-PL")["target_2027"] == "100"


def test_values_and_rollup_hide_unpublished_operations_from_the_public(
    anonymous_client, observer_client, op
):
    assert anonymous_client.get(f"{BASE}/indicator-values").json()["results"] == []
    body = observer_client.get(f"{BASE}/indicator-values", {"indicator": "T-M2"}).json()
    assert [(v["operation_code"], v["planned"], v["achieved"]) for v in body["results"]] == [
        ("OP-API-1", "1500", "250.5")
    ]
    rollup = observer_client.get(f"{BASE}/indicators/rollup", {"by": "departement"}).json()
    assert rollup["rows"][0]["group"] == "59"
    assert rollup["rows"][0]["aggregation"] == "sum"


def test_instructor_records_a_value_and_observer_is_refused(instructor_client, observer_client, op):
    payload = {"operation": op.pk, "indicator": "T-M2", "achieved": "400.25", "date": "2024-12-31"}
    response = instructor_client.post(f"{BASE}/indicator-values", payload)
    assert response.status_code == 201, response.json()
    assert response.json()["achieved"] == "400.25"
    assert IndicatorValue.objects.filter(operation=op).count() == 2
    assert observer_client.post(f"{BASE}/indicator-values", payload).status_code == 403


def test_a_refused_value_answers_422_naming_the_field(instructor_client, op):
    payload = {"operation": op.pk, "indicator": "T-OCC", "achieved": "101", "date": "2024-12-31"}
    response = instructor_client.post(f"{BASE}/indicator-values", payload)
    assert response.status_code == 422
    assert response.json()["field"] == "achieved"
    assert "pourcentage" in response.json()["message"]


def test_payment_needs_and_slippage_for_staff_only(observer_client, anonymous_client, hdf):
    operation = ff.operation(hdf, code="OP-API-2")
    line = ff.line(operation, "etat", "100000.00")
    schedule_replace(
        actor=Actor.system(),
        line=line,
        rows=[(2024, Decimal("100000"), Decimal("30000")), (2026, Decimal("0"), Decimal("70000"))],
    )
    ff.record(line, "commitment", dt.date(2024, 3, 1), "100000.00")
    ff.record(line, "payment", dt.date(2024, 9, 1), "10000.00")
    body = observer_client.get(f"{BASE}/forecasts/payment-needs", {"year": 2026}).json()
    state = body["partners"][0]
    # 70 000 planned in 2026 + (30 000 planned in 2024 − 10 000 paid) carried.
    assert (state["planned_payments"], state["carried"], state["need"]) == (
        "70000.00",
        "20000.00",
        "90000.00",
    )
    slips = observer_client.get(f"{BASE}/forecasts/slippage", {"at": "2025-06-30"}).json()
    assert [(s["what"], s["gap"]) for s in slips["results"]] == [("payment", "20000.00")]
    response = anonymous_client.get(f"{BASE}/forecasts/payment-needs", {"year": 2026})
    assert response.status_code == 401
    assert response.json()["code"] == "authentification_requise"
