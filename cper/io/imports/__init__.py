"""Importing operations (with their co-financing plans) and movements from spreadsheets.

Every write goes through the domain services (`cper.operations.services`,
`cper.operations.lifecycle`, `cper.finance.services`) with the importing actor, so the same
rules, permissions and audit trail apply as on the pages. The import itself only reads the
file, matches rows to what exists, and reports.

- **Idempotent**: an operation is matched on the importing partner's reference
  (`ExternalReference`), or on its number within the contract when no partner is named; a
  financing line on its financer (and reference or rank); a movement on a key derived from its
  line, nature, reference and date. The same file twice changes nothing; a corrected file
  updates what changed.
- **Dry run** by default: everything is applied inside a transaction that is then rolled back,
  so the report (created / updated / unchanged / rejected, each rejection with its sheet, row,
  column and French message) is exactly what applying would do.
- **All or nothing** by default: one rejected row and nothing is written. With `partial=True`
  the valid rows are applied (each row group in its own savepoint) and the rejected ones are
  returned as a spreadsheet with an « Erreur » column, ready to correct and re-import.
- Every run is logged in `ImportLog` (who, when, file name, SHA-256, counts).

The package, by job:

- `run`: the entry points, the file, the transaction, the log;
- `report`: what a run reports (`ImportReport`, `Rejection`), the rejected rows as a file;
- `planner`: what both importers share (`Planner`: cells, columns, savepoints, progress);
- `operations`: operations and their co-financing plans (`OperationPlanner`);
- `movements`: commitments, payments and their cancellations (`MovementPlanner`);
- `values`: pure helpers reading an operations file's cells.
"""

from __future__ import annotations

from cper.io.imports.movements import (
    AMOUNT_COLUMNS,
    KIND_LABELS,
    MOVEMENT_CHUNK,
    MovementPlanner,
    movement_key,
)
from cper.io.imports.operations import OperationPlanner
from cper.io.imports.planner import FIELD_COLUMNS, Planner, Progress, RowError
from cper.io.imports.report import (
    CREATED,
    MAX_REPORTED_REJECTIONS,
    UNCHANGED,
    UPDATED,
    ImportReport,
    Rejection,
)
from cper.io.imports.run import (
    Source,
    actor_for,
    import_log_open,
    import_movements,
    import_operations,
    run_logged,
)
from cper.io.imports.values import BUDGET_NATURES, LEGAL_GUESSES, guess_legal_category

# The name `cper.io.bench` patches (`row_by_row`); MovementPlanner since the split.
_MovementPlanner = MovementPlanner

__all__ = [
    "AMOUNT_COLUMNS",
    "BUDGET_NATURES",
    "CREATED",
    "FIELD_COLUMNS",
    "KIND_LABELS",
    "LEGAL_GUESSES",
    "MAX_REPORTED_REJECTIONS",
    "MOVEMENT_CHUNK",
    "UNCHANGED",
    "UPDATED",
    "ImportReport",
    "MovementPlanner",
    "OperationPlanner",
    "Planner",
    "Progress",
    "Rejection",
    "RowError",
    "Source",
    "actor_for",
    "guess_legal_category",
    "import_log_open",
    "import_movements",
    "import_operations",
    "movement_key",
    "run_logged",
]
