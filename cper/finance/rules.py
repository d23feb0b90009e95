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

import calendar
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
AFFECTATION = "affectation"
DESAFFECTATION = "desaffectation"
KINDS = (COMMITMENT, DECOMMITMENT, PAYMENT, PAYMENT_CANCELLATION, AFFECTATION, DESAFFECTATION)
KIND_LABELS = {
    COMMITMENT: "engagement",
    DECOMMITMENT: "désengagement",
    PAYMENT: "paiement",
    PAYMENT_CANCELLATION: "annulation de paiement",
    AFFECTATION: "affectation d'AP",
    DESAFFECTATION: "désaffectation",
}
KIND_ARTICLES = {
    COMMITMENT: "un engagement",
    DECOMMITMENT: "un désengagement",
    PAYMENT: "un paiement",
    PAYMENT_CANCELLATION: "une annulation de paiement",
    AFFECTATION: "une affectation d'AP",
    DESAFFECTATION: "une désaffectation",
}
# What a cancellation may cancel (a désaffectation releases part of the line's net affected
# amount, whichever affectation it came from: it names none).
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
    """(committed, paid) change of a movement (an affectation changes neither)."""
    if entry.kind == COMMITMENT:
        return entry.amount, ZERO
    if entry.kind == DECOMMITMENT:
        return -entry.amount, ZERO
    if entry.kind == PAYMENT:
        return ZERO, entry.amount
    if entry.kind == PAYMENT_CANCELLATION:
        return ZERO, -entry.amount
    return ZERO, ZERO


def signed_affected(entry: Entry) -> Decimal:
    """Change of the line's net affected amount (AP affectée) of a movement."""
    if entry.kind == AFFECTATION:
        return entry.amount
    if entry.kind == DESAFFECTATION:
        return -entry.amount
    return ZERO


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


_AFFECTING = frozenset({AFFECTATION, DESAFFECTATION})


def _affectation_series(entries: Iterable[Entry]) -> dict[dt.date, tuple[Decimal, Decimal]]:
    """{day: (net affected, committed) at the end of that day} for the days of `entries`."""
    per_day: dict[dt.date, list[Decimal]] = {}
    for e in entries:
        acc = per_day.setdefault(e.date, [ZERO, ZERO])
        acc[0] += signed_affected(e)
        acc[1] += signed(e)[0]
    out: dict[dt.date, tuple[Decimal, Decimal]] = {}
    affected = committed = ZERO
    for day in sorted(per_day):
        affected += per_day[day][0]
        committed += per_day[day][1]
        out[day] = (affected, committed)
    return out


