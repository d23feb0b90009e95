"""« L'État et ses opérateurs »: the State's contractualised and valorised amounts beside each
operator's co-financing, per axis or objective, never added together; the public sees published
operations only; a bounded number of queries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cper.operations.selectors import state_and_operators
from tests.conftest import HDF_SLUG
from tests.operations.factories import make_line, make_operation, make_user

pytestmark = pytest.mark.django_db

URL = f"/contrats/{HDF_SLUG}/etat-et-operateurs/"


@pytest.fixture
def register(hdf):  # type: ignore[no-untyped-def]
    """Axis 2 (objective 2.2): État 3 000 contractualised + 400 valorised, ADEME 800, VNF 250;
    axis 1 (1.1): État 1 000, Agence de l'eau Artois-Picardie 600 (unpublished); a draft
    operation's État 9 999 and a Région line, never shown."""
    a = make_operation(hdf, code="SO-A", objective="2.2", status="programmed", published=True)
    make_line(a, "etat", "3000.00")
    make_line(a, "etat", "400.00", contractualised=False)
    make_line(a, None, "800.00", financer_kind="state_operator", financer_label="ADEME")
    make_line(a, None, "250.00", financer_kind="state_operator", financer_label="VNF")
    make_line(a, "region", "5000.00")
    b = make_operation(hdf, code="SO-B", objective="1.1", status="programmed", published=False)
    make_line(b, "etat", "1000.00")
    make_line(
        b,
        None,
        "600.00",
        financer_kind="state_operator",
        financer_label="Agence de l'eau Artois-Picardie",
    )
    draft = make_operation(hdf, code="SO-C", objective="2.2", status="draft", published=True)
    make_line(draft, "etat", "9999.00")
    return hdf


def test_selector_keeps_state_and_operators_apart_by_axis(register):
    user = make_user("observer")
    view = state_and_operators(contract=register, user=user, by="axis")
    rows = {r.key: r for r in view.rows}
    assert view.operators == ["ADEME", "Agence de l'eau Artois-Picardie", "VNF"]
    assert (rows["2"].state_contractualised, rows["2"].state_valorised) == (
        Decimal("3000.00"),
        Decimal("400.00"),
    )
    assert rows["2"].operators == {"ADEME": Decimal("800.00"), "VNF": Decimal("250.00")}
    assert rows["1"].state_contractualised == Decimal("1000.00")
    assert rows["1"].operators_total == Decimal("600.00")
    assert view.total.state_contractualised == Decimal("4000.00")  # the draft's 9 999 is out
    assert view.total.operators_total == Decimal("1650.00")
    everything = state_and_operators(contract=register, user=user, programmed_only=False)
    assert everything.total.state_contractualised == Decimal("13999.00")


def test_selector_by_objective(register):
    view = state_and_operators(contract=register, user=make_user("observer"), by="objective")
    rows = {r.key: r for r in view.rows}
    assert rows["2.2"].operators_total == Decimal("1050.00")
    assert rows["1.1"].state_contractualised == Decimal("1000.00")


def test_public_page_shows_published_operations_only(client, register):
    html = client.get(URL).content.decode().replace("\u202f", " ").replace("\xa0", " ")
    assert "L&#x27;État et ses opérateurs</h1>" in html
    total = html.split('data-key="total"')[1]
    assert 'data-col="state">3 000 €' in total  # SO-B (unpublished) left out
    assert 'data-col="operators">1 050 €' in total
    assert "Agence de l&#x27;eau Artois-Picardie" not in html


def test_page_by_objective_within_a_bounded_number_of_queries(
    client, register, django_assert_max_num_queries
):
    client.force_login(make_user("observer"))
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"par": "objective", "perimetre": "tout"})
    html = response.content.decode().replace("\u202f", " ").replace("\xa0", " ")
    row = html.split('data-key="2.2"')[1].split("</tr>")[0]
    assert 'data-col="state">12 999 €' in row  # 3 000 + the draft's 9 999
    assert 'data-col="operators">1 050 €' in row


def test_unknown_grouping_is_a_400(client, register):
    assert client.get(URL, {"par": "partenaire"}).status_code == 400
