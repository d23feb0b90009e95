"""The maquette at a date or version, the table, and the differences between versions."""

import datetime as dt
from decimal import Decimal

import pytest

from cper.maquette.selectors import (
    MaquetteQueryError,
    amendment_effects,
    amendments_in_force,
    envelope_in_force,
    maquette_amounts,
    maquette_diff,
    maquette_table,
    parse_point,
    version_at,
)

M = Decimal(1_000_000)
AXES_V0 = {
    (1,): 513 * M,
    (2,): Decimal("1547.1") * M,
    (3,): Decimal("237.6") * M,
    (4,): Decimal("399.6") * M,
    (6,): Decimal("2.7") * M,
}


def test_version_0_spreads_exactly_the_envelope_with_the_official_partner_totals(hdf):
    assert maquette_amounts(contract=hdf, version=0, group_by=()) == {(): 2_700 * M}
    by_partner = maquette_amounts(contract=hdf, version=0, group_by=("partner",))
    assert by_partner[("etat",)] == Decimal("994260000.00")
    assert by_partner[("region",)] == Decimal("995210000.00")
    assert by_partner[("mel",)] == Decimal("194600000.00")
    assert by_partner[("dep-59",)] == Decimal("195400000.00")
    others = ("dep-02", "dep-60", "dep-62", "dep-80", "amiens-metropole")
    assert sum(by_partner[(p,)] for p in others) == Decimal("320530000.00")
    mel = maquette_amounts(contract=hdf, version=0, group_by=("axis",), filters={"partner": "mel"})
    assert mel[(1,)] == Decimal("31800000.00") and mel[(2,)] == Decimal("142800000.00")


def test_version_0_axis_amounts_follow_the_stated_shares(hdf):
    assert maquette_amounts(contract=hdf, version=0, group_by=("axis",)) == AXES_V0


def test_as_of_counts_amendments_effective_on_or_before_the_date(hdf):
    before = maquette_amounts(contract=hdf, as_of=dt.date(2024, 4, 25), group_by=("axis",))
    on = maquette_amounts(contract=hdf, as_of=dt.date(2024, 4, 26), group_by=("axis",))
    assert (5,) not in before and before == AXES_V0
    assert on[(5,)] == 2_000 * M
    assert version_at(contract=hdf, as_of=dt.date(2024, 4, 25)) == 0
    assert version_at(contract=hdf, as_of=dt.date(2024, 4, 26)) == 1
    assert version_at(contract=hdf, as_of=dt.date(2025, 7, 1)) == 2


def test_version_n_is_version_0_plus_amendments_up_to_n(hdf):
    by_date = maquette_amounts(contract=hdf, as_of=dt.date(2024, 12, 31))
    assert maquette_amounts(contract=hdf, version=1) == by_date
    v2 = maquette_amounts(contract=hdf, version=2, group_by=("partner", "objective", "year"))
    assert (
        v2[("etat", "4.3", 2025)]
        == maquette_amounts(contract=hdf, version=1, group_by=("partner", "objective", "year"))[
            ("etat", "4.3", 2025)
        ]
        - 3 * M
    )
    assert maquette_amounts(contract=hdf, version=99) == maquette_amounts(contract=hdf, version=2)


def test_axis_5_by_partner_after_the_mobility_amendment(hdf):
    got = maquette_amounts(
        contract=hdf, as_of=dt.date(2024, 12, 31), group_by=("axis", "partner"), filters={"axis": 5}
    )
    assert got[(5, "etat")] == 693 * M and got[(5, "region")] == 693 * M
    assert list(got)[:2] == [(5, "etat"), (5, "region")]  # the contract's partner order


def test_filters_take_values_lists_and_none(hdf):
    both = maquette_amounts(
        contract=hdf, version=0, group_by=("partner",), filters={"partner": ["etat", "region"]}
    )
    assert set(both) == {("etat",), ("region",)}
    assert maquette_amounts(contract=hdf, version=0, filters={"year": None}) == {}
    years = maquette_amounts(contract=hdf, version=0, group_by=("year",))
    assert list(years) == [(y,) for y in range(2021, 2028)]
    assert sum(years.values()) == 2_700 * M


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group_by": ("commune",)},
        {"filters": {"commune": "x"}},
        {"as_of": dt.date(2024, 1, 1), "version": 1},
        {"version": -1},
    ],
)
def test_bad_requests_are_refused(hdf, kwargs):
    with pytest.raises(MaquetteQueryError):
        maquette_amounts(contract=hdf, **kwargs)


def test_maquette_amounts_is_one_query(hdf, django_assert_num_queries):
    with django_assert_num_queries(1):
        maquette_amounts(contract=hdf, group_by=("partner", "axis", "objective", "year"))


def test_envelope_in_force_is_the_initial_envelope_plus_additions(hdf):
    assert envelope_in_force(contract=hdf, version=0) == 2_700 * M
    assert envelope_in_force(contract=hdf, as_of=dt.date(2024, 12, 31)) == 4_700 * M
    assert envelope_in_force(contract=hdf, version=2) == 4_700 * M  # redeployment: no change
    assert [a.number for a in amendments_in_force(contract=hdf, version=1)] == [1]


def test_table_totals_derive_from_the_same_sums(hdf):
    table = maquette_table(contract=hdf, as_of=dt.date(2024, 12, 31))
    assert table.total == 4_700 * M == table.envelope
    assert table.partner_totals == {
        k[0]: v
        for k, v in maquette_amounts(
            contract=hdf, as_of=dt.date(2024, 12, 31), group_by=("partner",)
        ).items()
    }
    assert table.axis_total_map[5] == 2_000 * M
    assert table.version == 1 and [a.number for a in table.amendments] == [1]
    detail = table.details[5]
    assert sum(detail.objective_totals) == detail.total == sum(detail.year_totals)
    v0 = maquette_table(contract=hdf, version=0)
    assert all(not s.flagged for s in v0.shares if s.stated is not None)
    shares = {s.axis.number: s.computed for s in v0.shares}
    assert shares[2] == Decimal("57.30") and shares[6] == Decimal("0.10")


def test_diff_between_the_acceptance_dates_names_amendment_1_only(hdf):
    diff = maquette_diff(contract=hdf, from_=dt.date(2023, 12, 31), to=dt.date(2024, 12, 31))
    assert diff.amendment_numbers == [1]
    assert diff.total_delta == 2_000 * M
    assert {x.axis for x in diff.by_axis} == {5}
    by_partner = {x.partner: x.delta for x in diff.by_partner}
    assert by_partner["etat"] == by_partner["region"] == 693 * M
    assert all(x.amendments == [1] for x in diff.cells)
    assert sum(x.delta for x in diff.cells) == diff.total_delta


def test_diff_of_a_redeployment_keeps_partners_whose_net_change_is_zero(hdf):
    diff = maquette_diff(contract=hdf, from_=1, to=2)
    assert diff.amendment_numbers == [2] and diff.total_delta == 0
    assert {x.partner: x.delta for x in diff.by_partner} == {"etat": 0, "region": 0}
    assert {x.axis: x.delta for x in diff.by_axis} == {2: 1 * M, 3: 5 * M, 4: -6 * M}
    assert len(diff.cells) == 8


def test_diff_backwards_undoes_amendments(hdf):
    diff = maquette_diff(contract=hdf, from_=2, to=0)
    assert [(a.number, sign) for a, sign in diff.amendments] == [(1, -1), (2, -1)]
    assert diff.total_delta == -2_000 * M
    assert maquette_diff(contract=hdf, from_=1, to=dt.date(2024, 5, 1)).cells == []


def test_parse_point():
    assert parse_point("2") == 2 and parse_point("v0") == 0
    assert parse_point("2024-12-31") == dt.date(2024, 12, 31)
    for bad in ("x", "2024-13-01", "-1"):
        with pytest.raises(MaquetteQueryError):
            parse_point(bad)


def test_amendment_effects_by_level_in_one_query(hdf, django_assert_num_queries):
    with django_assert_num_queries(1):
        by_axis_2 = amendment_effects(contract=hdf, filters={"axis": 2})
    assert by_axis_2 == {2: 1 * M}
    assert amendment_effects(contract=hdf, filters={"partner": "etat"}) == {1: 693 * M, 2: 0}
    assert amendment_effects(contract=hdf) == {1: 2_000 * M, 2: 0}
    assert amendment_effects(contract=hdf, filters={"axis": 1}) == {}
