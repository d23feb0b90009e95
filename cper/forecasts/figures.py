"""The forecast figures of one financing line, as pure functions (no query, no Django): the
payment credits it needs for a budget year, and whether its execution slips behind its schedule.

Definitions (docs/forecasts.md):

- **besoin en CP pour N+1** of a line = its planned payment of year N+1
  + the *shortfall carried* from the past: Σ planned payments of the years ≤ N − the line's
  cumulative payments dated ≤ 31/12/N as known today, when that difference is positive (a line
  paid ahead of its schedule carries nothing, and does not lower its N+1 need);
- **retard** at a date D: the planned cumulative amount (commitments, or payments) of the years
  fully elapsed at D (every year Y with 31/12/Y ≤ D) minus the actual cumulative amount at D;
  the line slips when that gap exceeds *both* the rate (default 20 % of the planned cumulative
  amount) and the floor (default 10 000 €).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

# {budget nature: (word for commitments, word for payments)}; Partner.budget_nature values.
_WORDS = {"ae_cp": ("AE", "CP"), "ap_cp": ("AP", "CP")}


def credit_words(budget_nature: str | None) -> tuple[str, str]:
    """How the partner names its credits: ("AE", "CP") for the State, ("AP", "CP") for local
    authorities voting programme authorisations; ("engagements", "paiements") otherwise."""
    return _WORDS.get(budget_nature or "", ("engagements", "paiements"))


@dataclass(frozen=True)
class Need:
    """The payment credits a line (or a sum of lines) needs for year N+1."""

    next_year: Decimal  # planned payments of N+1
    carried: Decimal  # shortfall of the years ≤ N, when positive

    @property
    def total(self) -> Decimal:
        return self.next_year + self.carried

    def __add__(self, other: Need) -> Need:
        return Need(self.next_year + other.next_year, self.carried + other.carried)


NO_NEED = Need(ZERO, ZERO)


def payment_need(*, payments: Mapping[int, Decimal], paid: Decimal, year: int) -> Need:
    """The need of one line for budget `year` (= N+1): `payments` is its schedule's planned
    payments by year, `paid` its cumulative payments dated ≤ 31/12/(year − 1)."""
    next_year = payments.get(year, ZERO)
    due = sum((v for y, v in payments.items() if y < year), ZERO)
    return Need(next_year, max(due - paid, ZERO))


def planned_cumulative(*, planned: Mapping[int, Decimal], at: dt.date) -> Decimal:
    """The planned amounts of the years fully elapsed at `at` (31/12/Y ≤ at)."""
    last_complete = at.year if (at.month, at.day) == (12, 31) else at.year - 1
    return sum((v for y, v in planned.items() if y <= last_complete), ZERO)


@dataclass(frozen=True)
class Slip:
    """How far a line's actual cumulative amount falls behind its schedule."""

    what: str  # "commitment" | "payment"
    planned: Decimal
    actual: Decimal

    @property
    def gap(self) -> Decimal:
        return self.planned - self.actual

    @property
    def gap_rate(self) -> Decimal | None:
        if not self.planned:
            return None
        return (self.gap * 100 / self.planned).quantize(Decimal("0.1"))


def slippage(
    *,
    planned: Mapping[int, Decimal],
    actual: Decimal,
    at: dt.date,
    what: str,
    rate: Decimal,
    floor: Decimal,
) -> Slip | None:
    """The slip of a line at `at` when the gap exceeds both `rate` (a fraction: 0.20) of the
    planned cumulative amount and `floor` euros; None when the line keeps to its schedule."""
    expected = planned_cumulative(planned=planned, at=at)
    gap = expected - actual
    if gap <= 0 or gap <= floor or gap <= expected * rate:
        return None
    return Slip(what, expected, actual)
