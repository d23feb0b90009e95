"""THE aggregation service of the execution: every page, export, report and API figure of
maquette, programmed, committed and paid amounts comes from here. Nothing else sums money.

    execution(contract=c, as_of=date, group_by=("axis", "partner", "year"), filters={...})
    execution_series(contract=c, as_of=date, filters={...})     # monthly cumulative curve
    pace(contract=c, as_of=date, filters={...})                 # against a straight line

Definitions (see docs/finance.md):
- maquette: the maquette in force at `as_of` (`cper.maquette.selectors.maquette_amounts`); only
  for groupings and filters among axis, objective, partner and year (else None);
- programmed: amounts of the active contractualised lines of operations in a programmed status,
  counted from their programming date (≤ as_of);
- committed, paid: net movements dated ≤ as_of on contractualised lines;
- "year" is the year of the event: programming date for programmed, movement date for committed
  and paid, the allocation's year for the maquette;
- a line belongs to the département and EPCI of its operation (first commune), to every marker
  of its operation and to every project territory one of its communes lies in: rows grouped by
  marker or territory may overlap, the total never counts a line twice.

Reads come from the maintained summaries (`cper.finance.summaries`): per contract × partner ×
objective (× département | marker | territory) × year/month/day cells for the usual
questions, per-line states for the others (EPCI, status, operation, combined dimensions).
Amounts are exact to the cent (integer cents in the database, Decimal out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cper.contracts.models import Contract, Objective, Partner
from cper.finance.models import ExecutionCell, LineState, LineTag, Movement
from cper.finance.summaries import (
    BASE,
    DEPARTEMENT,
    EPCI,
    MARKER,
    MONTHLY_DIMS,
    TERRITORY,
    euros,
    movement_cents_sql,
)
from cper.money import CENT, rate

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
)
# Keys the maquette is defined on; any other key in a grouping or filter makes it None.
MAQUETTE_KEYS = ("axis", "objective", "partner", "year")
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


@dataclass(frozen=True)
class SeriesPoint:
    month: dt.date  # first day of the month
    committed: Decimal  # cumulative at the month's end (at as_of for the last point)
    paid: Decimal
    pace_target: Decimal  # straight line from the contract's start to 100 % at its end


# -- reference data ------------------------------------------------------------------------------


@dataclass
class _Ref:
    contracts: list[Contract]
    partner: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # code, label, pos
    objective: dict[int, tuple[str, str, int, str, int]] = field(default_factory=dict)
    # objective: code, label, axis number, axis label, position
    slug: dict[int, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return [c.pk for c in self.contracts]


def _ref(contracts: list[Contract]) -> _Ref:
    """Partners and objectives of the contracts, kept on a single contract's instance: a page
    asking several questions of one contract reads them once."""
    if len(contracts) == 1:
        cached = getattr(contracts[0], "_execution_ref", None)
        if cached is None:
            cached = _ref_load(contracts)
            contracts[0]._execution_ref = cached  # type: ignore[attr-defined]
        return cached
    return _ref_load(contracts)


def _ref_load(contracts: list[Contract]) -> _Ref:
    ref = _Ref(contracts=contracts, slug={c.pk: c.slug for c in contracts})
    ids = ref.ids
    for pk, code, short, name, pos in Partner.objects.filter(contract_id__in=ids).values_list(
        "pk", "code", "short_name", "name", "position"
    ):
        ref.partner[pk] = (code, short or name, pos)
    for pk, code, title, number, axis_title, pos in Objective.objects.filter(
        contract_id__in=ids
    ).values_list("pk", "code", "title", "axis__number", "axis__title", "position"):
        ref.objective[pk] = (code, f"{code} {title}", number, f"Axe {number} — {axis_title}", pos)
    return ref


def _contracts(contract: Contract | None, contracts: Iterable[Contract] | None) -> list[Contract]:
    if contract is not None:
        return [contract]
    if contracts is None:
        return list(Contract.objects.order_by("slug"))
    return sorted(contracts, key=lambda c: c.slug)


# -- filters ------------------------------------------------------------------------------------


def _values(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


def _dep_code(value: Any) -> str:
    text = str(value).strip()
    return text.zfill(2) if text.isdigit() and len(text) < 2 else text


@dataclass
class _Filters:
    contract_ids: list[int]
    partner_ids: set[int] | None = None
    objective_ids: set[int] | None = None
    years: set[int] | None = None
    departements: set[str] | None = None
    epcis: set[str] | None = None
    statuses: set[str] | None = None
    operation_ids: set[int] | None = None
    tags: dict[str, set[str]] = field(default_factory=dict)  # marker/territory → codes
    located: str = ""  # only lines with a value of this column (departement, epci)

    @property
    def empty(self) -> bool:
        sets = [
            self.partner_ids,
            self.objective_ids,
            self.years,
            self.departements,
            self.epcis,
            self.statuses,
            self.operation_ids,
            *self.tags.values(),
        ]
        return not self.contract_ids or any(s is not None and not s for s in sets)


def _normalise(filters: dict[str, Any], ref: _Ref) -> _Filters:
    for k in filters:
        if k not in ALL_KEYS:
            raise ExecutionQueryError(f"filtre inconnu « {k} » (attendu : {', '.join(ALL_KEYS)})")
    f = _Filters(contract_ids=ref.ids)
    if "contract" in filters:
        slugs = {str(v) for v in _values(filters["contract"])}
        f.contract_ids = [pk for pk, slug in ref.slug.items() if slug in slugs]
    if "partner" in filters:
        codes = {str(v) for v in _values(filters["partner"])}
        f.partner_ids = {pk for pk, p in ref.partner.items() if p[0] in codes}
    objective_ids: set[int] | None = None
    if "axis" in filters:
        try:
            numbers = {int(v) for v in _values(filters["axis"])}
        except (TypeError, ValueError) as exc:
            raise ExecutionQueryError("le filtre « axis » attend des numéros d'axe") from exc
        objective_ids = {pk for pk, o in ref.objective.items() if o[2] in numbers}
    if "objective" in filters:
        codes = {str(v) for v in _values(filters["objective"])}
        chosen = {pk for pk, o in ref.objective.items() if o[0] in codes}
        objective_ids = chosen if objective_ids is None else objective_ids & chosen
    f.objective_ids = objective_ids
    if "year" in filters:
        try:
            f.years = {int(v) for v in _values(filters["year"])}
        except (TypeError, ValueError) as exc:
            raise ExecutionQueryError("le filtre « year » attend des années") from exc
    if "departement" in filters:
        f.departements = {_dep_code(v) for v in _values(filters["departement"])}
    if "epci" in filters:
        f.epcis = {str(v).strip() for v in _values(filters["epci"])}
    if "status" in filters:
        f.statuses = {str(v) for v in _values(filters["status"])}
    for k in ("marker", "territory"):
        if k in filters:
            f.tags[k] = {str(v) for v in _values(filters[k])}
    if "operation" in filters:
        from cper.operations.models import Operation

        values = _values(filters["operation"])
        ids = {int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)}
        op_codes = [str(v) for v in values if not isinstance(v, int)]
        if op_codes:
            ids |= set(
                Operation.objects.filter(contract_id__in=ref.ids, code__in=op_codes).values_list(
                    "pk", flat=True
                )
            )
        f.operation_ids = ids
    return f


# -- planning a query ---------------------------------------------------------------------------


def _dims_used(group_by: Sequence[str], filters: dict[str, Any]) -> set[str]:
    return {k for k in (*group_by, *filters) if k in _LEDGER_ONLY or k in _CELL_DIMS}


def _cell_dim(group_by: Sequence[str], filters: dict[str, Any], f: _Filters) -> str | None:
    """The cell dimension answering this query, or None when the line states must."""
    used = _dims_used(group_by, filters)
    if not used:
        return BASE
    if len(used) > 1:
        return None
    (key,) = used
    if key not in _CELL_DIMS:
        return None
    if key in MULTI_VALUED and key not in group_by and len(f.tags.get(key, ())) > 1:
        return None  # a line with two of the markers would be counted twice
    return _CELL_DIMS[key]


def _complete(contract_ids: list[int], as_of: dt.date) -> bool:
    """True when nothing in the summaries is dated after as_of (so the cumulative amounts
    are the amounts at as_of)."""
    return not ExecutionCell.objects.filter(
        contract_id__in=contract_ids, grain="D", dim=BASE, value="", period__gt=as_of
    ).exists()


def _month_end(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).day == 1


Acc = dict[tuple, list[int]]


def _add(acc: Acc, key: tuple, p: Any, c: Any, pd: Any) -> None:
    cell = acc.get(key)
    if cell is None:
        cell = acc[key] = [0, 0, 0]
    cell[0] += int(p or 0)
    cell[1] += int(c or 0)
    cell[2] += int(pd or 0)


# -- SQL helpers --------------------------------------------------------------------------------


def _d() -> dict[str, str]:
    from cper.finance.summaries import _sql_dialect

    return _sql_dialect()


def _in(column: str, values: Iterable[Any], params: list[Any]) -> str:
    vals = sorted(values, key=str)
    if not vals:
        return "1 = 0"
    params.extend(vals)
    return f"{column} IN ({', '.join(['%s'] * len(vals))})"


def _tables() -> dict[str, str]:
    from cper.operations.models import Operation

    return {
        "objective": Objective._meta.db_table,
        "axis": "contracts_axis",
        "partner": Partner._meta.db_table,
        "contract": Contract._meta.db_table,
        "operation": Operation._meta.db_table,
    }


def _key_sql(
    group_by: Sequence[str], alias: str, *, fixed: dict[str, Any], day: str, cells: bool
) -> tuple[list[str], list[str]]:
    """(SELECT expressions of the non-fixed keys, in order; JOIN clauses) so that each row
    carries the keys' codes: axis number, objective and partner codes, contract slug…"""
    t, d = _tables(), _d()
    exprs: list[str] = []
    joins: dict[str, str] = {}

    def join(name: str) -> None:
        if name in ("objective", "axis"):
            joins.setdefault(
                "objective", f"JOIN {t['objective']} ob ON ob.id = {alias}.objective_id"
            )
        if name == "axis":
            joins.setdefault("axis", f"JOIN {t['axis']} ax ON ax.id = ob.axis_id")
        if name == "partner":
            joins.setdefault("partner", f"JOIN {t['partner']} pa ON pa.id = {alias}.partner_id")
        if name == "contract":
            joins.setdefault("contract", f"JOIN {t['contract']} co ON co.id = {alias}.contract_id")
        if name == "operation":
            joins.setdefault(
                "operation", f"JOIN {t['operation']} op ON op.id = {alias}.operation_id"
            )

    for k in group_by:
        if k in fixed:
            continue
        if k == "axis":
            join("axis")
            exprs.append("ax.number")
        elif k == "objective":
            join("objective")
            exprs.append("ob.code")
        elif k == "partner":
            join("partner")
            exprs.append("pa.code")
        elif k == "contract":
            join("contract")
            exprs.append("co.slug")
        elif k == "year":
            exprs.append(f"{alias}.year" if cells else d["year"].format(d=day))
        elif k == "_month":
            exprs.append(d["month"].format(d=day))
        elif cells:  # departement, marker, territory: the cell's value
            exprs.append(f"{alias}.value")
        elif k == "operation":
            join("operation")
            exprs.append("op.code")
        else:  # departement, epci, status
            exprs.append(f"{alias}.{k}")
    return exprs, list(joins.values())


