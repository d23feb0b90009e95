"""Rate counters shared by every worker process: one row per key in the database.

A limit "N per period" is a window that opens at a key's first request and lasts the period;
within it at most N requests pass. The hit is counted by a single UPDATE (restarting the window
when it has expired), read back in the same transaction, so concurrent requests — in threads or
in separate processes — never lose an increment and the limit holds exactly. Django's cache is
not used for this: its database backend increments by a read followed by a write, which loses
hits under concurrency.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Case, F, FloatField, IntegerField, Q, Value, When

from cper.api.models import RateCounter

_PERIODS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
# Counters idle longer than this are deleted when a new key appears (addresses come and go).
FORGET_AFTER = 86400.0


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" → (600, 60); "10/5s" → (10, 5)."""
    count, _, rest = rate.partition("/")
    digits = "".join(ch for ch in rest if ch.isdigit())
    unit = rest[len(digits) :] or "s"
    return int(count), int(digits or 1) * _PERIODS[unit]


@dataclass(frozen=True)
class Window:
    """A key's current window: how many requests it has counted, since when."""

    hits: int
    started: float
    period: int

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until the window closes (at least 1)."""
        now = time.time() if now is None else now
        return max(self.started + self.period - now, 1.0)


def counter_key(scope: str, ident: str) -> str:
    """The row's key; an identifier too long for the column (a forwarded header) is hashed."""
    key = f"{scope}:{ident}"
    if len(key) <= 200:
        return key
    return f"{scope}:sha256:{hashlib.sha256(ident.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _increment(key: str, now: float, period: int) -> int:
    open_window = Q(started__gt=now - period)
    # Both expressions read the row as it was before the UPDATE (SQL semantics).
    return RateCounter.objects.filter(key=key).update(
        hits=Case(
            When(open_window, then=F("hits") + 1), default=Value(1), output_field=IntegerField()
        ),
        started=Case(
            When(open_window, then=F("started")), default=Value(now), output_field=FloatField()
        ),
    )


def rate_hit(*, key: str, period: int, now: float | None = None) -> Window:
    """Count one request for `key` and return its window after the hit."""
    now = float(time.time() if now is None else now)
    with transaction.atomic():
        # The UPDATE locks the row until the end of this transaction (a write lock on
        # SQLite), so the read below sees exactly this hit's count.
        if not _increment(key, now, period):
            try:
                with transaction.atomic():
                    RateCounter.objects.create(key=key, started=now, hits=1)
            except IntegrityError:  # another process created it in between: count on it
                _increment(key, now, period)
            else:
                RateCounter.objects.filter(started__lt=now - FORGET_AFTER).delete()
        hits, started = RateCounter.objects.filter(key=key).values_list("hits", "started").get()
    return Window(hits=hits, started=started, period=period)


def rate_peek(*, key: str, period: int, now: float | None = None) -> Window | None:
    """The key's open window without counting a request; None if it has none."""
    now = time.time() if now is None else now
    row = (
        RateCounter.objects.filter(key=key, started__gt=now - period)
        .values_list("hits", "started")
        .first()
    )
    return None if row is None else Window(hits=row[0], started=row[1], period=period)
