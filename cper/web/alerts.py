"""The dashboard's alerts, each read from the aggregation service's rows (no sum here):

- objectives over-programmed: programmed above the maquette in force on the date;
- operations programmed with no commitment 12 months after their programming;
- partners behind pace: commitment rate under the straight-line pace by more than PACE_GAP points.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Min

from cper.io.writers import DATE, MONEY, PERCENT
from cper.money import format_percent
from cper.web.figures import row_label
from cper.web.tables import Column, Table

if TYPE_CHECKING:
    from cper.web.views import Page

STALE_MONTHS = 12
PACE_GAP = Decimal(10)  # points of percentage


@dataclass
class Alert:
    id: str
    title: str
    description: str
    table: Table

    @property
    def count(self) -> int:
        return len(self.table.rows)


def _months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, 28))


def elapsed_share(contract: Any, as_of: dt.date) -> Decimal:
    """The share of the contract's period elapsed on `as_of`, in percent (0–100)."""
    start = dt.date(contract.start_year, 1, 1)
    end = dt.date(contract.end_year, 12, 31)
    if as_of <= start:
        return Decimal(0)
    if as_of >= end:
        return Decimal(100)
    return (Decimal((as_of - start).days) * 100 / Decimal((end - start).days)).quantize(
        Decimal("0.1")
    )


def dashboard_alerts(page: Page, *, by_partner: Any) -> list[Alert]:
    from cper.web.views import _links

    links = _links(page.contract)
    out = []

    by_objective = page.execution("objective")
    over = [r for r in by_objective.rows if r.maquette is not None and r.programmed > r.maquette]
    out.append(
        Alert(
            "alerte-surprogrammation",
            "Objectifs surprogrammés",
            "Objectifs dont le programmé dépasse la maquette en vigueur à la date.",
            Table(
                id="alerte-surprogrammation",
                caption="Objectifs surprogrammés",
                columns=[
                    Column("Objectif"),
                    Column("Maquette (€)", MONEY, 0),
                    Column("Programmé (€)", MONEY, 0),
                    Column("Taux de programmation", PERCENT),
                ],
                rows=[
                    [row_label(r, "objective"), r.maquette, r.programmed, r.programming_rate]
                    for r in over
                ],
                links=[links["objective"](r) for r in over],
            ),
        )
    )

    by_operation = page.execution("operation")
    idle = {
        r.key.get("operation"): r for r in by_operation.rows if r.programmed and not r.committed
    }
    limit = _months_before(page.as_of, STALE_MONTHS)
    programmed_on = _programming_dates(page.contract, list(idle))
    stale = [
        (r, programmed_on[k])
        for k, r in idle.items()
        if k in programmed_on and programmed_on[k] <= limit
    ]
    stale.sort(key=lambda pair: pair[1])
    out.append(
        Alert(
            "alerte-sans-engagement",
            "Opérations programmées sans engagement depuis 12 mois",
            f"Opérations programmées avant le {limit:%d/%m/%Y} sans aucun engagement à la date.",
            Table(
                id="alerte-sans-engagement",
                caption="Opérations programmées sans engagement depuis 12 mois",
                columns=[
                    Column("Opération"),
                    Column("Programmée le", DATE),
                    Column("Programmé (€)", MONEY, 0),
                ],
                rows=[[row_label(r, "operation"), day, r.programmed] for r, day in stale],
                links=[links["operation"](r) for r, _ in stale],
            ),
        )
    )

    elapsed = elapsed_share(page.contract, page.as_of)
    behind = [
        r
        for r in by_partner.rows
        if r.maquette and r.commitment_rate is not None and r.commitment_rate < elapsed - PACE_GAP
    ]
    behind_rate = [r for r in by_partner.rows if r.maquette and r.commitment_rate is None]
    behind += behind_rate
    out.append(
        Alert(
            "alerte-rythme",
            "Partenaires en retard sur le rythme",
            f"Partenaires dont le taux d'engagement est inférieur de plus de {PACE_GAP} points "
            f"au rythme linéaire ({format_percent(elapsed)} de la période du contrat écoulée).",
            Table(
                id="alerte-rythme",
                caption="Partenaires en retard sur le rythme linéaire",
                columns=[
                    Column("Partenaire"),
                    Column("Maquette (€)", MONEY, 0),
                    Column("Engagé (€)", MONEY, 0),
                    Column("Taux d'engagement", PERCENT),
                    Column("Rythme linéaire", PERCENT),
                ],
                rows=[
                    [row_label(r, "partner"), r.maquette, r.committed, r.commitment_rate, elapsed]
                    for r in behind
                ],
                links=[links["partner"](r) for r in behind],
            ),
        )
    )
    return out


def _programming_dates(contract: Any, keys: list[Any]) -> dict[Any, dt.date]:
    """When each operation (by the key the aggregation gives it) was first programmed."""
    from django.utils import timezone

    from cper.operations.models import OperationStatus, OperationTransition

    if not keys:
        return {}
    field = "operation_id" if all(isinstance(k, int) for k in keys) else "operation__code"
    rows = (
        OperationTransition.objects.filter(
            operation__contract=contract,
            to_status=OperationStatus.PROGRAMMED,
            **{f"{field}__in": keys},
        )
        .values(field)
        .annotate(first=Min("at"))
    )
    return {r[field]: timezone.localdate(r["first"]) for r in rows}