def _assemble(group_by: Sequence[str], fixed: dict[str, Any], values: Sequence[Any]) -> tuple:
    it = iter(values)
    out = []
    for k in group_by:
        v = fixed[k] if k in fixed else next(it)
        if k in ("departement", "epci", "marker", "territory") and v == "":
            v = None
        elif k == "_month" or (k == "year" and v is not None):
            v = _as_date(v) if k == "_month" else int(v)
        out.append(v)
    return tuple(out)


def _run(
    sql: str,
    params: list[Any],
    group_by: Sequence[str],
    fixed: dict[str, Any],
    acc: Acc,
    *,
    small: bool = False,
) -> None:
    n = len([k for k in group_by if k not in fixed])
    if small and connection.vendor == "postgresql":
        # A few thousand cells: PostgreSQL may plan parallel workers, whose start-up costs
        # more than the whole query; keep it serial for this statement.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            cursor.execute("SET LOCAL max_parallel_workers_per_gather TO DEFAULT")
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    simple = not fixed and all(
        k in ("axis", "objective", "partner", "contract", "status", "operation") for k in group_by
    )
    for row in rows:
        key = tuple(row[:n]) if simple else _assemble(group_by, fixed, row[:n])
        _add(acc, key, row[n], row[n + 1], row[n + 2])


