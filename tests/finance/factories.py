"""Factories of the execution tests: operations and financing lines on the Hauts-de-France
contract (loaded by conftest), programmed on a given date through a dated transition.

Rows are built with the ORM (fast set-up); a line built here is brought into the execution
summaries at once, as the register's services do (no signal does it). Movements go through the
services under test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied

from cper.audit.services import Actor
from cper.contracts.models import Contract, Marker, Objective, Partner
from cper.finance import services, summaries
from cper.finance.models import Movement
from cper.operations.models import (
    FinancerKind,
    FinancingLine,
    LegalCategory,
    Operation,
    OperationCommune,
    OperationTransition,
    ProjectOwner,
)
from cper.territories.models import Commune

SYSTEM = Actor.system()
_seq = itertools.count(1)


def owner() -> ProjectOwner:
    n = next(_seq)
    return ProjectOwner.objects.create(
        name=f"Maître d'ouvrage {n}", rna=f"W59{n:07d}", legal_category=LegalCategory.ASSOCIATION
    )


def operation(
    contract: Contract,
    *,
    objective: str = "2.2",
    communes: tuple[str, ...] = ("59350",),
    status: str = "programmed",
    programmed_on: dt.date | None = dt.date(2022, 3, 15),
    markers: tuple[str, ...] = (),
    code: str | None = None,
) -> Operation:
    n = next(_seq)
    op = Operation.objects.create(
        contract=contract,
        code=code or f"F-{n:05d}",
        title=f"Opération d'exécution {n}",
        owner=owner(),
        objective=Objective.objects.get(contract=contract, code=objective),
        status=status,
        cost_ht=Decimal("10000000.00"),
    )
    objs = [Commune.objects.get(code=c) for c in communes]
    for i, c in enumerate(objs):
        OperationCommune.objects.create(operation=op, commune=c, position=i)
    if objs:
        op.departement_id, op.epci_id = objs[0].departement_id, objs[0].epci_id
        op.save(update_fields=["departement", "epci"])
    if markers:
        op.markers.set(Marker.objects.filter(contract=contract, code__in=markers))
    if programmed_on is not None:
        OperationTransition.objects.create(
            operation=op,
            from_status="under_review",
            to_status="programmed",
            at=dt.datetime(
                programmed_on.year, programmed_on.month, programmed_on.day, 12, tzinfo=dt.UTC
            ),
        )
    return op


def line(
    op: Operation,
    partner: str | None = "etat",
    amount: str | Decimal = "100000.00",
    **kwargs: Any,
) -> FinancingLine:
    p = Partner.objects.get(contract=op.contract, code=partner) if partner else None
    made = FinancingLine.objects.create(
        operation=op,
        partner=p,
        financer_kind=kwargs.pop(
            "financer_kind", FinancerKind.PARTNER if p else FinancerKind.OWNER
        ),
        objective=kwargs.pop("objective", op.objective),
        amount=Decimal(amount),
        contractualised=kwargs.pop("contractualised", p is not None),
        **kwargs,
    )
    summaries.lines_sync(line_ids=[made.pk])
    return made


def record(
    financing_line: FinancingLine,
    kind: str,
    day: dt.date,
    amount: str | Decimal,
    reference: str | None = None,
    *,
    affect: bool = True,
    **kwargs: Any,
) -> Movement:
    """Record a movement through the service. On a line whose partner requires an AP
    affectation (the Region, départements and métropoles of the reference contract), a
    commitment is preceded by the affectation it needs (unless `affect=False`): tests about
    commitments are not about the AP chain (tests/finance/test_affectation.py is)."""
    if affect and kind == "commitment":
        _affect_for(financing_line, day, Decimal(amount), kwargs.get("actor", SYSTEM))
    return services.movement_record(
        actor=kwargs.pop("actor", SYSTEM),
        financing_line=financing_line,
        kind=kind,
        date=day,
        amount=Decimal(amount),
        reference=reference or _reference(kind),
        **kwargs,
    )


def _reference(kind: str) -> str:
    """A commitment's default reference is an EJ number (10 digits, as a State AE/CP line
    requires: `rules.ej_reference_findings`); other movements get a plain reference."""
    n = next(_seq)
    return f"{2100000000 + n:010d}" if kind == "commitment" else f"REF-{n}"


def _affect_for(financing_line: FinancingLine, day: dt.date, amount: Decimal, actor: Any) -> None:
    """Affect what a commitment of `amount` lacks on a line requiring affectations (a refused
    affectation is left to the commitment's own refusal)."""
    line_obj = (
        financing_line
        if isinstance(financing_line, FinancingLine)
        else FinancingLine.objects.get(pk=financing_line)
    )
    partner = line_obj.partner
    if partner is None or not partner.affectation_required:
        return
    movements = Movement.objects.filter(financing_line=line_obj, date__lte=day)
    affected = sum((m.signed_affected for m in movements), Decimal("0.00"))
    committed = sum((m.signed_committed for m in movements), Decimal("0.00"))
    shortfall = committed + amount - affected
    if shortfall <= 0:
        return
    with contextlib.suppress(services.MovementRefused, PermissionDenied):
        services.affectation_record(
            actor=actor,
            financing_line=line_obj,
            date=day,
            amount=shortfall,
            reference=f"AFF-{next(_seq)}",
        )
