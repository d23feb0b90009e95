"""Reading the execution cells: the intervals of year, month and day cells that cover a period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cper.finance.models import ExecutionCell
from cper.finance.summaries import (
    BASE,
    DEPARTEMENT,
    EPCI,
    MARKER,
    TERRITORY,
)

from .planning import Acc, _Filters, _in, _key_sql, _month_end, _run, _select

# -- reading the cells --------------------------------------------------------------------------

Interval = tuple[str, dt.date | None, dt.date | None]  # grain, first period, last period


def _intervals(
    as_of: dt.date, complete: bool, *, monthly: bool, days: bool
) -> tuple[list[Interval], bool]:
    """Cell ranges covering every day up to as_of, and whether the rest of as_of's month must
    come from the ledger (no day cells for this dimension)."""
    if complete:
        return [("M" if monthly else "Y", None, None)], False
    y0 = dt.date(as_of.year, 1, 1)
    m0 = dt.date(as_of.year, as_of.month, 1)
    before_month = m0 - dt.timedelta(days=1)
    out: list[Interval] = []
    if monthly:
        out.append(("M", None, before_month))
    else:
        out.append(("Y", None, y0 - dt.timedelta(days=1)))
        if m0 > y0:
            out.append(("M", y0, before_month))
    if _month_end(as_of):
        out.append(("M", m0, m0))
        return out, False
    if days:
        out.append(("D", m0, as_of))
        return out, False
    return out, True


def _cells(
    f: _Filters, dim: str, group_by: Sequence[str], intervals: list[Interval], acc: Acc
) -> None:
    table = ExecutionCell._meta.db_table
    params: list[Any] = []
    branches = []
    for grain, lo, hi in intervals:
        conds = [_in("contract_id", f.contract_ids, params), "grain = %s", "dim = %s"]
        params += [grain, dim]
        if dim == BASE:
            conds.append("value = ''")
        elif dim == DEPARTEMENT and f.departements is not None:
            conds.append(_in("value", f.departements, params))
        elif dim == EPCI and f.epcis is not None:
            conds.append(_in("value", f.epcis, params))
        elif dim in (MARKER, TERRITORY) and dim in f.tags:
            conds.append(_in("value", f.tags[dim], params))
        if lo is not None:
            conds.append("period >= %s")
            params.append(lo)
        if hi is not None:
            conds.append("period <= %s")
            params.append(hi)
        if f.partner_ids is not None:
            conds.append(_in("partner_id", f.partner_ids, params))
        if f.objective_ids is not None:
            conds.append(_in("objective_id", f.objective_ids, params))
        if f.years is not None:
            conds.append(_in("year", f.years, params))
        branches.append(
            "SELECT contract_id, value, period, year, partner_id, objective_id, programmed, "
            f"committed, paid FROM {table} WHERE {' AND '.join(conds)}"
        )
    exprs, joins = _key_sql(group_by, "x", day="x.period", cells=True)
    source = f"({' UNION ALL '.join(branches)}) x"
    sql = _select(exprs, "SUM(x.programmed), SUM(x.committed), SUM(x.paid)", source, joins)
    _run(sql, params, group_by, acc, small=True)
