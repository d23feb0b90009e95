"""Demonstration movements: commitments and payments consistent with each operation's status
and dates, about ten per financing line, recorded through the ledger's one write path
(`movements_record_many`, by batches of lines, as the system): the rules check them, each is
audited, and the summaries are recomputed once at the end, in the same transaction
(`summaries.rebuilt_after`).

On the lines of partners that affect AP before committing (`Partner.affectation_required`:
the Region, départements, métropoles), an affectation d'AP comes first, and some of what is
left is désaffecté (`with_affectations`); a few lines are affected without any commitment,
the older of which are past their caducité. Every figure is illustrative.

Called by `cper demo` once operations and financing lines exist. Every generated sequence
respects the ledger's invariants (checked by `cper contract check`): commitments on or after
the programming date, payments after a commitment and never above it, cancellations after and
within what they cancel, dates up to today.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cper.audit.services import Actor
from cper.db import collector_paused
from cper.finance import rules, summaries
from cper.finance.models import Movement
from cper.finance.services import MovementDraft, movements_record_many
from cper.operations.models import PROGRAMMED_STATUSES, FinancingLine, LineStatus

# Per operation status: (probability the line is committed at all, committed share of the
# line (min, max), paid share of the committed amount (min, max), payments (min, max)).
PROFILES: dict[str, tuple[float, tuple[float, float], tuple[float, float], tuple[int, int]]] = {
    "programmed": (0.8, (0.4, 1.0), (0.0, 0.35), (1, 5)),
    "in_progress": (1.0, (0.75, 1.0), (0.25, 0.85), (5, 11)),
    "completed": (1.0, (0.95, 1.0), (0.85, 1.0), (7, 12)),
    "closed": (1.0, (1.0, 1.0), (0.85, 1.0), (7, 12)),
}
LINES_PER_BATCH = 2_000  # about 20,000 movements a call: few queries, bounded memory


@dataclass
class GenerateReport:
    lines: int
    movements: int
    seconds: float
    rebuild_seconds: float = 0.0  # nothing to rebuild: the service keeps the summaries


class DemoRefused(RuntimeError):
    """The service refused a generated movement: the generator broke a ledger rule."""


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` cents in `parts` positive amounts (fewer when there are not enough cents)."""
    parts = max(1, min(parts, total))
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _days(start: dt.date, end: dt.date, n: int, rng: random.Random) -> list[dt.date]:
    span = (end - start).days
    return sorted(start + dt.timedelta(days=rng.randint(0, span)) for _ in range(n))


def line_movements(
    *,
    amount: int,
    status: str,
    programmed_on: dt.date,
    today: dt.date,
    rng: random.Random,
) -> list[tuple[str, dt.date, int, int | None]]:
    """(kind, date, cents, index of the cancelled movement) of one line, chronological for
    each kind and respecting every invariant."""
    profile = PROFILES.get(status)
    if profile is None or amount <= 0 or programmed_on > today:
        return []
    p_commit, (c_lo, c_hi), (p_lo, p_hi), (n_lo, n_hi) = profile
    if rng.random() > p_commit:
        return []
    out: list[tuple[str, dt.date, int, int | None]] = []
    span = (today - programmed_on).days
    committed_total = int(amount * rng.uniform(c_lo, c_hi)) if c_hi < 1 else amount
    committed_total = max(1, min(amount, committed_total))
    # commitments: one to three tranches in the first part of the period
    tranches = _split(committed_total, rng.choice((1, 2, 2, 3, 3, 4)), rng)
    last_commit_day = programmed_on + dt.timedelta(days=int(span * 0.4))
    commit_days = _days(programmed_on, last_commit_day, len(tranches), rng)
    for day, cents in zip(commit_days, tranches, strict=True):
        out.append(("commitment", day, cents, None))
    # payments: after the first commitment, never above what is committed at their date
    n_pay = rng.randint(n_lo, n_hi)
    paid_target = int(committed_total * rng.uniform(p_lo, p_hi))
    pay_days = _days(commit_days[0], today, n_pay, rng) if n_pay and paid_target > 0 else []
    plan = _split(paid_target, len(pay_days), rng) if pay_days else []
    paid = 0
    payments: list[int] = []  # indexes in out
    for day, want in zip(pay_days, plan, strict=False):
        available = sum(c for k, d, c, _ in out if k == "commitment" and d <= day) - paid
        cents = min(want, available)
        if cents <= 0:
            continue
        payments.append(len(out))
        out.append(("payment", day, cents, None))
        paid += cents
    # sometimes a payment is partly cancelled, and paid again later
    if payments and rng.random() < 0.12:
        idx = rng.choice(payments)
        _, pday, pcents, _ = out[idx]
        cancel_day = min(today, pday + dt.timedelta(days=rng.randint(1, 60)))
        part = max(1, int(pcents * rng.choice((0.1, 0.25, 0.5, 1.0))))
        out.append(("payment_cancellation", cancel_day, part, idx))
        again = min(today, cancel_day + dt.timedelta(days=rng.randint(1, 90)))
        out.append(("payment", again, part, None))
    # decommitments: the closed operation's unpaid remainder, or now and then a partial one
    remainder = committed_total - paid
    last_day = max(d for _, d, _, _ in out)
    if remainder > 0 and (status == "closed" or rng.random() < 0.2):
        amount_left = remainder if status == "closed" else max(1, int(remainder * rng.random()))
        day = min(today, last_day + dt.timedelta(days=rng.randint(0, 120)))
        for i, (kind, _, cents, _) in enumerate(list(out)):
            if kind != "commitment" or amount_left <= 0:
                continue
            part = min(cents, amount_left)
            out.append(("decommitment", day, part, i))
            amount_left -= part
    return out