def _select(exprs: list[str], sums: str, source: str, joins: list[str], where: str = "") -> str:
    select = ", ".join([*exprs, sums])
    group = f" GROUP BY {', '.join(exprs)}" if exprs else ""
    return f"SELECT {select} FROM {source} {' '.join(joins)}{where}{group}"


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
    exprs, joins = _key_sql(group_by, "x", fixed={}, day="x.period", cells=True)
    source = f"({' UNION ALL '.join(branches)}) x"
    sql = _select(exprs, "SUM(x.programmed), SUM(x.committed), SUM(x.paid)", source, joins)
    _run(sql, params, group_by, {}, acc, small=True)


# -- reading the line states and the ledger ----------------------------------------------------


def _where(f: _Filters, params: list[Any], extra_tags: dict[str, str]) -> list[str]:
    d = _d()
    # A few operations: SQLite (no statistics) would rather walk the (contract, counted, …)
    # indexes than the operation index; a unary + keeps these columns out of its choice.
    plus = "+" if f.operation_ids is not None and connection.vendor == "sqlite" else ""
    out = [
        _in(f"{plus}s.contract_id", f.contract_ids, params),
        f"{plus}s.counted = {d['true']}",
    ]
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
    tags = {k: set(v) for k, v in f.tags.items()}
    for k, v in extra_tags.items():
        tags[k] = {v} if k not in tags else tags[k] & {v}
    tag_table = LineTag._meta.db_table
    for kind, values in sorted(tags.items()):
        params.append(kind)
        cond = _in("t.value", values, params)
        out.append(
            f"EXISTS (SELECT 1 FROM {tag_table} t WHERE t.state_id = s.line_id "
            f"AND t.kind = %s AND {cond})"
        )
    return out


