"""Factories and helpers for the register, on the Hauts-de-France contract (loaded by conftest).

Rows are built with the ORM directly (fast set-up); the behaviour under test goes through the
services. A line built here is brought into the execution summaries at once, as a service
would (no signal does it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from cper.accounts.models import Organisation, Role, User
from cper.contracts.models import Contract, Objective, Partner
from cper.finance import summaries
from cper.operations.models import (
    FinancerKind,
    FinancingLine,
    LegalCategory,
    Operation,
    OperationCommune,
    ProjectOwner,
)
from cper.operations.rules import luhn_check_digit
from cper.territories.models import Commune


def valid_siret(n: int) -> str:
    """A valid SIRET built from a counter — its SIREN and the whole number Luhn-valid — never
    starting with La Poste's SIREN."""
    siren = f"9{n % 10**7:07d}"
    base = f"{siren}{luhn_check_digit(siren)}{n // 10**7:04d}"
    return base + luhn_check_digit(base)


class OwnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectOwner

    name = factory.Sequence(lambda n: f"Commune de test {n}")
    siret = factory.Sequence(valid_siret)
    legal_category = LegalCategory.COMMUNE


def make_operation(
    contract: Contract,
    *,
    code: str | None = None,
    objective: str = "2.2",
    communes: tuple[str, ...] = ("59350",),
    status: str = "draft",
    published: bool = False,
    cost_ht: Decimal | None = Decimal("1000000.00"),
    **kwargs: Any,
) -> Operation:
    n = Operation.objects.filter(contract=contract).count() + 1
    op = Operation.objects.create(
        contract=contract,
        code=code or f"T-{n:05d}",
        title=kwargs.pop("title", f"Opération de test {n}"),
        owner=kwargs.pop("owner", None) or OwnerFactory(),
        objective=Objective.objects.get(contract=contract, code=objective),
        status=status,
        published=published,
        cost_ht=cost_ht,
        **kwargs,
    )
    objs = [Commune.objects.get(code=c) for c in communes]
    for i, c in enumerate(objs):
        OperationCommune.objects.create(operation=op, commune=c, position=i)
    if objs:
        op.departement_id, op.epci_id = objs[0].departement_id, objs[0].epci_id
        op.save(update_fields=["departement", "epci"])
    return op


def make_line(
    op: Operation, partner_code: str | None, amount: str | Decimal, **kwargs: Any
) -> FinancingLine:
    partner = Partner.objects.get(contract=op.contract, code=partner_code) if partner_code else None
    kind = kwargs.pop("financer_kind", FinancerKind.PARTNER if partner else FinancerKind.OWNER)
    line = FinancingLine.objects.create(
        operation=op,
        partner=partner,
        financer_kind=kind,
        objective=kwargs.pop("objective", op.objective),
        amount=Decimal(amount),
        contractualised=kwargs.pop("contractualised", partner is not None),
        **kwargs,
    )
    summaries.lines_sync(line_ids=[line.pk])
    return line


def make_user(role: str, organisation: str | None = None, **kwargs: Any) -> User:
    org = Organisation.objects.get(code=organisation) if organisation else None
    n = User.objects.count() + 1
    user = User.objects.create_user(
        username=kwargs.pop("username", f"{role}-{n}"),
        password="motdepasse-de-test",
        role=role,
        organisation=org,
        **kwargs,
    )
    return user


ROLES = Role
