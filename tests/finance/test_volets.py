"""Execution and pace per volet (issue 12), on the reference contract's two volets with a
small hand-made maquette:
- État × 2.2 (volet hors mobilités, 2021-2027) = 7 000 €;
- Région × 5.2 (volet mobilités, 2023-2027) = 3 000 €;
- operation A (2.2, programmed 15/03/2022): État 4 000, commitment 1 000 on 01/04/2022;
- operation M (5.2, programmed 01/03/2024): Région 2 000, commitment 1 200 on 01/06/2024.

Days: 2021-2027 = 2 556, 2023-2027 = 1 826; at 31/12/2024, 1 461 and 731 of them elapsed."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from cper.contracts.models import Objective, Partner
from cper.finance import aggregation
from cper.finance.aggregation import execution
from cper.maquette.models import Allocation
from tests.conftest import HDF_SLUG
from tests.finance import factories as F

D = dt.date
E = Decimal


@pytest.fixture
def volets(hdf_without_maquette):  # type: ignore[no-untyped-def]
    hdf = hdf_without_maquette
    for partner, objective, amount in (("etat", "2.2", "7000.00"), ("region", "5.2", "3000.00")):
        Allocation.objects.create(
            contract=hdf,
            partner=Partner.objects.get(contract=hdf, code=partner),
            objective=Objective.objects.get(contract=hdf, code=objective),
            amount=E(amount),
        )
    a = F.operation(hdf, code="A", objective="2.2", programmed_on=D(2022, 3, 15))
    F.record(F.line(a, "etat", "4000.00"), "commitment", D(2022, 4, 1), "1000.00")
    m = F.operation(hdf, code="M", objective="5.2", programmed_on=D(2024, 3, 1))
    F.record(F.line(m, "region", "2000.00"), "commitment", D(2024, 6, 1), "1200.00")
    return hdf


def test_execution_by_volet_with_its_maquette(volets):
    result = execution(contract=volets, as_of=D(2024, 12, 31), group_by=("volet",))
    rows = [
        (r.key["volet"], r.labels["volet"], r.maquette, r.programmed, r.committed)
        for r in result.rows
    ]
    assert rows == [
        ("hors-mobilites", "Volet hors mobilités", E("7000.00"), E("4000.00"), E("1000.00")),
        ("mobilites", "Volet mobilités", E("3000.00"), E("2000.00"), E("1200.00")),
    ]
    assert result.total.maquette == E("10000.00")


def test_the_volet_filter_keeps_its_axes_only(volets):
    result = execution(
        contract=volets, as_of=D(2024, 12, 31), group_by=("axis",), filters={"volet": "mobilites"}
    )
    assert [(r.key["axis"], r.maquette, r.committed) for r in result.rows] == [
        (5, E("3000.00"), E("1200.00"))
    ]


def test_the_pace_is_the_sum_of_each_volets_own_line(volets):
    p = aggregation.pace(contract=volets, as_of=D(2024, 12, 31))
    assert p["reference"] == E("10000.00")
    # 7 000 × 1 461 / 2 556 + 3 000 × 731 / 1 826 = 4 001,17 + 1 200,99 (one line over
    # 2021-2027 would ask 5 715,96)
    assert p["target"] == E("5202.16")
    assert p["elapsed"] == E("52.02")
    assert p["committed_gap"] == E("2200.00") - E("5202.16")
    assert [(s, e, amount) for s, e, amount in p["spans"]] == [
        (D(2021, 1, 1), D(2027, 12, 31), E("7000.00")),
        (D(2023, 1, 1), D(2027, 12, 31), E("3000.00")),
    ]


def test_axis_5s_pace_starts_in_2023(volets):
    before = aggregation.pace(contract=volets, as_of=D(2022, 12, 31), filters={"axis": 5})
    assert (before["target"], before["elapsed"]) == (E("0.00"), E("0.00"))
    after = aggregation.pace(contract=volets, as_of=D(2023, 12, 31), filters={"axis": 5})
    assert after["target"] == E("599.67")  # 3 000 × 365 / 1 826
    series = aggregation.execution_series(
        contract=volets, as_of=D(2023, 1, 31), filters={"volet": "mobilites"}
    )
    month = {p.month: p.pace_target for p in series}
    assert month[D(2022, 12, 1)] == E("0.00")
    assert month[D(2023, 1, 1)] == E("50.93")  # 3 000 × 31 / 1 826


def test_each_partners_pace_follows_the_volets_of_its_money(volets):
    paces = aggregation.pace_elapsed(contract=volets, as_of=D(2024, 12, 31), group_by=("partner",))
    assert paces == {("etat",): E("57.16"), ("region",): E("40.03")}  # 1 461/2 556, 731/1 826


def test_execution_command_by_volet_in_json(volets, capsys):
    call_command(
        "execution", HDF_SLUG, "--by", "volet", "--as-of", "2024-12-31", "--format", "json"
    )
    data = json.loads(capsys.readouterr().out)
    assert [(r["key"]["volet"], r["maquette"], r["committed"]) for r in data["rows"]] == [
        ("hors-mobilites", "7000.00", "1000.00"),
        ("mobilites", "3000.00", "1200.00"),
    ]


def test_the_api_groups_and_filters_by_volet(volets, client):
    response = client.get(
        f"/api/v1/contracts/{HDF_SLUG}/execution",
        {"group_by": "volet", "volet": "mobilites", "as_of": "2024-12-31"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(r["key"]["volet"], r["maquette"]) for r in body["results"]] == [
        ("mobilites", "3000.00")
    ]
