"""The cells of the summaries: a line's contribution to each cell, and the upserts that add
deltas to them."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from django.db import connection

from cper.finance.models import ExecutionCell

from .snapshots import GRAINS, MONTHLY_DIMS, LineSnapshot, period_start

# -- cells ---------------------------------------------------------------------------------------

CellKey = tuple[int, str, str, str, dt.date, int, int, int]


@functools.lru_cache(maxsize=8192)
def _periods(day: dt.date) -> tuple[dt.date, ...]:
    """The start of a day's period at each grain, in `GRAINS` order (days repeat across a
    batch's lines)."""
    return tuple(period_start(day, grain) for grain in GRAINS)


def _cells_of(snap: LineSnapshot) -> list[tuple[int, str, str, str]]:
    """(grain's index in `GRAINS`, grain, dimension, value) of each cell a counted line's
    entries go to (but the period)."""
    return [
        (i, grain, dim, value)
        for dim, value in snap.dims()
        for i, grain in enumerate(GRAINS)
        if not (grain == "D" and dim in MONTHLY_DIMS)
    ]


def _add_entry(
    deltas: dict[CellKey, list[int]],
    snap: LineSnapshot,
    day: dt.date,
    programmed: int,
    committed: int,
    paid: int,
    sign: int = 1,
) -> None:
    _add_entries(deltas, snap, [(day, programmed, committed, paid)], sign)


def _add_entries(
    deltas: dict[CellKey, list[int]],
    snap: LineSnapshot,
    entries: Iterable[tuple[dt.date, int, int, int]],
    sign: int = 1,
) -> None:
    """Add a line's (day, programmed, committed, paid) entries to the deltas of their cells
    (an all-zero entry touches no cell; an uncounted line none). The line's cells are listed
    once for all its entries."""
    if not snap.counted:
        return
    assert snap.partner_id is not None
    contract, partner, objective = snap.contract_id, snap.partner_id, snap.objective_id
    cells = _cells_of(snap)
    for day, programmed, committed, paid in entries:
        if not (programmed or committed or paid):
            continue
        periods = _periods(day)
        year = day.year
        p, c, q = sign * programmed, sign * committed, sign * paid
        for i, grain, dim, value in cells:
            key = (contract, grain, dim, value, periods[i], year, partner, objective)
            cell = deltas.get(key)
            if cell is None:
                deltas[key] = [p, c, q]
            else:
                cell[0] += p
                cell[1] += c
                cell[2] += q


def _contribution(
    deltas: dict[CellKey, list[int]],
    snap: LineSnapshot,
    days: list[tuple[dt.date, int, int]],
    sign: int,
) -> None:
    entries: list[tuple[dt.date, int, int, int]] = []
    if snap.programmed and snap.programmed_on is not None:
        entries.append((snap.programmed_on, snap.programmed, 0, 0))
    entries.extend((day, 0, committed, paid) for day, committed, paid in days)
    _add_entries(deltas, snap, entries, sign)


_COLUMNS = (
    "contract_id, grain, dim, value, period, year, partner_id, objective_id, "
    "programmed, committed, paid"
)
_TYPES = (
    "bigint",
    "varchar",
    "varchar",
    "varchar",
    "date",
    "smallint",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
)


def _upsert_sql(source: str) -> str:
    """The upsert of the cells `source` gives (a VALUES list or a SELECT), adding to them."""
    table = ExecutionCell._meta.db_table
    return (
        f"INSERT INTO {table} ({_COLUMNS}) {source} "
        "ON CONFLICT (contract_id, grain, dim, value, period, partner_id, objective_id) "
        f"DO UPDATE SET programmed = {table}.programmed + excluded.programmed, "
        f"committed = {table}.committed + excluded.committed, "
        f"paid = {table}.paid + excluded.paid"
    )


# SQLite: one row, run by `executemany`. PostgreSQL: one array per column (a short statement
# psycopg parses once, whatever the number of rows; unnest yields the rows in array order).
_UPSERT_ONE = _upsert_sql(f"VALUES ({', '.join(['%s'] * len(_TYPES))})")
_UPSERT_ARRAYS = _upsert_sql(f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in _TYPES)})")
_UPSERT_CHUNK = 5000


def _apply(deltas: dict[CellKey, list[int]], *, keep_zero: bool = False) -> None:
    """Add the deltas to the cells, in key order (a stable lock order between concurrent
    writers). A zero delta is skipped, unless `keep_zero` (the cells touched by movements that
    cancel out within one batch exist afterwards, as they would had the movements been applied
    one by one). PostgreSQL: one upsert of column arrays per 5,000 cells (a statement of
    thousands of placeholders is parsed again by the driver at each call: most of the time).
    SQLite (in process, no round trip): one single-row upsert prepared once and run for every
    cell."""
    rows: list[tuple[Any, ...]] = [
        (*key, *vals) for key, vals in deltas.items() if keep_zero or any(vals)
    ]
    if not rows:
        return
    rows.sort()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for i in range(0, len(rows), _UPSERT_CHUNK):
                chunk = rows[i : i + _UPSERT_CHUNK]
                cursor.execute(_UPSERT_ARRAYS, [list(c) for c in zip(*chunk, strict=True)])
            return
        cursor.executemany(_UPSERT_ONE, rows)
