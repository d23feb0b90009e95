"""Exports: operations (wide), financing lines (long), movements and aggregated execution, as
CSV, XLSX or ODS, each with a header block (contract, filters, date, generation time).

Registers are read through the operations selectors (visibility and filters are theirs);
every aggregated figure comes from `cper.finance.aggregation.execution`, asked for the user who
exports (the public's figures leave out unpublished operations) — this module never sums
money. The headers are the importers' own vocabulary (`cper.io.vocabulary`), so that an
export reads back: exporting then importing gives the same data (a text that a spreadsheet
would evaluate is made inert by the writers and read back as it was: `cper.formulas`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
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
    Operation,
    OperationCommune,
    PartnerDecision,
    ProjectOwner,
)
from cper.operations.rules import LINE_CATEGORY_LABELS, line_category
from cper.operations.selectors import apply_filters, operation_queryset

EXPORT_KINDS = ("operations", "lines", "movements", "execution")
# The registers: their rows grow with the contract (streamed in CSV, built by a background job
# in XLSX and ODS); the execution is an aggregate, a few rows.
REGISTER_KINDS = ("operations", "lines", "movements")
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


# Rows are read by chunks of operations: memory is bounded by a chunk (its operations, lines,
# communes, committee dates and movements), never by the register (issue 14: the export of
# 100,000 operations used to build 1.9 M model objects before writing its first byte).
CHUNK = 2000


@dataclass(frozen=True)
class _Op:
    """The columns of an operation that the exports write, read by `values_list`."""

    pk: int
    code: str
    title: str
    description: str
    owner_name: str
    owner_siret: str | None
    owner_rna: str | None
    owner_category: str
    objective_code: str
    status: str
    start_date: dt.date | None
    end_date: dt.date | None
    cost_ht: Any
    cost_ttc: Any
    cost_base: str


_OP_FIELDS = (
    "pk",
    "code",
    "title",
    "description",
    "owner__name",
    "owner__siret",
    "owner__rna",
    "owner__legal_category",
    "objective__code",
    "status",
    "start_date",
    "end_date",
    "cost_ht",
    "cost_ttc",
    "cost_base",
)


def _displays(model: Any, name: str) -> dict[Any, str]:
    """The labels of a field's choices: what `get_<name>_display()` shows."""
    return {k: str(v) for k, v in model._meta.get_field(name).flatchoices}


def _operation_chunks(operations: Any, limit: int | None = None) -> Iterator[list[_Op]]:
    """The operations of `operations` (a queryset, in its order), by chunks of `CHUNK`, read
    through one cursor (server-side on PostgreSQL) as tuples, never as model objects."""
    rows = operations.values_list(*_OP_FIELDS)
    if limit is not None:
        rows = rows[:limit]
    categories = _displays(ProjectOwner, "legal_category")
    statuses = _displays(Operation, "status")
    bases = _displays(Operation, "cost_base")
    cursor = rows.iterator(chunk_size=CHUNK)
    while chunk := list(islice(cursor, CHUNK)):
        yield [
            _Op(
                pk=r[0],
                code=r[1],
                title=r[2],
                description=r[3],
                owner_name=r[4],
                owner_siret=r[5],
                owner_rna=r[6],
                owner_category=categories.get(r[7], r[7]),
                objective_code=r[8],
                status=statuses.get(r[9], r[9]),
                start_date=r[10],
                end_date=r[11],
                cost_ht=r[12],
                cost_ttc=r[13],
                cost_base=bases.get(r[14], r[14]),
            )
            for r in chunk
        ]


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


def _operation_cells(op: _Op, communes: dict[int, str], committees: dict[int, Any]) -> list[Any]:
    return [
        op.code,
        op.title,
        op.description,
        op.owner_name,
        op.owner_siret or "",
        op.owner_rna or "",
        op.owner_category,
        communes.get(op.pk, ""),
        op.objective_code,
        op.status,
        committees.get(op.pk),
        op.start_date,
        op.end_date,
        op.cost_ht,
        op.cost_ttc,
        op.cost_base,
    ]


