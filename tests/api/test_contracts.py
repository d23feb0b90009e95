"""Contract tests of the contract endpoints (public reads)."""

from __future__ import annotations

import pytest

from tests.conftest import HDF_SLUG

pytestmark = pytest.mark.django_db

BASE = f"/api/v1/contracts/{HDF_SLUG}"


def test_contracts_list_gives_count_and_money_as_strings(hdf, anonymous_client):
    body = anonymous_client.get("/api/v1/contracts").json()
    assert body["count"] == len(body["results"]) >= 1
    hdf_row = next(r for r in body["results"] if r["slug"] == HDF_SLUG)
    assert isinstance(hdf_row["envelope"], str)
    assert hdf_row["envelope"] == f"{hdf.envelope:.2f}"
    assert hdf_row["region"] == {"code": "32", "name": "Hauts-de-France"}


def test_contract_detail_is_the_contract_document(hdf, anonymous_client):
    from cper.contracts.selectors import contract_as_dict

    response = anonymous_client.get(BASE)
    assert response.status_code == 200
    assert response.json() == contract_as_dict(contract=hdf)


def test_axes_objectives_partners_territories(hdf, anonymous_client):
    axes = anonymous_client.get(f"{BASE}/axes").json()
    assert axes["count"] == hdf.axes.count() == len(axes["results"])
    objectives = anonymous_client.get(f"{BASE}/objectives").json()
    assert objectives["count"] == hdf.objectives.count()
    assert {"code", "title", "axis"} <= set(objectives["results"][0])
    partners = anonymous_client.get(f"{BASE}/partners").json()
    assert {p["code"] for p in partners["results"]} >= {"etat", "region", "dep-59"}
    territories = anonymous_client.get(f"{BASE}/territories").json()
    assert territories["count"] == hdf.territories.count()


def test_unknown_contract_is_a_json_404(hdf, anonymous_client):
    response = anonymous_client.get("/api/v1/contracts/nope")
    assert response.status_code == 404
    assert response.json() == {
        "code": "introuvable",
        "message": "Contrat « nope » introuvable.",
        "field": None,
    }


def test_unknown_path_is_a_json_404(anonymous_client):
    response = anonymous_client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json()["code"] == "introuvable"


def test_bad_path_parameter_is_a_400(hdf, anonymous_client):
    response = anonymous_client.get("/api/v1/contracts/é%20x")
    assert response.status_code == 400
    assert response.json()["code"] == "parametre_invalide"
    assert response.json()["field"] == "slug"


def test_api_root_points_to_the_description(anonymous_client):
    body = anonymous_client.get("/api/v1/").json()
    assert body == {
        "openapi": "/api/v1/openapi.json",
        "docs": "/api/v1/docs",
        "contracts": "/api/v1/contracts",
        "tokens": "/compte/jetons/",
    }