# Lines of partners requiring affectations left unpaid since their commitments (illustrative).
STALLED_SHARE = 0.05
STALLED_AFTER_MONTHS = 40


def with_affectations(
    seq: list[tuple[str, dt.date, int, int | None]],
    *,
    amount: int,
    programmed_on: dt.date,
    today: dt.date,
    rng: random.Random,
) -> list[tuple[str, dt.date, int, int | None]]:
    """A line's movements (`line_movements`) on a line whose partner requires AP
    affectations: one affectation before the first commitment (the committed total and
    sometimes more, within the line's amount), the unused remainder désaffecté now and then
    (always after a closed operation's decommitment); a line without commitment is sometimes
    affected alone — the older ones are past their caducité, for the alerts to show. All
    illustrative; the invariants hold (affected ≥ committed at every date)."""
    if amount <= 0 or programmed_on > today:
        return seq
    if (
        any(k == "commitment" for k, *_ in seq)
        and programmed_on <= rules.add_months(today, -STALLED_AFTER_MONTHS)
        and rng.random() < STALLED_SHARE
    ):
        # a stalled operation: affected and committed long ago, never paid (past caducité)
        seq = [m for m in seq if m[0] == "commitment"]
    commits = [(d, c) for k, d, c, _ in seq if k == "commitment"]
    if not commits:
        if seq or rng.random() > 0.3:
            return seq
        day = programmed_on + dt.timedelta(days=rng.randint(0, (today - programmed_on).days))
        return [("affectation", day, max(1, int(amount * rng.uniform(0.3, 1.0))), None)]
    committed_total = sum(c for _, c in commits)
    first = min(d for d, _ in commits)
    day = programmed_on + dt.timedelta(days=rng.randint(0, (first - programmed_on).days))
    headroom = max(0, amount - committed_total)
    affected = committed_total + int(headroom * rng.choice((0.0, 0.0, 0.5, 1.0)))
    # the affectation comes first: the commitments are checked against it
    out = [("affectation", day, affected, None)] + [
        (k, d, c, None if x is None else x + 1) for k, d, c, x in seq
    ]
    decommitted = sum(c for k, _, c, _ in seq if k == "decommitment")
    free = affected - committed_total + decommitted  # never committed, or released since
    last = max(d for _, d, _, _ in out)
    if free > 0 and (decommitted or rng.random() < 0.3):
        # released once nothing more will be committed on it (after the decommitments)
        part = free if decommitted else max(1, int((affected - committed_total) * rng.random()))
        if part > 0 and affected - committed_total + decommitted >= part:
            release = min(today, last + dt.timedelta(days=rng.randint(0, 60)))
            out.append(("desaffectation", release, part, None))
    return out


