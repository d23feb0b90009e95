"""Tables of figures shown on a page and exported as they are shown.

A view builds each of its tables once (from one call of the aggregation service); the same
`Table` object is rendered in HTML and, when the page is asked for `?export=<id>&format=csv`
(or `xlsx`), written by `cper.io.writers`: the same rows, the same columns, the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from cper import money
from cper.io import writers
from cper.io.writers import MONEY, NUMBER, PERCENT, TEXT


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = TEXT  # one of cper.io.writers' kinds
    places: int | None = None  # decimals shown on the page (exports keep every decimal)


@dataclass
class Table:
    id: str  # used in ?export=<id>; unique on its page
    caption: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)  # href of each row's first cell
    total: list[Any] | None = None  # shown as the table's foot, exported as the last row
    note: str = ""

    def sheet(self, meta: Sequence[tuple[str, str]] = ()) -> writers.Sheet:
        rows = [*self.rows, *([self.total] if self.total is not None else [])]
        return writers.Sheet(
            name=self.caption[:31],
            columns=[writers.Col(c.label, c.kind) for c in self.columns],
            rows=rows,
            meta=list(meta),
        )

    def html_rows(self) -> list[dict[str, Any]]:
        out = []
        for i, row in enumerate(self.rows):
            link = self.links[i] if i < len(self.links) else None
            out.append({"cells": self._cells(row), "link": link})
        return out

    def html_total(self) -> list[dict[str, Any]] | None:
        return None if self.total is None else self._cells(self.total)

    def _cells(self, row: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {"text": display(v, c), "num": c.kind != TEXT}
            for v, c in zip(row, self.columns, strict=True)
        ]


def display(value: Any, column: Column) -> str:
    """A cell as shown on the page, in French notation."""
    if value is None or value == "":
        return "—"
    if column.kind == MONEY:
        return money.format_eur(Decimal(value), 2 if column.places is None else column.places)
    if column.kind == PERCENT:
        return money.format_percent(Decimal(value), 1 if column.places is None else column.places)
    if column.kind in (NUMBER, writers.INTEGER):
        return money.format_number(Decimal(value), column.places or 0)
    if column.kind == writers.DATE:
        return value.strftime("%d/%m/%Y")
    return str(value)


def export_response(
    request: HttpRequest,
    tables: Sequence[Table],
    *,
    filename: str,
    meta: Callable[[Table], Sequence[tuple[str, str]]] = lambda _t: (),
) -> HttpResponse | None:
    """The export asked by the request (`?export=<table id>&format=csv|xlsx`), or None."""
    wanted = request.GET.get("export")
    if not wanted:
        return None
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        raise Http404("format d'export inconnu")
    table = next((t for t in tables if t.id == wanted), None)
    if table is None:
        raise Http404("tableau inconnu")
    sheet = table.sheet(meta(table))
    body = writers.csv_bytes(sheet) if fmt == "csv" else writers.xlsx_bytes([sheet])
    response = HttpResponse(body, content_type=writers.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}-{table.id}.{fmt}"'
    return response


# The execution columns shared by every page. With a maquette, the rates are those of the
# aggregation service against the maquette in force; without one (territories, markers,
# operations), committed is read against programmed and paid against committed.
def execution_columns(first: str, *, maquette: bool = True) -> list[Column]:
    if maquette:
        return [
            Column(first),
            Column("Maquette (€)", MONEY, 0),
            Column("Programmé (€)", MONEY, 0),
            Column("Programmé / maquette", PERCENT),
            Column("Engagé (€)", MONEY, 0),
            Column("Engagé / maquette", PERCENT),
            Column("Payé (€)", MONEY, 0),
            Column("Payé / maquette", PERCENT),
        ]
    return [
        Column(first),
        Column("Programmé (€)", MONEY, 0),
        Column("Engagé (€)", MONEY, 0),
        Column("Engagé / programmé", PERCENT),
        Column("Payé (€)", MONEY, 0),
        Column("Payé / engagé", PERCENT),
    ]


def execution_cells(row: Any, label: str, *, maquette: bool = True) -> list[Any]:
    """One ExecutionRow as the cells of `execution_columns`."""
    if maquette:
        return [
            label,
            row.maquette,
            row.programmed,
            row.programming_rate,
            row.committed,
            row.commitment_rate,
            row.paid,
            row.payment_rate,
        ]
    return [
        label,
        row.programmed,
        row.committed,
        row.commitment_of_programmed,
        row.paid,
        row.payment_of_committed,
    ]


def in_words(table: Table, words: dict[str, str]) -> Table:
    """The table's execution columns in a budget chain's words (`finance.vocabulary`):
    « Engagé (€) » → « AE engagées (€) », « Payé / engagé » → « CP payés / AE engagées »…
    The table is changed in place (its page and its exports then agree) and returned."""
    said = {"Engagé": words.get("committed", ""), "Payé": words.get("paid", "")}
    names = {k: v[:1].upper() + v[1:] for k, v in said.items() if v}
    lower = {k.lower(): v for k, v in said.items() if v}

    def say(label: str) -> str:
        head, sep, rest = label.partition(" ")
        head = names.get(head, head)
        rest = " ".join(lower.get(w, w) for w in rest.split(" "))
        return f"{head}{sep}{rest}"

    table.columns = [Column(say(c.label), c.kind, c.places) for c in table.columns]
    return table


def execution_table(
    table_id: str,
    caption: str,
    result: Any,
    *,
    first: str,
    label: Callable[[Any], str],
    link: Callable[[Any], str | None] | None = None,
    maquette: bool = True,
    note: str = "",
    extra: Sequence[tuple[str, Callable[[Any], Any]]] = (),
) -> Table:
    """A table of an ExecutionResult: one line per row, its total as the foot; `extra` adds
    text columns (header, value of a row) after the first."""

    def cells(row: Any, first_cell: str, extras: list[Any]) -> list[Any]:
        head, *rest = execution_cells(row, first_cell, maquette=maquette)
        return [head, *extras, *rest]

    head, *rest = execution_columns(first, maquette=maquette)
    return Table(
        id=table_id,
        caption=caption,
        columns=[head, *[Column(h) for h, _ in extra], *rest],
        rows=[cells(r, label(r), [f(r) for _, f in extra]) for r in result.rows],
        links=[link(r) for r in result.rows] if link else [],
        total=cells(result.total, "Total", ["" for _ in extra]),
        note=note,
    )


__all__ = [
    "MONEY",
    "NUMBER",
    "PERCENT",
    "TEXT",
    "Column",
    "Table",
    "display",
    "execution_cells",
    "execution_columns",
    "execution_table",
    "export_response",
    "in_words",
]
