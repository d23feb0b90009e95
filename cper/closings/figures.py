"""The figures of a closing: what is frozen, in which shape, and its digest.

`execution_figures(contract, at)` asks THE aggregation service (`cper.finance.aggregation`) for
every grouping that the annual report, the dashboards and the API show, and writes its answer as
a plain JSON document (amounts as decimal strings, exact to the cent). The same function gives
the frozen figures (called once by `closing_create`) and today's figures for the same date (the
reconciliation): both sides are computed the same way, so a difference is a change of data,
never of method. `canonical` and `digest` make the document's SHA-256 reproducible whatever the
database did with the JSON's key order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cper.contracts.models import Contract
from cper.finance import aggregation
from cper.money import rate

# The groupings frozen by a closing: name → aggregation keys. "volet" and "programme" join in
# when the aggregation service knows them (issue 12 adds them beside this work).
BASE_GROUPINGS: dict[str, tuple[str, ...]] = {
    "total": (),
    "axis": ("axis",),
    "objective": ("objective",),
    "partner": ("partner",),
    "axis,partner": ("axis", "partner"),
    "departement": ("departement",),
    "territory": ("territory",),
    "marker": ("marker",),
    "year": ("year",),
    "status": ("status",),
}
OPTIONAL_GROUPINGS = ("volet", "programme")
# The operations programmed during the closing's year (the report's list).
OPERATIONS_OF_YEAR = "operation@year"

GROUPING_LABELS = {
    "total": "Total",
    "volet": "Par volet",
    "axis": "Par axe",
    "objective": "Par objectif",
    "partner": "Par partenaire",
    "axis,partner": "Par axe et partenaire",
    "programme": "Par programme budgétaire",
    "departement": "Par département",
    "territory": "Par territoire de projet",
    "marker": "Par marqueur",
    "year": "Par année",
    "status": "Par statut d'opération",
    OPERATIONS_OF_YEAR: "Opérations programmées dans l'année",
}
MEASURES = ("maquette", "programmed", "committed", "paid")
FORMAT_VERSION = 1


def groupings() -> dict[str, tuple[str, ...]]:
    out = dict(BASE_GROUPINGS)
    for key in OPTIONAL_GROUPINGS:
        if key in aggregation.GROUP_KEYS:
            out[key] = (key,)
    return out


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _row(row: aggregation.ExecutionRow) -> dict[str, Any]:
    return {
        "key": {k: v for k, v in row.key.items()},
        "labels": dict(row.labels),
        "maquette": _money(row.maquette),
        "programmed": _money(row.programmed),
        "committed": _money(row.committed),
        "paid": _money(row.paid),
    }


def execution_figures(
    *, contract: Contract, at: dt.date, only: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Every grouping of the execution of `contract` at `at` (or those named in `only`), as a
    JSON-ready document. Counts every operation (the unrestricted viewer): a closing is the
    contract's, not a reader's."""
    out: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "contract": contract.slug,
        "at": at.isoformat(),
        "groupings": {},
    }
    for name, keys in groupings().items():
        if only is not None and name not in only:
            continue
        result = aggregation.execution(contract=contract, as_of=at, group_by=keys)
        rows = [_row(result.total)] if not keys else [_row(r) for r in result.rows]
        out["groupings"][name] = {"keys": list(keys), "rows": rows, "total": _row(result.total)}
    if only is not None and OPERATIONS_OF_YEAR not in only:
        return out
    year = aggregation.execution(
        contract=contract, as_of=at, group_by=("operation",), filters={"year": at.year}
    )
    out["groupings"][OPERATIONS_OF_YEAR] = {
        "keys": ["operation"],
        "rows": [_row(r) for r in year.rows if r.programmed],
        "total": _row(year.total),
    }
    return out


def canonical(figures: dict[str, Any]) -> bytes:
    """The document as bytes that do not depend on key order or spacing."""
    return json.dumps(figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(figures: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(figures)).hexdigest()


# -- reading a document back ----------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRow:
    """One row of a grouping, amounts back as Decimal."""

    key: dict[str, Any]
    labels: dict[str, str]
    maquette: Decimal | None
    programmed: Decimal
    committed: Decimal
    paid: Decimal

    @property
    def label(self) -> str:
        return " · ".join(str(v) for v in self.labels.values()) or "Total"

    @property
    def key_text(self) -> str:
        return ",".join("" if v is None else str(v) for v in self.key.values())

    def amount(self, measure: str) -> Decimal | None:
        value: Decimal | None = getattr(self, measure)
        return value

    @property
    def remaining_to_pay(self) -> Decimal:
        return self.committed - self.paid

    @property
    def commitment_rate(self) -> Decimal | None:
        """Committed / maquette, in percent."""
        return rate(self.committed, self.maquette) if self.maquette else None


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def rows_of(figures: dict[str, Any], grouping: str) -> list[FigureRow]:
    """The rows of a grouping (empty if the document does not have it)."""
    block = figures.get("groupings", {}).get(grouping)
    if not block:
        return []
    return [_figure_row(r, block.get("keys")) for r in block["rows"]]


def total_of(figures: dict[str, Any], grouping: str = "total") -> FigureRow | None:
    block = figures.get("groupings", {}).get(grouping)
    return _figure_row(block["total"], []) if block else None


def _figure_row(r: dict[str, Any], keys: list[str] | None) -> FigureRow:
    # PostgreSQL's jsonb does not keep the keys' order: the grouping's own order is restored.
    order = keys if keys is not None else list(r["key"])
    return FigureRow(
        key={k: r["key"].get(k) for k in order},
        labels={k: r["labels"][k] for k in order if k in r["labels"]},
        maquette=_dec(r["maquette"]),
        programmed=_dec(r["programmed"]) or Decimal("0.00"),
        committed=_dec(r["committed"]) or Decimal("0.00"),
        paid=_dec(r["paid"]) or Decimal("0.00"),
    )