def _reference(kind: str, day: dt.date, n: int) -> str:
    if kind == "commitment":
        # An engagement juridique number (10 digits), which a State AE/CP line requires
        # (`rules.ej_reference_findings`); the other partners' engagements are numbered alike.
        return f"{2200000000 + n % 100000000:010d}"
    prefix = {
        "commitment": "EJ",
        "decommitment": "DEJ",
        "payment": "MDT",
        "payment_cancellation": "AMDT",
        "affectation": "AFF",
        "desaffectation": "DAFF",
    }[kind]
    return f"{prefix}-{day.year}-{n:08d}"


def _lines(contract: Any, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    qs = (
        FinancingLine.objects.filter(
            operation__contract=contract,
            status=LineStatus.ACTIVE,
            operation__status__in=list(PROGRAMMED_STATUSES),
        )
        .order_by("pk")
        .values_list(
            "pk",
            "amount",
            "operation_id",
            "operation__status",
            "operation__created_at",
            "partner__affectation_required",
        )
    )
    batch: list[tuple[Any, ...]] = []
    for row in qs.iterator(chunk_size=chunk):
        batch.append(row)
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def movements_generate(
    *,
    contract: Any,
    rng_seed: int,
    scale: str = "S",
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> GenerateReport:
    """Generate the demonstration movements of a contract's programmed lines (the lines that
    already hold movements are left alone) through `movements_record_many`. `scale` is only
    reported: the number of movements follows the number of lines (about ten each). The
    references number the movements from the next free id, as the ids they get on a database
    written by this generator alone."""
    started = time.perf_counter()
    rng = random.Random(rng_seed)
    today = today or timezone.localdate()
    first_day = dt.date(contract.start_year, 1, 1)
    say = progress or (lambda _msg: None)
    programmed_on = summaries._programmed_on(None, [contract.pk])
    busy = set(
        Movement.objects.filter(financing_line__operation__contract=contract)
        .values_list("financing_line_id", flat=True)
        .distinct()
    )
    actor = Actor.system()
    # Checked and audited movement by movement by the ledger's service; the summaries are
    # recomputed once at the end (`rebuilt_after`) rather than upserted batch after batch.
    with collector_paused(), transaction.atomic(), summaries.rebuilt_after():
        number = (Movement.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        lines = total = 0
        rank = 0  # the line's place among the contract's lines: its generator's seed
        for batch in _lines(contract, LINES_PER_BATCH):
            drafts: list[MovementDraft] = []
            for line_id, amount, op_id, status, created_at, affects in batch:
                rank += 1
                if line_id in busy:
                    continue
                on = programmed_on.get(op_id) or summaries._local_date(created_at) or first_day
                on = max(on, first_day)
                seq = line_movements(
                    amount=summaries.cents(amount),
                    status=status,
                    programmed_on=on,
                    today=today,
                    rng=rng,
                )
                if affects:
                    # AP/CP chain: a generator of its own per line, so that the other lines'
                    # movements stay those of the seed (seeded by the line's place, not its
                    # id: the ids are the database's, which a seed does not fix).
                    seq = with_affectations(
                        seq,
                        amount=summaries.cents(amount),
                        programmed_on=on,
                        today=today,
                        rng=random.Random(rng_seed * 1_000_003 + rank),
                    )
                if not seq:
                    continue
                lines += 1
                base = len(drafts)
                for kind, day, value, cancels in seq:
                    drafts.append(
                        MovementDraft(
                            financing_line=line_id,
                            kind=kind,
                            date=day,
                            amount=summaries.euros(value),
                            reference=_reference(kind, day, number),
                            cancels_draft=None if cancels is None else base + cancels,
                        )
                    )
                    number += 1
            if not drafts:
                continue
            result = movements_record_many(actor=actor, movements=drafts)
            refused = [(d, o) for d, o in zip(drafts, result.outcomes, strict=True) if o.error]
            if refused:
                draft, outcome = refused[0]
                raise DemoRefused(
                    f"mouvement de démonstration refusé ({draft.reference}) : {outcome.error}"
                )
            total += len(drafts)
            say(f"{total} mouvements")
        if connection.vendor == "postgresql":
            # Fresh statistics for the planner after a bulk load (not a write of any row).
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Movement._meta.db_table}")
    return GenerateReport(lines=lines, movements=total, seconds=time.perf_counter() - started)
