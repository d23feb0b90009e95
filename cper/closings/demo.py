"""The demo's closings chapter: the execution arrêtée au 31/12/2024 and au 31/12/2025 (last
chapter: it freezes what the others wrote), by `closing_create` as the system, with an
illustrative commentary on each axis of the latest bilan — and one late commitment, dated
before the last closing but recorded after it, so that its reconciliation has something to
show."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from cper.audit.services import Actor
from cper.closings import figures as F
from cper.closings.models import Closing
from cper.closings.services import closing_create, report_comment_write
from cper.contracts.models import Axis, Contract
from cper.finance.models import LineState
from cper.finance.services import MovementRefused, movement_record
from cper.money import format_eur, format_meur

DATES = (dt.date(2024, 12, 31), dt.date(2025, 12, 31))


def demo_closings(*, contract: Contract, seed: int, scale: str) -> str:
    """Arrête the demo's years (those already past and not yet arrêtés); `seed` and `scale`
    change nothing: the figures are whatever the demo's operations give."""
    actor = Actor.system()
    made = []
    today = timezone.localdate()
    for at in DATES:
        if at > today or at.year < contract.start_year:
            continue
        closing = Closing.objects.filter(contract=contract, at=at, label="").first()
        if closing is None:
            closing = closing_create(actor=actor, contract=contract, at=at)
            made.append(closing)
    if made:
        latest = made[-1]
        for axis in Axis.objects.filter(contract=contract).order_by("number"):
            row = next(
                (r for r in F.rows_of(latest.figures, "axis") if r.key.get("axis") == axis.number),
                None,
            )
            if row is None:
                continue
            report_comment_write(
                actor=actor,
                closing=latest,
                axis=axis,
                text=(
                    f"Commentaire illustratif (démonstration) : au {latest.at:%d/%m/%Y}, l'axe "
                    f"{axis.number} compte {format_meur(row.programmed)} programmés, "
                    f"{format_meur(row.committed)} engagés et {format_meur(row.paid)} payés."
                ),
            )
    if not made:
        return "Arrêtés : déjà présents, rien d'ajouté"
    late = _late_commitment(contract=contract, actor=actor, at=made[-1].at)
    dates = ", ".join(f"{c.at:%d/%m/%Y}" for c in made)
    return f"Arrêtés : situation arrêtée au {dates} (chiffres des opérations illustratives)" + (
        f" ; un engagement tardif de {late} daté d'avant le dernier arrêté" if late else ""
    )


def _late_commitment(*, contract: Contract, actor: Actor, at: dt.date) -> str:
    """Commit 1 000 € (or what is left) on the first line programmed long before `at` that is
    not fully committed, dated two weeks before `at`: the reconciliation's example."""
    state = (
        LineState.objects.filter(
            contract=contract, counted=True, programmed_on__lte=at - dt.timedelta(days=180)
        )
        .exclude(partner=None)
        .order_by("line_id")
        .only("line_id", "programmed", "committed")
    )
    for s in state[:200]:
        room = s.programmed - s.committed  # cents
        if room <= 0:
            continue
        amount = Decimal(min(room, 100_000)) / 100
        try:
            movement_record(
                actor=actor,
                financing_line=s.line_id,
                kind="commitment",
                date=at - dt.timedelta(days=16),
                amount=amount,
                reference="DEMO-TARDIF-1",
                note="illustratif : engagement saisi après l'arrêté",
            )
        except MovementRefused:
            continue
        return format_eur(amount)
    return ""
