"""Verification: the stored summaries equal their recomputation (`cper contract check`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from cper.finance.models import ExecutionCell, LineState

from .rebuild import _cumulative, _expected_cells_sql, _stage, _unstage
from .snapshots import (
    BASE,
    CELL_DIMS,
    MONTHLY_DIMS,
    period_start,
    snapshots_compute,
    snapshots_stored,
)
from .totals import totals_differences

# -- verification ---------------------------------------------------------------------------------


@dataclass
class Discrepancy:
    what: str  # "ligne" | "opération" | "agrégat"
    key: str
    stored: Any
    expected: Any


def _stored_cells(contract_id: int, grain: str, dim: str) -> dict[tuple, tuple[int, int, int]]:
    out = {}
    for row in (
        ExecutionCell.objects.filter(contract_id=contract_id, grain=grain, dim=dim)
        .exclude(programmed=0, committed=0, paid=0)
        .values_list(
            "value", "period", "partner_id", "objective_id", "programmed", "committed", "paid"
        )
        .iterator(chunk_size=20000)
    ):
        out[(row[0], row[1], row[2], row[3])] = (int(row[4]), int(row[5]), int(row[6]))
    return out


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _rolled(
    source: dict[tuple, tuple[int, int, int]], grain: str
) -> dict[tuple, tuple[int, int, int]]:
    out: dict[tuple, list[int]] = {}
    for (value, period, partner, objective), vals in source.items():
        key = (value, period_start(_as_date(period), grain), partner, objective)
        acc = out.setdefault(key, [0, 0, 0])
        for i in range(3):
            acc[i] += vals[i]
    return {k: (v[0], v[1], v[2]) for k, v in out.items() if any(v)}


def verify(contract: Any, *, limit: int = 20) -> list[Discrepancy]:
    """Compare the stored summaries of a contract with their recomputation from the register
    and the ledger; [] when they are equal. Line states are recomputed in full; cells are
    recomputed from the movements at the finest stored grain of each dimension (day for the
    base, month for the others) and the coarser grains are checked as exact roll-ups."""
    found: list[Discrepancy] = []

    def add(item: Discrepancy) -> bool:
        found.append(item)
        return len(found) >= limit

    expected = snapshots_compute(contract_ids=[contract.pk])
    cumulative = _cumulative(contract.pk)
    stored_ids = set(LineState.objects.filter(contract_id=contract.pk).values_list("pk", flat=True))
    for lid in sorted(stored_ids - set(expected)):
        if add(Discrepancy("ligne", str(lid), "présente", "absente")):
            return found
    stored = {}
    ids = sorted(set(expected) | stored_ids)
    for i in range(0, len(ids), 5000):
        stored.update(snapshots_stored(ids[i : i + 5000]))
    amounts = dict(
        (
            (pk, (c, p, a))
            for pk, c, p, a in LineState.objects.filter(contract_id=contract.pk)
            .values_list("pk", "committed", "paid", "affected")
            .iterator(chunk_size=20000)
        )
    )
    for lid, snap in expected.items():
        if stored.get(lid) != snap and add(Discrepancy("ligne", str(lid), stored.get(lid), snap)):
            return found
        want = cumulative.get(lid, (0, 0, 0))
        have = tuple(int(x) for x in amounts[lid]) if lid in amounts else want
        if have != want and add(Discrepancy("ligne", f"{lid} (cumuls)", have, want)):
            return found
    for op, kept, total in totals_differences(contract.pk):
        if add(Discrepancy("opération", f"{op} (montant contractualisé, centimes)", kept, total)):
            return found
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, contract.pk)
        try:
            return _verify_cells(cursor, contract, found, add)
        finally:
            _unstage(cursor)


def _verify_cells(cursor: Any, contract: Any, found: list, add: Any) -> list[Discrepancy]:
    for dim in (BASE, *CELL_DIMS):
        grain = "M" if dim in MONTHLY_DIMS else "D"
        sql, params = _expected_cells_sql(contract.pk, grain, dim)
        cursor.execute(sql, params)
        recomputed = {
            (r[3], _as_date(r[4]), r[6], r[7]): (int(r[8]), int(r[9]), int(r[10]))
            for r in cursor.fetchall()
        }
        levels = [(grain, recomputed)]
        if grain == "D":
            levels.append(("M", _rolled(recomputed, "M")))
        levels.append(("Y", _rolled(levels[-1][1], "Y")))
        for g, want in levels:
            have = {
                (k[0], _as_date(k[1]), k[2], k[3]): v
                for k, v in _stored_cells(contract.pk, g, dim).items()
            }
            for key in sorted(set(want) | set(have), key=str):
                if want.get(key) != have.get(key):
                    label = f"{g}/{dim or 'base'}/{key}"
                    if add(Discrepancy("agrégat", label, have.get(key), want.get(key))):
                        return found
    return found


def horizon(contract_ids: Sequence[int]) -> dt.date | None:
    """The latest day holding an amount in the day cells of these contracts."""
    cell = (
        ExecutionCell.objects.filter(contract_id__in=list(contract_ids), grain="D", dim=BASE)
        .filter(~Q(programmed=0) | ~Q(committed=0) | ~Q(paid=0))
        .order_by("-period")
        .values_list("period", flat=True)
        .first()
    )
    return cell