@dataclass(frozen=True)
class _Line:
    """The columns of an active financing line that the exports write, read by
    `values_list` (a model object per line cost more than the rest of the export)."""

    pk: int
    operation_id: int
    financer_kind: str
    partner_id: int | None
    financer_label: str
    amount: Any
    objective_code: str
    contractualised: bool
    budget_nature: str  # its label, as `get_budget_nature_display()`
    programme_code: str | None
    bop: str | None
    activity: str | None
    year: int | None
    external_ref: str


_LINE_FIELDS = (
    "pk",
    "operation_id",
    "financer_kind",
    "partner_id",
    "financer_label",
    "amount",
    "objective__code",
    "contractualised",
    "budget_nature",
    "programme__code",
    "bop",
    "activity",
    "year",
    "external_ref",
)


@dataclass
class _RankedLine:
    line: _Line
    financer: voc.Financer
    rank: int


def _ranked_lines(op_ids: list[int]) -> dict[int, list[_RankedLine]]:
    """Active lines per operation, each with its rank among the lines of the same financer."""

    out: dict[int, list[_RankedLine]] = defaultdict(list)
    counters: dict[tuple[int, Any], int] = defaultdict(int)
    natures = _displays(FinancingLine, "budget_nature")
    lines = (
        FinancingLine.objects.filter(operation_id__in=op_ids, status=LineStatus.ACTIVE)
        .order_by("operation_id", "id")
        .values_list(*_LINE_FIELDS)
    )
    for row in lines:  # positions of `_LINE_FIELDS`
        line = _Line(
            pk=row[0],
            operation_id=row[1],
            financer_kind=row[2],
            partner_id=row[3],
            financer_label=row[4],
            amount=row[5],
            objective_code=row[6],
            contractualised=row[7],
            budget_nature=natures.get(row[8], row[8]),
            programme_code=row[9],
            bop=row[10],
            activity=row[11],
            year=row[12],
            external_ref=row[13],
        )
        financer = voc.Financer(line.financer_kind, line.partner_id, line.financer_label)
        counters[(line.operation_id, financer.key)] += 1
        out[line.operation_id].append(
            _RankedLine(line, financer, counters[(line.operation_id, financer.key)])
        )
    return out


def _financer_columns(operations: Any) -> list[tuple[voc.Financer, int]]:
    """The financer columns of the wide layout, known before the first row is written: one
    pass over the active lines' financers (tuples, through one cursor), ranking each line among
    the lines of the same financer on its operation, as `_ranked_lines` does. In a stable
    order: partners (contract order), EU funds, other public money, the owner, private money."""
    present: dict[tuple[Any, int], tuple[voc.Financer, int]] = {}
    current, counters = None, defaultdict(int)  # type: ignore[var-annotated]
    lines = (
        FinancingLine.objects.filter(
            operation__in=operations.values("pk"), status=LineStatus.ACTIVE
        )
        .order_by("operation_id", "id")
        .values_list("operation_id", "financer_kind", "partner_id", "financer_label")
    )
    # `Financer.key`, computed here without building a Financer per line (hundreds of
    # thousands before the first byte of the file): a financer is built once per new column.
    folded: dict[str, str] = {}
    for op_id, kind, partner_id, label in lines.iterator(chunk_size=CHUNK * 5):
        if op_id != current:
            current, counters = op_id, defaultdict(int)
        if partner_id or kind == "owner":
            key: tuple[str, int | None, str] = (kind, partner_id, "")
        else:
            text = folded.get(label)
            if text is None:
                text = folded[label] = voc.normalize(label)
            key = (kind, None, text)
        counters[key] += 1
        rank = counters[key]
        if (key, rank) not in present:
            financer = voc.Financer(kind, partner_id, label)
            present[(financer.key, rank)] = (financer, rank)
    return list(present.values())


