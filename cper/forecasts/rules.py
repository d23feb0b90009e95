"""What a line's forecast schedule must be, as pure functions returning findings (no query)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cper.findings import ERROR, Finding


def schedule_findings(
    *,
    rows: Sequence[tuple[int, Decimal, Decimal]],
    first_year: int,
    last_year: int,
    line_amount: Decimal,
    line: int | None = None,
) -> list[Finding]:
    """Findings on one schedule: (year, planned commitment, planned payment) rows. Years lie in
    the contract's period extended by five years of payments (a CPER's payments run after its
    end), each once; amounts are positive; planned commitments above the line's amount are
    refused, and so are planned payments above it."""
    out: list[Finding] = []
    if not rows:
        out.append(Finding("year", "l'échéancier est vide : au moins une année", ERROR, line))
    seen: set[int] = set()
    horizon = last_year + 5
    for year, commitment, payment in rows:
        if year in seen:
            out.append(Finding("year", f"l'année {year} figure deux fois", ERROR, line))
        seen.add(year)
        if not first_year <= year <= horizon:
            out.append(
                Finding(
                    "year",
                    f"l'année {year} est hors de la période ({first_year}-{horizon})",
                    ERROR,
                    line,
                )
            )
        if commitment < 0:
            out.append(Finding("planned_commitment", "engagement prévu négatif", ERROR, line))
        if payment < 0:
            out.append(Finding("planned_payment", "paiement prévu négatif", ERROR, line))
    total_c = sum((c for _, c, _ in rows), Decimal(0))
    total_p = sum((p for _, _, p in rows), Decimal(0))
    if total_c > line_amount:
        out.append(
            Finding(
                "planned_commitment",
                f"les engagements prévus ({total_c} €) dépassent le montant de la ligne "
                f"({line_amount} €)",
                ERROR,
                line,
            )
        )
    if total_p > line_amount:
        out.append(
            Finding(
                "planned_payment",
                f"les paiements prévus ({total_p} €) dépassent le montant de la ligne "
                f"({line_amount} €)",
                ERROR,
                line,
            )
        )
    return out
