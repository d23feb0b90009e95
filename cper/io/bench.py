"""Benchmark hook for `make bench`: import throughput next to a raw bulk insert of the same rows.

    from cper.io.bench import contract_twin, import_throughput
    target = contract_twin(path=Path("contracts/hauts-de-france-2021-2027.yaml"), slug="bench-io")
    figures = import_throughput(source=hdf, target=target, operations=5_000)

`movements_import_throughput` does the same for the movements: the movements of the first
`operations` operations of `source`, imported into `target` (whose operations are loaded first
with `import_operations` when it has none), next to a `bulk_create` of the same movements.

`import_throughput` exports the financing lines of the first `operations` operations of `source`
(the long layout, CSV), imports that file into `target` through the services (all or nothing,
applied), then inserts the same rows with `bulk_create` (operations, communes, lines) in a
transaction that is rolled back. It returns the row count, both timings and rows per second.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from cper.audit.models import Via
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.io.readers import Limits

# The bench imports a whole register at scale S, M or more: beyond the reading bounds that keep
# a user's import within 300 MB (CPER_IMPORT_MAX_*), which a developer's machine can exceed.
BENCH_LIMITS = Limits(
    max_bytes=2**40,
    max_uncompressed_bytes=2**40,
    max_rows=10**8,
    max_cells=10**9,
    max_text_bytes=2**40,
)


def contract_twin(*, path: Path, slug: str) -> Contract:
    """Load the contract file at `path` again under another slug (same partners, objectives)."""
    import re
    import tempfile

    from cper.loading import contract_load

    text = re.sub(r"(?m)^slug:.*$", f"slug: {slug}", path.read_text(encoding="utf-8"), count=1)
    with tempfile.TemporaryDirectory() as tmp:
        twin = Path(tmp) / f"{slug}.yaml"
        twin.write_text(text, encoding="utf-8")
        contract, _ = contract_load(path=twin, actor=Actor.system())
    return contract


def import_throughput(
    *, source: Contract, target: Contract, operations: int | None = 2_000, progress: Any = None
) -> dict[str, Any]:
    from cper.io import writers
    from cper.io.cli import OPERATOR
    from cper.io.exports import lines_sheet
    from cper.io.imports import import_operations

    sheet = lines_sheet(source, user=OPERATOR, limit=operations)
    data = writers.csv_bytes(sheet)
    rows = list(sheet.rows)  # type: ignore[arg-type]
    started = time.perf_counter()
    report = import_operations(
        actor=Actor(user=None, via=Via.CLI),
        contract=target,
        source=data,
        file_name="bench.csv",
        dry_run=False,
        progress=progress,
        limits=BENCH_LIMITS,
    )
    import_seconds = time.perf_counter() - started
    if not report.applied:
        raise RuntimeError(f"import refusé : {report.rejections[:3]}")
    return _figures(report, data, import_seconds, _bulk_insert(target, rows))


def _figures(report: Any, data: bytes, import_seconds: float, bulk_seconds: float) -> dict:
    n = report.rows_total
    return {
        "rows": n,
        "bytes": len(data),
        "import_seconds": round(import_seconds, 3),
        "import_rows_per_s": round(n / import_seconds, 1) if import_seconds else None,
        "bulk_seconds": round(bulk_seconds, 3),
        "bulk_rows_per_s": round(n / bulk_seconds, 1) if bulk_seconds else None,
        "ratio": round(import_seconds / bulk_seconds, 1) if bulk_seconds else None,
        "created": report.created,
    }


def _bulk_insert(contract: Contract, rows: list[Any]) -> float:
    """The same operations and lines with bulk_create, rolled back: the floor of the cost."""
    from cper.operations.models import FinancingLine, Operation, OperationCommune, ProjectOwner

    objectives = {o.code: o.pk for o in contract.objectives.all()}
    partners = {(p.short_name or p.name): p.pk for p in contract.partners.all()}
    owners = dict(ProjectOwner.objects.exclude(siret=None).values_list("siret", "pk"))
    owners_rna = dict(ProjectOwner.objects.exclude(rna=None).values_list("rna", "pk"))
    started = time.perf_counter()
    with transaction.atomic():
        ops: dict[str, Operation] = {}
        communes: list[tuple[str, str, int]] = []
        for r in rows:
            code = f"BULK-{r[0]}"
            if code in ops:
                continue
            ops[code] = Operation(
                contract=contract,
                code=code[:40],
                title=r[1],
                description=r[2] or "",
                owner_id=owners.get(r[4]) or owners_rna.get(r[5]),  # type: ignore[misc]
                objective_id=objectives[r[8]],
                status="draft",
                cost_ht=r[13],
            )
            communes += [(code, c, i) for i, c in enumerate((r[7] or "").split())]
        Operation.objects.bulk_create(ops.values(), batch_size=2000)
        OperationCommune.objects.bulk_create(
            [
                OperationCommune(operation=ops[code], commune_id=c, position=i)
                for code, c, i in communes
            ],
            batch_size=5000,
        )
        kinds = {"partenaire du contrat": "partner", "fonds européen": "eu_fund"}
        FinancingLine.objects.bulk_create(
            [
                FinancingLine(
                    operation=ops[f"BULK-{r[0]}"],
                    financer_kind=kinds.get(str(r[16]), "other_public"),
                    partner_id=partners.get(r[17]) if r[16] == "partenaire du contrat" else None,
                    financer_label="" if r[16] == "partenaire du contrat" else str(r[17] or "x"),
                    objective_id=objectives[r[20] or r[8]],
                    amount=Decimal(r[19]),
                    contractualised=bool(r[21]) and r[16] == "partenaire du contrat",
                )
                for r in rows
                if r[19] is not None
            ],
            batch_size=5000,
        )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def movements_import_throughput(
    *,
    source: Contract,
    target: Contract,
    operations: int = 2_000,
    progress: Any = None,
    row_by_row: bool = False,
) -> dict[str, Any]:
    """Import the movements of the first `operations` operations of `source` into `target` (all
    or nothing, applied; `row_by_row`: through `movement_record` row by row, the path before the
    batch), then bulk insert the same movements again in a transaction rolled back."""
    from unittest import mock

    from cper.io import writers
    from cper.io.cli import OPERATOR
    from cper.io.exports import lines_sheet, movements_sheet
    from cper.io.imports import _MovementPlanner, import_movements, import_operations
    from cper.operations.models import Operation

    actor = Actor(user=None, via=Via.CLI)
    if not Operation.objects.filter(contract=target).exists():
        lines = writers.csv_bytes(lines_sheet(source, user=OPERATOR, limit=operations))
        loaded = import_operations(
            actor=actor,
            contract=target,
            source=lines,
            file_name="lines.csv",
            dry_run=False,
            limits=BENCH_LIMITS,
        )
        if not loaded.applied:
            raise RuntimeError(f"opérations refusées : {loaded.rejections[:3]}")
    data = writers.csv_bytes(movements_sheet(source, user=OPERATOR, limit=operations))
    started = time.perf_counter()
    with mock.patch.object(_MovementPlanner, "row_by_row", row_by_row):
        report = import_movements(
            actor=actor,
            contract=target,
            source=data,
            file_name="movements.csv",
            dry_run=False,
            progress=progress,
            limits=BENCH_LIMITS,
        )
    import_seconds = time.perf_counter() - started
    if not report.applied:
        raise RuntimeError(f"import refusé : {[str(r) for r in report.rejections[:3]]}")
    return _figures(report, data, import_seconds, _bulk_movements(target))


def _bulk_movements(contract: Contract) -> float:
    """The contract's movements inserted again with bulk_create, rolled back: the floor."""
    from cper.finance.models import Movement

    fields = ("financing_line_id", "kind", "date", "amount", "reference", "cancels_id", "via")
    rows = list(
        Movement.objects.filter(financing_line__operation__contract=contract)
        .order_by("id")
        .values_list(*fields)
    )
    started = time.perf_counter()
    with transaction.atomic():
        Movement.objects.bulk_create(
            [Movement(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=5000
        )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed
