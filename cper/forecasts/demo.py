"""The forecasts' chapter of the demo (`cper demo`, registered in `cper.demo.extras`):
invented schedules on about 40 % of the active partner lines of operations programmed or later,
through the service, as the system, deterministic for a seed. Every figure is illustrative (a
demo line's schedule is only a plausible shape, not a partner's forecast).

Shape: from the year the line was programmed, the elapsed years plan about what the line
actually committed and paid by last 31 December (the aggregation service's figures) times a
factor drawn between 0.8 and 1.4 — so that some lines fall behind their schedule and raise an
alert, as in life — and the rest of the line is planned over the next three years."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.finance.aggregation import line_execution
from cper.finance.models import LineState
from cper.forecasts.services import ScheduleDraft, schedules_replace_many
from cper.operations.models import PROGRAMMED_STATUSES, FinancingLine, LineStatus

SHARE = 0.4
FUTURE_YEARS = 3


def _spread(cents: int, parts: int) -> list[int]:
    """`cents` in `parts` near-equal integers (exact sum)."""
    if parts <= 0:
        return []
    base, rest = divmod(cents, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def demo_forecasts(*, contract: Contract, seed: int, scale: str) -> str:
    rng = random.Random(f"forecasts-{seed}")
    today = timezone.localdate()
    closed = today.year - 1  # the last elapsed year
    last = contract.end_year + 5
    lines = [
        line
        for line in FinancingLine.objects.filter(
            operation__contract=contract,
            operation__status__in=PROGRAMMED_STATUSES,
            status=LineStatus.ACTIVE,
            partner__isnull=False,
        )
        .only("pk", "amount", "year")
        .order_by("pk")
        if rng.random() < SHARE
    ]
    programmed = dict(
        LineState.objects.filter(pk__in=[x.pk for x in lines]).values_list(
            "line_id", "programmed_on"
        )
    )
    actual = line_execution(lines=lines, as_of=dt.date(closed, 12, 31))
    drafts: list[ScheduleDraft] = []
    for line in lines:
        cents = int(line.amount * 100)
        on = programmed.get(line.pk)
        start = on.year if on else (line.year or contract.start_year)
        start = min(max(start, contract.start_year), last)
        if cents <= 0:
            continue
        past = list(range(start, min(closed, last) + 1))
        future = list(
            range(max(start, closed + 1), min(max(start, closed + 1) + FUTURE_YEARS, last + 1))
        )
        x = actual[line.pk]
        factor = Decimal(str(round(rng.uniform(0.8, 1.4), 2)))
        past_c = min(cents, int(x.committed * 100 * factor)) if past else 0
        past_p = min(past_c, int(x.paid * 100 * factor)) if past else 0
        total_p = cents if rng.random() < 0.7 else int(cents * 0.9)
        if not future:  # nothing left to plan after this year: all in the elapsed years
            past_c, past_p = cents, max(past_p, total_p)
        commitments = _spread(past_c, len(past)) + _spread(cents - past_c, min(1, len(future)))
        payments = _spread(past_p, len(past)) + _spread(max(total_p - past_p, 0), len(future))
        years = past + future
        rows = []
        for i, year in enumerate(years):
            c = commitments[i] if i < len(commitments) else 0
            p = payments[i] if i < len(payments) else 0
            rows.append((year, Decimal(c) / 100, Decimal(p) / 100))
        if rows:
            drafts.append(ScheduleDraft(line=line.pk, rows=tuple(rows)))
    if drafts:
        schedules_replace_many(actor=Actor.system(), contract=contract, schedules=drafts)
    return f"prévisions : {len(drafts)} échéanciers prévisionnels inventés (illustratifs)"
