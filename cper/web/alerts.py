"""The dashboard's alerts, each read from the aggregation service (no sum, no date rule here):

- objectives over-programmed: programmed above the maquette in force on the date;
- operations in the status « programmed » (not started) that were programmed 12 months or
  more before the date (programmed in `execution` at the date minus 12 months) and have no
  commitment at the date (the 25 largest are listed: the database picks and counts them,
  `finance.selectors.stale_programmed_operations`, with the service's figures);
- partners behind pace: committed share of their reference (maquette in force, or programmed
  under filters with no maquette meaning — as `pace` measures it) under the straight line (the
  elapsed share of the contract's period, from `pace`) by more than PACE_GAP points.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cper.finance import aggregation
from cper.finance.selectors import stale_programmed_operations
from cper.io.writers import MONEY, PERCENT
from cper.money import format_percent, rate
from cper.web.figures import row_label
from cper.web.tables import Column, Table

if TYPE_CHECKING:
    from cper.web.views.page import Page

STALE_MONTHS = 12
WAITING = "programmed"  # the status of an operation programmed and not started
LISTED = 25
PACE_GAP = Decimal(10)  # points of percentage


@dataclass
class Alert:
    id: str
    title: str
    description: str
    table: Table
    count: int | None = None  # when the table lists only part of them

    def __post_init__(self) -> None:
        if self.count is None:
            self.count = len(self.table.rows)


def months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, 28))


def dashboard_alerts(page: Page, *, by_partner: Any) -> list[Alert]:
    links = page.links
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
                    Column("Programmé / maquette", PERCENT),
                ],
                rows=[
                    [row_label(r, "objective"), r.maquette, r.programmed, r.programming_rate]
                    for r in over
                ],
                links=[links["objective"](r) for r in over],
            ),
        )
    )

    limit = months_before(page.as_of, STALE_MONTHS)
    # The database picks the LISTED largest and counts the rest (one grouped query over the
    # line states); only those rows are labelled. Same figures as the aggregation service's.
    found = stale_programmed_operations(
        contract=page.contract,
        as_of=page.as_of,
        programmed_by=limit,
        status=WAITING,
        filters=page.filters,
        limit=LISTED,
    )
    listed = page.visible_operations(found.rows)
    out.append(
        Alert(
            "alerte-sans-engagement",
            "Opérations programmées sans engagement depuis 12 mois",
            f"Opérations au statut « programmée », programmées au plus tard le {limit:%d/%m/%Y} "
            "et sans aucun engagement à la date"
            + (f" ; les {LISTED} plus gros montants sont listés." if found.count > LISTED else "."),
            Table(
                id="alerte-sans-engagement",
                caption="Opérations programmées sans engagement depuis 12 mois",
                columns=[Column("Opération"), Column("Programmé (€)", MONEY, 0)],
                rows=[[row_label(r, "operation"), r.programmed] for r in listed],
                links=[links["operation"](r) for r in listed],
            ),
            count=found.count,
        )
    )

    elapsed = aggregation.pace(contract=page.contract, as_of=page.as_of, filters=page.filters)[
        "elapsed"
    ]
    behind = []
    for r in by_partner.rows:
        reference = r.maquette if r.maquette is not None else r.programmed
        done = rate(r.committed, reference)
        if done is not None and done < elapsed - PACE_GAP:
            behind.append((r, reference, done))
    out.append(
        Alert(
            "alerte-rythme",
            "Partenaires en retard sur le rythme",
            f"Partenaires dont l'engagé est inférieur de plus de {PACE_GAP} points au rythme "
            f"linéaire ({format_percent(elapsed)} de la période du contrat écoulée), rapporté "
            "à leur maquette en vigueur (à leur programmé si les filtres n'ont pas de maquette).",
            Table(
                id="alerte-rythme",
                caption="Partenaires en retard sur le rythme linéaire",
                columns=[
                    Column("Partenaire"),
                    Column("Référence (€)", MONEY, 0),
                    Column("Engagé (€)", MONEY, 0),
                    Column("Engagé / référence", PERCENT),
                    Column("Rythme linéaire", PERCENT),
                ],
                rows=[
                    [row_label(r, "partner"), ref, r.committed, done, elapsed]
                    for r, ref, done in behind
                ],
                links=[links["partner"](r) for r, _, _ in behind],
            ),
        )
    )
    return out
