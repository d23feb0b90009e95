"""The maintained summaries of the ledger, their incremental upkeep and their recomputation.

Two tables (see `models.py`): `LineState` (+ `LineTag`), one row per financing line with what the
line counts as (contract, partner, objective, département, EPCI, markers, project territories,
programmed amount and programming date) and its cumulative committed and paid amounts; and
`ExecutionCell`, net programmed/committed/paid cents per contract × dimension × partner ×
objective × period, at three grains (year, month, day). Every figure of
`cper.finance.aggregation` is read from them.

Upkeep, always inside the transaction of the write, called by the write services themselves
(no signal):
- `states_for(lines)` then `movements_applied(movements)` (or `entries_applied`, the same from
  plain tuples): new movements add their signed amounts to their lines' states and to their
  cells (a handful of upserts);
- `lines_sync(line_ids=…)`: when what a line counts as may have changed (its amount, partner,
  objective, status; its operation's status, département, markers, communes, programming
  date…), the line's old contribution is taken out of the cells and the new one put in; a bulk
  write wraps its work in `deferred()` to sync once at the end, or rebuilds; a bulk load of a
  ledger (the demonstration) records its movements inside `rebuilt_after()`, which recomputes
  their contracts' summaries once on leaving.

A third, `OperationTotal`: each operation's contractualised amount (its active contractualised
lines), in cents, so that the register sorts by amount along an index (`totals`); `lines_sync`
keeps the totals of the operations it touches, `rebuild` recomputes them, `verify` compares.

`rebuild(contract)` recomputes everything from the ledger; `verify(contract)` proves that the
stored summaries equal that recomputation (used by `cper contract check`).

The package's modules, along their jobs: `snapshots` (what a line counts as; units), `cells`
(contributions and upserts), `upkeep` (incremental), `totals` (operations' totals), `rebuild`
(recomputation; its SQL dialect is `cper.finance.dialect`), `verify`. Their public names are all
importable from here.

Programming date of a line (`programmed_on`): the earliest date at which its operation entered a
programmed status — for each transition into one of `PROGRAMMED_STATUSES`, the date of the
committee of its decision if it has one, else the transition's date (Europe/Paris); an operation
in a programmed status without any such transition (imported already programmed) counts from the
day it was created.

Under a contract's `partner_decision` programming mode (issue 12), a contract partner's line in
a programmed operation counts as programmed only for the amount of its partner's decision in
force (`decisions_in_force`), dated by that decision; without a granting decision, 0.
"""

from __future__ import annotations

from cper.finance.dialect import movement_cents_sql

from .cells import CellKey
from .rebuild import RebuildReport, rebuild
from .snapshots import (
    BASE,
    CELL_DIMS,
    DEPARTEMENT,
    EPCI,
    GRAINS,
    MARKER,
    MONTHLY_DIMS,
    TERRITORY,
    LineSnapshot,
    _local_date,
    _programmed_on,
    cents,
    decisions_in_force,
    euros,
    period_start,
    signed,
    signed_affected,
    snapshots_compute,
    snapshots_stored,
)
from .totals import totals_differences, totals_rebuild, totals_sync
from .upkeep import (
    SYNC_CHUNK,
    deferred,
    entries_applied,
    lines_sync,
    movement_applied,
    movements_applied,
    rebuilt_after,
    state_for,
    states_for,
)
from .verify import Discrepancy, horizon, verify

__all__ = [
    "BASE",
    "CELL_DIMS",
    "DEPARTEMENT",
    "EPCI",
    "GRAINS",
    "MARKER",
    "MONTHLY_DIMS",
    "SYNC_CHUNK",
    "TERRITORY",
    "CellKey",
    "Discrepancy",
    "LineSnapshot",
    "RebuildReport",
    "_local_date",
    "_programmed_on",
    "cents",
    "decisions_in_force",
    "deferred",
    "entries_applied",
    "euros",
    "horizon",
    "lines_sync",
    "movement_applied",
    "movement_cents_sql",
    "movements_applied",
    "period_start",
    "rebuild",
    "rebuilt_after",
    "signed",
    "signed_affected",
    "snapshots_compute",
    "snapshots_stored",
    "state_for",
    "states_for",
    "totals_differences",
    "totals_rebuild",
    "totals_sync",
    "verify",
]
