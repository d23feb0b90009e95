"""The dashboard's alerts, each read from the aggregation service (no sum, no date rule here):

- objectives over-programmed: programmed above the maquette in force on the date;
- operations in the status « programmed » (not started) that were programmed 12 months or
  more before the date (programmed in `execution` at the date minus 12 months) and have no
  commitment at the date (the 25 largest are listed: the database picks and counts them,
  `finance.selectors.stale_programmed_operations`, with the service's figures);
- lines past their caducité (AP affectée or engagement without mandatement for the
  partner's `caducity_months`, `finance.selectors.lines_near_caducity`);
- partners behind pace: committed share of their reference (maquette in force, or programmed
  under filters with no maquette meaning — as `pace` measures it) under the straight line (the
  elapsed share of the contract's period, from `pace`) by more than PACE_GAP points.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cper.accounts.permissions import sees_unpublished
from cper.finance import aggregation
from cper.finance.selectors import lines_near_caducity, stale_programmed_operations
from cper.io.writers import MONEY, PERCENT
from cper.money import format_percent, rate
from cper.web.figures import row_label
from cper.web.tables import Column, Table
from cper.web.views.page import maybe_reverse

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
    # issue 12: each partner's line runs over the volets of its money (the mobility volet
    # from 2023), not over the contract's whole period.
    paces = aggregation.pace_elapsed(
        contract=page.contract, as_of=page.as_of, group_by=("partner",), filters=page.filters
    )
    behind = []
    for r in by_partner.rows:
        reference = r.maquette if r.maquette is not None else r.programmed
        done = rate(r.committed, reference)
        expected = paces.get((r.key["partner"],), elapsed)
        if done is not None and done < expected - PACE_GAP:
            behind.append((r, reference, done, expected))
    out.append(
        Alert(
            "alerte-rythme",
            "Partenaires en retard sur le rythme",
            f"Partenaires dont l'engagé est inférieur de plus de {PACE_GAP} points au rythme "
            f"linéaire ({format_percent(elapsed)} de la période écoulée, chaque volet sur sa "
            "propre période ; pour chaque partenaire, selon ses montants par volet), rapporté "
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
                    [row_label(r, "partner"), ref, r.committed, done, expected]
                    for r, ref, done, expected in behind
                ],
                links=[links["partner"](r) for r, *_ in behind],
            ),
        )
    )
    out.append(caducity_alert(page))
    return out


def caducity_alert(page: Page) -> Alert:
    """Lines whose AP affectée or engagement is past its caducité at the date (partners
    following one: `Partner.caducity_months`), the earliest first, the LISTED first shown."""
    found = lines_near_caducity(
        contract=page.contract,
        as_of=page.as_of,
        warn_months=0,
        limit=LISTED,
        published_only=not sees_unpublished(page.request.user),
    )
    rows = found.rows
    code = page.filters.get("partner")
    if isinstance(code, str) and code:  # the dashboard filtered on one partner
        rows = [r for r in rows if r.line.partner is not None and r.line.partner.code == code]
    return Alert(
        "alerte-caducite",
        "AP affectées et engagements caducs",
        "Lignes sans mandatement depuis le délai de caducité de leur partenaire à la date : à "
        "mandater, ou à désaffecter (désaffectation) pour libérer l'AP"
        + (f" ; les {LISTED} plus anciennes sont listées." if found.count > LISTED else "."),
        Table(
            id="alerte-caducite",
            caption="AP affectées et engagements caducs",
            columns=[
                Column("Opération"),
                Column("Partenaire"),
                Column("Caducité le"),
                Column("AP affectée (€)", MONEY, 0),
                Column("Engagé (€)", MONEY, 0),
                Column("CP mandatés (€)", MONEY, 0),
                Column("Alerte"),
            ],
            rows=[
                [
                    r.line.operation.code,
                    str(r.line.partner) if r.line.partner else "",
                    r.lapses_on.strftime("%d/%m/%Y"),
                    r.affected,
                    r.committed,
                    r.paid,
                    r.message,
                ]
                for r in rows
            ],
            links=[
                maybe_reverse("operations:detail", slug=page.contract.slug, pk=r.line.operation_id)
                for r in rows
            ],
        ),
        count=found.count if not code else len(rows),
    )
