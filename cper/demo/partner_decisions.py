"""Demonstration chapter of the partners' decisions (issue 12): each co-financer's own decision
on its line of the programmed operations, recorded through the batch service
(`partner_decisions_record_many`, as the system) — the Region's deliberations of its commission
permanente a few weeks after the committee's avis, the State's arrêtés attributifs, the
départements' and métropoles' council decisions. All illustrative (`Provenance.ILLUSTRATIVE`,
invented references); deterministic for a seed.

Every line already committed gets its decision (dated on or before its first commitment, for
its whole amount): under the contract's `partner_decision` programming mode, what is committed
stays within what is programmed. About one line in ten without movements is left awaiting its
decision, for the partners' workspaces to show.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db.models import Min
from django.utils import timezone

from cper.audit.services import Actor
from cper.contracts.models import Contract, PartnerKind
from cper.db import Provenance, ids_in
from cper.finance import summaries
from cper.finance.models import Movement
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    FinancingLine,
    LineStatus,
    PartnerDecision,
    PartnerDecisionKind,
)
from cper.operations.services import PartnerDecisionDraft, partner_decisions_record_many

BATCH = 2_000
AWAITING_SHARE = 0.1

# Per kind of partner: (kind of act, body, reference pattern).
_ACTS: dict[str, tuple[str, str, str]] = {
    PartnerKind.REGION: (
        PartnerDecisionKind.DELIBERATION_CP,
        "commission permanente du conseil régional",
        "CP {d:%Y%m%d}-{n:04d}",
    ),
    PartnerKind.STATE: (
        PartnerDecisionKind.ARRETE_ATTRIBUTIF,
        "préfet de région (SGAR)",
        "arrêté n° {d:%Y}-{n:05d}",
    ),
    PartnerKind.DEPARTEMENT: (
        PartnerDecisionKind.DELIBERATION_CONSEIL,
        "commission permanente du conseil départemental",
        "DCP {d:%Y-%m-%d} n° {n}",
    ),
    PartnerKind.EPCI: (
        PartnerDecisionKind.DELIBERATION_CONSEIL,
        "conseil métropolitain",
        "délibération {d:%y} C {n:04d}",
    ),
}
_OTHER = (PartnerDecisionKind.CONVENTION, "", "convention n° {d:%Y}-{n:04d}")


def _decision_day(
    committee: dt.date, first_movement: dt.date | None, today: dt.date, rng: random.Random
) -> dt.date:
    """Two to eight weeks after the committee's avis, never after the line's first movement
    (nor before the avis)."""
    day = committee + dt.timedelta(days=rng.randint(14, 56))
    if first_movement is not None and day > first_movement:
        span = max(0, (first_movement - committee).days)
        day = committee + dt.timedelta(days=rng.randint(0, span))
    return min(day, today)


def demo_partner_decisions(*, contract: Contract, seed: int, scale: str) -> str:
    """Record the partners' decisions on the programmed operations' lines (see the module)."""
    return _decide(contract=contract, seed=seed, scale=scale, awaiting_share=AWAITING_SHARE)


def demo_partner_decisions_before_movements(*, contract: Contract, seed: int, scale: str) -> str:
    """Under the `partner_decision` programming mode the ledger refuses a commitment on a line
    awaiting its partner's decision: `cper demo` then records every programmed line's decision
    before generating the movements (none left awaiting), on the committee's day."""
    # Dated on the committee's day: the demo's movements start from it, and a commitment is
    # never dated before the decision that allows it.
    return _decide(
        contract=contract, seed=seed, scale=scale, awaiting_share=0.0, on_committee_day=True
    )


def _decide(
    *,
    contract: Contract,
    seed: int,
    scale: str,
    awaiting_share: float,
    on_committee_day: bool = False,
) -> str:
    rng = random.Random(f"partner-decisions:{seed}:{scale}")
    today = timezone.localdate()
    decided = set(
        PartnerDecision.objects.filter(financing_line__operation__contract=contract).values_list(
            "financing_line_id", flat=True
        )
    )
    lines = [
        row
        for row in FinancingLine.objects.filter(
            operation__contract=contract,
            operation__status__in=list(PROGRAMMED_STATUSES),
            status=LineStatus.ACTIVE,
            partner__isnull=False,
        )
        .order_by("pk")
        .values_list("pk", "operation_id", "amount", "partner__kind", "operation__created_at")
        if row[0] not in decided
    ]
    if not lines:
        return "Décisions des financeurs : aucune ligne programmée sans décision."
    committee_days = summaries._programmed_on([r[1] for r in lines], None)
    first_movement = dict(
        Movement.objects.filter(ids_in("financing_line_id", [r[0] for r in lines]))
        .values("financing_line_id")
        .annotate(first=Min("date"))
        .values_list("financing_line_id", "first")
    )
    drafts: list[PartnerDecisionDraft] = []
    awaiting = 0
    numbers: dict[str, int] = {}
    for line_id, op_id, amount, partner_kind, created_at in lines:
        # The committee's avis, else (an operation recorded already programmed) its creation:
        # the summaries' own programming date.
        committee = committee_days.get(op_id) or timezone.localdate(created_at)
        first = first_movement.get(line_id)
        if amount <= 0:
            continue
        if first is None and rng.random() < awaiting_share:
            awaiting += 1
            continue
        day = (
            min(committee, today)
            if on_committee_day
            else _decision_day(committee, first, today, rng)
        )
        kind, body, pattern = _ACTS.get(partner_kind, _OTHER)
        numbers[partner_kind] = numbers.get(partner_kind, 0) + rng.randint(1, 9)
        drafts.append(
            PartnerDecisionDraft(
                financing_line_id=line_id,
                kind=kind,
                body=body,
                date=day,
                reference=pattern.format(d=day, n=numbers[partner_kind]),
                amount=amount,
                provenance=Provenance.ILLUSTRATIVE,
                notes="décision illustrative (démonstration)",
            )
        )
    actor = Actor.system()
    written = 0
    for i in range(0, len(drafts), BATCH):
        results = partner_decisions_record_many(actor=actor, drafts=drafts[i : i + BATCH])
        refused = [r for r in results if not r.written]
        if refused:
            first_refusal = refused[0]
            raise RuntimeError(
                "décision de démonstration refusée : "
                + "; ".join(str(f) for f in first_refusal.findings)
            )
        written += len(results)
    return (
        f"Décisions des financeurs : {written} décisions illustratives enregistrées "
        f"(délibérations, arrêtés attributifs), {awaiting} lignes en attente de décision."
    )
