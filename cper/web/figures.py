"""Figures of the pages: charts and tables built from the aggregation service's results.

Nothing here sums money: every amount comes from `cper.finance.aggregation.execution(...)` (or
`execution_series`) and is only laid out, so that a page shows what the CLI and the exports
show for the same filters and date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.safestring import SafeString

from cper.io.writers import DATE, MONEY
from cper.web import charts
from cper.web.tables import Column, Table, execution_table

BAR_MEASURES = ("maquette", "programmed", "committed", "paid")


@dataclass
class Chart:
    id: str
    svg: SafeString
    caption: str
    table: Table
    legend: list[dict[str, str]] = field(default_factory=list)


def legend(keys: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"key": k, "label": charts.MEASURES[k][0], "colour": charts.MEASURES[k][1]} for k in keys
    ]


def row_label(row: Any, dim: str) -> str:
    label = row.labels.get(dim) if getattr(row, "labels", None) else None
    return str(label if label else row.key.get(dim, "—"))


def breakdown(
    chart_id: str,
    title: str,
    result: Any,
    *,
    dim: str,
    first: str,
    link: Callable[[Any], str | None] | None = None,
    short: Callable[[Any], str] | None = None,
    note: str = "",
) -> Chart:
    """A grouped bar chart (maquette, programmed, committed, paid) and its table."""
    with_maquette = result.total.maquette is not None
    measures = BAR_MEASURES if with_maquette else BAR_MEASURES[1:]
    table = execution_table(
        chart_id,
        title,
        result,
        first=first,
        label=lambda r: row_label(r, dim),
        link=link,
        maquette=with_maquette,
        note=note,
    )
    svg = charts.grouped_hbar(
        chart_id=f"{chart_id}-svg",
        title=title,
        categories=[(short or (lambda r: row_label(r, dim)))(r) for r in result.rows],
        series=list(measures),
        values=[[getattr(r, m) for m in measures] for r in result.rows],
    )
    return Chart(chart_id, svg, title, table, legend(measures))


def series_chart(chart_id: str, title: str, points: Sequence[Any], as_of: dt.date) -> Chart:
    """Cumulative commitments and payments month by month, with the straight-line pace."""
    keys = ("committed", "paid", "pace_target")
    months = [p.month for p in points]
    svg = charts.line_chart(
        chart_id=f"{chart_id}-svg",
        title=title,
        months=months,
        series={k: [getattr(p, k) or Decimal(0) for p in points] for k in keys},
        marker=as_of,
    )
    table = Table(
        id=chart_id,
        caption=title,
        columns=[
            Column("Mois", DATE),
            Column("Engagé cumulé (€)", MONEY, 0),
            Column("Payé cumulé (€)", MONEY, 0),
            Column("Rythme linéaire (€)", MONEY, 0),
        ],
        rows=[[p.month, p.committed, p.paid, p.pace_target] for p in points],
    )
    return Chart(
        chart_id,
        svg,
        f"{title}. Le trait vertical marque la date d'observation ; le rythme linéaire est "
        "celui qui mènerait à 100 % de la maquette à la fin du contrat.",
        table,
        legend(keys),
    )