def _ledger(
    f: _Filters,
    group_by: Sequence[str],
    *,
    as_of: dt.date,
    complete: bool,
    date_from: dt.date | None,
    acc: Acc,
    fixed: dict[str, Any],
) -> None:
    """Sums over the line states, and over the movements when the cumulative amounts will not
    do (a date before the last movement, a grouping or filter by year or month)."""
    d = _d()
    state = LineState._meta.db_table
    by_date = "year" in group_by or "_month" in group_by or f.years is not None
    if complete and date_from is None and not by_date:
        params: list[Any] = [as_of]
        where = _where(f, params, fixed)
        exprs, joins = _key_sql(group_by, "s", fixed=fixed, day="", cells=False)
        sums = (
            "SUM(CASE WHEN s.programmed_on <= %s THEN s.programmed ELSE 0 END), "
            "SUM(s.committed), SUM(s.paid)"
        )
        # the CASE parameter comes first in the SELECT list
        sql = _select(exprs, sums, f"{state} s", joins, f" WHERE {' AND '.join(where)}")
        _run(sql, params, group_by, fixed, acc)
        return

    # programmed, by programming date
    params = []
    where = _where(f, params, fixed)
    where += ["s.programmed <> 0", "s.programmed_on IS NOT NULL", "s.programmed_on <= %s"]
    params.append(as_of)
    if date_from is not None:
        where.append("s.programmed_on >= %s")
        params.append(date_from)
    if f.years is not None:
        where.append(_in(d["year"].format(d="s.programmed_on"), f.years, params))
    exprs, joins = _key_sql(group_by, "s", fixed=fixed, day="s.programmed_on", cells=False)
    sql = _select(
        exprs, "SUM(s.programmed), 0, 0", f"{state} s", joins, f" WHERE {' AND '.join(where)}"
    )
    _run(sql, params, group_by, fixed, acc)
    # committed and paid, by movement date
    committed, paid = movement_cents_sql("m")
    params = []
    where = _where(f, params, fixed)
    where.append("m.date <= %s")
    params.append(as_of)
    if date_from is not None:
        where.append("m.date >= %s")
        params.append(date_from)
    if f.years is not None:
        where.append(_in(d["year"].format(d="m.date"), f.years, params))
    exprs, joins = _key_sql(group_by, "s", fixed=fixed, day="m.date", cells=False)
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
    _run(sql, params, group_by, fixed, acc)


