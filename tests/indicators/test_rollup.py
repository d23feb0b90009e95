"""Indicators roll up on hand-computed examples: sums for summable units, means per operation
for percentages, the latest value by date per operation, groups by axis, objective,
département and project territory (an operation in two territories counts in each)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.indicators import rules
from cper.indicators.selectors import indicator_rollup, report_section
from tests.finance import factories as ff
from tests.indicators.factories import catalogue, value

D = Decimal


def test_rules_sum_summable_units_and_average_percentages():
    facts = [
        rules.Fact(1, 10, "m2", ("a",), D("100"), D("40")),
        rules.Fact(2, 10, "m2", ("a", "b"), D("250"), None),
        rules.Fact(1, 20, "pourcent", ("a",), D("80"), D("60")),
        rules.Fact(2, 20, "pourcent", ("a",), None, D("90")),
    ]
    rows = {(r.group, r.indicator_id): r for r in rules.rollup(facts)}
    m2_a = rows[("a", 10)]
    assert (m2_a.planned, m2_a.achieved, m2_a.operations) == (D("350"), D("40"), 2)
    assert rows[("b", 10)].planned == D("250") and rows[("b", 10)].achieved is None
    occ = rows[("a", 20)]
    # Percentages are not summed: the mean over the operations that have a value.
    assert occ.summable is False
    assert occ.planned == D("80.0000")  # one operation has a planned value
    assert occ.achieved == D("75.0000")  # (60 + 90) / 2


def test_rules_count_an_operation_once_per_group_even_if_listed_twice():
    facts = [rules.Fact(1, 10, "km", ("x", "x"), D("3.5"), D("1.25"))]
    (row,) = rules.rollup(facts)
    assert (row.planned, row.achieved, row.operations) == (D("3.5"), D("1.25"), 1)


@pytest.fixture
def example(hdf):
    """Three operations: Lille (59, objective 2.2, QPV), Lens (62, objective 2.5, QPV and
    Bassin minier), Amiens (80, objective 4.2, QPV)."""
    ind = catalogue(hdf)
    lille = ff.operation(hdf, objective="2.2", communes=("59350",))
    lens = ff.operation(hdf, objective="2.5", communes=("62498",))
    amiens = ff.operation(hdf, objective="4.2", communes=("80021",))
    # Lille: a first value in 2023, replaced by a later one (the latest by date counts).
    value(lille, "T-M2", planned="1000", achieved="200", day=dt.date(2023, 12, 31))
    value(lille, "T-M2", planned="1200", achieved="700", day=dt.date(2024, 12, 31))
    value(lens, "T-M2", planned="3000", achieved="1500", day=dt.date(2024, 6, 30))
    value(amiens, "T-PL", planned="80", achieved="30", day=dt.date(2024, 9, 1))
    value(lille, "T-OCC", achieved="70", day=dt.date(2024, 12, 31))
    value(lens, "T-OCC", achieved="85.5", day=dt.date(2024, 12, 31))
    return ind


def _table(rollup):
    return {(r.group, r.indicator.code): (r.planned, r.achieved, r.operations) for r in rollup.rows}


def test_rollup_to_the_contract_takes_each_operations_latest_value(hdf, example):
    rows = _table(indicator_rollup(contract=hdf))
    slug = hdf.slug
    assert rows[(slug, "T-M2")] == (D("4200"), D("2200"), 2)  # 1200 + 3000 ; 700 + 1500
    assert rows[(slug, "T-PL")] == (D("80"), D("30"), 1)
    assert rows[(slug, "T-OCC")] == (None, D("77.7500"), 2)  # (70 + 85.5) / 2, never 155.5


def test_rollup_at_a_date_uses_the_values_known_then(hdf, example):
    rows = _table(indicator_rollup(contract=hdf, at=dt.date(2024, 1, 1)))
    assert rows == {(hdf.slug, "T-M2"): (D("1000"), D("200"), 1)}


def test_rollup_by_axis_objective_and_departement(hdf, example):
    by_axis = _table(indicator_rollup(contract=hdf, by="axis"))
    assert by_axis[(2, "T-M2")] == (D("4200"), D("2200"), 2)
    assert by_axis[(4, "T-PL")] == (D("80"), D("30"), 1)
    by_objective = _table(indicator_rollup(contract=hdf, by="objective"))
    assert by_objective[("2.2", "T-M2")] == (D("1200"), D("700"), 1)
    assert by_objective[("2.5", "T-M2")] == (D("3000"), D("1500"), 1)
    by_dep = indicator_rollup(contract=hdf, by="departement")
    table = _table(by_dep)
    assert table[("59", "T-M2")] == (D("1200"), D("700"), 1)
    assert table[("62", "T-M2")] == (D("3000"), D("1500"), 1)
    assert table[("80", "T-PL")] == (D("80"), D("30"), 1)
    labels = {r.group: r.group_label for r in by_dep.rows}
    assert labels["59"] == "Nord (59)"


def test_rollup_by_territory_counts_an_operation_in_each_of_its_territories(hdf, example):
    rows = _table(indicator_rollup(contract=hdf, by="territory"))
    # Lens lies in the QPV list and in the Bassin minier (CA de Lens-Liévin).
    assert rows[("bassin-minier", "T-M2")] == (D("3000"), D("1500"), 1)
    assert rows[("qpv", "T-M2")] == (D("4200"), D("2200"), 2)
    assert rows[("qpv", "T-OCC")] == (None, D("77.7500"), 2)
    assert ("littoral", "T-M2") not in rows


def test_public_rollup_counts_published_operations_only(hdf, example, django_user_model):
    rows = _table(indicator_rollup(contract=hdf, user=None))
    assert rows == {}


def test_report_section_lists_the_catalogue_with_progress_against_the_target(hdf, example):
    section = report_section(contract=hdf, at=dt.date(2024, 12, 31))
    lines = {line["code"]: line for line in section["lignes"]}
    assert lines["T-PL"]["realise"] == D("30")
    assert lines["T-PL"]["avancement_pct"] == D("30.0")  # 30 of a target of 100
    assert lines["T-OCC"]["agregation"] == "moyenne par opération"
    assert lines["T-M2"]["unite"] == "m²"
    assert {r["axe"].split(" —")[0] for r in section["par_axe"]} == {"Axe 2", "Axe 4"}
