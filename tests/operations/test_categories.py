"""Contracted, valorised, co-financed (issue 12, item 4): each line has its category
(`rules.line_category`), every total of a plan shows the three apart, and the State's operators
and Banque des Territoires are financer kinds of their own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cper.operations import rules, services
from cper.operations.models import FinancerKind
from tests.conftest import HDF_SLUG
from tests.operations.factories import make_line, make_operation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "contractualised", "expected"),
    [
        ("partner", True, "contractualise"),
        ("partner", False, "valorise"),
        ("eu_fund", False, "cofinancement"),
        ("state_operator", False, "cofinancement"),
        ("banque_des_territoires", False, "cofinancement"),
        ("other_public", False, "cofinancement"),
        ("private", False, "cofinancement"),
        ("owner", False, "cofinancement"),
    ],
)
def test_line_category_follows_cper_practice(kind, contractualised, expected):
    line = {"financer_kind": kind, "contractualised": contractualised}
    assert rules.line_category(line) == expected


def _line(kind: str, amount: str, contractualised: bool = False, status: str = "active") -> dict:
    return {
        "financer_kind": kind,
        "contractualised": contractualised,
        "amount": Decimal(amount),
        "status": status,
    }


def test_plan_figures_keep_the_three_categories_apart():
    figures = rules.plan_figures(
        eligible_cost=Decimal("10000.00"),
        lines=[
            _line("partner", "3000.00", contractualised=True),  # État, in the maquette
            _line("partner", "1200.00"),  # Région, outside the envelope: valorised
            _line("eu_fund", "2000.00"),  # FEDER
            _line("state_operator", "800.00"),  # ADEME
            _line("banque_des_territoires", "500.00"),
            _line("owner", "2500.00"),
            _line("partner", "999.00", contractualised=True, status="cancelled"),
        ],
    )
    assert figures.contractualised == Decimal("3000.00")
    assert figures.valorised == Decimal("1200.00")
    assert figures.cofinanced == Decimal("5800.00")  # 2000 + 800 + 500 + 2500
    assert figures.total == Decimal("10000.00")
    assert figures.contractualised + figures.valorised + figures.cofinanced == figures.total
    # The State's operators and Banque des Territoires are public money; the owner's is not.
    assert figures.public == Decimal("7500.00")  # 3000 + 1200 + 2000 + 800 + 500


def test_state_operator_named_by_its_code_is_stored_with_its_label(hdf, actors):
    op = make_operation(hdf)
    line = services.financing_line_add(
        actor=actors["admin"],
        operation=op,
        financer_kind=FinancerKind.STATE_OPERATOR,
        financer_label="ademe",
        amount="800",
    )
    assert (line.financer_label, line.contractualised) == ("ADEME", False)
    assert rules.line_category(line) == "cofinancement"


def test_unknown_state_operator_is_refused_naming_the_field(hdf, actors):
    op = make_operation(hdf)
    with pytest.raises(ValidationError) as exc:
        services.financing_line_add(
            actor=actors["admin"],
            operation=op,
            financer_kind=FinancerKind.STATE_OPERATOR,
            financer_label="Office imaginaire",
            amount="800",
        )
    message = " ".join(exc.value.message_dict["financer_label"])
    assert "opérateur de l'État inconnu « Office imaginaire »" in message


def test_banque_des_territoires_line_is_named_and_cannot_be_contractualised(hdf, actors):
    op = make_operation(hdf)
    line = services.financing_line_add(
        actor=actors["admin"],
        operation=op,
        financer_kind=FinancerKind.BANQUE_DES_TERRITOIRES,
        amount="500",
    )
    assert line.financer_label == "Banque des Territoires"
    with pytest.raises(ValidationError) as exc:
        services.financing_line_add(
            actor=actors["admin"],
            operation=op,
            financer_kind=FinancerKind.BANQUE_DES_TERRITOIRES,
            amount="500",
            contractualised=True,
        )
    assert "contractualised" in exc.value.message_dict


@pytest.fixture
def mixed(hdf):
    """One published operation: État 3 000 contractualised, Région 1 200 valorised, FEDER 2 000,
    ADEME 800, the owner 2 500."""
    op = make_operation(hdf, code="MIX-1", published=True, cost_ht=Decimal("9500.00"))
    make_line(op, "etat", "3000.00")
    make_line(op, "region", "1200.00", contractualised=False)
    make_line(op, None, "2000.00", financer_kind="eu_fund", financer_label="FEDER")
    make_line(op, None, "800.00", financer_kind="state_operator", financer_label="ADEME")
    make_line(op, None, "2500.00")
    return op


def test_operation_page_shows_the_three_figures_and_each_line_category(client, hdf, mixed):
    html = client.get(f"/contrats/{HDF_SLUG}/operations/{mixed.pk}/").content.decode()
    html = html.replace("\u202f", " ").replace("\xa0", " ")  # French number spacing
    assert 'data-testid="contractualised">3 000 €' in html
    assert 'data-testid="valorised">1 200 €' in html
    assert 'data-testid="cofinanced">5 300 €' in html
    cells = html.split('data-testid="line-category">')[1:]
    assert [c.split("<")[0] for c in cells] == [
        "contractualisé",
        "valorisé",
        "co-financement",
        "co-financement",
        "co-financement",
    ]


def test_api_plan_gives_valorised_and_cofinanced_apart(client, mixed):
    body = client.get(f"/api/v1/contracts/{HDF_SLUG}/operations/{mixed.pk}").json()
    assert body["plan"]["contractualised"] == "3000.00"
    assert body["plan"]["valorised"] == "1200.00"
    assert body["plan"]["cofinanced"] == "5300.00"
    assert [line["category"] for line in body["financing_lines"]] == [
        "contractualise",
        "valorise",
        "cofinancement",
        "cofinancement",
        "cofinancement",
    ]