# -- the computation ----------------------------------------------------------------------------


def _tag_values(kind: str, f: _Filters) -> list[str]:
    from cper.contracts.models import ContractTerritory, Marker

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


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        value = dt.date.fromisoformat(str(value)[:10])
    return value


def _amounts(
    f: _Filters,
    group_by: Sequence[str],
    filters: dict[str, Any],
    as_of: dt.date,
    complete: bool,
) -> Acc:
    """{key tuple (in group_by order): [programmed, committed, paid] cents}."""
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


def _ledger_multi(
    f: _Filters,
    group_by: Sequence[str],
    *,
    as_of: dt.date,
    complete: bool,
    date_from: dt.date | None,
    acc: Acc,
) -> None:
    """The ledger path, once per value of the multi-valued groupings (marker, territory)."""
    combos: list[dict[str, str]] = [{}]
    for k in (k for k in group_by if k in MULTI_VALUED):
        combos = [{**c, k: v} for c in combos for v in _tag_values(k, f)]
    for combo in combos:
        _ledger(
            f,
            group_by,
            as_of=as_of,
            complete=complete,
            date_from=date_from,
            acc=acc,
            fixed=combo,
        )


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
            fixed={},
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
    from cper.maquette.selectors import maquette_amounts

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


# -- labels and order ---------------------------------------------------------------------------


class _Labels:
    def __init__(self, ref: _Ref) -> None:
        self.ref = ref
        self.cache: dict[str, dict[Any, tuple[str, Any]]] = {}

    def prepare(self, group_by: Sequence[str], keys: Iterable[tuple]) -> None:
        from cper.contracts.models import Marker
        from cper.operations.models import Operation, OperationStatus
        from cper.territories.models import Departement, Epci, ProjectTerritory

        keys = list(keys)
        ref = self.ref
        for i, k in enumerate(group_by):
            present = {key[i] for key in keys}
            labels: dict[Any, tuple[str, Any]] = {}
            if k == "axis":
                axes = {o[2]: o[3] for o in ref.objective.values()}
                labels = {n: (axes.get(n, f"Axe {n}"), n) for n in present}
            elif k == "objective":
                by_code = {o[0]: o for o in ref.objective.values()}
                labels = {
                    c: (by_code[c][1], (by_code[c][2], by_code[c][4], c))
                    if c in by_code
                    else (str(c), (99, 0, c))
                    for c in present
                }
            elif k == "partner":
                partners = {p[0]: p for p in ref.partner.values()}
                labels = {
                    c: (partners[c][1], (partners[c][2], c))
                    if c in partners
                    else (str(c), (999, c))
                    for c in present
                }
            elif k == "year":
                labels = {
                    y: ((str(y) if y is not None else "sans année"), y or 9999) for y in present
                }
            elif k == "contract":
                titles = {c.slug: c.title for c in ref.contracts}
                labels = {s: (titles.get(s, s), s) for s in present}
            elif k == "departement":
                names = dict(
                    Departement.objects.filter(code__in=[p for p in present if p]).values_list(
                        "code", "name"
                    )
                )
                labels = {
                    c: (f"{names.get(c, c)} ({c})", c) if c else ("non localisé", "~")
                    for c in present
                }
            elif k == "epci":
                names = dict(
                    Epci.objects.filter(siren__in=[p for p in present if p]).values_list(
                        "siren", "name"
                    )
                )
                labels = {
                    c: (names.get(c, c), names.get(c, c)) if c else ("non localisé", "~")
                    for c in present
                }
            elif k == "territory":
                names = dict(
                    ProjectTerritory.objects.filter(code__in=present).values_list("code", "name")
                )
                labels = {c: (names.get(c, c), names.get(c, c)) for c in present}
            elif k == "marker":
                names = dict(
                    Marker.objects.filter(
                        contract_id__in=ref.ids, code__in=[p for p in present if p]
                    ).values_list("code", "label")
                )
                labels = {c: (names.get(c, c), c) for c in present}
            elif k == "status":
                order = [s.value for s in OperationStatus]
                display = dict(OperationStatus.choices)
                labels = {
                    s: (str(display.get(s, s)), order.index(s) if s in order else 99)
                    for s in present
                }
            elif k == "operation":
                codes = sorted(p for p in present if p is not None)
                ops = Operation.objects.filter(contract_id__in=ref.ids)
                if len(codes) <= 2000:
                    ops = ops.filter(code__in=codes)
                titles = dict(ops.values_list("code", "title"))
                labels = {c: (f"{c} {titles.get(c, '')}".strip(), c) for c in present}
            self.cache[k] = labels

    def label(self, k: str, value: Any) -> str:
        return self.cache[k][value][0]

    def order(self, k: str, value: Any) -> Any:
        return self.cache[k][value][1]


def _row(
    key: dict[str, Any], labels: dict[str, str], maquette: Decimal | None, vals: Sequence[int]
) -> ExecutionRow:
    return ExecutionRow(
        key=key,
        labels=labels,
        maquette=maquette,
        programmed=euros(vals[0]),
        committed=euros(vals[1]),
        paid=euros(vals[2]),
    )


def _check_keys(group_by: Sequence[str]) -> tuple[str, ...]:
    group = tuple(group_by)
    unknown = [k for k in group if k not in ALL_KEYS]
    if unknown:
        raise ExecutionQueryError(
            f"regroupement inconnu « {', '.join(unknown)} » (attendu : {', '.join(ALL_KEYS)})"
        )
    if len(set(group)) != len(group):
        raise ExecutionQueryError("un même regroupement est demandé deux fois")
    return group


# -- the public functions -----------------------------------------------------------------------


