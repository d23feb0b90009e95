"""What the register needs of its own execution, named here and provided by the finance app.

The finance app reads the register (a movement belongs to a financing line; every figure is
grouped by operation), so the register cannot import the finance app without an app cycle. Yet
the register's write services keep the execution summaries inside their own transaction, and a
few of its rules read the ledger (a line is never programmed below what was committed on it;
programming never passes the maquette unseen). This module names those needs (`Execution`);
the finance app provides them when Django starts (`FinanceConfig.ready` → `provide`).

Unlike a signal, nothing here runs on its own: a service calls `execution().lines_sync(…)`
itself, at the place it chooses, in its transaction, exactly as it called the summaries before.
A write that goes around the services is not kept in sync by a hook it did not call, and
`cper contract check` says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from cper.contracts.models import Contract


@dataclass(frozen=True)
class LedgerFloor:
    """A line's committed amount today, the highest it reached and the day it did; for a line
    with AP affectations (AP/CP chain), the highest net AP affectée and its day (else None)."""

    committed: Decimal
    committed_peak: Decimal
    committed_peak_day: dt.date | None
    affected_peak: Decimal | None = None
    affected_peak_day: dt.date | None = None


class Execution(Protocol):
    """The register's execution, as the finance app keeps it."""

    def lines_sync(
        self, *, line_ids: Iterable[int] | None = None, operation_ids: Iterable[int] | None = None
    ) -> None:
        """What these lines (or the lines of these operations) count as may have changed:
        put their new contribution in the summaries, in the caller's transaction."""

    def totals_sync(self, operation_ids: Iterable[int]) -> None:
        """Keep the contractualised total of these operations (those without lines)."""

    def totals_kept(self, contract: Contract) -> bool:
        """Whether every operation of the contract has its kept total (to sort by amount
        along an index)."""

    def ledger_floors(self, line_ids: Iterable[int]) -> dict[int, LedgerFloor]:
        """What the ledger holds on these lines that their programmed amount may not go below
        (one read of their movements); lines without movements are left out."""

    def maquette_and_programmed(
        self,
        *,
        contract: Contract,
        partner_codes: Iterable[str],
        objective_codes: Iterable[str],
        as_of: dt.date,
    ) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        """{(partner code, objective code): (maquette, programmed)} as the aggregation service
        counts them on `as_of`."""


_provided: list[Execution] = []


def provide(implementation: Execution) -> None:
    """Called once by the finance app when Django starts (a second call replaces the first)."""
    _provided[:] = [implementation]


def execution() -> Execution:
    if not _provided:
        raise ImproperlyConfigured(
            "L'exécution du registre n'est pas fournie : l'application cper.finance doit "
            "figurer dans INSTALLED_APPS."
        )
    return _provided[0]
