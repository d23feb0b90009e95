"""Rules of the execution ledger: plain functions that return findings, never raise.

`movement_findings` says what is wrong with a movement about to be recorded, given the line's
existing movements (the service turns its errors into a refusal; an import reports them per
row). The invariants, per financing line and at every date:

    0 ≤ paid ≤ committed ≤ programmed (+ the contract's `execution_tolerance`)

where programmed is the line's amount while the line is active and its operation programmed;
a payment cannot precede a commitment (paid ≤ committed at its date, movements of one day taken
together); a cancellation (decommitment or payment cancellation) never exceeds what it
cancels; amounts are positive; dates lie between the contract's first day and today.

The registered checks (`cper contract check`) apply the same invariants to every line of a
contract in one pass over the ledger, and prove that the summaries equal their recomputation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cper.checks import BLOCKING, WARNING, register_check
from cper.checks import Finding as CheckFinding
from cper.checks import finding as check_finding
from cper.findings import Finding as Finding  # the project's one type, named here for callers
from cper.money import ZERO, format_eur
from cper.operations.models import FinancingLine, Operation

COMMITMENT = "commitment"
DECOMMITMENT = "decommitment"
PAYMENT = "payment"
PAYMENT_CANCELLATION = "payment_cancellation"
KINDS = (COMMITMENT, DECOMMITMENT, PAYMENT, PAYMENT_CANCELLATION)
KIND_LABELS = {
    COMMITMENT: "engagement",
    DECOMMITMENT: "désengagement",
    PAYMENT: "paiement",
    PAYMENT_CANCELLATION: "annulation de paiement",
}
KIND_ARTICLES = {
    COMMITMENT: "un engagement",
    DECOMMITMENT: "un désengagement",
    PAYMENT: "un paiement",
    PAYMENT_CANCELLATION: "une annulation de paiement",
}
# What a cancellation may cancel.
CANCELS = {DECOMMITMENT: COMMITMENT, PAYMENT_CANCELLATION: PAYMENT}


@dataclass(frozen=True)
class Entry:
    """A movement as the rules see it (an existing one, or the one being recorded)."""

    kind: str
    date: dt.date
    amount: Decimal
    id: int | None = None
    cancels_id: int | None = None


def fr_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def signed(entry: Entry) -> tuple[Decimal, Decimal]:
    if entry.kind == COMMITMENT:
        return entry.amount, ZERO
    if entry.kind == DECOMMITMENT:
        return -entry.amount, ZERO
    if entry.kind == PAYMENT:
        return ZERO, entry.amount
    return ZERO, -entry.amount


def ledger_findings(
    *, entries: Iterable[Entry], programmed: Decimal, tolerance: Decimal = ZERO, status: str = ""
) -> list[Finding]:
    """The invariants on a line's movements, day by day: the first day each one breaks."""
    per_day: dict[dt.date, list[Decimal]] = {}
    for e in entries:
        c, p = signed(e)
        acc = per_day.setdefault(e.date, [ZERO, ZERO])
        acc[0] += c
        acc[1] += p
    committed = paid = ZERO
    out: list[Finding] = []
    seen: set[str] = set()
    for day in sorted(per_day):
        committed += per_day[day][0]
        paid += per_day[day][1]
        if committed < 0 and "neg-c" not in seen:
            seen.add("neg-c")
            out.append(
                Finding(
                    "amount",
                    f"au {fr_date(day)}, l'engagé de la ligne deviendrait négatif "
                    f"({format_eur(committed)}) : on ne désengage pas plus qu'on a engagé",
                )
            )
        if paid < 0 and "neg-p" not in seen:
            seen.add("neg-p")
            out.append(
                Finding(
                    "amount",
                    f"au {fr_date(day)}, le payé de la ligne deviendrait négatif "
                    f"({format_eur(paid)}) : on n'annule pas plus de paiements qu'il n'y en a",
                )
            )
        if paid > committed + tolerance and "paid" not in seen:
            seen.add("paid")
            if committed <= 0:
                message = (
                    f"aucun engagement n'existe au {fr_date(day)} sur cette ligne : un paiement "
                    "ne peut pas précéder l'engagement"
                )
            else:
                message = (
                    f"au {fr_date(day)}, le payé ({format_eur(paid)}) dépasserait l'engagé "
                    f"({format_eur(committed)}) de {format_eur(paid - committed)}"
                )
            out.append(Finding("amount", message))
        if committed > programmed + tolerance and "prog" not in seen:
            seen.add("prog")
            if programmed <= 0:
                what = f" (statut : {status})" if status else ""
                message = (
                    "la ligne n'est pas programmée (ligne annulée ou opération non "
                    f"programmée{what}) : elle ne peut pas être engagée"
                )
            else:
                message = (
                    f"au {fr_date(day)}, l'engagé ({format_eur(committed)}) dépasserait le "
                    f"montant programmé de la ligne ({format_eur(programmed)}) de "
                    f"{format_eur(committed - programmed)}"
                )
                if tolerance:
                    message += f", au-delà de la tolérance du contrat ({format_eur(tolerance)})"
            out.append(Finding("amount", message))
    return out


