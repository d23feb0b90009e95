"""The vocabulary of the aggregation service: grouping keys, the rows and results it returns, its
error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cper.contracts.models import Contract
from cper.finance.summaries import (
    DEPARTEMENT,
    EPCI,
    MARKER,
    TERRITORY,
)
from cper.money import rate

GROUP_KEYS = (
    "axis",
    "objective",
    "partner",
    "year",
    "departement",
    "epci",
    "territory",
    "marker",
    "status",
    "operation",
    # issue 12 (statechain): line-level keys of the budget chains, read on the ledger path
    "programme",
    "bop",
    "budget_nature",
    # issue 12 (volets): the volet of the line's objective's axis (a maquette key, like axis)
    "volet",
)
# Keys the maquette is defined on; any other key in a grouping or filter makes it None.
MAQUETTE_KEYS = ("axis", "objective", "partner", "year", "volet")
# For the national consolidation (contract=None): rows per contract, filter by slugs.
CONSOLIDATION_KEYS = ("contract",)
ALL_KEYS = GROUP_KEYS + CONSOLIDATION_KEYS
MULTI_VALUED = frozenset({"marker", "territory"})
_CELL_DIMS = {
    "departement": DEPARTEMENT,
    "epci": EPCI,
    "marker": MARKER,
    "territory": TERRITORY,
}
_LEDGER_ONLY = frozenset({"status", "operation"})
# Keys of the financing line itself (its LOLF programme, BOP, budget nature): read through a
# join from the line states to the lines, on the ledger path (`planning._key_sql`).
_LINE_KEYS = frozenset({"programme", "bop", "budget_nature"})
_LEDGER_ONLY = _LEDGER_ONLY | _LINE_KEYS
# Dimensions whose lines without a value are shown as a `None` row ("non localisé").
_LOCATED = {"departement": DEPARTEMENT, "epci": EPCI}


class ExecutionQueryError(ValueError):
    """An unknown grouping or filter; the message is French."""


@dataclass(frozen=True)
class ExecutionRow:
    key: dict[str, Any]  # {"axis": 1, "partner": "etat"} — codes/numbers
    labels: dict[str, str]  # human labels for each key
    maquette: Decimal | None  # None when the grouping has no maquette meaning
    programmed: Decimal
    committed: Decimal
    paid: Decimal

    @property
    def programming_rate(self) -> Decimal | None:
        """Programmed / maquette, in percent."""
        return None if self.maquette is None else rate(self.programmed, self.maquette)

    @property
    def commitment_rate(self) -> Decimal | None:
        """Committed / maquette, in percent."""
        return None if self.maquette is None else rate(self.committed, self.maquette)

    @property
    def payment_rate(self) -> Decimal | None:
        """Paid / maquette, in percent."""
        return None if self.maquette is None else rate(self.paid, self.maquette)

    @property
    def commitment_of_programmed(self) -> Decimal | None:
        """Committed / programmed, in percent (meaningful without a maquette)."""
        return rate(self.committed, self.programmed)

    @property
    def payment_of_committed(self) -> Decimal | None:
        """Paid / committed, in percent (meaningful without a maquette)."""
        return rate(self.paid, self.committed)

    @property
    def remaining_to_pay(self) -> Decimal:
        return self.committed - self.paid

    @property
    def remaining_to_program(self) -> Decimal | None:
        return None if self.maquette is None else self.maquette - self.programmed


@dataclass(frozen=True)
class ExecutionResult:
    contract: Contract | None  # None for a consolidation of several contracts
    as_of: dt.date
    group_by: tuple[str, ...]
    filters: dict[str, Any]
    rows: list[ExecutionRow]
    total: ExecutionRow
    contracts: tuple[Contract, ...] = ()
    # True when the viewer may not see unpublished operations: every figure leaves them out.
    published_only: bool = False


@dataclass(frozen=True)
class SeriesPoint:
    month: dt.date  # first day of the month
    committed: Decimal  # cumulative at the month's end (at as_of for the last point)
    paid: Decimal
    pace_target: Decimal  # straight line from the contract's start to 100 % at its end