def _chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def operations_sheet(
    contract: Contract, *, user: Any = None, filters: Mapping[str, Any] | None = None
) -> writers.Sheet:
    """One row per operation, one column per financer (`Part État`, `FEDER`…): the layout of
    the spreadsheets the prefectures keep. A financer with several lines on one operation gets
    `Part État (2)`… columns, so nothing is summed and nothing is lost.

    The financer columns are found first (one pass over the lines' financers); the rows are
    then produced lazily, by chunks of operations, as the writer asks for them."""

    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    operations = _operations(contract, user, filters)
    order = {"partner": 0, "eu_fund": 1, "other_public": 2, "owner": 3, "private": 4}
    position = {p.pk: (p.position, p.code) for p in directory.partners.values()}
    fin_cols = sorted(
        _financer_columns(operations),
        key=lambda fr: (
            order.get(fr[0].kind, len(order)),
            position.get(fr[0].partner_id or 0, (0, "")),
            fr[0].label,
            fr[1],
        ),
    )
    columns = [*OPERATION_COLUMNS, *(Col(directory.column(f, r), MONEY) for f, r in fin_cols)]
    index = {(f.key, r): i for i, (f, r) in enumerate(fin_cols)}

    def rows() -> Iterator[list[Any]]:
        for chunk in _operation_chunks(operations):
            ids = [o.pk for o in chunk]
            lines = _ranked_lines(ids)
            communes = _communes_by_operation(ids)
            committees = _committee_dates(ids)
            for op in chunk:
                amounts: list[Any] = [None] * len(fin_cols)
                for rl in lines.get(op.pk, []):
                    amounts[index[(rl.financer.key, rl.rank)]] = rl.line.amount
                yield [*_operation_cells(op, communes, committees), *amounts]

    return writers.Sheet(
        name="Opérations",
        columns=columns,
        rows=writers.Rows(rows),
        meta=header_block(contract, what=KIND_TITLES["operations"], filters=filters),
    )


LINE_COLUMNS = [
    Col(L("financer_kind"), TEXT, 20),
    Col(L("financer"), TEXT, 24),
    Col(L("line_rank"), INTEGER),
    Col(L("amount"), MONEY),
    Col(L("line_objective"), TEXT, 10),
    Col(L("contractualised"), BOOL),
    Col(L("line_category"), TEXT, 16),
    Col(L("budget_nature"), TEXT, 10),
    Col(L("programme"), TEXT, 10),
    Col(L("bop"), TEXT, 14),
    Col(L("activity"), TEXT, 14),
    Col(L("year"), INTEGER),
    Col(L("line_ref"), TEXT, 16),
    # The partner's decision in force on the line (issue 12), read back by the lines import.
    Col(L("decision_kind"), TEXT, 22),
    Col(L("decision_body"), TEXT, 22),
    Col(L("decision_date"), DATE),
    Col(L("decision_ref"), TEXT, 16),
    Col(L("decision_amount"), MONEY),
    Col(L("decision_outcome"), TEXT, 10),
]

_DECISION_FIELDS = ("financing_line_id", "kind", "body", "date", "reference", "amount", "outcome")


