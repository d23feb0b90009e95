"""The dashboard's volets (issue 12): the axes grouped by volet with each volet's period and
envelope, a volet filter, the operations link turned into the volet's axis, and the pace
alert computed per partner over the volets of its money. (Its query count is pinned by
tests/web/test_pages.py.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.contracts.models import Objective, Partner
from cper.maquette.models import Allocation
from cper.money import format_meur
from tests.conftest import HDF_SLUG
from tests.finance import factories as F

URL = reverse("web:dashboard", kwargs={"slug": HDF_SLUG})


@pytest.fixture
def small_maquette(hdf_without_maquette):  # type: ignore[no-untyped-def]
    """État 7 000 € on 2.2 (2021-2027), Région 3 000 € on 5.2 (2023-2027); the Région has
    committed 1 200 € by mid-2024 (40 % of its maquette), the État 1 000 € (14 %)."""
    hdf = hdf_without_maquette
    for partner, objective, amount in (("etat", "2.2", "7000.00"), ("region", "5.2", "3000.00")):
        Allocation.objects.create(
            contract=hdf,
            partner=Partner.objects.get(contract=hdf, code=partner),
            objective=Objective.objects.get(contract=hdf, code=objective),
            amount=Decimal(amount),
        )
    a = F.operation(hdf, code="A", objective="2.2", programmed_on=dt.date(2022, 3, 15))
    F.record(F.line(a, "etat", "4000.00"), "commitment", dt.date(2022, 4, 1), "1000.00")
    m = F.operation(hdf, code="M", objective="5.2", programmed_on=dt.date(2024, 3, 1))
    F.record(F.line(m, "region", "2000.00"), "commitment", dt.date(2024, 6, 1), "1200.00")
    return hdf


def test_the_dashboard_groups_the_axes_by_volet_and_offers_a_volet_filter(staff_client, hdf):  # type: ignore[no-untyped-def]
    html = staff_client.get(URL, {"date": "2024-12-31"}).content.decode()
    assert "Axes regroupés par volet" in html
    assert "Volet hors mobilités 2021-2027 (axes 1, 2, 3, 4, 6), enveloppe " in html
    assert "Volet mobilités 2023-2027 (axe 5), enveloppe " in html
    assert 'name="volet"' in html and "Volet mobilités (2023-2027)" in html
    # axis 6 (volet hors mobilités) comes before axis 5 (volet mobilités)
    table = html.split('id="table-par-axe"')[1]
    assert table.index("Axe 6 —") < table.index("Axe 5 —")


def test_choosing_the_mobility_volet_shows_its_period_envelope_and_axis_5s_operations(
    staff_client, hdf
):  # type: ignore[no-untyped-def]
    html = staff_client.get(URL, {"volet": "mobilites", "date": "2024-12-31"}).content.decode()
    assert 'data-testid="volet-chosen"' in html
    assert "Volet mobilités : 2023–2027, enveloppe " + format_meur(Decimal("2000000000")) in html
    assert "axis=5" in html  # the operations list knows axes: the volet's one axis


def test_the_pace_alert_compares_each_partner_to_the_line_of_its_own_volets(
    staff_client, small_maquette
):  # type: ignore[no-untyped-def]
    # At 31/12/2024 the État should be at 57,16 % (2021-2027) and has 14,29 %: behind; the
    # Région should be at 40,03 % (its money is in the volet 2023-2027) and has 40 %: on the
    # line within the alert's margin. Over the contract's whole period it would be asked 57 %.
    html = staff_client.get(URL, {"date": "2024-12-31"}).content.decode()
    alert = html.split('id="alerte-rythme"')[1].split("</table>")[0]
    assert "État" in alert and "57,2" in alert
    assert "Région" not in alert