def execution(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    group_by: Sequence[str] = (),
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
) -> ExecutionResult:
    """Maquette, programmed, committed and paid at `as_of` (default today), by `group_by` keys
    among GROUP_KEYS, restricted by `filters` (same names; a value or a list of values:
    departement "59", epci SIREN, territory/marker/objective/partner codes, axis numbers, years,
    statuses, operation codes — or ids as int). With `contract=None`, the national
    consolidation of `contracts` (default: every contract), where "contract" (slugs) may also
    be grouped or filtered on."""
    group = _check_keys(group_by)
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    contract_list = _contracts(contract, contracts)
    ref = _ref(contract_list)
    f = _normalise(filters, ref)
    complete = _complete(f.contract_ids, as_of) if f.contract_ids else True

    amounts = _amounts(f, group, filters, as_of, complete)
    maquette_meaning = not any(k not in MAQUETTE_KEYS and k != "contract" for k in filters)
    rows_have_maquette = maquette_meaning and all(
        k in MAQUETTE_KEYS or k == "contract" for k in group
    )
    mq: dict[tuple, Decimal] = (
        _maquette(contract_list, as_of, group, filters, f) if rows_have_maquette and group else {}
    )

    keys = set(amounts) | set(mq)
    labels = _Labels(ref)
    labels.prepare(group, keys)
    label_maps = [{v: lo[0] for v, lo in labels.cache[k].items()} for k in group]
    order_maps = [
        {v: (1, "") if v is None else (0, lo[1]) for v, lo in labels.cache[k].items()}
        for k in group
    ]
    positions = range(len(group))
    zero = [0, 0, 0]
    ranked: list[tuple[tuple, ExecutionRow]] = []
    for key in keys:
        vals = amounts.get(key, zero)
        maquette = mq.get(key, Decimal("0.00")) if rows_have_maquette else None
        if not (vals[0] or vals[1] or vals[2] or maquette):
            continue
        row = ExecutionRow(
            key=dict(zip(group, key, strict=True)),
            labels={group[i]: label_maps[i][key[i]] for i in positions},
            maquette=maquette.quantize(CENT) if maquette is not None else None,
            programmed=euros(vals[0]),
            committed=euros(vals[1]),
            paid=euros(vals[2]),
        )
        ranked.append((tuple(order_maps[i][key[i]] for i in positions), row))
    ranked.sort(key=lambda item: item[0])
    rows = [row for _, row in ranked]

    # the total: the sum of the rows unless a line may sit in several rows
    if not group:
        total_vals = amounts.get((), [0, 0, 0])
    elif any(k in MULTI_VALUED for k in group):
        total_vals = _amounts(f, (), filters, as_of, complete).get((), [0, 0, 0])
    else:
        total_vals = [sum(v[i] for v in amounts.values()) for i in range(3)]
    total_maquette: Decimal | None = None
    if maquette_meaning:
        if rows_have_maquette and group:
            total_maquette = sum(mq.values(), Decimal("0.00"))
        else:
            total_maquette = sum(
                _maquette(contract_list, as_of, (), filters, f).values(), Decimal("0.00")
            )
        total_maquette = total_maquette.quantize(CENT)
    total = _row({}, {}, total_maquette, total_vals)
    return ExecutionResult(
        contract=contract,
        as_of=as_of,
        group_by=group,
        filters=filters,
        rows=rows,
        total=total,
        contracts=tuple(contract_list),
    )


def _period(contracts: Sequence[Contract]) -> tuple[dt.date, dt.date]:
    start = min(dt.date(c.start_year, 1, 1) for c in contracts)
    end = max(dt.date(c.end_year, 12, 31) for c in contracts)
    return start, end


def _elapsed(start: dt.date, end: dt.date, day: dt.date) -> Decimal:
    """Share (0–1) of the period elapsed at the end of `day`."""
    total = (end - start).days + 1
    done = (day - start).days + 1
    return Decimal(min(max(done, 0), total)) / Decimal(total)


def _reference(
    contract_list: list[Contract], as_of: dt.date, filters: dict[str, Any], f: _Filters, ref: _Ref
) -> tuple[str, Decimal]:
    """What the pace is measured against: the maquette in force, or the programmed amount
    when the filters have no maquette meaning (département, marker…)."""
    if all(k in MAQUETTE_KEYS or k == "contract" for k in filters):
        total = sum(_maquette(contract_list, as_of, (), filters, f).values(), Decimal("0.00"))
        return "maquette", total.quantize(CENT)
    complete = _complete(f.contract_ids, as_of) if f.contract_ids else True
    vals = _amounts(f, (), filters, as_of, complete).get((), [0, 0, 0])
    return "programmé", euros(vals[0])


