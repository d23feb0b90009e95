"""Contract tests of the maquette endpoints: amounts at a date or a version (the maquette
selectors' figures, as decimal strings), differences between two points, amendments."""

from __future__ import annotations

import datetime as dt

import pytest

from cper.maquette.models import Amendment
from cper.maquette.selectors import amendment_list, maquette_amounts, maquette_diff
from tests.conftest import HDF_SLUG

pytestmark = pytest.mark.django_db

BASE = f"/api/v1/contracts/{HDF_SLUG}"


def test_maquette_grouped_is_the_selectors_computation(hdf, anonymous_client):
    body = anonymous_client.get(f"{BASE}/maquette", {"group_by": ["axis", "partner"]}).json()
    expected = maquette_amounts(contract=hdf, group_by=("axis", "partner"))
    assert body["count"] == len(expected) == len(body["results"]) > 0
    assert [(r["key"]["axis"], r["key"]["partner"]) for r in body["results"]] == list(expected)
    assert [r["amount"] for r in body["results"]] == [f"{v:.2f}" for v in expected.values()]
    assert body["total"] == f"{maquette_amounts(contract=hdf, group_by=())[()]:.2f}"
    assert body["group_by"] == ["axis", "partner"]


def test_maquette_at_a_version_and_with_filters(hdf, anonymous_client):
    initial = anonymous_client.get(f"{BASE}/maquette", {"version": 0, "partner": "etat"}).json()
    expected = maquette_amounts(contract=hdf, version=0, filters={"partner": ["etat"]})
    assert initial["version_in_force"] == 0
    assert {r["key"]["partner"] for r in initial["results"]} <= {"etat"}
    assert initial["total"] == f"{sum(expected.values()):.2f}"
    both = anonymous_client.get(f"{BASE}/maquette", {"version": 0, "as_of": "2023-01-01"})
    assert both.status_code == 422 and both.json()["field"] == "version"
    bad = anonymous_client.get(f"{BASE}/maquette", {"group_by": "commune"})
    assert bad.status_code == 400 and bad.json()["field"] == "group_by.0"


def test_maquette_diff_between_versions(hdf, anonymous_client):
    last = Amendment.objects.filter(contract=hdf).order_by("-number").first()
    if last is None:
        pytest.skip("no amendment loaded")
    body = anonymous_client.get(f"{BASE}/maquette/diff", {"from": 0, "to": last.number}).json()
    diff = maquette_diff(contract=hdf, from_=0, to=last.number)
    assert body["total_delta"] == f"{diff.total_delta:.2f}"
    assert len(body["cells"]) == len(diff.cells)
    assert [a["number"] for a in body["amendments"]] == diff.amendment_numbers
    by_date = anonymous_client.get(
        f"{BASE}/maquette/diff", {"from": "2021-01-01", "to": dt.date.today().isoformat()}
    )
    assert by_date.status_code == 200
    bad = anonymous_client.get(f"{BASE}/maquette/diff", {"from": "x", "to": "1"})
    assert bad.status_code == 400 and bad.json()["field"] == "from"


def test_amendments_list_and_detail(hdf, anonymous_client):
    summaries = amendment_list(contract=hdf)
    body = anonymous_client.get(f"{BASE}/amendments").json()
    assert body["count"] == len(summaries)
    if not summaries:
        return
    first = summaries[0]
    assert body["results"][0]["total"] == f"{first.total:.2f}"
    detail = anonymous_client.get(f"{BASE}/amendments/{first.amendment.number}").json()
    assert detail["amendment"]["number"] == first.amendment.number
    assert len(detail["changes"]) == first.lines
    assert anonymous_client.get(f"{BASE}/amendments/99").status_code == 404