def movement_findings(
    *,
    kind: str,
    date: dt.date,
    amount: Decimal,
    reference: str,
    existing: Iterable[Entry],
    programmed: Decimal,
    tolerance: Decimal = ZERO,
    first_day: dt.date,
    today: dt.date,
    cancels: Entry | None = None,
    cancels_other_line: bool = False,
    already_cancelled: Decimal = ZERO,
    status: str = "",
) -> list[Finding]:
    """Everything wrong with recording this movement on a line holding `existing` movements."""
    out: list[Finding] = []
    if kind not in KINDS:
        return [Finding("kind", f"nature de mouvement inconnue : « {kind} »")]
    if amount is None or amount <= 0:
        out.append(Finding("amount", "le montant doit être strictement positif"))
    if not (reference or "").strip():
        out.append(
            Finding(
                "reference",
                "indiquez la référence (n° d'engagement juridique, d'affectation ou de mandat)",
            )
        )
    elif len(reference.strip()) > 60:
        out.append(Finding("reference", "la référence dépasse 60 caractères"))
    if date < first_day:
        out.append(
            Finding(
                "date",
                f"la date ({fr_date(date)}) précède le début du contrat ({fr_date(first_day)})",
            )
        )
    if date > today:
        out.append(
            Finding(
                "date",
                f"la date ({fr_date(date)}) est postérieure à aujourd'hui : un "
                "mouvement s'enregistre une fois fait",
            )
        )
    expected = CANCELS.get(kind)
    if cancels is not None and expected is None:
        out.append(Finding("cancels", f"{KIND_ARTICLES[kind]} n'annule pas un autre mouvement"))
    elif kind == PAYMENT_CANCELLATION and cancels is None:
        out.append(Finding("cancels", "indiquez le paiement (mandat) que l'annulation corrige"))
    elif cancels is not None and expected is not None:
        if cancels_other_line:
            out.append(
                Finding(
                    "cancels", "le mouvement annulé appartient à une autre ligne de financement"
                )
            )
        elif cancels.kind != expected:
            out.append(
                Finding(
                    "cancels",
                    f"{KIND_ARTICLES[kind]} annule {KIND_ARTICLES[expected]}, pas "
                    f"{KIND_ARTICLES.get(cancels.kind, cancels.kind)}",
                )
            )
        else:
            if date < cancels.date:
                out.append(
                    Finding(
                        "date",
                        f"l'annulation ({fr_date(date)}) précède le mouvement qu'elle annule "
                        f"({fr_date(cancels.date)})",
                    )
                )
            if amount is not None and amount > 0 and already_cancelled + amount > cancels.amount:
                left = cancels.amount - already_cancelled
                out.append(
                    Finding(
                        "amount",
                        f"l'annulation ({format_eur(amount)}) dépasse ce qu'il reste à annuler "
                        f"du {KIND_LABELS[expected]} {format_eur(cancels.amount)} "
                        f"(déjà annulé : {format_eur(already_cancelled)}, reste "
                        f"{format_eur(left)})",
                    )
                )
    if out:
        return out
    new = Entry(kind=kind, date=date, amount=amount)
    return ledger_findings(
        entries=[*existing, new], programmed=programmed, tolerance=tolerance, status=status
    )


# -- consistency checks (cper contract check) ------------------------------------------------------

_MAX_LISTED = 20


def ledger_breaches(contract: Any) -> list[tuple[int, str, dt.date, int, int, int]]:
    """Every (line, breach, first day, committed, paid, programmed) of a contract's ledger, in
    one pass (window sums over the movements, amounts in cents)."""
    from django.db import connection

    from cper.finance.models import LineState, Movement
    from cper.finance.summaries import movement_cents_sql

    committed, paid = movement_cents_sql("m")
    tol = int((Decimal(contract.execution_tolerance or 0) * 100).to_integral_value())
    mov, line, op = (
        Movement._meta.db_table,
        FinancingLine._meta.db_table,
        Operation._meta.db_table,
    )
    state = LineState._meta.db_table
    sql = f"""
        WITH d AS (
            SELECT m.financing_line_id AS line_id, m.date AS day,
                   SUM({committed}) AS c, SUM({paid}) AS p
            FROM {mov} m JOIN {line} l ON l.id = m.financing_line_id
            JOIN {op} o ON o.id = l.operation_id
            WHERE o.contract_id = %s
            GROUP BY m.financing_line_id, m.date
        ), r AS (
            SELECT line_id, day,
                   SUM(c) OVER (PARTITION BY line_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS cc,
                   SUM(p) OVER (PARTITION BY line_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS cp
            FROM d
        )
        SELECT r.line_id, r.day, r.cc, r.cp, COALESCE(s.programmed, 0)
        FROM r LEFT JOIN {state} s ON s.line_id = r.line_id
        WHERE r.cc < 0 OR r.cp < 0 OR r.cp > r.cc + %s OR r.cc > COALESCE(s.programmed, 0) + %s
        ORDER BY r.line_id, r.day
    """
    out: list[tuple[int, str, dt.date, int, int, int]] = []
    seen: set[tuple[int, str]] = set()
    with connection.cursor() as cursor:
        cursor.execute(sql, [contract.pk, tol, tol])
        for line_id, day, cc, cp, prog in cursor.fetchall():
            cc, cp, prog = int(cc), int(cp), int(prog)
            if isinstance(day, str):
                day = dt.date.fromisoformat(day)
            for breach, bad in (
                ("engagé négatif", cc < 0),
                ("payé négatif", cp < 0),
                ("payé supérieur à l'engagé", cp > cc + tol),
                ("engagé supérieur au programmé", cc > prog + tol),
            ):
                if bad and (line_id, breach) not in seen:
                    seen.add((line_id, breach))
                    out.append((line_id, breach, day, cc, cp, prog))
    return out


