"""The aggregation service on a hand-computed example: figures, rates, as-of semantics,
groupings and filters, series, pace, consolidation.

The example (amounts in euros):
- maquette: État × 2.2 = 10 000, Région × 2.2 = 5 000, État × 1.1 = 2 000 (total 17 000);
- A (2.2, Lille 59 / MEL, marker, programmed 15/03/2022): État 4 000, Région 1 000, FEDER 3 000
  (not contractualised);
- B (2.2, Amiens 80, in progress, programmed 10/06/2023): État 2 000;
- C (1.1, Lille, under review): État 500 (not programmed);
- movements: A/État commitment 3 000 (01/04/2022), payments 1 000 (10/05/2022) and 500
  (01/02/2023), decommitment 200 (01/03/2023); A/Région commitment 1 000 (01/06/2022), payment
  250 (15/01/2024); A/FEDER commitment 3 000 (01/04/2022, not counted); B/État commitment
  2 000 (01/07/2023), payment 600 (20/07/2023), cancelled for 100 (01/08/2023).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cper.contracts.models import Objective, Partner
from cper.finance import aggregation
from cper.finance.aggregation import ExecutionQueryError, execution
from cper.maquette.models import Allocation
from tests.contracts.factories import ContractFactory, ObjectiveFactory, PartnerFactory
from tests.finance import factories as F

D = dt.date
MARKER = "emploi-formation-orientation"


def E(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture
def example(hdf_without_maquette):  # type: ignore[no-untyped-def]
    hdf = hdf_without_maquette  # a small maquette of our own on the real contract

    def allocate(partner: str, objective: str, amount: str) -> None:
        Allocation.objects.create(
            contract=hdf,
            partner=Partner.objects.get(contract=hdf, code=partner),
            objective=Objective.objects.get(contract=hdf, code=objective),
            amount=E(amount),
        )

    allocate("etat", "2.2", "10000.00")
    allocate("region", "2.2", "5000.00")
    allocate("etat", "1.1", "2000.00")
    a = F.operation(hdf, code="A", programmed_on=D(2022, 3, 15), markers=(MARKER,))
    b = F.operation(
        hdf, code="B", communes=("80021",), status="in_progress", programmed_on=D(2023, 6, 10)
    )
    c = F.operation(hdf, code="C", objective="1.1", status="under_review", programmed_on=None)
    a_etat, a_region = F.line(a, "etat", "4000.00"), F.line(a, "region", "1000.00")
    a_feder = F.line(a, None, "3000.00", financer_kind="eu_fund", financer_label="FEDER")
    b_etat = F.line(b, "etat", "2000.00")
    F.line(c, "etat", "500.00")
    c1 = F.record(a_etat, "commitment", D(2022, 4, 1), "3000.00")
    F.record(a_etat, "payment", D(2022, 5, 10), "1000.00")
    F.record(a_etat, "payment", D(2023, 2, 1), "500.00")
    F.record(a_etat, "decommitment", D(2023, 3, 1), "200.00", cancels=c1)
    F.record(a_region, "commitment", D(2022, 6, 1), "1000.00")
    F.record(a_region, "payment", D(2024, 1, 15), "250.00")
    F.record(a_feder, "commitment", D(2022, 4, 1), "3000.00")
    F.record(b_etat, "commitment", D(2023, 7, 1), "2000.00")
    p = F.record(b_etat, "payment", D(2023, 7, 20), "600.00")
    F.record(b_etat, "payment_cancellation", D(2023, 8, 1), "100.00", cancels=p)
    return hdf


def figures(row) -> tuple:  # type: ignore[no-untyped-def]
    return (row.maquette, row.programmed, row.committed, row.paid)


def by(result, *keys):  # type: ignore[no-untyped-def]
    return {tuple(r.key[k] for k in keys): r for r in result.rows}


def test_totals_and_rates_by_partner(example):
    result = execution(contract=example, group_by=("partner",))
    t = result.total
    assert figures(t) == (E("17000.00"), E("7000.00"), E("5800.00"), E("2250.00"))
    assert (t.programming_rate, t.commitment_rate, t.payment_rate) == (
        E("41.18"),
        E("34.12"),
        E("13.24"),
    )
    assert t.remaining_to_pay == E("3550.00")
    rows = by(result, "partner")
    etat, region = rows[("etat",)], rows[("region",)]
    assert figures(etat) == (E("12000.00"), E("6000.00"), E("4800.00"), E("2000.00"))
    assert (etat.programming_rate, etat.commitment_rate, etat.payment_rate) == (
        E("50.00"),
        E("40.00"),
        E("16.67"),
    )
    assert etat.remaining_to_pay == E("2800.00")
    assert etat.commitment_of_programmed == E("80.00")
    assert etat.payment_of_committed == E("41.67")
    assert figures(region) == (E("5000.00"), E("1000.00"), E("1000.00"), E("250.00"))
    assert etat.labels == {"partner": "État"}
    assert [r.key["partner"] for r in result.rows] == ["etat", "region"]  # contract order


def test_by_axis_keeps_maquette_only_rows(example):
    rows = by(execution(contract=example, group_by=("axis",)), "axis")
    assert figures(rows[(1,)]) == (E("2000.00"), E("0.00"), E("0.00"), E("0.00"))
    assert rows[(1,)].programming_rate == E("0.00")
    assert figures(rows[(2,)]) == (E("15000.00"), E("7000.00"), E("5800.00"), E("2250.00"))
    assert rows[(2,)].labels["axis"].startswith("Axe 2 — ")


def test_by_year_is_the_year_of_each_event(example):
    rows = by(execution(contract=example, group_by=("year",)), "year")
    assert figures(rows[(2022,)])[1:] == (E("5000.00"), E("4000.00"), E("1000.00"))
    assert figures(rows[(2023,)])[1:] == (E("2000.00"), E("1800.00"), E("1000.00"))
    assert figures(rows[(2024,)])[1:] == (E("0.00"), E("0.00"), E("250.00"))
    # the maquette has no year: its own row, with no execution
    assert figures(rows[(None,)]) == (E("17000.00"), E("0.00"), E("0.00"), E("0.00"))
    assert rows[(None,)].labels["year"] == "sans année"


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (D(2022, 3, 14), ("0.00", "0.00", "0.00")),
        (D(2022, 3, 15), ("5000.00", "0.00", "0.00")),
        (D(2022, 12, 31), ("5000.00", "4000.00", "1000.00")),
        (D(2023, 7, 15), ("7000.00", "5800.00", "1500.00")),
        (D(2023, 7, 19), ("7000.00", "5800.00", "1500.00")),  # payment of the 20th invisible
        (D(2023, 7, 20), ("7000.00", "5800.00", "2100.00")),
        (D(2023, 7, 31), ("7000.00", "5800.00", "2100.00")),
        (D(2023, 8, 1), ("7000.00", "5800.00", "2000.00")),
        (D(2024, 1, 14), ("7000.00", "5800.00", "2000.00")),
        (D(2030, 1, 1), ("7000.00", "5800.00", "2250.00")),
    ],
)
def test_as_of(example, as_of, expected):
    exp = tuple(E(x) for x in expected)
    epcis = sorted({op.epci_id for op in example.operations.all()})
    for filters in (
        {},
        {"departement": ["59", "80"]},
        {"epci": epcis},
        {"status": ["programmed", "in_progress"]},
    ):
        t = execution(contract=example, as_of=as_of, filters=filters).total
        assert (t.programmed, t.committed, t.paid) == exp, filters
    rows = execution(contract=example, as_of=as_of, group_by=("axis", "partner", "year")).rows
    total = [
        sum((getattr(r, m) for r in rows), Decimal("0.00"))
        for m in ("programmed", "committed", "paid")
    ]
    assert tuple(total) == exp


def test_by_departement_epci_and_the_unlocated(example, hdf):
    rows = by(execution(contract=example, group_by=("departement",)), "departement")
    assert figures(rows[("59",)]) == (None, E("5000.00"), E("3800.00"), E("1750.00"))
    assert figures(rows[("80",)]) == (None, E("2000.00"), E("2000.00"), E("500.00"))
    assert rows[("59",)].labels["departement"] == "Nord (59)"
    nowhere = F.operation(hdf, communes=(), programmed_on=D(2022, 1, 10))
    F.line(nowhere, "etat", "10.00")
    F.record(nowhere.financing_lines.get(), "commitment", D(2024, 2, 5), "4.00")
    for as_of in (None, D(2024, 2, 10), D(2024, 2, 29)):
        for key in ("departement", "epci"):
            result = execution(contract=example, as_of=as_of, group_by=(key, "partner"))
            rows = by(result, key, "partner")
            assert rows[(None, "etat")].programmed == E("10.00")
            assert rows[(None, "etat")].committed == E("4.00")
            assert rows[(None, "etat")].labels[key] == "non localisé"
            for measure in ("programmed", "committed", "paid"):
                total = sum(getattr(r, measure) for r in result.rows)
                assert total == getattr(result.total, measure)
    result = execution(contract=example, filters={"epci": "200093201"}, group_by=("operation",))
    assert [r.key["operation"] for r in result.rows] == ["A"]


def test_filters_by_departement_at_a_mid_month_date(example):
    t = execution(contract=example, as_of=D(2023, 7, 15), filters={"departement": "80"}).total
    assert (t.maquette, t.programmed, t.committed, t.paid) == (
        None,
        E("2000.00"),
        E("2000.00"),
        E("0.00"),
    )
    t = execution(contract=example, as_of=D(2023, 7, 25), filters={"departement": 80}).total
    assert t.paid == E("600.00")


def test_markers_and_territories_overlap_but_the_total_does_not(example):
    result = execution(contract=example, filters={"marker": MARKER}, group_by=("partner",))
    assert figures(result.total) == (None, E("5000.00"), E("3800.00"), E("1750.00"))
    result = execution(contract=example, group_by=("territory",))
    rows = by(result, "territory")
    qpv = rows[("qpv",)]  # Lille and Amiens both have QPV
    assert figures(qpv) == (None, E("7000.00"), E("5800.00"), E("2250.00"))
    assert qpv.labels["territory"].startswith("Quartiers prioritaires")
    assert result.total.programmed == E("7000.00")
    assert all(r.maquette is None for r in result.rows)
    assert result.total.maquette == E("17000.00")  # no filter: the total keeps its maquette
    result = execution(contract=example, group_by=("marker", "status"))
    assert [(r.key["marker"], r.key["status"]) for r in result.rows] == [(MARKER, "programmed")]
    two = execution(contract=example, filters={"territory": ["qpv", "littoral"]}).total
    assert two.programmed == E("7000.00")  # a line in two of them is counted once


def test_territories_under_a_marker_are_read_in_one_grouped_query(example):
    # marker × territory has no cells: the line states answer, every territory in one query
    # (a query per territory cost the focus page 250 ms at scale M).
    with CaptureQueriesContext(connection) as seen:
        result = execution(contract=example, filters={"marker": MARKER}, group_by=("territory",))
    reads = [q["sql"] for q in seen.captured_queries if "finance_linestate" in q["sql"]]
    assert len(reads) == 1
    rows = by(result, "territory")
    assert figures(rows[("qpv",)]) == (None, E("5000.00"), E("3800.00"), E("1750.00"))
    assert sum(r.programmed for r in result.rows) >= result.total.programmed


def test_by_status_and_operation(example):
    rows = by(execution(contract=example, group_by=("status",)), "status")
    assert set(rows) == {("programmed",), ("in_progress",)}
    assert rows[("in_progress",)].labels["status"] == "en cours"
    result = execution(
        contract=example, group_by=("operation", "year"), filters={"operation": ["B"]}
    )
    assert [(r.key["operation"], r.key["year"], r.paid) for r in result.rows] == [
        ("B", 2023, E("500.00"))
    ]
    assert result.rows[0].labels["operation"].startswith("B ")


def test_series_and_pace(example):
    points = aggregation.execution_series(contract=example, as_of=D(2023, 7, 25))
    assert points[0].month == D(2021, 1, 1) and points[-1].month == D(2023, 7, 1)
    month = {p.month: p for p in points}
    assert (month[D(2022, 5, 1)].committed, month[D(2022, 5, 1)].paid) == (
        E("3000.00"),
        E("1000.00"),
    )
    assert (month[D(2023, 7, 1)].committed, month[D(2023, 7, 1)].paid) == (
        E("5800.00"),
        E("2100.00"),
    )
    # the straight line: 17 000 × days elapsed / 2 556 days of 2021-2027
    assert month[D(2021, 1, 1)].pace_target == E("206.18")  # 17 000 × 31 / 2 556
    end = aggregation.execution_series(contract=example, as_of=D(2027, 12, 31))[-1]
    assert end.pace_target == E("17000.00")
    p = aggregation.pace(contract=example, as_of=D(2024, 6, 30))
    assert p["basis"] == "maquette" and p["reference"] == E("17000.00")
    assert p["elapsed"] == E("49.96")  # 1 277 / 2 556 days
    assert p["target"] == E("8493.35")
    assert p["paid"] == E("2250.00") and p["paid_share"] == E("13.24")
    assert p["paid_gap"] == E("-6243.35")
    assert p["paid_points"] == E("-36.72")
    p = aggregation.pace(contract=example, as_of=D(2024, 6, 30), filters={"departement": "80"})
    assert p["basis"] == "programmé" and p["reference"] == E("2000.00")


def test_national_consolidation(example):
    other = ContractFactory(slug="autre-cper", start_year=2021, end_year=2027)
    PartnerFactory(contract=other, code="etat")
    objective = ObjectiveFactory(axis__contract=other)
    op = F.operation(other, objective=objective.code, programmed_on=D(2022, 1, 5))
    line = F.line(op, "etat", "300.00")
    F.record(line, "commitment", D(2022, 2, 1), "100.00")
    result = execution(contract=None, contracts=[example, other], group_by=("contract", "partner"))
    rows = by(result, "contract", "partner")
    assert rows[("autre-cper", "etat")].committed == E("100.00")
    assert rows[("hauts-de-france-2021-2027", "etat")].committed == E("4800.00")
    assert result.total.committed == E("5900.00")
    merged = by(
        execution(contract=None, contracts=[example, other], group_by=("partner",)), "partner"
    )
    assert merged[("etat",)].programmed == E("6300.00")
    assert result.contract is None and len(result.contracts) == 2


def test_unknown_keys_are_refused_in_french(example):
    with pytest.raises(ExecutionQueryError, match="regroupement inconnu « commune »"):
        execution(contract=example, group_by=("commune",))
    with pytest.raises(ExecutionQueryError, match="filtre inconnu « ville »"):
        execution(contract=example, filters={"ville": "Lille"})


def test_line_execution_for_an_operation_page(example):
    line = example.operations.get(code="B").financing_lines.get()
    figures = aggregation.line_execution(lines=[line], as_of=D(2023, 7, 25))[line.pk]
    assert (figures.programmed, figures.committed, figures.paid) == (
        E("2000.00"),
        E("2000.00"),
        E("600.00"),
    )
    assert figures.remaining_to_pay == E("1400.00")
