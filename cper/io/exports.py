"""Exports: operations (wide), financing lines (long), movements and aggregated execution, as
CSV, XLSX or ODS, each with a header block (contract, filters, date, generation time).

Registers are read through the operations selectors (visibility and filters are theirs);
every aggregated figure comes from `cper.finance.aggregation.execution`, asked for the user who
exports (the public's figures leave out unpublished operations) — this module never sums
money. The headers are the importers' own vocabulary (`cper.io.vocabulary`), so that an
export reads back: exporting then importing gives the same data (a text that a spreadsheet
would evaluate is made inert by the writers and read back as it was: `cper.io.formulas`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from cper.contracts.models import Contract, Partner
from cper.finance.aggregation import execution
from cper.finance.models import Movement
from cper.io import vocabulary as voc
from cper.io import writers
from cper.io.writers import BOOL, DATE, INTEGER, MONEY, PERCENT, TEXT, Col
from cper.operations.models import (
    Decision,
    DecisionOutcome,
    FinancerKind,
    FinancingLine,
    LineStatus,
    OperationCommune,
)
from cper.operations.selectors import apply_filters, operation_queryset

EXPORT_KINDS = ("operations", "lines", "movements", "execution")
KIND_TITLES = {
    "operations": "Opérations et plans de financement (une ligne par opération)",
    "lines": "Lignes de financement (une ligne par financeur)",
    "movements": "Engagements et paiements",
    "execution": "Exécution par rapport à la maquette",
}

L = voc.OPERATIONS.label
M = voc.MOVEMENTS.label


def parse_filters(text: str | None) -> dict[str, Any]:
    """`departement=59,objective=2.5` (or `k=v;k=v`; repeated keys make a list)."""
    out: dict[str, Any] = {}
    for part in (text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"filtre « {part} » : attendu clé=valeur")
        key, value = key.strip(), value.strip()
        if key in out:
            out[key] = [*(out[key] if isinstance(out[key], list) else [out[key]]), value]
        else:
            out[key] = value
    return out


def header_block(
    contract: Contract,
    *,
    what: str,
    filters: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    now = timezone.localtime()
    shown = ", ".join(
        f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in (filters or {}).items()
    )
    return [
        ("Contrat", f"{contract.title} ({contract.slug})"),
        ("Export", what),
        ("Filtres", shown or "aucun"),
        ("Situation au", (as_of or now.date()).strftime("%d/%m/%Y")),
        *extra,
        ("Généré le", now.strftime("%d/%m/%Y à %H:%M")),
    ]


def _operations(contract: Contract, user: Any, filters: Mapping[str, Any] | None) -> Any:
    qs = operation_queryset(contract=contract, user=user)
    if filters:
        qs = apply_filters(qs, filters)
    return qs.select_related("owner", "objective").order_by("code")


def _communes_by_operation(op_ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, list[str]] = defaultdict(list)
    for op_id, code in (
        OperationCommune.objects.filter(operation_id__in=list(op_ids))
        .order_by("operation_id", "position")
        .values_list("operation_id", "commune_id")
    ):
        out[op_id].append(code)
    return {k: " ".join(v) for k, v in out.items()}


def _committee_dates(op_ids: Iterable[int]) -> dict[int, dt.date]:
    out: dict[int, dt.date] = {}
    for op_id, date in (
        Decision.objects.filter(operation_id__in=list(op_ids), outcome=DecisionOutcome.APPROVED)
        .order_by("committee__date")
        .values_list("operation_id", "committee__date")
    ):
        out[op_id] = date  # the latest approval
    return out


OPERATION_COLUMNS = [
    Col(L("code"), TEXT, 14),
    Col(L("title"), TEXT, 48),
    Col(L("description"), TEXT, 30),
    Col(L("owner_name"), TEXT, 32),
    Col(L("owner_siret"), TEXT, 16),
    Col(L("owner_rna"), TEXT, 12),
    Col(L("owner_category"), TEXT, 18),
    Col(L("communes"), TEXT, 14),
    Col(L("objective"), TEXT, 10),
    Col(L("status"), TEXT, 14),
    Col(L("committee_date"), DATE),
    Col(L("start_date"), DATE),
    Col(L("end_date"), DATE),
    Col(L("cost_ht"), MONEY),
    Col(L("cost_ttc"), MONEY),
    Col(L("cost_base"), TEXT, 8),
]


def _operation_cells(op: Any, communes: dict[int, str], committees: dict[int, Any]) -> list[Any]:
    return [
        op.code,
        op.title,
        op.description,
        op.owner.name,
        op.owner.siret or "",
        op.owner.rna or "",
        op.owner.get_legal_category_display(),
        communes.get(op.pk, ""),
        op.objective.code,
        op.get_status_display(),
        committees.get(op.pk),
        op.start_date,
        op.end_date,
        op.cost_ht,
        op.cost_ttc,
        op.get_cost_base_display(),
    ]


@dataclass
class _RankedLine:
    line: Any
    financer: voc.Financer
    rank: int


def _ranked_lines(op_ids: list[int]) -> dict[int, list[_RankedLine]]:
    """Active lines per operation, each with its rank among the lines of the same financer."""

    out: dict[int, list[_RankedLine]] = defaultdict(list)
    counters: dict[tuple[int, Any], int] = defaultdict(int)
    lines = (
        FinancingLine.objects.filter(operation_id__in=op_ids, status=LineStatus.ACTIVE)
        .select_related("partner", "objective", "programme")
        .order_by("operation_id", "id")
    )
    for line in lines:
        financer = voc.Financer(line.financer_kind, line.partner_id, line.financer_label)
        counters[(line.operation_id, financer.key)] += 1
        out[line.operation_id].append(
            _RankedLine(line, financer, counters[(line.operation_id, financer.key)])
        )
    return out


def _chunks(items: list[Any], size: int = 2000) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def operations_sheet(
    contract: Contract, *, user: Any = None, filters: Mapping[str, Any] | None = None
) -> writers.Sheet:
    """One row per operation, one column per financer (`Part État`, `FEDER`…): the layout of
    the spreadsheets the prefectures keep. A financer with several lines on one operation gets
    `Part État (2)`… columns, so nothing is summed and nothing is lost."""

    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    ops = list(_operations(contract, user, filters))
    ids = [o.pk for o in ops]
    lines: dict[int, list[_RankedLine]] = {}
    communes: dict[int, str] = {}
    committees: dict[int, Any] = {}
    for chunk in _chunks(ids):
        lines.update(_ranked_lines(chunk))
        communes.update(_communes_by_operation(chunk))
        committees.update(_committee_dates(chunk))
    # The financer columns present, in a stable order: partners (contract order), EU funds,
    # other public money, the owner, private money.
    order = {"partner": 0, "eu_fund": 1, "other_public": 2, "owner": 3, "private": 4}
    position = {p.pk: (p.position, p.code) for p in directory.partners.values()}
    present: dict[tuple[Any, int], tuple[voc.Financer, int]] = {}
    for rl in (rl for op_lines in lines.values() for rl in op_lines):
        present.setdefault((rl.financer.key, rl.rank), (rl.financer, rl.rank))
    fin_cols = sorted(
        present.values(),
        key=lambda fr: (
            order[fr[0].kind],
            position.get(fr[0].partner_id or 0, (0, "")),
            fr[0].label,
            fr[1],
        ),
    )
    columns = [*OPERATION_COLUMNS, *(Col(directory.column(f, r), MONEY) for f, r in fin_cols)]
    index = {(f.key, r): i for i, (f, r) in enumerate(fin_cols)}

    def rows() -> Iterator[list[Any]]:
        for op in ops:
            amounts: list[Any] = [None] * len(fin_cols)
            for rl in lines.get(op.pk, []):
                amounts[index[(rl.financer.key, rl.rank)]] = rl.line.amount
            yield [*_operation_cells(op, communes, committees), *amounts]

    return writers.Sheet(
        name="Opérations",
        columns=columns,
        rows=list(rows()),
        meta=header_block(contract, what=KIND_TITLES["operations"], filters=filters),
    )


LINE_COLUMNS = [
    Col(L("financer_kind"), TEXT, 20),
    Col(L("financer"), TEXT, 24),
    Col(L("line_rank"), INTEGER),
    Col(L("amount"), MONEY),
    Col(L("line_objective"), TEXT, 10),
    Col(L("contractualised"), BOOL),
    Col(L("budget_nature"), TEXT, 10),
    Col(L("programme"), TEXT, 10),
    Col(L("year"), INTEGER),
    Col(L("line_ref"), TEXT, 16),
]


def lines_sheet(
    contract: Contract,
    *,
    user: Any = None,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> writers.Sheet:
    """One row per active financing line, with its operation's columns repeated (the long
    layout); an operation without lines still has its row."""

    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    kinds = dict(FinancerKind.choices)
    ops = list(_operations(contract, user, filters)[:limit])

    def rows() -> Iterator[list[Any]]:
        for chunk in _chunks(ops):
            ids = [o.pk for o in chunk]
            lines = _ranked_lines(ids)
            communes = _communes_by_operation(ids)
            committees = _committee_dates(ids)
            for op in chunk:
                base = _operation_cells(op, communes, committees)
                op_lines = lines.get(op.pk, [])
                if not op_lines:
                    yield [*base, *([None] * len(LINE_COLUMNS))]
                for rl in op_lines:
                    line = rl.line
                    name = directory.label(rl.financer) if line.partner_id else line.financer_label
                    yield [
                        *base,
                        kinds[line.financer_kind],
                        name,
                        rl.rank,
                        line.amount,
                        line.objective.code,
                        line.contractualised,
                        line.get_budget_nature_display(),
                        line.programme.code if line.programme else "",
                        line.year,
                        line.external_ref,
                    ]

    return writers.Sheet(
        name="Lignes de financement",
        columns=[*OPERATION_COLUMNS, *LINE_COLUMNS],
        rows=list(rows()),
        meta=header_block(contract, what=KIND_TITLES["lines"], filters=filters),
    )


MOVEMENT_COLUMNS = [
    Col(M("code"), TEXT, 14),
    Col(voc.MOVEMENTS.label("title"), TEXT, 40),
    Col(M("financer_kind"), TEXT, 20),
    Col(M("financer"), TEXT, 24),
    Col(M("line_rank"), INTEGER),
    Col(M("line_ref"), TEXT, 16),
    Col(M("kind"), TEXT, 22),
    Col(M("date"), DATE),
    Col(M("amount"), MONEY),
    Col(M("movement_ref"), TEXT, 18),
    Col(M("cancels_ref"), TEXT, 18),
    Col(M("note"), TEXT, 30),
]


def movements_sheet(
    contract: Contract,
    *,
    user: Any = None,
    filters: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    limit: int | None = None,
) -> writers.Sheet:
    """One row per movement (dated on or before `as_of`), in the importer's long layout (a
    cancellation names the reference of the movement it cancels); `limit`: of the first
    operations only."""

    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    kinds = dict(FinancerKind.choices)
    ops = list(_operations(contract, user, filters)[:limit])

    def rows() -> Iterator[list[Any]]:
        for chunk in _chunks(ops):
            ids = [o.pk for o in chunk]
            ranked = {rl.line.pk: rl for lines in _ranked_lines(ids).values() for rl in lines}
            movements = Movement.objects.filter(financing_line__operation_id__in=ids)
            if as_of:
                movements = movements.filter(date__lte=as_of)
            by_op = {o.pk: o for o in chunk}
            for m in movements.select_related("financing_line", "cancels").order_by(
                "financing_line__operation__code", "financing_line_id", "date", "id"
            ):
                line = m.financing_line
                rl = ranked.get(line.pk)
                op = by_op[line.operation_id]
                financer = voc.Financer(line.financer_kind, line.partner_id, line.financer_label)
                name = directory.label(financer) if line.partner_id else line.financer_label
                yield [
                    op.code,
                    op.title,
                    kinds[line.financer_kind],
                    name,
                    rl.rank if rl else None,
                    line.external_ref,
                    m.get_kind_display(),
                    m.date,
                    m.amount,
                    m.reference,
                    m.cancels.reference if m.cancels else None,
                    m.note,
                ]

    return writers.Sheet(
        name="Mouvements",
        columns=MOVEMENT_COLUMNS,
        rows=list(rows()),
        meta=header_block(contract, what=KIND_TITLES["movements"], filters=filters, as_of=as_of),
    )


def execution_sheet(
    contract: Contract,
    *,
    user: Any = None,
    as_of: dt.date | None = None,
    group_by: Iterable[str] = (),
    filters: Mapping[str, Any] | None = None,
) -> writers.Sheet:
    """The execution against the maquette, as the aggregation service computes it for `user`
    (the public's figures leave out the operations that are not published)."""

    group_by = tuple(group_by)
    result = execution(
        contract=contract,
        as_of=as_of,
        group_by=group_by,
        filters=dict(filters or {}),
        viewer=user,
    )
    dims = [_dimension_label(d) for d in group_by]
    columns = [
        *(Col(d, TEXT, 30) for d in dims),
        Col("Maquette", MONEY),
        Col("Programmé", MONEY),
        Col("Engagé", MONEY),
        Col("Payé", MONEY),
        Col("Taux de programmation (%)", PERCENT),
        Col("Taux d'engagement (%)", PERCENT),
        Col("Taux de paiement (%)", PERCENT),
    ]

    def figures(row: Any) -> list[Any]:
        return [
            row.maquette,
            row.programmed,
            row.committed,
            row.paid,
            _attr(row, "programming_rate", "programmed_rate"),
            _attr(row, "commitment_rate", "committed_rate"),
            _attr(row, "payment_rate", "paid_rate"),
        ]

    rows = [[*_labels(row, len(dims)), *figures(row)] for row in result.rows]
    if result.total is not None:
        rows.append(["Total", *([""] * max(0, len(dims) - 1)), *figures(result.total)])
    return writers.Sheet(
        name="Exécution",
        columns=columns,
        rows=rows,
        meta=header_block(
            contract,
            what=KIND_TITLES["execution"],
            filters=filters,
            as_of=as_of,
            extra=[
                ("Regroupement", ", ".join(dims) or "ensemble du contrat"),
                *(
                    [("Périmètre", "opérations publiées seulement")]
                    if result.published_only
                    else []
                ),
            ],
        ),
    )


DIMENSION_LABELS = {
    "axis": "Axe",
    "objective": "Objectif",
    "partner": "Partenaire",
    "departement": "Département",
    "epci": "EPCI",
    "territory": "Territoire",
    "marker": "Marqueur",
    "year": "Année",
    "operation": "Opération",
    "programme": "Programme LOLF",
}


def _dimension_label(name: str) -> str:
    return DIMENSION_LABELS.get(name, name)


def _attr(row: Any, *names: str) -> Any:
    for name in names:
        if hasattr(row, name):
            return getattr(row, name)
    rates = getattr(row, "rates", None)
    if isinstance(rates, Mapping):
        for name in names:
            if name in rates:
                return rates[name]
    return None


def _labels(row: Any, n: int) -> list[Any]:
    labels = getattr(row, "labels", None)
    if isinstance(labels, Mapping):
        values = list(labels.values())
    elif isinstance(labels, list | tuple):
        values = list(labels)
    else:
        key = getattr(row, "key", ())
        values = list(key) if isinstance(key, list | tuple) else [key]
    values = [str(v) if v is not None else "" for v in values]
    return (values + [""] * n)[:n]


def build(
    kind: str,
    contract: Contract,
    *,
    user: Any = None,
    filters: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    group_by: Iterable[str] = (),
) -> list[writers.Sheet]:
    if kind == "operations":
        return [operations_sheet(contract, user=user, filters=filters)]
    if kind == "lines":
        return [lines_sheet(contract, user=user, filters=filters)]
    if kind == "movements":
        return [movements_sheet(contract, user=user, filters=filters, as_of=as_of)]
    if kind == "execution":
        return [
            execution_sheet(contract, user=user, as_of=as_of, group_by=group_by, filters=filters)
        ]
    raise ValueError(f"export inconnu « {kind} » ({', '.join(EXPORT_KINDS)})")


def file_name(kind: str, contract: Contract, fmt: str, as_of: dt.date | None = None) -> str:
    stamp = (as_of or timezone.localdate()).isoformat()
    return f"{contract.slug}-{kind}-{stamp}.{fmt}"