def cancellation_breaches(contract: Any) -> list[str]:
    """Cancellations that exceed, precede or mismatch what they cancel."""
    from django.db.models import Sum

    from cper.finance.models import Movement

    out: list[str] = []
    rows = (
        Movement.objects.filter(financing_line__operation__contract=contract, cancels__isnull=False)
        .values("cancels_id", "cancels__amount", "cancels__kind", "cancels__financing_line_id")
        .annotate(total=Sum("amount"))
    )
    for row in rows:
        if row["total"] > row["cancels__amount"]:
            out.append(
                f"le mouvement n° {row['cancels_id']} ({format_eur(row['cancels__amount'])}) est "
                f"annulé pour {format_eur(row['total'])}"
            )
    for m in Movement.objects.filter(
        financing_line__operation__contract=contract, cancels__isnull=False
    ).select_related("cancels"):
        target = m.cancels
        assert target is not None
        if CANCELS.get(m.kind) != target.kind:
            out.append(f"le mouvement n° {m.pk} ({m.kind}) annule un {target.kind}")
        elif target.financing_line_id != m.financing_line_id:
            out.append(f"le mouvement n° {m.pk} annule un mouvement d'une autre ligne")
        elif m.date < target.date:
            out.append(f"le mouvement n° {m.pk} précède le mouvement n° {target.pk} qu'il annule")
    return out


@register_check
def check_ledger(contract: Any) -> list[CheckFinding]:
    """Invariants on every line of the contract (blocking), dates outside the contract
    (blocking) and commitments dated before the operation's programming (warning)."""
    from django.db.models import F
    from django.utils import timezone

    from cper.finance.models import Movement

    findings: list[CheckFinding] = []
    breaches = ledger_breaches(contract)
    for line_id, breach, day, cc, cp, prog in breaches[:_MAX_LISTED]:
        findings.append(
            check_finding(
                BLOCKING,
                "grand-livre-invariant",
                f"Ligne de financement n° {line_id} : {breach} au {fr_date(day)} (engagé "
                f"{format_eur(Decimal(cc) / 100)}, payé {format_eur(Decimal(cp) / 100)}, "
                f"programmé {format_eur(Decimal(prog) / 100)}).",
            )
        )
    if len(breaches) > _MAX_LISTED:
        findings.append(
            check_finding(
                BLOCKING,
                "grand-livre-invariant",
                f"… et {len(breaches) - _MAX_LISTED} autre(s) manquement(s) aux invariants.",
            )
        )
    for message in cancellation_breaches(contract)[:_MAX_LISTED]:
        findings.append(
            check_finding(BLOCKING, "grand-livre-annulation", f"Annulation : {message}.")
        )
    movements = Movement.objects.filter(financing_line__operation__contract=contract)
    first_day = dt.date(contract.start_year, 1, 1)
    outside = (
        movements.filter(date__lt=first_day).count()
        + movements.filter(date__gt=timezone.localdate()).count()
    )
    if outside:
        findings.append(
            check_finding(
                BLOCKING,
                "grand-livre-dates",
                f"{outside} mouvement(s) daté(s) avant le {fr_date(first_day)} ou après "
                "aujourd'hui.",
            )
        )
    early = movements.filter(
        kind=COMMITMENT, financing_line__execution_state__programmed_on__gt=F("date")
    ).count()
    if early:
        findings.append(
            check_finding(
                WARNING,
                "engagement-avant-programmation",
                f"{early} engagement(s) daté(s) avant la programmation de leur opération.",
            )
        )
    return findings


@register_check
def check_summaries(contract: Any) -> list[CheckFinding]:
    """The maintained summaries equal their recomputation from the ledger."""
    from cper.finance.summaries import verify

    problems = verify(contract, limit=5)
    if not problems:
        return []
    detail = "; ".join(f"{p.what} {p.key}" for p in problems)
    return [
        check_finding(
            BLOCKING,
            "agregats-execution",
            "Les agrégats d'exécution ne correspondent pas au grand livre "
            f"({detail}) : lancez « cper execution rebuild-summaries {contract.slug} ».",
        )
    ]
