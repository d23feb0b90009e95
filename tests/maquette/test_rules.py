"""The plain rules: exact spreading and the amendment rules (no database)."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cper.maquette.rules import (
    ChangeLine,
    amendment_header_errors,
    change_kind_errors,
    change_source_findings,
    initial_allocation_findings,
    initial_change_findings,
    negative_cell_errors,
    spread,
)

amounts = st.decimals(
    min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False
)
weights = st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(
    lambda ws: any(ws)
)


@given(total=amounts, ws=weights, quantum=st.sampled_from(["0.01", "1", "1000"]))
def test_spread_is_exact_and_proportional(total, ws, quantum):
    parts = spread(total, [Decimal(w) for w in ws], quantum=Decimal(quantum))
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)
    for w, p in zip(ws, parts, strict=True):
        if w == 0:
            assert p == 0
        exact = total * w / sum(ws)
        assert abs(p - exact) <= Decimal(quantum) + total % Decimal(quantum)


def test_spread_refuses_no_weights():
    with pytest.raises(ValueError):
        spread(Decimal(10), [Decimal(0)])


def test_the_rules_name_the_offending_line():
    lines = [
        ChangeLine("a", "1.1", 2022, Decimal("-5"), where="l1"),
        ChangeLine("a", "1.2", 2022, Decimal("3"), where="l2"),
    ]
    assert (
        negative_cell_errors(base={("a", "1.1", 2022): Decimal(4)}, changes=lines)[0].where == "l1"
    )
    assert not negative_cell_errors(base={("a", "1.1", 2022): Decimal(5)}, changes=lines)
    unbalanced = change_kind_errors(kind="redeployment", changes=lines)
    assert unbalanced and "non équilibré" in unbalanced[0].message
    errors = amendment_header_errors(
        number=2,
        title="",
        kind="addition",
        effective_on=dt.date(2020, 1, 1),
        start_year=2021,
        end_year=2027,
        others=[(1, dt.date(2024, 1, 1))],
    )
    messages = " ".join(e.message for e in errors)
    assert "intitulé manquant" in messages and "hors de la période" in messages
    assert "avant l'avenant n°1" in messages


def test_an_initial_allocation_set_by_hand_is_checked_without_the_database():
    findings = initial_allocation_findings(
        where="a / 9.9 / 2030",
        amount=Decimal("-1"),
        partner="a",
        partner_known=True,
        objective="9.9",
        objective_known=False,
        year=2030,
        years=range(2021, 2028),
        programme="P999",
        programme_known=False,
    )
    assert [f.message for f in findings] == [
        "une allocation initiale ne peut être négative",
        "objectif inconnu « 9.9 »",
        "année 2030 hors de la période du contrat",
        "programme LOLF inconnu « P999 »",
    ]
    assert {f.where for f in findings} == {"a / 9.9 / 2030"}


def test_lowering_version_0_names_the_first_version_where_the_cell_goes_negative():
    by_version = {0: Decimal("100"), 1: Decimal("-80"), 2: Decimal("50")}
    assert initial_change_findings(where="c", by_version=by_version, delta=Decimal("-10")) == []
    (finding,) = initial_change_findings(where="c", by_version=by_version, delta=Decimal("-30"))
    assert finding.message.startswith("l'allocation deviendrait négative après l’avenant n°1")
    (finding,) = initial_change_findings(where="c", by_version=by_version, delta=Decimal("-101"))
    assert "dès la version 0" in finding.message


def test_a_change_names_a_known_programme_and_provenance():
    findings = change_source_findings(
        where="changement n°2",
        programme="P1",
        programme_known=False,
        provenance="inventée",
        provenances=["official", "illustrative"],
    )
    assert [str(f) for f in findings] == [
        "changement n°2 : programme LOLF inconnu « P1 »",
        "changement n°2 : provenance « inventée »",
    ]
