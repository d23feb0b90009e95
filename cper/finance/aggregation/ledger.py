"""Reading the line states and the ledger (what the cells cannot answer), and the computation
that combines them with the cells and the maquette."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.db import connection

from cper.contracts.models import BudgetProgramme, Contract, ContractTerritory, Marker
from cper.finance.models import LineState, LineTag, Movement
from cper.finance.summaries import (
    BASE,
    MONTHLY_DIMS,
    movement_cents_sql,
)
from cper.maquette.selectors import maquette_amounts
from cper.operations.models import FinancingLine, Operation

from .cells import _cells, _intervals
from .planning import Acc, _add, _cell_dim, _d, _Filters, _in, _key_sql, _run, _select
from .types import _LOCATED, MAQUETTE_KEYS, MULTI_VALUED

# -- reading the line states and the ledger ----------------------------------------------------


def _where(f: _Filters, params: list[Any]) -> list[str]:
    d = _d()
    # A few operations: SQLite (no statistics) would rather walk the (contract, counted, …)
    # indexes than the operation index; a unary + keeps these columns out of its choice.
    few = f.operation_ids is not None or f.unpublished
    plus = "+" if few and connection.vendor == "sqlite" else ""
    out = [
        _in(f"{plus}s.contract_id", f.contract_ids, params),
        f"{plus}s.counted = {d['true']}",
    ]
    if f.unpublished:
        op_table = Operation._meta.db_table
        contracts = _in("o.contract_id", f.contract_ids, params)
        params.append(False)
        out.append(
            f"s.operation_id IN (SELECT o.id FROM {op_table} o WHERE {contracts} "
            "AND o.published = %s)"
        )
    for column, values in (
        ("s.partner_id", f.partner_ids),
        ("s.objective_id", f.objective_ids),
        ("s.departement", f.departements),
        ("s.epci", f.epcis),
        ("s.status", f.statuses),
        ("s.operation_id", f.operation_ids),
    ):
        if values is not None:
            out.append(_in(column, values, params))
    if f.located:
        out.append(f"s.{f.located} <> ''")
    out += _line_where(f, params)
    tags = {k: set(v) for k, v in f.tags.items()}
    tag_table = LineTag._meta.db_table
    for kind, values in sorted(tags.items()):
        params.append(kind)
        cond = _in("t.value", values, params)
        out.append(
            f"EXISTS (SELECT 1 FROM {tag_table} t WHERE t.state_id = s.line_id "
            f"AND t.kind = %s AND {cond})"
        )
    return out


def _line_where(f: _Filters, params: list[Any]) -> list[str]:
    """Filters on the line's own columns (programme, BOP, budget nature), through the line:
    a line without a value is matched by None."""
    if not f.line_values:
        return []
    line_table = FinancingLine._meta.db_table
    programme_table = BudgetProgramme._meta.db_table
    conds: list[str] = []
    for key, wanted in sorted(f.line_values.items()):
        column = "xp.code" if key == "programme" else f"xl.{key}"
        present = [v for v in wanted if v is not None]
        parts = [_in(column, present, params)] if present else []
        if None in wanted:
            parts.append(f"{column} IS NULL" + (" OR xl.bop = ''" if key == "bop" else ""))
        conds.append("(" + " OR ".join(parts or ["1 = 0"]) + ")")
    return [
        f"s.line_id IN (SELECT xl.id FROM {line_table} xl LEFT JOIN {programme_table} xp "
        f"ON xp.id = xl.programme_id WHERE {' AND '.join(conds)})"
    ]


def _joined_where(joined: dict[str, list[str]], params: list[Any]) -> list[str]:
    """The conditions on the joined tags (`_key_sql`'s `tg_<key>`): their kind and values."""
    out = []
    for k, values in joined.items():
        params.append(k)
        out.append(f"tg_{k}.kind = %s AND {_in(f'tg_{k}.value', values, params)}")
    return out


def _ledger(
    f: _Filters,
    group_by: Sequence[str],
    *,
    as_of: dt.date,
    complete: bool,
    date_from: dt.date | None,
    acc: Acc,
    joined: dict[str, list[str]] | None = None,
) -> None:
    """Sums over the line states, and over the movements when the cumulative amounts will not
    do (a date before the last movement, a grouping or filter by year or month). `joined`:
    {multi-valued key: its values}, grouped through a join to the line's tags."""
    joined = joined or {}
    d = _d()
    state = LineState._meta.db_table
    by_date = "year" in group_by or "_month" in group_by or f.years is not None
    if complete and date_from is None and not by_date:
        params: list[Any] = [as_of]
        where = _where(f, params) + _joined_where(joined, params)
        exprs, joins = _key_sql(group_by, "s", day="", cells=False, joined=list(joined))
        sums = (
            "SUM(CASE WHEN s.programmed_on <= %s THEN s.programmed ELSE 0 END), "
            "SUM(s.committed), SUM(s.paid)"
        )
        # the CASE parameter comes first in the SELECT list
        sql = _select(exprs, sums, f"{state} s", joins, f" WHERE {' AND '.join(where)}")
        _run(sql, params, group_by, acc)
        return

    # programmed, by programming date
    params = []
    where = _where(f, params) + _joined_where(joined, params)
    where += ["s.programmed <> 0", "s.programmed_on IS NOT NULL", "s.programmed_on <= %s"]
    params.append(as_of)
    if date_from is not None:
        where.append("s.programmed_on >= %s")
        params.append(date_from)
    if f.years is not None:
        where.append(_in(d["year"].format(d="s.programmed_on"), f.years, params))
    exprs, joins = _key_sql(group_by, "s", day="s.programmed_on", cells=False, joined=list(joined))
    sql = _select(
        exprs, "SUM(s.programmed), 0, 0", f"{state} s", joins, f" WHERE {' AND '.join(where)}"
    )
    _run(sql, params, group_by, acc)
    # committed and paid, by movement date
    committed, paid = movement_cents_sql("m")
    params = []
    where = _where(f, params) + _joined_where(joined, params)
    where.append("m.date <= %s")
    params.append(as_of)
    if date_from is not None:
        where.append("m.date >= %s")
        params.append(date_from)
    if f.years is not None:
        where.append(_in(d["year"].format(d="m.date"), f.years, params))
    exprs, joins = _key_sql(group_by, "s", day="m.date", cells=False, joined=list(joined))
    if date_from is not None and connection.vendor == "sqlite":
        # a few days of movements: read them first (SQLite's planner would start from the
        # line states of the filter and probe the movements line by line)
        source = f"{Movement._meta.db_table} m CROSS JOIN {state} s"
        where.append("s.line_id = m.financing_line_id")
    else:
        source = f"{Movement._meta.db_table} m JOIN {state} s ON s.line_id = m.financing_line_id"
    sql = _select(
        exprs, f"0, SUM({committed}), SUM({paid})", source, joins, f" WHERE {' AND '.join(where)}"
    )
    _run(sql, params, group_by, acc)


# -- the computation ----------------------------------------------------------------------------


def _tag_values(kind: str, f: _Filters) -> list[str]:

    if kind == "marker":
        codes = set(
            Marker.objects.filter(contract_id__in=f.contract_ids).values_list("code", flat=True)
        )
    else:
        codes = set(
            ContractTerritory.objects.filter(contract_id__in=f.contract_ids).values_list(
                "territory__code", flat=True
            )
        )
    if kind in f.tags:
        codes &= f.tags[kind]
    return sorted(codes)


def _every_operation(
    f: _Filters,
    group_by: Sequence[str],
    filters: dict[str, Any],
    as_of: dt.date,
    complete: bool,
) -> Acc:
    """{key tuple (in group_by order): [programmed, committed, paid] cents}, every operation
    counted (from the summaries, the ledger for what they cannot answer)."""
    acc: Acc = {}
    if f.empty:
        return acc
    monthly = "_month" in group_by
    dim = _cell_dim([k for k in group_by if k != "_month"], filters, f)
    if dim is None:
        _ledger_multi(f, group_by, as_of=as_of, complete=complete, date_from=None, acc=acc)
        return acc
    intervals, partial = _intervals(as_of, complete, monthly=monthly, days=dim not in MONTHLY_DIMS)
    _cells(f, dim, group_by, intervals, acc)
    if partial:
        _ledger_multi(
            f,
            group_by,
            as_of=as_of,
            complete=False,
            date_from=dt.date(as_of.year, as_of.month, 1),
            acc=acc,
        )
    for key, located_dim in _LOCATED.items():
        if dim == located_dim and key in group_by and key not in filters:
            _unlocated(f, group_by, key, as_of, complete, acc)
    return acc


def _amounts(
    f: _Filters,
    group_by: Sequence[str],
    filters: dict[str, Any],
    as_of: dt.date,
    complete: bool,
) -> Acc:
    """{key tuple (in group_by order): [programmed, committed, paid] cents}; for a viewer
    who may not see unpublished operations, those of the published operations only.

    The summaries count every operation: the unpublished operations' part is read from their
    line states and movements (the ledger path, exact to the cent) and taken away, key by key,
    and a key left with nothing is dropped — the result is the published operations' own."""
    acc = _every_operation(f, group_by, filters, as_of, complete)
    if not f.hidden or f.operation_ids is not None or f.empty:
        return acc  # an operation filter of the public resolves published operations only
    only = replace(f, hidden=False, unpublished=True)
    if not _any_amount(only):
        return acc
    unpublished: Acc = {}
    _ledger_multi(only, group_by, as_of=as_of, complete=complete, date_from=None, acc=unpublished)
    for key, (p, c, pd) in unpublished.items():
        cell = acc.get(key)
        if cell is None:  # cannot happen while the summaries match the ledger
            continue
        cell[0] -= p
        cell[1] -= c
        cell[2] -= pd
        if cell == [0, 0, 0]:
            del acc[key]
    return acc


def _any_amount(f: _Filters) -> bool:
    """Whether a line of `f` (counted, of an unpublished operation) carries any amount at any
    date: a programmed amount or a movement. Most unpublished operations are drafts without
    either, and the public's figures then cost this one query."""
    params: list[Any] = []
    where = _where(f, params)
    movements = Movement._meta.db_table
    sql = (
        f"SELECT 1 FROM {LineState._meta.db_table} s WHERE {' AND '.join(where)} AND "
        f"(s.programmed <> 0 OR EXISTS (SELECT 1 FROM {movements} m "
        "WHERE m.financing_line_id = s.line_id)) LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _ledger_multi(
    f: _Filters,
    group_by: Sequence[str],
    *,
    as_of: dt.date,
    complete: bool,
    date_from: dt.date | None,
    acc: Acc,
) -> None:
    """The ledger path; the multi-valued groupings (marker, territory) in the same query, joined
    to the line's tags (a line counts once for each of its values, as a row per value would)."""
    joined = {k: _tag_values(k, f) for k in group_by if k in MULTI_VALUED}
    if any(not values for values in joined.values()):
        return
    _ledger(
        f,
        group_by,
        as_of=as_of,
        complete=complete,
        date_from=date_from,
        acc=acc,
        joined=joined,
    )
    if joined and len(joined) == len(group_by):
        # Grouped by tags alone, every value has its row, nothing or not (as the cells give).
        for combo in itertools.product(*joined.values()):
            acc.setdefault(tuple(combo), [0, 0, 0])


def _unlocated(
    f: _Filters, group_by: Sequence[str], key: str, as_of: dt.date, complete: bool, acc: Acc
) -> None:
    """Lines without a département (or EPCI), as a `None` row (so that the rows add up to
    the total): the base cells minus the cells of that dimension."""
    dim = _LOCATED[key]
    others = [k for k in group_by if k != key]
    monthly = "_month" in group_by
    base: Acc = {}
    located: Acc = {}
    intervals, _ = _intervals(as_of, complete, monthly=monthly, days=True)
    _cells(f, BASE, others, intervals, base)
    intervals, partial = _intervals(as_of, complete, monthly=monthly, days=dim not in MONTHLY_DIMS)
    _cells(f, dim, others, intervals, located)
    if partial:
        g = _Filters(**{**f.__dict__, "located": key})
        _ledger(
            g,
            others,
            as_of=as_of,
            complete=False,
            date_from=dt.date(as_of.year, as_of.month, 1),
            acc=located,
        )
    position = list(group_by).index(key)
    for k, (p, c, pd) in base.items():
        lp, lc, lpd = located.get(k, (0, 0, 0))
        if (p - lp, c - lc, pd - lpd) != (0, 0, 0):
            _add(acc, (*k[:position], None, *k[position:]), p - lp, c - lc, pd - lpd)


def _maquette(
    contracts: list[Contract],
    as_of: dt.date,
    keys: Sequence[str],
    filters: dict[str, Any],
    f: _Filters,
) -> dict[tuple, Decimal]:
    """The maquette in force, by `keys` (maquette keys and possibly "contract")."""

    mq_keys = [k for k in keys if k in MAQUETTE_KEYS]
    mq_filters = {k: v for k, v in filters.items() if k in MAQUETTE_KEYS}
    out: dict[tuple, Decimal] = {}
    for contract in contracts:
        if contract.pk not in f.contract_ids:
            continue
        amounts = maquette_amounts(
            contract=contract, as_of=as_of, group_by=tuple(mq_keys), filters=mq_filters
        )
        for mk, amount in amounts.items():
            values = dict(zip(mq_keys, mk, strict=True))
            values["contract"] = contract.slug
            key = tuple(values[k] for k in keys)
            out[key] = out.get(key, Decimal("0.00")) + Decimal(amount)
    return out
