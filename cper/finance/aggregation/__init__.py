"""THE aggregation service of the execution: every page, export, report and API figure of
maquette, programmed, committed and paid amounts comes from here. Nothing else sums money.

    execution(contract=c, as_of=date, group_by=("axis", "partner", "year"), filters={...})
    execution_series(contract=c, as_of=date, filters={...})     # monthly cumulative curve
    pace(contract=c, as_of=date, filters={...})                 # against a straight line
    pace_elapsed(contract=c, as_of=date, group_by=("partner",))  # the line per partner

Definitions (see docs/finance.md):
- maquette: the maquette in force at `as_of` (`cper.maquette.selectors.maquette_amounts`); only
  for groupings and filters among axis, objective, partner and year (else None);
- programmed: amounts of the active contractualised lines of operations in a programmed status,
  counted from their programming date (≤ as_of);
- committed, paid: net movements dated ≤ as_of on contractualised lines;
- the pace: a straight line per volet, from its first day to 100 % of its maquette at its last
  day, summed over the volets the question covers (issue 12);
- "year" is the year of the event: programming date for programmed, movement date for committed
  and paid, the allocation's year for the maquette;
- a line belongs to the département and EPCI of its operation (first commune), to every marker
  of its operation and to every project territory one of its communes lies in: rows grouped by
  marker or territory may overlap, the total never counts a line twice;
- who looks: `viewer=request.user` (None: the public). A viewer who may not see unpublished
  operations gets every figure of the published operations alone (`visibility`); the default
  viewer, `UNRESTRICTED`, counts every operation (commands, checks, rules, bench).

Reads come from the maintained summaries (`cper.finance.summaries`): per contract × partner ×
objective (× département | marker | territory) × year/month/day cells for the usual
questions, per-line states for the others (EPCI, status, operation, combined dimensions).
Amounts are exact to the cent (integer cents in the database, Decimal out).

The package's modules, along their jobs: `types` (keys, rows, results), `planning` (reference
data, filters, which summaries answer, SQL helpers; the SQL dialect is `cper.finance.dialect`),
`cells`, `ledger` (line states, movements, the computation), `labels`, `visibility` (what the
public may see: unpublished operations are left out of its figures), `service` (the public
functions) and `programmes` (the State's execution by LOLF programme: contractualisé, AE mises
en place, AE engagées, CP payés). Their public names are all importable from here.
"""

from __future__ import annotations

from .cells import Interval
from .planning import Acc
from .programmes import (
    PROGRAMME_KEYS,
    ProgrammeExecution,
    ProgrammeRow,
    programme_execution,
    programme_keys,
)
from .service import (
    LineExecution,
    execution,
    execution_series,
    line_execution,
    pace,
    pace_elapsed,
)
from .types import (
    ALL_KEYS,
    CONSOLIDATION_KEYS,
    GROUP_KEYS,
    MAQUETTE_KEYS,
    MULTI_VALUED,
    ExecutionQueryError,
    ExecutionResult,
    ExecutionRow,
    SeriesPoint,
)
from .visibility import UNRESTRICTED, hides_unpublished

__all__ = [
    "ALL_KEYS",
    "CONSOLIDATION_KEYS",
    "GROUP_KEYS",
    "MAQUETTE_KEYS",
    "MULTI_VALUED",
    "PROGRAMME_KEYS",
    "UNRESTRICTED",
    "Acc",
    "ExecutionQueryError",
    "ExecutionResult",
    "ExecutionRow",
    "Interval",
    "LineExecution",
    "ProgrammeExecution",
    "ProgrammeRow",
    "SeriesPoint",
    "execution",
    "execution_series",
    "hides_unpublished",
    "line_execution",
    "pace",
    "pace_elapsed",
    "programme_execution",
    "programme_keys",
]
