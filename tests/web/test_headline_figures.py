"""Honest headline figures (issue 13, item 7): the envelope shown is the envelope in force with
its composition (initial envelope + amendments), the same on every page; every amount that
derives from illustrative data is marked where it is shown, not only in the footer."""

from __future__ import annotations

import datetime as dt
import html as html_text
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.maquette.selectors import (
    envelope,
    envelope_in_force,
    maquette_illustrative_amount,
    maquette_illustrative_by_partner,
)
from cper.money import format_meur
from tests.operations.factories import make_operation

M = Decimal("1000000")


def _text(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    return html_text.unescape(response.content.decode())


def _envelope_amounts(html: str) -> list[Decimal]:
    return [
        Decimal(a)
        for a in re.findall(r'data-testid="(?:kpi-)?envelope" data-amount="([-\d.]+)"', html)
    ]


def test_the_envelope_is_the_initial_one_plus_the_amendments_in_force(hdf):  # type: ignore[no-untyped-def]
    today = envelope(contract=hdf)
    assert today.initial == 2700 * M and not today.initial_illustrative
    assert [(c.number, c.amount) for c in today.changes] == [(1, 2000 * M), (2, Decimal("0.00"))]
    assert today.total == 4700 * M == envelope_in_force(contract=hdf)
    # Amendment 1's lines split the mobility envelope for the demonstration: illustrative.
    assert today.changes[0].illustrative and today.illustrative
    assert today.illustrative_amount == 2000 * M
    before = envelope(contract=hdf, as_of=dt.date(2023, 12, 31))
    assert (before.total, before.changes, before.illustrative) == (2700 * M, (), False)
    assert envelope(contract=hdf, version=0).total == 2700 * M


def test_every_page_shows_the_same_envelope_with_its_composition(client, hdf):  # type: ignore[no-untyped-def]
    composition = (
        f"enveloppe initiale {format_meur(2700 * M)} + avenant n°1 {format_meur(2000 * M)} "
        "(illustratif)"
    )
    pages = [
        reverse("web:contract", args=[hdf.slug]),
        reverse("web:dashboard", args=[hdf.slug]),
        reverse("maquette:index", args=[hdf.slug]),
        reverse("maquette:amendments", args=[hdf.slug]),
    ]
    for page in pages:
        html = _text(client.get(page))
        assert _envelope_amounts(html) == [4700 * M], page
        assert composition in html, page
        assert 'data-testid="envelope-illustrative"' in html, page


def test_the_envelope_at_a_date_before_the_amendments(client, hdf):  # type: ignore[no-untyped-def]
    html = _text(client.get(reverse("web:dashboard", args=[hdf.slug]), {"date": "2023-12-31"}))
    assert _envelope_amounts(html) == [2700 * M]
    assert "sans avenant en vigueur" in html
    assert 'data-testid="envelope-illustrative"' not in html
    html = _text(client.get(reverse("maquette:index", args=[hdf.slug]), {"version": "0"}))
    assert _envelope_amounts(html) == [2700 * M]


def test_the_maquette_says_which_part_is_illustrative_where_it_is_shown(client, hdf):  # type: ignore[no-untyped-def]
    part = maquette_illustrative_amount(contract=hdf)
    assert Decimal(0) < part <= 4700 * M  # the split between partners is illustrative
    html = _text(client.get(reverse("maquette:index", args=[hdf.slug])))
    assert f"dont {format_meur(part)} de lignes illustratives" in html
    # Each partner's total says whether it counts illustrative lines.
    by_partner = maquette_illustrative_by_partner(contract=hdf)
    rows = re.findall(r'<tr data-partner="([\w-]+)">(.*?)</tr>', html, re.S)
    marked = {code for code, row in rows if 'data-testid="illustrative"' in row}
    assert marked == set(by_partner) and marked
    dashboard = _text(client.get(reverse("web:dashboard", args=[hdf.slug])))
    assert f"dont {format_meur(part)} illustratifs" in dashboard


def test_a_partner_page_marks_its_own_illustrative_part(client, hdf):  # type: ignore[no-untyped-def]
    part = maquette_illustrative_amount(contract=hdf, filters={"partner": "dep-59"})
    assert part == maquette_illustrative_by_partner(contract=hdf)["dep-59"]
    html = _text(client.get(reverse("web:partner", args=[hdf.slug, "dep-59"])))
    assert f"dont {format_meur(part)} illustratifs" in html


@pytest.mark.parametrize("provenance,marked", [("official", False), ("illustrative", True)])
def test_register_figures_are_marked_when_the_register_holds_demo_operations(
    client, hdf, provenance, marked
):  # type: ignore[no-untyped-def]
    op = make_operation(hdf)
    type(op).objects.filter(pk=op.pk).update(provenance=provenance)
    html = _text(client.get(reverse("web:dashboard", args=[hdf.slug])))
    programmed = html.split('data-testid="kpi-programmed"')[1].split("</p>")[0]
    assert ('data-testid="illustrative"' in programmed) is marked
