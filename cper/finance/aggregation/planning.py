"""Planning an execution query: the contracts' reference data, the filters normalised, which
summaries answer (cells or line states), and the SQL helpers that build and run the query (the
dialect's differences: `cper.finance.dialect`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from cper.contracts.models import BudgetProgramme, Contract, Objective, Partner
from cper.finance.dialect import sql_dialect
from cper.finance.models import ExecutionCell, LineTag
from cper.finance.summaries import (
    BASE,
)
from cper.operations.models import FinancingLine, Operation

from .types import _CELL_DIMS, _LEDGER_ONLY, _LINE_KEYS, ALL_KEYS, MULTI_VALUED, ExecutionQueryError

# -- reference data ------------------------------------------------------------------------------


@dataclass
class _Ref:
    contracts: list[Contract]
    partner: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # code, label, pos
    objective: dict[int, tuple[str, str, int, str, int]] = field(default_factory=dict)
    # objective: code, label, axis number, axis label, position
    slug: dict[int, str] = field(default_factory=dict)
    # issue 12: objective id → its axis's volet (code, title, position, first year, last
    # year, contract id); an axis without a volet: ("", "", 0, None, None, contract id)
    volet: dict[int, tuple[str, str, int, int | None, int | None, int]] = field(
        default_factory=dict
    )

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
    for (
        pk,
        code,
        title,
        number,
        axis_title,
        pos,
        v_code,
        v_title,
        v_pos,
        v_start,
        v_end,
        cid,
    ) in Objective.objects.filter(contract_id__in=ids).values_list(
        "pk",
        "code",
        "title",
        "axis__number",
        "axis__title",
        "position",
        "axis__volet__code",  # issue 12 (volets), same query
        "axis__volet__title",
        "axis__volet__position",
        "axis__volet__start_year",
        "axis__volet__end_year",
        "contract_id",
    ):
        ref.objective[pk] = (code, f"{code} {title}", number, f"Axe {number} — {axis_title}", pos)
        ref.volet[pk] = (v_code or "", v_title or "", v_pos or 0, v_start, v_end, cid)
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
    # programme / bop / budget_nature → values of the line's own column (None: no value)
    line_values: dict[str, set[str | None]] = field(default_factory=dict)
    located: str = ""  # only lines with a value of this column (departement, epci)
    # The viewer may not see unpublished operations: they are left out (see `visibility`).
    hidden: bool = False
    # Only the lines of unpublished operations: the part that `hidden` takes away.
    unpublished: bool = False

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
            *self.line_values.values(),
        ]
        return not self.contract_ids or any(s is not None and not s for s in sets)


def _normalise(filters: dict[str, Any], ref: _Ref, *, hidden: bool = False) -> _Filters:
    """The filters as ids and codes; with `hidden`, for a viewer who may not see unpublished
    operations (the operation filter then resolves published operations only)."""
    for k in filters:
        if k not in ALL_KEYS:
            raise ExecutionQueryError(f"filtre inconnu « {k} » (attendu : {', '.join(ALL_KEYS)})")
    f = _Filters(contract_ids=ref.ids, hidden=hidden)
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
    if "volet" in filters:  # issue 12: the objectives of the volets' axes
        codes = {str(v) for v in _values(filters["volet"])}
        chosen = {pk for pk, v in ref.volet.items() if v[0] in codes}
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
    for k in sorted(_LINE_KEYS):
        if k in filters:
            f.line_values[k] = {_line_value(k, v) for v in _values(filters[k])}
    if "operation" in filters:
        values = _values(filters["operation"])
        ids = {int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)}
        op_codes = [str(v) for v in values if not isinstance(v, int)]
        ops = Operation.objects.filter(contract_id__in=ref.ids)
        if hidden:
            # Ids as well as codes: an unpublished operation is not found, whatever names it.
            ids = set(
                ops.filter(published=True)
                .filter(Q(pk__in=ids) | Q(code__in=op_codes))
                .values_list("pk", flat=True)
            )
        elif op_codes:
            ids |= set(ops.filter(code__in=op_codes).values_list("pk", flat=True))
        f.operation_ids = ids
    return f


def _line_value(key: str, value: Any) -> str | None:
    """A programme, BOP or budget nature as the line stores it; "" or None: lines without."""
    if value is None or str(value).strip() in ("", "none"):
        return None
    text = str(value).strip()
    return text.upper() if key == "programme" else text


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
    return sql_dialect()


def _in(column: str, values: Iterable[Any], params: list[Any]) -> str:
    vals = sorted(values, key=str)
    if not vals:
        return "1 = 0"
    params.extend(vals)
    return f"{column} IN ({', '.join(['%s'] * len(vals))})"


def _tables() -> dict[str, str]:

    return {
        "objective": Objective._meta.db_table,
        "axis": "contracts_axis",
        "partner": Partner._meta.db_table,
        "contract": Contract._meta.db_table,
        "operation": Operation._meta.db_table,
        "line": FinancingLine._meta.db_table,
        "programme": BudgetProgramme._meta.db_table,
    }


def _key_sql(
    group_by: Sequence[str],
    alias: str,
    *,
    day: str,
    cells: bool,
    joined: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """(SELECT expressions of the keys, in order; JOIN clauses) so that each row
    carries the keys' codes: axis number, objective and partner codes, contract slug…
    `joined`: the multi-valued keys (marker, territory) read through a join to the line's tags
    (`tg_<key>`, one row per line and value; the caller restricts their kind and values)."""
    t, d = _tables(), _d()
    exprs: list[str] = []
    joins: dict[str, str] = {}

    def join(name: str) -> None:
        if name in ("objective", "axis", "volet"):
            joins.setdefault(
                "objective", f"JOIN {t['objective']} ob ON ob.id = {alias}.objective_id"
            )
        if name in ("axis", "volet"):
            joins.setdefault("axis", f"JOIN {t['axis']} ax ON ax.id = ob.axis_id")
        if name == "volet":  # issue 12
            joins.setdefault("volet", "LEFT JOIN contracts_volet vo ON vo.id = ax.volet_id")
        if name == "partner":
            joins.setdefault("partner", f"JOIN {t['partner']} pa ON pa.id = {alias}.partner_id")
        if name == "contract":
            joins.setdefault("contract", f"JOIN {t['contract']} co ON co.id = {alias}.contract_id")
        if name == "operation":
            joins.setdefault(
                "operation", f"JOIN {t['operation']} op ON op.id = {alias}.operation_id"
            )
        if name in _LINE_KEYS:  # the line states' primary key is the line's
            joins.setdefault("line", f"JOIN {t['line']} fl ON fl.id = {alias}.line_id")
        if name == "programme":
            joins.setdefault(
                "programme", f"LEFT JOIN {t['programme']} bp ON bp.id = fl.programme_id"
            )

    for k in group_by:
        if k in joined and not cells:
            joins.setdefault(
                f"tag-{k}",
                f"JOIN {LineTag._meta.db_table} tg_{k} ON tg_{k}.state_id = {alias}.line_id",
            )
            exprs.append(f"tg_{k}.value")
            continue
        if k == "axis":
            join("axis")
            exprs.append("ax.number")
        elif k == "volet":  # issue 12
            join("volet")
            exprs.append("vo.code")
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
        elif k == "programme":
            join("programme")
            exprs.append("bp.code")
        elif k in ("bop", "budget_nature"):
            join(k)
            exprs.append(f"fl.{k}")
        elif cells:  # departement, marker, territory: the cell's value
            exprs.append(f"{alias}.value")
        elif k == "operation":
            join("operation")
            exprs.append("op.code")
        else:  # departement, epci, status
            exprs.append(f"{alias}.{k}")
    return exprs, list(joins.values())


def _assemble(group_by: Sequence[str], values: Sequence[Any]) -> tuple:
    out = []
    for k, v in zip(group_by, values, strict=True):
        if k in ("departement", "epci", "marker", "territory", "bop") and v == "":
            v = None
        elif k == "_month" or (k == "year" and v is not None):
            v = _as_date(v) if k == "_month" else int(v)
        out.append(v)
    return tuple(out)


def _run(
    sql: str,
    params: list[Any],
    group_by: Sequence[str],
    acc: Acc,
    *,
    small: bool = False,
) -> None:
    n = len(group_by)
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
    simple = all(
        k in ("axis", "objective", "partner", "contract", "status", "operation", "volet")
        for k in group_by
    )
    for row in rows:
        key = tuple(row[:n]) if simple else _assemble(group_by, row[:n])
        _add(acc, key, row[n], row[n + 1], row[n + 2])


def _select(exprs: list[str], sums: str, source: str, joins: list[str], where: str = "") -> str:
    select = ", ".join([*exprs, sums])
    group = f" GROUP BY {', '.join(exprs)}" if exprs else ""
    return f"SELECT {select} FROM {source} {' '.join(joins)}{where}{group}"


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        value = dt.date.fromisoformat(str(value)[:10])
    return value