def execution_series(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
) -> list[SeriesPoint]:
    """Monthly cumulative committed and paid amounts from the contract's first month (or the
    first movement, if earlier) to the month of `as_of`, with the straight-line pace target
    (0 at the contract's first day, 100 % of the maquette in force at its last day)."""
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    contract_list = _contracts(contract, contracts)
    if not contract_list:
        return []
    ref = _ref(contract_list)
    f = _normalise(filters, ref)
    complete = _complete(f.contract_ids, as_of) if f.contract_ids else True
    monthly = _amounts(f, ("_month",), filters, as_of, complete)
    start, end = _period(contract_list)
    _, reference = _reference(contract_list, as_of, filters, f, ref)
    first = min([start, *[k[0] for k in monthly]])
    month = dt.date(first.year, first.month, 1)
    last = dt.date(as_of.year, as_of.month, 1)
    points: list[SeriesPoint] = []
    committed = paid = 0
    before = {k[0]: v for k, v in monthly.items()}
    while month <= last:
        vals = before.get(month, [0, 0, 0])
        committed += vals[1]
        paid += vals[2]
        nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        day = min(nxt - dt.timedelta(days=1), as_of)
        target = (reference * _elapsed(start, end, day)).quantize(CENT, rounding=ROUND_HALF_UP)
        points.append(SeriesPoint(month, euros(committed), euros(paid), target))
        month = nxt
    return points


def pace(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
) -> dict[str, Any]:
    """Execution against a straight line from the contract's first day to 100 % of the
    maquette at its last day: the share of the period elapsed, the committed and paid shares of
    the reference (maquette in force; programmed amount under non-maquette filters), the target
    amount at `as_of` and the gaps (negative: behind the line)."""
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    contract_list = _contracts(contract, contracts)
    result = execution(contract=contract, as_of=as_of, filters=filters, contracts=contract_list)
    ref = _ref(contract_list)
    f = _normalise(filters, ref)
    basis, reference = _reference(contract_list, as_of, filters, f, ref)
    start, end = _period(contract_list)
    elapsed = _elapsed(start, end, as_of)
    target = (reference * elapsed).quantize(CENT, rounding=ROUND_HALF_UP)
    t = result.total
    elapsed_pct = (elapsed * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    committed_share = rate(t.committed, reference)
    paid_share = rate(t.paid, reference)
    return {
        "as_of": as_of,
        "start": start,
        "end": end,
        "elapsed": elapsed_pct,  # percent of the period
        "basis": basis,  # "maquette" | "programmé"
        "reference": reference,
        "programmed": t.programmed,
        "committed": t.committed,
        "paid": t.paid,
        "committed_share": committed_share,
        "paid_share": paid_share,
        "target": target,
        "committed_gap": t.committed - target,
        "paid_gap": t.paid - target,
        "committed_points": None if committed_share is None else committed_share - elapsed_pct,
        "paid_points": None if paid_share is None else paid_share - elapsed_pct,
    }


@dataclass(frozen=True)
class LineExecution:
    programmed: Decimal
    committed: Decimal
    paid: Decimal

    @property
    def remaining_to_pay(self) -> Decimal:
        return self.committed - self.paid

    @property
    def remaining_to_commit(self) -> Decimal:
        return self.programmed - self.committed


def line_execution(
    *, lines: Iterable[Any], as_of: dt.date | None = None
) -> dict[int, LineExecution]:
    """Programmed, committed and paid per financing line (objects or ids), at `as_of`
    (default: today) — for an operation's page; lines not contractualised included."""
    ids = sorted({x if isinstance(x, int) else x.pk for x in lines})
    as_of = as_of or timezone.localdate()
    out: dict[int, LineExecution] = {}
    if not ids:
        return out
    states = {
        pk: (prog, on, c, p)
        for pk, prog, on, c, p in LineState.objects.filter(pk__in=ids).values_list(
            "pk", "programmed", "programmed_on", "committed", "paid"
        )
    }
    late: dict[int, list[int]] = {}
    from cper.finance.summaries import cents, signed

    for line_id, kind, amount in Movement.objects.filter(
        financing_line_id__in=ids, date__gt=as_of
    ).values_list("financing_line_id", "kind", "amount"):
        c, p = signed(kind, cents(amount))
        acc = late.setdefault(line_id, [0, 0])
        acc[0] += c
        acc[1] += p
    for pk in ids:
        prog, on, c, p = states.get(pk, (0, None, 0, 0))
        lc, lp = late.get(pk, (0, 0))
        shown = prog if on is not None and on <= as_of else 0
        out[pk] = LineExecution(euros(shown), euros(c - lc), euros(p - lp))
    return out
