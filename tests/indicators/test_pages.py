"""The block « Indicateurs » of an operation's page (its htmx form records a value and redraws
the block; a refused value names its field, nothing written) and the catalogue / roll-up page
(bounded queries; the public sees published operations only)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.indicators.models import IndicatorValue
from tests.finance import factories as ff
from tests.indicators.factories import catalogue, value


@pytest.fixture
def op(hdf):
    catalogue(hdf)
    operation = ff.operation(hdf, objective="2.2", communes=("59350",))
    value(operation, "T-M2", planned="1500", achieved="250.5", day=dt.date(2024, 6, 30))
    return operation


def _detail(op):
    return reverse("operations:detail", kwargs={"slug": op.contract.slug, "pk": op.pk})


def test_operation_page_shows_the_indicators_and_the_form_to_an_instructor(client, users, op):
    client.force_login(users["instructor"])
    html = client.get(_detail(op)).content.decode()
    assert 'data-testid="indicators-block"' in html
    assert "T-M2 — Surface réhabilitée" in html
    assert "1\u202f500" in html and "250,5" in html
    assert 'data-testid="indicator-form"' in html


def test_observer_sees_the_values_without_the_form(client, users, op):
    client.force_login(users["observer"])
    html = client.get(_detail(op)).content.decode()
    assert "T-M2 — Surface réhabilitée" in html
    assert 'data-testid="indicator-form"' not in html


def test_htmx_form_records_a_value_and_redraws_the_block(client, users, op):
    client.force_login(users["instructor"])
    url = reverse("indicators:value_new", kwargs={"slug": op.contract.slug, "pk": op.pk})
    response = client.post(
        url,
        {"indicator": "T-M2", "planned": "1 600", "achieved": "900,25", "date": "2024-12-31"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<section id="indicateurs"')
    assert "Valeur de l&#x27;indicateur T-M2 enregistrée au 31/12/2024." in html
    assert "Historique (2 valeurs)" in html
    latest = IndicatorValue.objects.filter(operation=op).order_by("-date").first()
    assert (latest.planned, latest.achieved) == (Decimal("1600"), Decimal("900.25"))


def test_a_refused_value_names_its_field_and_writes_nothing(client, users, op):
    client.force_login(users["instructor"])
    url = reverse("indicators:value_new", kwargs={"slug": op.contract.slug, "pk": op.pk})
    response = client.post(
        url, {"indicator": "T-OCC", "achieved": "120", "date": "2024-12-31"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "Rien n'a été enregistré" in html
    assert "un pourcentage ne dépasse pas 100" in html
    assert IndicatorValue.objects.filter(operation=op).count() == 1


def test_a_partner_manager_may_not_post_a_value(client, users, op):
    client.force_login(users["state"])
    url = reverse("indicators:value_new", kwargs={"slug": op.contract.slug, "pk": op.pk})
    response = client.post(url, {"indicator": "T-M2", "planned": "1", "date": "2024-12-31"})
    assert response.status_code == 403
    assert IndicatorValue.objects.filter(operation=op).count() == 1


def test_catalogue_page_rolls_up_by_departement_in_bounded_queries(
    client, users, op, django_assert_max_num_queries
):
    client.force_login(users["observer"])
    url = reverse("indicators:catalogue", kwargs={"slug": op.contract.slug})
    with django_assert_max_num_queries(14):
        response = client.get(url, {"par": "departement"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nord (59)" in html and "1\u202f500" in html
    assert "moyenne par opération" not in html.split('data-testid="rollup"')[1].split("</table>")[0]


def test_public_catalogue_page_leaves_unpublished_operations_out(client, op):
    url = reverse("indicators:catalogue", kwargs={"slug": op.contract.slug})
    html = client.get(url).content.decode()
    assert "Aucune valeur d'indicateur enregistrée." in html
    assert "T-M2" in html  # the catalogue itself is public
