"""A small contract with a maquette, independent of the Hauts-de-France file."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cper.contracts.models import Contract, Objective, Partner
from cper.maquette.models import Allocation
from tests.contracts.factories import AxisFactory, ContractFactory, ObjectiveFactory, PartnerFactory


@dataclass
class Small:
    contract: Contract
    partners: list[Partner]
    objectives: list[Objective]


def small_contract(
    *, start: int = 2021, end: int = 2023, amount: Decimal = Decimal("100.00")
) -> Small:
    """2 partners (a, b), 2 axes (1: objectives 1.1, 1.2; 2: objective 2.1), years start…end;
    version 0 gives `amount` to every partner × objective × year."""
    contract = ContractFactory(start_year=start, end_year=end, envelope=Decimal("100000.00"))
    partners = [
        PartnerFactory(contract=contract, code=code, name=f"Partenaire {code}", position=i)
        for i, code in enumerate(["a", "b"])
    ]
    ax1 = AxisFactory(contract=contract, number=1, stated_share=Decimal("60"))
    ax2 = AxisFactory(contract=contract, number=2, stated_share=Decimal("40"))
    objectives = [
        ObjectiveFactory(contract=contract, axis=ax1, code="1.1", position=1),
        ObjectiveFactory(contract=contract, axis=ax1, code="1.2", position=2),
        ObjectiveFactory(contract=contract, axis=ax2, code="2.1", position=1),
    ]
    Allocation.objects.bulk_create(
        Allocation(contract=contract, partner=p, objective=o, year=y, amount=amount)
        for p in partners
        for o in objectives
        for y in range(start, end + 1)
    )
    return Small(contract, partners, objectives)