def affectation_findings(
    *,
    entries: Iterable[Entry],
    programmed: Decimal,
    tolerance: Decimal = ZERO,
    required: bool = False,
    new: Entry | None = None,
) -> list[Finding]:
    """The AP/CP chain's invariants on a line's movements, day by day (movements of one day
    taken together): the net affected amount (affectations − désaffectations) stays ≥ 0 and
    within the line's programmed amount (+ the contract's tolerance); a désaffectation never
    releases what is committed (net affected ≥ committed after it); and when the line's partner
    requires an affectation (`required`), the committed amount never exceeds the net affected
    amount — hence no payment beyond the affectation either, payments staying within what is
    committed (`ledger_findings`).

    With `new` (the movement about to be recorded, not in `entries`), a breach is reported only
    where `new` makes it worse: a line committed before its partner required affectations
    still takes payments and affectations, not further commitments."""
    existing = list(entries)
    if not required and not any(
        e.kind in _AFFECTING for e in (existing if new is None else [*existing, new])
    ):
        # Nothing affected, nothing released, nothing required: the net affected amount is 0
        # every day, which breaks none of the rules below (most lines of the AE/CP chain).
        return []
    before = _affectation_series(existing)
    after = _affectation_series([*existing, new] if new is not None else existing)
    # the days a désaffectation breaches on are reported as such
    if new is None:
        releases = {e.date for e in existing if e.kind == DESAFFECTATION}
    else:
        releases = {new.date} if new.kind == DESAFFECTATION else set()
    out: list[Finding] = []
    seen: set[str] = set()
    last = (ZERO, ZERO)
    for day in sorted(after):
        affected, committed = after[day]
        if new is not None:
            # the state without `new` at that day: its own day, or the last one before it
            last = before.get(day, last)
        old_affected, old_committed = last if new is not None else (affected, committed)

        def worse(now: Decimal, then: Decimal, *, limit: Decimal = ZERO) -> bool:
            return now > limit and (new is None or now > max(then, limit))

        if worse(-affected, -old_affected) and "neg-a" not in seen:
            seen.add("neg-a")
            out.append(
                Finding(
                    "amount",
                    f"au {fr_date(day)}, l'AP affectée à la ligne deviendrait négative "
                    f"({format_eur(affected)}) : on ne désaffecte pas plus qu'on a affecté",
                )
            )
            continue
        if worse(affected, old_affected, limit=programmed + tolerance) and "prog-a" not in seen:
            seen.add("prog-a")
            if programmed <= 0:
                message = (
                    "la ligne n'est pas programmée (ligne annulée ou opération non "
                    "programmée) : aucune AP ne peut lui être affectée"
                )
            else:
                message = (
                    f"au {fr_date(day)}, l'AP affectée ({format_eur(affected)}) dépasserait le "
                    f"montant programmé de la ligne ({format_eur(programmed)}) de "
                    f"{format_eur(affected - programmed)}"
                )
                if tolerance:
                    message += f", au-delà de la tolérance du contrat ({format_eur(tolerance)})"
            out.append(Finding("amount", message))
        short, old_short = committed - affected, old_committed - old_affected
        if day in releases and worse(short, old_short) and "beyond" not in seen:
            seen.add("beyond")
            out.append(
                Finding(
                    "amount",
                    f"au {fr_date(day)}, la désaffectation laisserait une AP affectée "
                    f"({format_eur(affected)}) inférieure à l'engagé ({format_eur(committed)}) : "
                    "on ne désaffecte pas ce qui est engagé (désengagez d'abord)",
                )
            )
        elif required and worse(short, old_short) and "beyond" not in seen:
            seen.add("beyond")
            if affected <= 0:
                message = (
                    f"aucune AP n'est affectée à cette ligne au {fr_date(day)} : son partenaire "
                    "exige une affectation (délibération) avant tout engagement"
                )
            else:
                message = (
                    f"au {fr_date(day)}, l'engagé ({format_eur(committed)}) dépasserait l'AP "
                    f"affectée à la ligne ({format_eur(affected)}) de "
                    f"{format_eur(committed - affected)}"
                )
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
    affectation_required: bool = False,
) -> list[Finding]:
    """Everything wrong with recording this movement on a line holding `existing` movements
    (`affectation_required`: the line's partner affects AP before committing)."""
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
    existing = list(existing)
    entries = [*existing, new]
    return ledger_findings(
        entries=entries, programmed=programmed, tolerance=tolerance, status=status
    ) + affectation_findings(
        entries=list(existing),
        new=new,
        programmed=programmed,
        tolerance=tolerance,
        required=affectation_required,
    )


# -- caducité (AP/CP chain) ----------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it has no such day); beyond the
    calendar (before year 1, after 9999) its first or last day: a lapse or a horizon that far
    is "never" or "always", not an error (a dashboard asked for 31/12/9999 still answers)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    if year < dt.MINYEAR:
        return dt.date.min
    if year > dt.MAXYEAR:
        return dt.date.max
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from `start` to `end` (0 when `end` precedes `start`)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return max(0, months)


def unpaid_since(*, entries: Iterable[Entry], as_of: dt.date) -> dt.date | None:
    """Since when the line holds something affected or committed and not paid, without any
    payment: the later of the day that outstanding amount appeared (an affectation or a
    commitment on a line with nothing outstanding) and the line's last payment; None when,
    at `as_of`, nothing is outstanding (all paid, or désaffecté / désengagé)."""
    per_day: dict[dt.date, list[Decimal]] = {}
    for e in entries:
        if e.date > as_of:
            continue
        acc = per_day.setdefault(e.date, [ZERO, ZERO, ZERO, ZERO])
        c, p = signed(e)
        acc[0] += signed_affected(e)
        acc[1] += c
        acc[2] += p
        if e.kind == PAYMENT:
            acc[3] += e.amount
    affected = committed = paid = ZERO
    since: dt.date | None = None
    for day in sorted(per_day):
        a, c, p, gross_paid = per_day[day]
        affected, committed, paid = affected + a, committed + c, paid + p
        outstanding = max(affected, committed) - paid
        if outstanding <= 0:
            since = None
        elif since is None or gross_paid > 0:
            since = day
    return since


def caducity_date(
    *, entries: Iterable[Entry], months: int | None, as_of: dt.date
) -> dt.date | None:
    """The day an affectation or a commitment of a line lapses (caducité) when nothing is paid
    on it: `months` after `unpaid_since`; None when the partner follows no caducité (`months`
    None) or nothing is outstanding at `as_of`."""
    if not months:
        return None
    since = unpaid_since(entries=entries, as_of=as_of)
    return None if since is None else add_months(since, months)


