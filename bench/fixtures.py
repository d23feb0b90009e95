"""The benchmark's own register generator, used only when `cper demo` is not installed.

Bulk inserts (no services, no signals) of project owners, operations with one commune each,
markers, a dated transition into "programmed" for programmed operations, and three to five
financing lines per operation (State, Region, the operation's département when it is a
partner, sometimes a métropole, sometimes an EU fund that is not contractualised). The
movements then come from `cper.finance.demo.movements_generate`, which rebuilds the summaries.

Transitions are dated at noon UTC, so that their date is the same in UTC and in Paris (the raw
SQL of the benchmark reads the UTC date).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

SCALES = {"S": 5_000, "M": 100_000, "L": 300_000}  # operations

STATUSES = [
    ("draft", 4),
    ("submitted", 4),
    ("under_review", 5),
    ("programmed", 22),
    ("in_progress", 38),
    ("completed", 16),
    ("closed", 8),
    ("rejected", 1),
    ("abandoned", 2),
]
PROGRAMMED = {"programmed", "in_progress", "completed", "closed"}


def operations_generate(*, contract: Any, scale: str, rng_seed: int = 2021) -> dict[str, int]:
    from cper.contracts.models import Marker, Objective, Partner
    from cper.operations.models import (
        FinancerKind,
        FinancingLine,
        LegalCategory,
        Operation,
        OperationCommune,
        OperationTransition,
        ProjectOwner,
    )
    from cper.territories.models import Commune

    rng = random.Random(rng_seed)
    n_ops = SCALES[scale]
    today = timezone.localdate()
    communes = list(
        Commune.objects.filter(departement__region_id=contract.region_id).values_list(
            "code", "departement_id", "epci_id"
        )
    )
    objectives = list(Objective.objects.filter(contract=contract).values_list("pk", flat=True))
    partners = {p.code: p.pk for p in Partner.objects.filter(contract=contract)}
    markers = list(Marker.objects.filter(contract=contract).values_list("pk", flat=True))
    statuses = [s for s, w in STATUSES for _ in range(w)]
    start = dt.date(contract.start_year, 3, 1)
    span = (today - dt.timedelta(days=20) - start).days

    with transaction.atomic():
        owners = ProjectOwner.objects.bulk_create(
            [
                ProjectOwner(
                    name=f"Maître d'ouvrage de démonstration {i + 1}",
                    rna=f"W59{rng_seed % 10}{i:06d}",
                    legal_category=LegalCategory.ASSOCIATION,
                    provenance="illustrative",
                )
                for i in range(max(50, n_ops // 20))
            ],
            batch_size=5000,
        )
        owner_ids = [o.pk for o in owners]
        ops: list[Operation] = []
        chosen: list[tuple[str, str, str, dt.date]] = []
        for i in range(n_ops):
            code, dep, epci = rng.choice(communes)
            status = rng.choice(statuses)
            day = start + dt.timedelta(days=int(span * rng.random() ** 1.3))
            chosen.append((code, status, dep, day))
            ops.append(
                Operation(
                    contract=contract,
                    code=f"B-{i + 1:07d}",
                    title=f"Opération de banc d'essai {i + 1}",
                    owner_id=rng.choice(owner_ids),
                    objective_id=rng.choice(objectives),
                    departement_id=dep,
                    epci_id=epci,
                    status=status,
                    start_date=day,
                    cost_ht=Decimal("0.00"),
                    provenance="illustrative",
                )
            )
        Operation.objects.bulk_create(ops, batch_size=5000)
        OperationCommune.objects.bulk_create(
            [
                OperationCommune(operation_id=op.pk, commune_id=c[0], position=0)
                for op, c in zip(ops, chosen, strict=True)
            ],
            batch_size=5000,
        )
        through = Operation.markers.through
        if markers:
            through.objects.bulk_create(
                [
                    through(operation_id=op.pk, marker_id=rng.choice(markers))
                    for op in ops
                    if rng.random() < 0.3
                ],
                batch_size=5000,
            )
        OperationTransition.objects.bulk_create(
            [
                OperationTransition(
                    operation_id=op.pk,
                    from_status="under_review",
                    to_status="programmed",
                    at=dt.datetime(c[3].year, c[3].month, c[3].day, 12, tzinfo=dt.UTC),
                    reason="banc d'essai",
                )
                for op, c in zip(ops, chosen, strict=True)
                if c[1] in PROGRAMMED
            ],
            batch_size=5000,
        )
        lines: list[FinancingLine] = []
        for op, c in zip(ops, chosen, strict=True):
            cost = Decimal(int(rng.lognormvariate(13.3, 1.0))) + Decimal(rng.randint(0, 99)) / 100
            shares = [("etat", 0.3), ("region", 0.3)]
            dep_partner = f"dep-{c[2]}"
            if dep_partner in partners:
                shares.append((dep_partner, 0.15))
            metro = {"59": "mel", "80": "amiens-metropole"}.get(c[2])
            if metro in partners and rng.random() < 0.4:
                shares.append((metro, 0.1))
            for code, share in shares:
                lines.append(
                    FinancingLine(
                        operation_id=op.pk,
                        financer_kind=FinancerKind.PARTNER,
                        partner_id=partners[code],
                        objective_id=op.objective_id,
                        amount=(cost * Decimal(str(share))).quantize(Decimal("0.01")),
                        contractualised=True,
                    )
                )
            if rng.random() < 0.3:
                lines.append(
                    FinancingLine(
                        operation_id=op.pk,
                        financer_kind=FinancerKind.EU_FUND,
                        financer_label="FEDER",
                        objective_id=op.objective_id,
                        amount=(cost * Decimal("0.2")).quantize(Decimal("0.01")),
                        contractualised=False,
                    )
                )
            op.cost_ht = cost
        FinancingLine.objects.bulk_create(lines, batch_size=5000)
        Operation.objects.bulk_update(ops, ["cost_ht"], batch_size=5000)
    return {"operations": len(ops), "lines": len(lines)}
