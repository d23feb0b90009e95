"""Axis shares per volet (issue 12): an axis's share is of its volet's maquette, so a volet
added by an amendment does not shrink the shares of the other volet's axes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.checks import INFO, WARNING
from cper.maquette.models import Allocation, Amendment
from cper.maquette.rules import check_computed_axis_shares
from cper.maquette.selectors import maquette_amounts, maquette_table
from tests.conftest import HDF_SLUG
from tests.contracts.factories import (
    AxisFactory,
    ContractFactory,
    ObjectiveFactory,
    PartnerFactory,
    VoletFactory,
)


@pytest.fixture
def two_volets(db):  # type: ignore[no-untyped-def]
    """Volet A (2021-2027): axis 1, stated 100 %, 600 € in version 0. Volet B (2023-2027, by
    amendment n°1): axis 2, 400 € added by the amendment."""
    contract = ContractFactory(envelope=Decimal("600.00"))
    partner = PartnerFactory(contract=contract, code="a")
    a = VoletFactory(contract=contract, code="a", title="Volet A", position=1)
    b = VoletFactory(contract=contract, code="b", title="Volet B", position=2, start_year=2023)
    b.amendment_number = 1
    b.save()
    ax1 = AxisFactory(contract=contract, number=1, volet=a, stated_share=Decimal("100"))
    ax2 = AxisFactory(contract=contract, number=2, volet=b)
    o1 = ObjectiveFactory(contract=contract, axis=ax1, code="1.1")
    o2 = ObjectiveFactory(contract=contract, axis=ax2, code="2.1")
    Allocation.objects.create(contract=contract, partner=partner, objective=o1, amount=600)
    amendment = Amendment.objects.create(
        contract=contract, number=1, title="B", kind="addition", effective_on=dt.date(2023, 6, 1)
    )
    Allocation.objects.create(
        contract=contract, amendment=amendment, partner=partner, objective=o2, amount=400
    )
    return contract


def test_the_share_of_an_axis_is_of_its_volets_maquette_not_the_whole_contracts(two_volets):
    table = maquette_table(contract=two_volets, version=1)
    assert table.total == Decimal("1000.00")  # axis 1 would be 60 % of the whole contract
    shares = {s.axis.number: s for s in table.shares}
    assert (shares[1].computed, shares[1].gap, shares[1].flagged) == (
        Decimal("100.00"),
        Decimal("0.00"),
        False,
    )
    assert shares[2].computed == Decimal("100.00") and shares[2].volet.code == "b"
    assert [(v.part.code, v.total, v.part.period_label) for v in table.volets] == [
        ("a", Decimal("600.00"), "2021-2027"),
        ("b", Decimal("400.00"), "2023-2027"),
    ]


def test_the_check_reads_each_volet_on_its_own_initial_maquette(two_volets):
    findings = check_computed_axis_shares(two_volets)
    assert [f.level for f in findings] == [INFO, INFO]
    assert findings[0].message.startswith("Volet A (2021-2027) : enveloppe non renseignée")
    assert "maquette initiale 600,00" in findings[0].message
    assert "axe 1 : annoncée 100,00 %, calculée 100,00 %" in findings[0].message
    assert findings[1].message.startswith("Volet B (2023-2027, avenant n°1)")
    assert "maquette de l'avenant n°1 400,00" in findings[1].message


def test_a_gap_within_a_volet_is_still_flagged_naming_the_volet(two_volets):
    two_volets.axes.filter(number=1).update(stated_share=Decimal("90"))
    findings = check_computed_axis_shares(two_volets)
    (gap,) = [f for f in findings if f.level == WARNING]
    assert gap.message.startswith(
        "Axe 1 : part calculée sur la maquette initiale du volet A 100,00 % pour 90,00 % annoncée"
    )


def test_the_maquette_groups_by_volet(two_volets):
    assert maquette_amounts(contract=two_volets, version=1, group_by=("volet",)) == {
        ("a",): Decimal("600.00"),
        ("b",): Decimal("400.00"),
    }
    only_b = maquette_amounts(contract=two_volets, version=0, filters={"volet": "b"}, group_by=())
    assert only_b == {(): Decimal("0.00")}


def test_the_maquette_page_shows_the_volets_and_no_false_tolerance_badge(hdf, client):
    response = client.get(reverse("maquette:index", args=[HDF_SLUG]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="volets-table"' in html
    assert 'data-volet="hors-mobilites"' in html and 'data-volet="mobilites"' in html
    assert 'data-amount="2700000000.00"' in html  # the envelope of the volet hors mobilités
    assert "au-delà de la tolérance</p>" not in html
    assert html.count('data-testid="shares-volet"') == 2