def caducity_findings(
    *, entries: Iterable[Entry], months: int | None, as_of: dt.date, warn_months: int = 0
) -> list[Finding]:
    """The caducité alert of a line at `as_of` (a warning): past its caducity date, or within
    `warn_months` of it. « AP affectée sans mandatement depuis N mois : caducité le … »."""
    items = list(entries)
    since = unpaid_since(entries=items, as_of=as_of)
    if not months or since is None:
        return []
    lapse = add_months(since, months)
    if as_of < add_months(lapse, -warn_months):
        return []
    what = "AP affectée" if any(e.kind == AFFECTATION for e in items) else "engagement"
    return [
        Finding(
            "caducity",
            f"{what} sans mandatement depuis {months_between(since, as_of)} mois : caducité "
            f"le {fr_date(lapse)}",
            WARNING,
        )
    ]


# -- consistency checks (cper contract check) ------------------------------------------------------

_MAX_LISTED = 20


def ledger_breaches(contract: Any) -> list[tuple[int, str, dt.date, int, int, int]]:
    """Every (line, breach, first day, committed, paid, programmed) of a contract's ledger, in
    one pass (window sums over the movements, amounts in cents)."""
    from django.db import connection

    from cper.finance.dialect import movement_affected_cents_sql
    from cper.finance.models import LineState, Movement
    from cper.finance.summaries import movement_cents_sql

    committed, paid = movement_cents_sql("m")
    affected = movement_affected_cents_sql("m")
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
                   SUM({committed}) AS c, SUM({paid}) AS p, SUM({affected}) AS a,
                   SUM(CASE WHEN m.kind = 'desaffectation' THEN 1 ELSE 0 END) AS rel
            FROM {mov} m JOIN {line} l ON l.id = m.financing_line_id
            JOIN {op} o ON o.id = l.operation_id
            WHERE o.contract_id = %s
            GROUP BY m.financing_line_id, m.date
        ), r AS (
            SELECT line_id, day, rel,
                   SUM(c) OVER (PARTITION BY line_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS cc,
                   SUM(p) OVER (PARTITION BY line_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS cp,
                   SUM(a) OVER (PARTITION BY line_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS ca
            FROM d
        )
        SELECT r.line_id, r.day, r.cc, r.cp, COALESCE(s.programmed, 0), r.ca, r.rel
        FROM r LEFT JOIN {state} s ON s.line_id = r.line_id
        WHERE r.cc < 0 OR r.cp < 0 OR r.cp > r.cc + %s OR r.cc > COALESCE(s.programmed, 0) + %s
           OR r.ca < 0 OR r.ca > COALESCE(s.programmed, 0) + %s OR (r.rel > 0 AND r.ca < r.cc)
        ORDER BY r.line_id, r.day
    """
    out: list[tuple[int, str, dt.date, int, int, int]] = []
    seen: set[tuple[int, str]] = set()
    with connection.cursor() as cursor:
        cursor.execute(sql, [contract.pk, tol, tol, tol])
        for line_id, day, cc, cp, prog, ca, rel in cursor.fetchall():
            cc, cp, prog, ca = int(cc), int(cp), int(prog), int(ca)
            if isinstance(day, str):
                day = dt.date.fromisoformat(day)
            for breach, bad in (
                ("engagé négatif", cc < 0),
                ("payé négatif", cp < 0),
                ("payé supérieur à l'engagé", cp > cc + tol),
                ("engagé supérieur au programmé", cc > prog + tol),
                ("AP affectée négative", ca < 0),
                ("AP affectée supérieure au programmé", ca > prog + tol),
                ("désaffectation de montants engagés", int(rel) > 0 and ca < cc),
            ):
                if bad and (line_id, breach) not in seen:
                    seen.add((line_id, breach))
                    out.append((line_id, breach, day, cc, cp, prog))
    return out


def cancellation_breaches(contract: Any) -> list[str]:
    """Cancellations that exceed, precede or mismatch what they cancel. The database returns
    only the cancellations in breach (none in a sound ledger): the check reads no movement of a
    sound one, whatever the size of the ledger."""
    from django.db.models import F, Q, Sum

    from cper.finance.models import Movement

    out: list[str] = []
    cancelling = Movement.objects.filter(
        financing_line__operation__contract=contract, cancels__isnull=False
    )
    over = (
        cancelling.values("cancels_id", "cancels__amount")
        .annotate(total=Sum("amount"))
        .filter(total__gt=F("cancels__amount"))
        .order_by("cancels_id")
    )
    for row in over:
        out.append(
            f"le mouvement n° {row['cancels_id']} ({format_eur(row['cancels__amount'])}) est "
            f"annulé pour {format_eur(row['total'])}"
        )
    matching = Q()
    for kind, target in CANCELS.items():
        matching |= Q(kind=kind, cancels__kind=target)
    wrong = (
        cancelling.filter(
            ~matching
            | ~Q(financing_line_id=F("cancels__financing_line_id"))
            | Q(date__lt=F("cancels__date"))
        )
        .order_by("pk")
        .values_list(
            "pk",
            "kind",
            "cancels_id",
            "cancels__kind",
            "financing_line_id",
            "cancels__financing_line_id",
            "date",
            "cancels__date",
        )
    )
    for pk, kind, target_id, target_kind, line_id, target_line, day, target_day in wrong:
        if CANCELS.get(kind) != target_kind:
            out.append(f"le mouvement n° {pk} ({kind}) annule un {target_kind}")
        elif target_line != line_id:
            out.append(f"le mouvement n° {pk} annule un mouvement d'une autre ligne")
        elif day < target_day:
            out.append(f"le mouvement n° {pk} précède le mouvement n° {target_id} qu'il annule")
    return out


@register_check
def check_ledger(contract: Any) -> list[CheckFinding]:
    """Invariants on every line of the contract (blocking), dates outside the contract
    (blocking) and commitments dated before the operation's programming (warning)."""
    from django.db.models import F
    from django.utils import timezone

    from cper.finance.models import LineState, Movement

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
    # AP/CP chain: lines of partners that affect AP before committing, committed beyond their
    # net affected amount — committed before the partner required it (the service refuses it
    # now): a warning, to regularise by an affectation.
    unaffected = LineState.objects.filter(
        contract=contract, partner__affectation_required=True, committed__gt=F("affected")
    ).count()
    if unaffected:
        findings.append(
            check_finding(
                WARNING,
                "engagement-sans-affectation",
                f"{unaffected} ligne(s) d'un partenaire qui affecte ses AP avant d'engager ont "
                "un engagé supérieur à l'AP affectée : enregistrez l'affectation manquante.",
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


# -- issue 12: the State's budget chain (EJ numbers, AE mises en place) --------------------------

EJ_DIGITS = 10


def ej_reference_findings(*, kind: str, reference: str, state_line: bool) -> list[Finding]:
    """A commitment on a State line (AE/CP) is an engagement juridique of Chorus, whose number
    has exactly 10 digits. Applied to new movements only: movements recorded before the rule
    are not checked again."""
    if kind != COMMITMENT or not state_line:
        return []
    ref = (reference or "").strip()
    if ref.isascii() and ref.isdigit() and len(ref) == EJ_DIGITS:
        return []
    return [
        Finding(
            "reference",
            f"référence : un n° d'EJ compte {EJ_DIGITS} chiffres (reçu « {ref} ») — "
            "un engagement sur une ligne de l'État est un engagement juridique Chorus",
        )
    ]


AE_DELEGATION = "delegation"
AE_WITHDRAWAL = "withdrawal"


def ae_mise_en_place_findings(
    *,
    kind: str,
    amount: Decimal | None,
    year: int | None,
    date: dt.date | None,
    reference: str,
    note: str,
    bop: str | None,
    programme_known: bool,
    first_year: int,
    last_year: int,
    today: dt.date,
    net_before: Decimal = ZERO,
) -> list[Finding]:
    """An AE mise en place (or its withdrawal) about to be recorded for a programme × BOP × year
    whose net delegated amount is `net_before`: a known programme, a positive amount, a year of
    the contract, a date not in the future, a reference; a withdrawal says why and never takes
    back more than was put in place."""
    out: list[Finding] = []
    if kind not in (AE_DELEGATION, AE_WITHDRAWAL):
        return [Finding("kind", f"nature inconnue « {kind} » (mise en place ou retrait)")]
    if not programme_known:
        out.append(Finding("programme", "programme : indiquez un programme LOLF connu (P112…)"))
    if amount is None or amount <= 0:
        out.append(Finding("amount", "montant : il doit être strictement positif"))
    if year is None or not (first_year <= year <= last_year):
        out.append(
            Finding(
                "year",
                f"exercice : une année du contrat ({first_year}–{last_year}) est attendue",
            )
        )
    if date is None:
        out.append(Finding("date", "date : elle est obligatoire"))
    elif date > today:
        out.append(Finding("date", f"date : {fr_date(date)} est postérieure à aujourd'hui"))
    if not (reference or "").strip():
        out.append(
            Finding("reference", "référence : indiquez la référence de la notification d'AE")
        )
    elif len(reference.strip()) > 60:
        out.append(Finding("reference", "référence : elle dépasse 60 caractères"))
    if bop is not None and len(bop.strip()) > 30:
        out.append(Finding("bop", "BOP : le code dépasse 30 caractères"))
    if kind == AE_WITHDRAWAL:
        if not (note or "").strip():
            out.append(Finding("note", "note : un retrait d'AE dit son motif"))
        if amount is not None and amount > 0 and amount > net_before:
            out.append(
                Finding(
                    "amount",
                    f"montant : le retrait ({format_eur(amount)}) dépasse les AE mises en place "
                    f"pour ce programme, ce BOP et cet exercice ({format_eur(net_before)})",
                )
            )
    return out


# -- end of issue 12: the State's budget chain ---------------------------------------------------