def _decisions_in_force(op_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """The partner's decision in force per line of these operations (the latest in date, then
    in recording order), as (kind label, body, date, reference, amount, outcome label): one
    query per chunk of operations."""
    kinds = _displays(PartnerDecision, "kind")
    outcomes = _displays(PartnerDecision, "outcome")
    out: dict[int, tuple[Any, ...]] = {}
    for line_id, kind, body, date, reference, amount, outcome in (
        PartnerDecision.objects.filter(financing_line__operation_id__in=op_ids)
        .order_by("financing_line_id", "date", "id")
        .values_list(*_DECISION_FIELDS)
    ):
        # Ordered by date: the last one read is in force.
        out[line_id] = (
            kinds.get(kind, kind),
            body,
            date,
            reference,
            amount,
            outcomes.get(outcome, outcome),
        )
    return out


_NO_DECISION: tuple[Any, ...] = ("", "", None, "", None, "")


def lines_sheet(
    contract: Contract,
    *,
    user: Any = None,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> writers.Sheet:
    """One row per active financing line, with its operation's columns repeated (the long
    layout); an operation without lines still has its row. Rows are produced lazily, by
    chunks of operations."""

    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    kinds = dict(FinancerKind.choices)
    operations = _operations(contract, user, filters)

    def rows() -> Iterator[list[Any]]:
        for chunk in _operation_chunks(operations, limit):
            ids = [o.pk for o in chunk]
            lines = _ranked_lines(ids)
            communes = _communes_by_operation(ids)
            committees = _committee_dates(ids)
            decisions = _decisions_in_force(ids)
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
                        line.objective_code,
                        line.contractualised,
                        LINE_CATEGORY_LABELS[line_category(line)],
                        line.budget_nature,
                        line.programme_code or "",
                        line.bop or "",
                        line.activity or "",
                        line.year,
                        line.external_ref,
                        *decisions.get(line.pk, _NO_DECISION),
                    ]

    return writers.Sheet(
        name="Lignes de financement",
        columns=[*OPERATION_COLUMNS, *LINE_COLUMNS],
        rows=writers.Rows(rows),
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

_MOVEMENT_FIELDS = (
    "financing_line_id",
    "financing_line__operation_id",
    "financing_line__financer_kind",
    "financing_line__partner_id",
    "financing_line__financer_label",
    "financing_line__external_ref",
    "kind",
    "date",
    "amount",
    "reference",
    "cancels__reference",
    "note",
)


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
    operations only. Rows are produced lazily, by chunks of operations, the movements of a
    chunk read as tuples through one cursor."""

    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    kinds = dict(FinancerKind.choices)
    movement_kinds = _displays(Movement, "kind")
    operations = _operations(contract, user, filters)

    def rows() -> Iterator[list[Any]]:
        for chunk in _operation_chunks(operations, limit):
            ids = [o.pk for o in chunk]
            ranked = {rl.line.pk: rl for lines in _ranked_lines(ids).values() for rl in lines}
            movements = Movement.objects.filter(financing_line__operation_id__in=ids)
            if as_of:
                movements = movements.filter(date__lte=as_of)
            by_op = {o.pk: o for o in chunk}
            ordered = movements.order_by(
                "financing_line__operation__code", "financing_line_id", "date", "id"
            ).values_list(*_MOVEMENT_FIELDS)
            for (
                line_id,
                op_id,
                financer_kind,
                partner_id,
                financer_label,
                line_ref,
                kind,
                date,
                amount,
                reference,
                cancels_ref,
                note,
            ) in ordered.iterator(chunk_size=CHUNK * 5):
                rl = ranked.get(line_id)
                op = by_op[op_id]
                financer = voc.Financer(financer_kind, partner_id, financer_label)
                name = directory.label(financer) if partner_id else financer_label
                yield [
                    op.code,
                    op.title,
                    kinds[financer_kind],
                    name,
                    rl.rank if rl else None,
                    line_ref,
                    movement_kinds.get(kind, kind),
                    date,
                    amount,
                    reference,
                    cancels_ref,
                    note,
                ]

    return writers.Sheet(
        name="Mouvements",
        columns=MOVEMENT_COLUMNS,
        rows=writers.Rows(rows),
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


def row_estimate(
    kind: str,
    contract: Contract,
    *,
    user: Any = None,
    filters: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
) -> int:
    """About how many rows an export of a register will have (one count): the pages prepare
    an export over `CPER_EXPORT_SYNC_ROWS` rows in the background rather than while the
    visitor waits. The execution is an aggregate: 0."""
    if kind not in REGISTER_KINDS:
        return 0
    operations = _operations(contract, user, filters).values("pk")
    if kind == "operations":
        return int(operations.count())
    if kind == "lines":
        return int(
            FinancingLine.objects.filter(operation__in=operations, status=LineStatus.ACTIVE).count()
        )
    movements = Movement.objects.filter(financing_line__operation__in=operations)
    if as_of:
        movements = movements.filter(date__lte=as_of)
    return int(movements.count())


def file_name(kind: str, contract: Contract, fmt: str, as_of: dt.date | None = None) -> str:
    stamp = (as_of or timezone.localdate()).isoformat()
    return f"{contract.slug}-{kind}-{stamp}.{fmt}"
