"""Over-programming: programmed (from the finance aggregation) vs maquette per partner ×
objective, a warning or a refusal depending on the contract's setting."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from cper.contracts.models import Objective, Partner
from cper.maquette.models import Allocation
from cper.operations import rules, selectors, services
from cper.operations.models import FinancingLine, OperationStatus
from tests.operations.factories import make_line, make_operation


def test_rule_on_figures_alone():
    figures = [
        rules.ProgrammedFigure("Région", "2.2", Decimal("1000"), Decimal("1200")),
        rules.ProgrammedFigure("État", "2.2", Decimal("1000"), Decimal("900")),
    ]
    warn = rules.over_programming_findings(figures, policy="warn")
    assert [f.level for f in warn] == ["warning"]
    assert "dépassement de 200,00\u00a0€" in warn[0].message
    block = rules.over_programming_findings(figures, policy="block")
    assert [f.level for f in block] == ["error"] and block[0].field == "amount"


@pytest.fixture
def setup(hdf_without_maquette, actors):  # type: ignore[no-untyped-def]
    hdf = hdf_without_maquette  # a small maquette of our own on the real contract
    region = Partner.objects.get(contract=hdf, code="region")
    objective = Objective.objects.get(contract=hdf, code="2.2")
    Allocation.objects.create(
        contract=hdf, partner=region, objective=objective, amount=Decimal("1000.00")
    )
    committee = services.committee_create(
        actor=actors["admin"], contract=hdf, kind="programmation", date=dt.date(2024, 2, 1)
    )
    first = make_operation(hdf, status=OperationStatus.UNDER_REVIEW)
    make_line(first, "region", "800")
    services.decision_record(
        actor=actors["admin"], committee=committee, operation=first, outcome="approved"
    )
    second = make_operation(hdf, status=OperationStatus.UNDER_REVIEW)
    line = make_line(second, "region", "300")
    return SimpleNamespace(
        committee=committee, second=second, line=line, region=region, objective=objective
    )


def test_programmed_figure_comes_from_the_aggregation(hdf, setup):
    figures = selectors.programmed_figures(
        contract=hdf, pairs={(setup.region.pk, setup.objective.pk)}
    )
    assert [(f.maquette, f.programmed) for f in figures] == [
        (Decimal("1000.00"), Decimal("800.00"))
    ]


def test_warn_policy_lets_it_through_and_flags_it(hdf, actors, setup):
    committee, second = setup.committee, setup.second
    services.decision_record(
        actor=actors["admin"], committee=committee, operation=second, outcome="approved"
    )
    second.refresh_from_db()
    assert second.status == OperationStatus.PROGRAMMED
    detail = selectors.operation_detail(contract=hdf, pk=second.pk, user=actors["admin"].user)
    assert any("sur-programmation Région × objectif 2.2" in f.message for f in detail.findings)


def test_block_policy_refuses_and_changes_nothing(hdf, actors, setup):
    committee, second, line = setup.committee, setup.second, setup.line
    hdf.over_programming = "block"
    hdf.save()
    with pytest.raises(ValidationError) as exc:
        services.decision_record(
            actor=actors["admin"], committee=committee, operation=second, outcome="approved"
        )
    assert "sur-programmation" in exc.value.message_dict["amount"][0]
    second.refresh_from_db()
    assert second.status == OperationStatus.UNDER_REVIEW
    assert not second.decisions.exists()
    # Within the maquette, it goes through; raising a programmed line past it does not.
    services.decision_record(
        actor=actors["admin"],
        committee=committee,
        operation=second,
        outcome="approved",
        amounts={line: "200"},
    )
    with pytest.raises(ValidationError):
        services.financing_line_update(actor=actors["admin"], line=line, amount="250")
    line.refresh_from_db()
    assert line.amount == Decimal("200.00")
    # Lowering stays possible.
    services.financing_line_update(actor=actors["admin"], line=line, amount="100")
    assert FinancingLine.objects.get(pk=line.pk).amount == Decimal("100.00")
