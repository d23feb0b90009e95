"""The registers' CSV exports stream (issue 14): the page's response is a streaming one whose
first bytes (header block and column labels) leave before the operations are read, rows are
read by chunks of operations as tuples, and the bytes are those of the former construction —
every operation, line and movement built as model objects in memory, then written — to the
byte, on a register of 5,000 rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cper.accounts.models import Role
from cper.contracts.models import Objective, Partner
from cper.finance.models import Movement, MovementKind
from cper.io import exports, writers
from cper.io import vocabulary as voc
from cper.io.writers import MONEY, Col
from cper.operations.models import (
    FinancerKind,
    FinancingLine,
    LegalCategory,
    LineStatus,
    Operation,
    OperationCommune,
    PartnerDecision,
    ProjectOwner,
)
from cper.operations.rules import LINE_CATEGORY_LABELS, line_category
from tests.api.conftest import make_user

# --- a register of 1,250 operations, 5,000 active lines, 5,000 movements ---------------------

OPERATIONS = 1250


@pytest.fixture
def register(hdf):
    """Built with the ORM in a few bulk inserts (set-up only: the exports read, never write).
    Each operation has four active lines (State, Region, Nord, FEDER by label) and a cancelled
    one that no export shows; each line one commitment, with cents and a planted formula."""
    objective = Objective.objects.get(contract=hdf, code="2.2")
    partners = {p.code: p for p in Partner.objects.filter(contract=hdf)}
    owners = ProjectOwner.objects.bulk_create(
        ProjectOwner(
            name=f"Commune n°{i}",
            siret=f"{21590000000000 + i}",
            legal_category=LegalCategory.COMMUNE if i % 2 else LegalCategory.ASSOCIATION,
        )
        for i in range(50)
    )
    ops = Operation.objects.bulk_create(
        Operation(
            contract=hdf,
            code=f"S-{(i * 7919) % OPERATIONS:05d}",  # codes not in the order of the ids
            title=f'=HYPERLINK("x") opération {i}' if i == 3 else f"Opération n°{i}",
            description="",
            owner=owners[i % 50],
            objective=objective,
            status="programmed" if i % 3 else "in_progress",
            cost_ht=Decimal(1_000_000 + i) + Decimal("0.07"),
            published=bool(i % 4),
        )
        for i in range(OPERATIONS)
    )
    OperationCommune.objects.bulk_create(
        OperationCommune(operation=op, commune_id="59350", position=0) for op in ops
    )
    lines = []
    for i, op in enumerate(ops):
        for j, code in enumerate(("etat", "region", "dep-59")):
            lines.append(
                FinancingLine(
                    operation=op,
                    partner=partners[code],
                    financer_kind=FinancerKind.PARTNER,
                    objective=objective,
                    amount=Decimal(10_000 * (j + 1) + i) + Decimal("0.01") * (i % 100),
                    contractualised=True,
                    external_ref=f"L-{i}-{j}",
                )
            )
        lines.append(
            FinancingLine(
                operation=op,
                financer_kind=FinancerKind.EU_FUND,
                financer_label="FEDER",
                objective=objective,
                amount=Decimal("5000.50"),
                contractualised=False,
            )
        )
        lines.append(
            FinancingLine(
                operation=op,
                partner=partners["etat"],
                financer_kind=FinancerKind.PARTNER,
                objective=objective,
                amount=Decimal("1.00"),
                status=LineStatus.CANCELLED,
            )
        )
    FinancingLine.objects.bulk_create(lines)
    active = [ln for ln in lines if ln.status == LineStatus.ACTIVE]
    Movement.objects.bulk_create(
        Movement(
            financing_line=ln,
            kind=MovementKind.COMMITMENT,
            date=dt.date(2023, 1, 1) + dt.timedelta(days=k % 300),
            amount=ln.amount,
            reference=f"=1+{k}" if k == 7 else f"{2_000_000_000 + k}",
        )
        for k, ln in enumerate(active)
    )
    # Partners' decisions on some lines; on the first, an amending one (the later is in force).
    decided = [ln for ln in active if ln.partner_id][::9]
    PartnerDecision.objects.bulk_create(
        [
            *(
                PartnerDecision(
                    financing_line=ln,
                    partner_id=ln.partner_id,
                    kind="arrete_attributif" if k % 2 else "deliberation_cp",
                    body="Commission permanente",
                    date=dt.date(2022, 6, 1) + dt.timedelta(days=k % 200),
                    reference=f"DEC-{k}",
                    amount=ln.amount,
                )
                for k, ln in enumerate(decided)
            ),
            PartnerDecision(
                financing_line=decided[0],
                partner_id=decided[0].partner_id,
                kind="convention",
                date=dt.date(2022, 12, 1),
                reference="DEC-0-M1",
                amount=Decimal("10.00"),
            ),
        ]
    )
    return hdf


# --- the reference: the former construction, all in memory, by model objects -------------------


def _reference_cells(op: Operation, communes: dict[int, str]) -> list[Any]:
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
        None,  # no committee in this register
        op.start_date,
        op.end_date,
        op.cost_ht,
        op.cost_ttc,
        op.get_cost_base_display(),
    ]


def _reference(contract: Any, kind: str, user: Any) -> bytes:
    directory = voc.FinancerDirectory(list(Partner.objects.filter(contract=contract)))
    ops = list(
        exports.operation_queryset(contract=contract, user=user)
        .select_related("owner", "objective")
        .order_by("code")
    )
    communes = {o: c for o, c in OperationCommune.objects.values_list("operation_id", "commune_id")}
    ranked: dict[int, list[tuple[Any, voc.Financer, int]]] = defaultdict(list)
    counters: dict[Any, int] = defaultdict(int)
    for line in (
        FinancingLine.objects.filter(status=LineStatus.ACTIVE)
        .select_related("partner", "objective", "programme")
        .order_by("operation_id", "id")
    ):
        financer = voc.Financer(line.financer_kind, line.partner_id, line.financer_label)
        counters[(line.operation_id, financer.key)] += 1
        ranked[line.operation_id].append(
            (line, financer, counters[(line.operation_id, financer.key)])
        )
    meta = exports.header_block(contract, what=exports.KIND_TITLES[kind])
    if kind == "operations":
        fin_cols: list[tuple[voc.Financer, int]] = []
        for op in ops:
            for _, financer, rank in ranked[op.pk]:
                if (financer.key, rank) not in [(f.key, r) for f, r in fin_cols]:
                    fin_cols.append((financer, rank))
        # the order the export promises: partners by position, then EU funds
        position = {p.pk: (p.position, p.code) for p in directory.partners.values()}
        order = {"partner": 0, "eu_fund": 1}
        fin_cols.sort(
            key=lambda fr: (order[fr[0].kind], position.get(fr[0].partner_id or 0, (0, "")))
        )
        index = {(f.key, r): i for i, (f, r) in enumerate(fin_cols)}
        rows = []
        for op in ops:
            amounts: list[Any] = [None] * len(fin_cols)
            for line, financer, rank in ranked[op.pk]:
                amounts[index[(financer.key, rank)]] = line.amount
            rows.append([*_reference_cells(op, communes), *amounts])
        columns = [
            *exports.OPERATION_COLUMNS,
            *(Col(directory.column(f, r), MONEY) for f, r in fin_cols),
        ]
        sheet = writers.Sheet("Opérations", columns, rows, meta)
    elif kind == "lines":
        kinds = dict(FinancerKind.choices)
        # The partner's decision in force per line (the latest in date, then in recording order).
        in_force = {d.financing_line_id: d for d in PartnerDecision.objects.order_by("date", "id")}
        rows = []
        for op in ops:
            for line, financer, rank in ranked[op.pk]:
                name = directory.label(financer) if line.partner_id else line.financer_label
                rows.append(
                    [
                        *_reference_cells(op, communes),
                        kinds[line.financer_kind],
                        name,
                        rank,
                        line.amount,
                        line.objective.code,
                        line.contractualised,
                        LINE_CATEGORY_LABELS[line_category(line)],
                        line.get_budget_nature_display(),
                        line.programme.code if line.programme else "",
                        line.bop or "",
                        line.activity or "",
                        line.year,
                        line.external_ref,
                        *(
                            (
                                d.get_kind_display(),
                                d.body,
                                d.date,
                                d.reference,
                                d.amount,
                                d.get_outcome_display(),
                            )
                            if (d := in_force.get(line.pk))
                            else ("", "", None, "", None, "")
                        ),
                    ]
                )
        columns = [*exports.OPERATION_COLUMNS, *exports.LINE_COLUMNS]
        sheet = writers.Sheet("Lignes de financement", columns, rows, meta)
    else:
        kinds = dict(FinancerKind.choices)
        rank_of = {line.pk: rank for lines in ranked.values() for line, _, rank in lines}
        visible = {op.pk: op for op in ops}
        rows = []
        for m in (
            Movement.objects.filter(financing_line__operation_id__in=list(visible))
            .select_related("financing_line", "cancels")
            .order_by("financing_line__operation__code", "financing_line_id", "date", "id")
        ):
            line = m.financing_line
            financer = voc.Financer(line.financer_kind, line.partner_id, line.financer_label)
            op = visible[line.operation_id]
            rows.append(
                [
                    op.code,
                    op.title,
                    kinds[line.financer_kind],
                    directory.label(financer) if line.partner_id else line.financer_label,
                    rank_of.get(line.pk),
                    line.external_ref,
                    m.get_kind_display(),
                    m.date,
                    m.amount,
                    m.reference,
                    m.cancels.reference if m.cancels else None,
                    m.note,
                ]
            )
        sheet = writers.Sheet("Mouvements", exports.MOVEMENT_COLUMNS, rows, meta)
    buffer = __import__("io").StringIO(newline="")
    writers.write_csv(sheet, buffer)
    return writers.BOM + buffer.getvalue().encode("utf-8")


def _url(contract: Any, kind: str) -> str:
    return reverse("io:export", kwargs={"slug": contract.slug, "kind": kind, "fmt": "csv"})


def _without_time(data: bytes) -> bytes:
    """The generation time (« Généré le … à HH:MM ») may change between two exports."""
    return b"\r\n".join(ln for ln in data.split(b"\r\n") if "Généré le".encode() not in ln)


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "user_role", "rows"),
    [
        ("lines", Role.OBSERVER, 5000),
        ("movements", Role.OBSERVER, 5000),
        ("operations", Role.OBSERVER, 1250),
        ("lines", None, 3748),  # the public: 937 published operations × 4 lines
    ],
)
def test_a_streamed_export_has_the_bytes_of_the_former_construction(
    register, client, kind, user_role, rows
):
    user = make_user(role=user_role) if user_role else None
    if user:
        client.force_login(user)
    response = client.get(_url(register, kind))
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].endswith('.csv"')
    streamed = response.getvalue()
    expected = _reference(register, kind, user)
    assert _without_time(streamed) == _without_time(expected)
    body = streamed.decode("utf-8-sig").split("\r\n")
    labels_at = next(i for i, ln in enumerate(body) if ln.startswith("N° d'opération"))
    assert len(body) - labels_at - 2 == rows  # rows, after the labels, before the final CRLF
    if kind == "movements":
        assert "'=1+7" in streamed.decode("utf-8-sig")  # the planted formula stays inert


@pytest.mark.django_db
def test_the_first_chunk_leaves_before_the_operations_are_read(register, client, monkeypatch):
    """By chunks of 100 operations (400 lines) and 100 rows: the header block and labels come
    first, having read no operation; each chunk of rows reads only its own chunk of
    operations; the whole register is read only when the last chunk is asked for."""
    monkeypatch.setattr(exports, "CHUNK", 100)
    monkeypatch.setattr(writers, "CSV_ROWS_PER_CHUNK", 100)
    client.force_login(make_user(role=Role.OBSERVER))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_url(register, "lines"))
        before_first = len(queries)
        stream = iter(response.streaming_content)
        first = next(stream)
        at_first = len(queries)
        second = next(stream)
        at_second = len(queries)
        rest = list(stream)
        at_end = len(queries)
    head = first.decode("utf-8-sig")
    assert "Contrat;" in head and "N° d'opération" in head and "S-0" not in head
    assert at_first == before_first  # nothing read between the response and its first bytes
    assert second.decode("utf-8").startswith("S-00000;")
    assert second.count(b"\r\n") == 100
    # the first chunk of rows read its 100 operations (their lines, communes, committees),
    # not the 1,250 of the register: the remaining 12 chunks are read later, each its own
    assert at_second - at_first <= 5
    assert at_end - at_second >= 12 * 3
    assert sum(c.count(b"\r\n") for c in [second, *rest]) == 5000


@pytest.mark.django_db
def test_rows_are_read_as_tuples_never_as_all_the_operations(register, monkeypatch):
    """The sheets never build the register's operations as model objects."""
    built = 0
    original = Operation.from_db

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal built
        built += 1
        return original.__func__(cls, *args, **kwargs)

    monkeypatch.setattr(Operation, "from_db", classmethod(counting))
    for kind in ("operations", "lines", "movements"):
        (sheet,) = exports.build(kind, register, user=make_user(role=Role.OBSERVER))
        assert sum(1 for _ in writers.iter_csv(sheet)) > 1
        assert sheet.written > 0
    assert built == 0


@pytest.mark.django_db
def test_the_export_command_counts_the_rows_it_streamed(register, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "lignes.csv"
    stdout = __import__("io").StringIO()
    call_command("export", "lines", register.slug, "-o", str(out), stdout=stdout)
    assert "5000 ligne(s)" in stdout.getvalue()
    assert out.read_bytes().startswith(writers.BOM)
