"""Incremental upkeep of the summaries, inside the transaction of each write: `lines_sync` when
what lines count as may have changed, `states_for` then `movements_applied` around new
movements, `deferred` to sync once at the end of a bulk write."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from cper.contracts.models import Contract
from cper.db import ids_in, insert_rows, update_rows
from cper.finance.models import LineState, LineTag, Movement, MovementKind
from cper.operations.models import FinancingLine

from .cells import CellKey, _add_entries, _apply, _contribution
from .rebuild import rebuild
from .snapshots import (
    LEDGER_FIELDS,
    STATE_FIELDS,
    LineSnapshot,
    cents,
    signed,
    signed_affected,
    snapshots_compute,
    snapshots_stored,
)
from .totals import totals_sync

# -- incremental upkeep --------------------------------------------------------------------------

_local = threading.local()


def _deferred_ids() -> set[int] | None:
    return getattr(_local, "deferred_lines", None)


@contextlib.contextmanager
def deferred() -> Iterator[set[int]]:
    """Collect the lines to re-synchronise instead of syncing each save; sync them once at the
    end (for bulk writes through `save()`, e.g. an import of many rows)."""
    outer = _deferred_ids()
    if outer is not None:
        yield outer
        return
    _local.deferred_lines = set()
    try:
        yield _local.deferred_lines
        pending = _local.deferred_lines
    finally:
        _local.deferred_lines = None
    lines_sync(line_ids=pending)


def _rebuilding() -> set[int] | None:
    return getattr(_local, "rebuild_contracts", None)


@contextlib.contextmanager
def rebuilt_after() -> Iterator[None]:
    """For a bulk load of a ledger (the demonstration's millions of movements): the movements
    recorded inside, still checked and audited by their service, leave the lines' cumulative
    amounts and the cells alone; the summaries of their contracts are recomputed from the
    ledger once on leaving (`rebuild`), inside the caller's transaction. Incremental upkeep
    costs an upsert of every cell a movement touches, batch after batch (most of the
    demonstration's time at scale M); one recomputation reads the ledger once."""
    if _rebuilding() is not None:  # nested: the outer one rebuilds
        yield
        return
    _local.rebuild_contracts = set()
    try:
        yield
        contracts = sorted(_local.rebuild_contracts)
    finally:
        _local.rebuild_contracts = None
    for contract in Contract.objects.filter(pk__in=contracts).order_by("pk"):
        rebuild(contract)


def _day_amounts(line_ids: Sequence[int]) -> dict[int, list[tuple[dt.date, int, int]]]:
    """{line: [(day, committed cents, paid cents)]} from the raw movements."""
    per: dict[int, dict[dt.date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for i in range(0, len(line_ids), 5000):
        chunk = line_ids[i : i + 5000]
        for line_id, day, kind, amount in Movement.objects.filter(
            ids_in("financing_line_id", chunk)
        ).values_list("financing_line_id", "date", "kind", "amount"):
            c, p = signed(kind, cents(amount))
            acc = per[line_id][day]
            acc[0] += c
            acc[1] += p
    return {line: sorted((d, v[0], v[1]) for d, v in days.items()) for line, days in per.items()}


_NO_LEDGER = (0, 0, None, None)
_OPENING = frozenset({MovementKind.AFFECTATION, MovementKind.COMMITMENT})


def _ledger_totals(line_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """{line: (net affected cents, number of movements, last payment's date, first
    affectation's or commitment's date)} from the raw movements (affected: affectations −
    désaffectations)."""
    out: dict[int, list[Any]] = defaultdict(lambda: [0, 0, None, None])
    for i in range(0, len(line_ids), 5000):
        for line_id, kind, day, amount in Movement.objects.filter(
            ids_in("financing_line_id", line_ids[i : i + 5000])
        ).values_list("financing_line_id", "kind", "date", "amount"):
            acc = out[line_id]
            acc[0] += signed_affected(kind, cents(amount))
            acc[1] += 1
            if kind == MovementKind.PAYMENT and (acc[2] is None or day > acc[2]):
                acc[2] = day
            if kind in _OPENING and (acc[3] is None or day < acc[3]):
                acc[3] = day
    return {line: tuple(acc) for line, acc in out.items()}


SYNC_CHUNK = 20_000


def lines_sync(
    *,
    line_ids: Iterable[int] | None = None,
    operation_ids: Iterable[int] | None = None,
    removed: Iterable[int] = (),
) -> int:
    """Bring the summaries of these lines (or of these operations' lines) in line with the
    register; returns how many lines changed what they count as. `removed` lines (about to be
    deleted) lose their contribution."""

    gone_ids = set(removed)
    ids = set(line_ids or ()) | gone_ids
    if operation_ids is not None:
        ops = list(operation_ids)
        if ops:
            ids |= set(
                FinancingLine.objects.filter(ids_in("operation_id", ops)).values_list(
                    "pk", flat=True
                )
            )
            # Their totals now, even deferred or without any line (a new operation): the lines
            # synced later bring their own operations' totals up to date again.
            totals_sync(ops, gone=gone_ids)
    pending = _deferred_ids()
    if pending is not None and not gone_ids:
        pending |= ids
        return 0
    if not ids:
        return 0
    ordered = sorted(ids)
    if len(ordered) > SYNC_CHUNK:
        # An import of a whole register: by slices, each query's IN list within the
        # database's limits (SQLite refuses hundreds of thousands of variables).
        with transaction.atomic():
            return sum(
                lines_sync(
                    line_ids=[i for i in ordered[k : k + SYNC_CHUNK] if i not in gone_ids],
                    removed=[i for i in ordered[k : k + SYNC_CHUNK] if i in gone_ids],
                )
                for k in range(0, len(ordered), SYNC_CHUNK)
            )
    with transaction.atomic():
        new = snapshots_compute(line_ids=ordered)
        for lid in gone_ids:
            new.pop(lid, None)
        old = snapshots_stored(ordered)

        def contribution(snaps: dict[int, LineSnapshot], lid: int) -> tuple[Any, ...] | None:
            snap = snaps.get(lid)
            return snap.contribution_key() if snap is not None else None

        changed = [lid for lid in ordered if contribution(new, lid) != contribution(old, lid)]
        missing = [lid for lid in ordered if lid in new and lid not in old]
        days = _day_amounts(sorted(set(changed) | set(missing)))
        deltas: dict[CellKey, list[int]] = {}
        for lid in changed:
            if lid in old:
                _contribution(deltas, old[lid], days.get(lid, []), -1)
            if lid in new:
                _contribution(deltas, new[lid], days.get(lid, []), +1)
        _apply(deltas)
        # line states and tags
        gone = [lid for lid in ordered if lid not in new and lid in old]
        if gone:
            LineState.objects.filter(pk__in=gone).delete()
        # New states and tags are appended in bulk, as plain rows (an import brings thousands
        # of lines: the ORM's per-object work would be most of the upkeep).
        created: list[tuple[Any, ...]] = []
        ledger = _ledger_totals([lid for lid in ordered if lid in new and lid not in old])
        retagged: list[int] = []
        tags: list[tuple[int, str, str]] = []
        updated: list[tuple[Any, ...]] = []
        for lid in ordered:
            snap = new.get(lid)
            if snap is None:
                continue
            before = old.get(lid)
            if before == snap:
                continue
            if before is None:
                committed = sum(c for _, c, _ in days.get(lid, []))
                paid = sum(p for _, _, p in days.get(lid, []))
                created.append(
                    (lid, *_fields(snap).values(), committed, paid, *ledger.get(lid, _NO_LEDGER))
                )
            else:
                updated.append((lid, *_fields(snap).values()))
            if before is None or before.tags != snap.tags:
                if before is not None:
                    retagged.append(lid)
                tags += [(lid, k, v) for k, v in sorted(snap.tags)]
        insert_rows(
            LineState._meta.db_table,
            ("line_id", *STATE_FIELDS, *LEDGER_FIELDS),
            created,
        )
        # Existing states changed (a decision, a status): one statement per 2,000 lines.
        update_rows(LineState, STATE_FIELDS, updated)
        for i in range(0, len(retagged), 5000):
            LineTag.objects.filter(state_id__in=retagged[i : i + 5000]).delete()
        insert_rows(LineTag._meta.db_table, ("state_id", "kind", "value"), tags)
        # The operations' contractualised totals (any line's amount, status or
        # contractualisation may have changed them).
        touched = {s.operation_id for s in new.values()} | {s.operation_id for s in old.values()}
        totals_sync(touched, gone=gone_ids)
    return len(changed)


def _fields(snap: LineSnapshot) -> dict[str, Any]:
    return {name: getattr(snap, name) for name in STATE_FIELDS}


def state_for(line_id: int) -> LineSnapshot:
    """The stored snapshot of a line, created first if the line has none yet."""
    return states_for([line_id])[line_id]


def states_for(line_ids: Iterable[int]) -> dict[int, LineSnapshot]:
    """The stored snapshots of these lines, created first for the lines that have none yet
    (`lines_sync`, which counts the movements already recorded): call it before inserting new
    movements, then `movements_applied`."""
    ids = sorted(set(line_ids))
    stored = snapshots_stored(ids)
    missing = [lid for lid in ids if lid not in stored]
    if missing:
        with _not_deferred():
            lines_sync(line_ids=missing)
        stored.update(snapshots_stored(missing))
    return stored


@contextlib.contextmanager
def _not_deferred() -> Iterator[None]:
    saved = _deferred_ids()
    _local.deferred_lines = None
    try:
        yield
    finally:
        _local.deferred_lines = saved


def movement_applied(movement: Movement, snapshot: LineSnapshot | None = None) -> None:
    """Add a newly recorded movement to its line's state and cells (same transaction)."""
    movements_applied(
        [movement], None if snapshot is None else {movement.financing_line_id: snapshot}
    )


def movements_applied(
    movements: Sequence[Movement], snapshots: dict[int, LineSnapshot] | None = None
) -> None:
    """Add newly recorded movements to their lines' states and cells (same transaction): one
    update per line and the cells' upserts, the same result as `movement_applied` on each in
    turn. `snapshots` (from `states_for`, taken before the movements were inserted) saves the
    look-up."""
    entries_applied([(m.financing_line_id, m.kind, m.date, m.amount) for m in movements], snapshots)


def entries_applied(
    entries: Sequence[tuple[int, str, dt.date, Decimal]],
    snapshots: dict[int, LineSnapshot] | None = None,
) -> None:
    """`movements_applied` for movements given as (line id, kind, date, amount): what a batch
    writer has at hand, without reading tens of thousands of model attributes back."""
    if not entries:
        return
    snaps = snapshots if snapshots is not None else {}
    lacking = {e[0] for e in entries} - set(snaps)
    if lacking:
        snaps = {**snaps, **states_for(lacking)}
    rebuilding = _rebuilding()
    if rebuilding is not None:  # recomputed once at the end (`rebuilt_after`)
        rebuilding.update(snaps[e[0]].contract_id for e in entries)
        return
    totals: dict[int, list[int]] = {}
    per_line: dict[int, list[tuple[dt.date, int, int, int]]] = {}
    paid_on: dict[int, dt.date] = {}  # the batch's last payment per line
    opened_on: dict[int, dt.date] = {}  # its first affectation or commitment
    for line_id, kind, day, amount in entries:
        if kind == MovementKind.PAYMENT and day > paid_on.get(line_id, dt.date.min):
            paid_on[line_id] = day
        if kind in _OPENING and day < opened_on.get(line_id, dt.date.max):
            opened_on[line_id] = day
        value = cents(amount)
        committed, paid = signed(kind, value)
        total = totals.get(line_id)
        if total is None:
            total = totals[line_id] = [0, 0, 0, 0]
            per_line[line_id] = []
        total[0] += committed
        total[1] += paid
        total[2] += signed_affected(kind, value)
        total[3] += 1
        per_line[line_id].append((day, 0, committed, paid))
    deltas: dict[CellKey, list[int]] = {}
    for line_id, line_entries in per_line.items():
        _add_entries(deltas, snaps[line_id], line_entries)
    table = LineState._meta.db_table
    sql = (
        f"UPDATE {table} SET committed = committed + %s, paid = paid + %s, "
        "affected = affected + %s, movements = movements + %s WHERE line_id = %s"
    )
    updates = [(c, p, a, n, lid) for lid, (c, p, a, n) in sorted(totals.items())]
    later = [(d, lid, d) for lid, d in sorted(paid_on.items())]
    earlier = [(d, lid, d) for lid, d in sorted(opened_on.items())]
    with connection.cursor() as cursor:
        for statement, rows in (
            (sql, updates),
            (f"UPDATE {table} SET paid_on = %s WHERE line_id = %s "
             "AND (paid_on IS NULL OR paid_on < %s)", later),
            (f"UPDATE {table} SET opened_on = %s WHERE line_id = %s "
             "AND (opened_on IS NULL OR opened_on > %s)", earlier),
        ):  # fmt: skip
            if len(rows) == 1:  # one payment: a plain statement (PostgreSQL: no pipeline)
                cursor.execute(statement, rows[0])
            elif rows:
                cursor.executemany(statement, rows)
    _apply(deltas, keep_zero=True)
