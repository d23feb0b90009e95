"""The maintained summaries of the ledger, their incremental upkeep and their recomputation.

Two tables (see `models.py`): `LineState` (+ `LineTag`), one row per financing line with what the
line counts as (contract, partner, objective, département, EPCI, markers, project territories,
programmed amount and programming date) and its cumulative committed and paid amounts; and
`ExecutionCell`, net programmed/committed/paid cents per contract × dimension × partner ×
objective × period, at three grains (year, month, day). Every figure of
`cper.finance.aggregation` is read from them.

Upkeep, always inside the transaction of the write:
- `movement_applied(movement)`: a new movement adds its signed amount to its line's state and to
  its cells (a handful of upserts);
- `lines_sync(line_ids=…)`: when what a line counts as may have changed (its amount, partner,
  objective, status; its operation's status, département, markers, communes, programming
  date…), the line's old contribution is taken out of the cells and the new one put in. Signal
  handlers (`connect_signals`) call it on every `save()` of the models concerned; code that
  writes with `QuerySet.update()` or `bulk_create()` calls it itself, or wraps its work in
  `deferred()`, or rebuilds.

`rebuild(contract)` recomputes everything from the ledger; `verify(contract)` proves that the
stored summaries equal that recomputation (used by `cper contract check`).

Programming date of a line (`programmed_on`): the earliest date at which its operation entered a
programmed status — for each transition into one of `PROGRAMMED_STATUSES`, the date of the
committee of its decision if it has one, else the transition's date (Europe/Paris); an operation
in a programmed status without any such transition (imported already programmed) counts from the
day it was created.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cper.finance.models import ExecutionCell, LineState, LineTag, Movement, MovementKind
from cper.operations.models import PROGRAMMED_STATUSES, LineStatus

GRAINS = ("Y", "M", "D")
BASE = ""
DEPARTEMENT = "departement"
EPCI = "epci"
MARKER = LineTag.MARKER
TERRITORY = LineTag.TERRITORY
CELL_DIMS = (DEPARTEMENT, EPCI, MARKER, TERRITORY)
# Dimensions too fine for day cells (about as many as movements): year and month cells only;
# the days of a month begun are read from the movements.
MONTHLY_DIMS = frozenset({EPCI})

_PROGRAMMED = frozenset(str(s) for s in PROGRAMMED_STATUSES)


def cents(amount: Decimal | int) -> int:
    """Euros (Decimal, exact to the cent) → integer cents."""
    return int((Decimal(amount) * 100).to_integral_value())


def euros(value: int | None) -> Decimal:
    """Integer cents → Decimal euros with two places."""
    return Decimal(int(value or 0)).scaleb(-2)


def signed(kind: str, amount_cents: int) -> tuple[int, int]:
    """(committed, paid) change of a movement, in cents."""
    if kind == MovementKind.COMMITMENT:
        return amount_cents, 0
    if kind == MovementKind.DECOMMITMENT:
        return -amount_cents, 0
    if kind == MovementKind.PAYMENT:
        return 0, amount_cents
    if kind == MovementKind.PAYMENT_CANCELLATION:
        return 0, -amount_cents
    raise ValueError(f"nature de mouvement inconnue : {kind}")


def period_start(day: dt.date, grain: str) -> dt.date:
    if grain == "Y":
        return dt.date(day.year, 1, 1)
    if grain == "M":
        return dt.date(day.year, day.month, 1)
    return day


# -- what a line counts as ------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSnapshot:
    contract_id: int
    operation_id: int
    partner_id: int | None
    objective_id: int
    departement: str
    epci: str
    status: str
    counted: bool
    programmed: int  # cents
    programmed_on: dt.date | None
    tags: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def contribution_key(self) -> tuple[Any, ...]:
        """What the cells depend on (the status is not in the cells)."""
        return (
            self.contract_id,
            self.partner_id,
            self.objective_id,
            self.departement,
            self.epci,
            self.counted,
            self.programmed,
            self.programmed_on,
            self.tags,
        )

    def dims(self) -> list[tuple[str, str]]:
        out = [(BASE, "")]
        if self.departement:
            out.append((DEPARTEMENT, self.departement))
        if self.epci:
            out.append((EPCI, self.epci))
        out.extend(sorted(self.tags))
        return out


def _local_date(value: dt.datetime | dt.date | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            return timezone.localdate(value)
        return value.date()
    return value


def _territory_communes(
    contract_ids: Iterable[int], communes: set[str] | None = None
) -> dict[int, dict[str, set[str]]]:
    """{contract_id: {commune code: {territory codes}}} for the contracts' project territories
    (a territory is its communes plus the communes of its EPCI), restricted to `communes` when
    given (a handful of queries on indexes, for the lines of a few operations)."""
    from cper.contracts.models import ContractTerritory
    from cper.territories.models import Commune, ProjectTerritory

    links = list(
        ContractTerritory.objects.filter(contract_id__in=list(contract_ids)).values_list(
            "contract_id", "territory_id", "territory__code"
        )
    )
    out: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if not links or (communes is not None and not communes):
        return out
    territory_ids = {t for _, t, _ in links}
    direct = ProjectTerritory.communes.through.objects.filter(projectterritory_id__in=territory_ids)
    epci_links = ProjectTerritory.epcis.through.objects.filter(
        projectterritory_id__in=territory_ids
    )
    commune_epci = Commune.objects.filter(epci__isnull=False)
    if communes is not None:
        direct = direct.filter(commune_id__in=communes)
        commune_epci = commune_epci.filter(code__in=communes)
    communes_of: dict[int, set[str]] = defaultdict(set)
    for tid, code in direct.values_list("projectterritory_id", "commune_id"):
        communes_of[tid].add(code)
    epcis_of: dict[int, set[str]] = defaultdict(set)
    for tid, siren in epci_links.values_list("projectterritory_id", "epci_id"):
        epcis_of[tid].add(siren)
    wanted = set().union(*epcis_of.values()) if epcis_of else set()
    by_epci: dict[str, set[str]] = defaultdict(set)
    if wanted:
        for code, siren in commune_epci.filter(epci_id__in=wanted).values_list("code", "epci_id"):
            by_epci[siren].add(code)
    for contract_id, tid, tcode in links:
        members = set(communes_of[tid])
        for siren in epcis_of[tid]:
            members |= by_epci[siren]
        for commune in members:
            out[contract_id][commune].add(tcode)
    return out


def _programmed_on(operation_ids: Sequence[int] | None, contract_ids: Sequence[int] | None) -> dict:
    from cper.operations.models import OperationTransition

    qs = OperationTransition.objects.filter(to_status__in=list(_PROGRAMMED))
    if operation_ids is not None:
        qs = qs.filter(operation_id__in=list(operation_ids))
    if contract_ids is not None:
        qs = qs.filter(operation__contract_id__in=list(contract_ids))
    out: dict[int, dt.date] = {}
    for op_id, at, committee_date in qs.values_list(
        "operation_id", "at", "decision__committee__date"
    ).iterator(chunk_size=20000):
        day = committee_date or _local_date(at)
        if day is not None and (op_id not in out or day < out[op_id]):
            out[op_id] = day
    return out


def snapshots_compute(
    *, line_ids: Iterable[int] | None = None, contract_ids: Iterable[int] | None = None
) -> dict[int, LineSnapshot]:
    """What each line counts as, from the register (lines, operations, transitions, markers,
    communes): by line ids, or every line of the given contracts."""
    from cper.operations.models import FinancingLine, Operation, OperationCommune

    qs = FinancingLine.objects.all()
    if line_ids is not None:
        ids = sorted(set(line_ids))
        if not ids:
            return {}
        qs = qs.filter(pk__in=ids)
    if contract_ids is not None:
        qs = qs.filter(operation__contract_id__in=list(contract_ids))
    rows = list(
        qs.values_list(
            "id",
            "amount",
            "status",
            "contractualised",
            "partner_id",
            "objective_id",
            "operation_id",
            "operation__contract_id",
            "operation__status",
            "operation__departement_id",
            "operation__epci_id",
            "operation__created_at",
        ).iterator(chunk_size=20000)
    )
    if not rows:
        return {}
    op_ids = sorted({r[6] for r in rows})
    by_ids = line_ids is not None or len(op_ids) < 5000
    contracts = sorted({r[7] for r in rows})
    prog_on = _programmed_on(op_ids if by_ids else None, None if by_ids else contracts)
    tags: dict[int, set[tuple[str, str]]] = defaultdict(set)
    markers = Operation.markers.through.objects.all()
    markers = (
        markers.filter(operation_id__in=op_ids)
        if by_ids
        else markers.filter(operation__contract_id__in=contracts)
    )
    for op_id, code in markers.values_list("operation_id", "marker__code").iterator(
        chunk_size=20000
    ):
        tags[op_id].add((MARKER, code))
    communes = OperationCommune.objects.all()
    communes = (
        communes.filter(operation_id__in=op_ids)
        if by_ids
        else communes.filter(operation__contract_id__in=contracts)
    )
    op_communes = list(
        communes.values_list("operation_id", "commune_id").iterator(chunk_size=20000)
    )
    territories = (
        _territory_communes(contracts, {c for _, c in op_communes})
        if by_ids
        else _territory_communes(contracts)
    )
    if any(territories.values()):
        op_contract = {r[6]: r[7] for r in rows}
        for op_id, commune in op_communes:
            contract_id = op_contract.get(op_id)
            if contract_id is None:
                continue
            for code in territories[contract_id].get(commune, ()):
                tags[op_id].add((TERRITORY, code))
    out: dict[int, LineSnapshot] = {}
    for (
        line_id,
        amount,
        line_status,
        contractualised,
        partner_id,
        objective_id,
        op_id,
        contract_id,
        op_status,
        dep,
        epci,
        created_at,
    ) in rows:
        programmed_now = line_status == LineStatus.ACTIVE and op_status in _PROGRAMMED
        out[line_id] = LineSnapshot(
            contract_id=contract_id,
            operation_id=op_id,
            partner_id=partner_id,
            objective_id=objective_id,
            departement=dep or "",
            epci=epci or "",
            status=op_status,
            counted=bool(contractualised and partner_id is not None),
            programmed=cents(amount) if programmed_now else 0,
            programmed_on=(prog_on.get(op_id) or _local_date(created_at))
            if programmed_now
            else None,
            tags=frozenset(tags.get(op_id, ())),
        )
    return out


def snapshots_stored(line_ids: Iterable[int]) -> dict[int, LineSnapshot]:
    ids = sorted(set(line_ids))
    if not ids:
        return {}
    tags: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for state_id, kind, value in LineTag.objects.filter(state_id__in=ids).values_list(
        "state_id", "kind", "value"
    ):
        tags[state_id].add((kind, value))
    out = {}
    for row in LineState.objects.filter(pk__in=ids).values_list(
        "pk",
        "contract_id",
        "operation_id",
        "partner_id",
        "objective_id",
        "departement",
        "epci",
        "status",
        "counted",
        "programmed",
        "programmed_on",
    ):
        out[row[0]] = LineSnapshot(*row[1:], tags=frozenset(tags.get(row[0], ())))
    return out


# -- cells ---------------------------------------------------------------------------------------

CellKey = tuple[int, str, str, str, dt.date, int, int, int]


def _add_entry(
    deltas: dict[CellKey, list[int]],
    snap: LineSnapshot,
    day: dt.date,
    programmed: int,
    committed: int,
    paid: int,
    sign: int = 1,
) -> None:
    if not snap.counted or not (programmed or committed or paid):
        return
    assert snap.partner_id is not None
    for dim, value in snap.dims():
        for grain in GRAINS:
            if grain == "D" and dim in MONTHLY_DIMS:
                continue
            period = period_start(day, grain)
            key = (
                snap.contract_id,
                grain,
                dim,
                value,
                period,
                period.year,
                snap.partner_id,
                snap.objective_id,
            )
            cell = deltas.get(key)
            if cell is None:
                cell = deltas[key] = [0, 0, 0]
            cell[0] += sign * programmed
            cell[1] += sign * committed
            cell[2] += sign * paid


def _contribution(
    deltas: dict[CellKey, list[int]],
    snap: LineSnapshot,
    days: list[tuple[dt.date, int, int]],
    sign: int,
) -> None:
    if snap.programmed and snap.programmed_on is not None:
        _add_entry(deltas, snap, snap.programmed_on, snap.programmed, 0, 0, sign)
    for day, committed, paid in days:
        _add_entry(deltas, snap, day, 0, committed, paid, sign)


def _upsert_sql(rows: int) -> str:
    table = ExecutionCell._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {table} (contract_id, grain, dim, value, period, year, partner_id, "
        f"objective_id, programmed, committed, paid) VALUES {values} "
        "ON CONFLICT (contract_id, grain, dim, value, period, partner_id, objective_id) "
        f"DO UPDATE SET programmed = {table}.programmed + excluded.programmed, "
        f"committed = {table}.committed + excluded.committed, "
        f"paid = {table}.paid + excluded.paid"
    )


_UPSERT_CHUNK = 200


def _apply(deltas: dict[CellKey, list[int]], *, keep_zero: bool = False) -> None:
    """Add the deltas to the cells: one multi-row upsert per 200 cells. A zero delta is
    skipped, unless `keep_zero` (the cells touched by movements that cancel out within one
    batch exist afterwards, as they would had the movements been applied one by one)."""
    rows: list[tuple[Any, ...]] = [
        (*key, *vals) for key, vals in deltas.items() if keep_zero or any(vals)
    ]
    if not rows:
        return
    rows.sort()  # a stable lock order between concurrent writers
    with connection.cursor() as cursor:
        for i in range(0, len(rows), _UPSERT_CHUNK):
            chunk = rows[i : i + _UPSERT_CHUNK]
            cursor.execute(_upsert_sql(len(chunk)), [v for row in chunk for v in row])


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


def _day_amounts(line_ids: Sequence[int]) -> dict[int, list[tuple[dt.date, int, int]]]:
    """{line: [(day, committed cents, paid cents)]} from the raw movements."""
    per: dict[int, dict[dt.date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for i in range(0, len(line_ids), 5000):
        chunk = line_ids[i : i + 5000]
        for line_id, day, kind, amount in Movement.objects.filter(
            financing_line_id__in=chunk
        ).values_list("financing_line_id", "date", "kind", "amount"):
            c, p = signed(kind, cents(amount))
            acc = per[line_id][day]
            acc[0] += c
            acc[1] += p
    return {line: sorted((d, v[0], v[1]) for d, v in days.items()) for line, days in per.items()}


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
    from cper.operations.models import FinancingLine

    gone_ids = set(removed)
    ids = set(line_ids or ()) | gone_ids
    if operation_ids is not None:
        ops = list(operation_ids)
        if ops:
            ids |= set(
                FinancingLine.objects.filter(operation_id__in=ops).values_list("pk", flat=True)
            )
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
        # New states and tags are inserted in bulk (an import brings thousands of lines).
        created: list[LineState] = []
        retagged: list[int] = []
        tags: list[LineTag] = []
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
                    LineState(line_id=lid, committed=committed, paid=paid, **_fields(snap))
                )
            else:
                LineState.objects.filter(pk=lid).update(**_fields(snap))
            if before is None or before.tags != snap.tags:
                if before is not None:
                    retagged.append(lid)
                tags += [LineTag(state_id=lid, kind=k, value=v) for k, v in sorted(snap.tags)]
        LineState.objects.bulk_create(created, batch_size=2000)
        for i in range(0, len(retagged), 5000):
            LineTag.objects.filter(state_id__in=retagged[i : i + 5000]).delete()
        LineTag.objects.bulk_create(tags, batch_size=5000)
    return len(changed)


def _fields(snap: LineSnapshot) -> dict[str, Any]:
    return {
        "contract_id": snap.contract_id,
        "operation_id": snap.operation_id,
        "partner_id": snap.partner_id,
        "objective_id": snap.objective_id,
        "departement": snap.departement,
        "epci": snap.epci,
        "status": snap.status,
        "counted": snap.counted,
        "programmed": snap.programmed,
        "programmed_on": snap.programmed_on,
    }


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
    if not movements:
        return
    snaps = snapshots if snapshots is not None else {}
    lacking = {m.financing_line_id for m in movements} - set(snaps)
    if lacking:
        snaps = {**snaps, **states_for(lacking)}
    totals: dict[int, list[int]] = {}
    deltas: dict[CellKey, list[int]] = {}
    for movement in movements:
        committed, paid = signed(movement.kind, cents(movement.amount))
        total = totals.setdefault(movement.financing_line_id, [0, 0])
        total[0] += committed
        total[1] += paid
        _add_entry(deltas, snaps[movement.financing_line_id], movement.date, 0, committed, paid)
    table = LineState._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET committed = committed + %s, paid = paid + %s WHERE line_id = %s",
            [(c, p, lid) for lid, (c, p) in sorted(totals.items())],
        )
    _apply(deltas, keep_zero=True)


# -- recomputation from the ledger --------------------------------------------------------------


def _sql_dialect() -> dict[str, str]:
    if connection.vendor == "postgresql":
        return {
            "month": "CAST(date_trunc('month', {d}) AS date)",
            "year_start": "CAST(date_trunc('year', {d}) AS date)",
            "year": "CAST(EXTRACT(YEAR FROM {d}) AS integer)",
            "true": "TRUE",
        }
    return {
        "month": "date({d}, 'start of month')",
        "year_start": "date({d}, 'start of year')",
        "year": "CAST(strftime('%%Y', {d}) AS integer)",
        "true": "1",
    }


def movement_cents_sql(alias: str = "m") -> tuple[str, str]:
    """SQL expressions of a movement's signed committed and paid cents (exact on SQLite too)."""
    amount = f"CAST(ROUND({alias}.amount * 100) AS BIGINT)"
    committed = (
        f"CASE {alias}.kind WHEN 'commitment' THEN {amount} "
        f"WHEN 'decommitment' THEN -{amount} ELSE 0 END"
    )
    paid = (
        f"CASE {alias}.kind WHEN 'payment' THEN {amount} "
        f"WHEN 'payment_cancellation' THEN -{amount} ELSE 0 END"
    )
    return committed, paid


_STAGE_DAY = "cper_stage_day"
_STAGE_TAG = "cper_stage_tag"
_STAGE_EPCI = "cper_stage_epci"
_STAGES = (_STAGE_DAY, _STAGE_TAG, _STAGE_EPCI)


def _stage(cursor: Any, contract_id: int) -> None:
    """Temporary tables of a contract's counted amounts: per partner × objective × département
    × day, per EPCI × partner × objective × month, and per tag × partner × objective × day
    (one pass over the movements each)."""
    d = _sql_dialect()
    state = LineState._meta.db_table
    mov = Movement._meta.db_table
    tag = LineTag._meta.db_table
    committed, paid = movement_cents_sql("m")
    for name in _STAGES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    union = f"""
            SELECT m.financing_line_id AS line_id, m.date AS day, CAST(0 AS BIGINT) AS p,
                   {committed} AS c, {paid} AS pd
            FROM {mov} m
            UNION ALL
            SELECT line_id, programmed_on, programmed, 0, 0 FROM {state}
            WHERE contract_id = %s AND counted = {d["true"]} AND programmed <> 0
              AND programmed_on IS NOT NULL
    """
    month = d["month"].format(d="x.day")
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_STAGE_EPCI} AS
        SELECT s.partner_id AS partner_id, s.objective_id AS objective_id,
               s.epci AS epci, {month} AS day,
               SUM(x.p) AS p, SUM(x.c) AS c, SUM(x.pd) AS pd
        FROM ({union}) x
        JOIN {state} s ON s.line_id = x.line_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]} AND s.epci <> ''
        GROUP BY s.partner_id, s.objective_id, s.epci, {month}
        """,
        [contract_id, contract_id],
    )
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_STAGE_DAY} AS
        SELECT s.partner_id AS partner_id, s.objective_id AS objective_id,
               s.departement AS departement, x.day AS day,
               SUM(x.p) AS p, SUM(x.c) AS c, SUM(x.pd) AS pd
        FROM (
            SELECT m.financing_line_id AS line_id, m.date AS day, CAST(0 AS BIGINT) AS p,
                   {committed} AS c, {paid} AS pd
            FROM {mov} m
            UNION ALL
            SELECT line_id, programmed_on, programmed, 0, 0 FROM {state}
            WHERE contract_id = %s AND counted = {d["true"]} AND programmed <> 0
              AND programmed_on IS NOT NULL
        ) x
        JOIN {state} s ON s.line_id = x.line_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]}
        GROUP BY s.partner_id, s.objective_id, s.departement, x.day
        """,
        [contract_id, contract_id],
    )
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_STAGE_TAG} AS
        SELECT t.kind AS dim, t.value AS value, s.partner_id AS partner_id,
               s.objective_id AS objective_id, m.date AS day,
               CAST(0 AS BIGINT) AS p, SUM({committed}) AS c, SUM({paid}) AS pd
        FROM {tag} t
        JOIN {state} s ON s.line_id = t.state_id
        JOIN {mov} m ON m.financing_line_id = t.state_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]}
        GROUP BY t.kind, t.value, s.partner_id, s.objective_id, m.date
        """,
        [contract_id],
    )
    cursor.execute(
        f"""
        INSERT INTO {_STAGE_TAG} (dim, value, partner_id, objective_id, day, p, c, pd)
        SELECT t.kind, t.value, s.partner_id, s.objective_id, s.programmed_on,
               SUM(s.programmed), 0, 0
        FROM {tag} t JOIN {state} s ON s.line_id = t.state_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]} AND s.programmed <> 0
          AND s.programmed_on IS NOT NULL
        GROUP BY t.kind, t.value, s.partner_id, s.objective_id, s.programmed_on
        """,
        [contract_id],
    )


def _unstage(cursor: Any) -> None:
    for name in _STAGES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _expected_cells_sql(contract_id: int, grain: str, dim: str) -> tuple[str, list[Any]]:
    """SELECT of the cells of one grain and dimension, recomputed from the staged ledger
    (`_stage` first)."""
    d = _sql_dialect()
    if dim in (MARKER, TERRITORY):
        source, day, where = _STAGE_TAG, "e.day", f"WHERE e.dim = '{dim}'"
        dim_sql, value_sql = f"'{dim}'", "e.value"
    elif dim == EPCI:  # staged by month
        source, day, where = _STAGE_EPCI, "e.day", ""
        dim_sql, value_sql = f"'{EPCI}'", "e.epci"
    else:
        source, day = _STAGE_DAY, "e.day"
        if dim == BASE:
            dim_sql, value_sql, where = "''", "''", ""
        else:
            dim_sql, value_sql, where = (
                f"'{DEPARTEMENT}'",
                "e.departement",
                ("WHERE e.departement <> ''"),
            )
    period = {"Y": d["year_start"], "M": d["month"], "D": "{d}"}[grain].format(d=day)
    year = d["year"].format(d=day)
    group = ", ".join(x for x in (value_sql if dim else "", period, year) if x)
    sql = f"""
        SELECT {int(contract_id)} AS contract_id, '{grain}' AS grain, {dim_sql} AS dim,
               {value_sql} AS value, {period} AS period, {year} AS year,
               e.partner_id AS partner_id, e.objective_id AS objective_id,
               SUM(e.p) AS programmed, SUM(e.c) AS committed, SUM(e.pd) AS paid
        FROM {source} e
        {where}
        GROUP BY {group}, e.partner_id, e.objective_id
        HAVING SUM(e.p) <> 0 OR SUM(e.c) <> 0 OR SUM(e.pd) <> 0
    """
    return sql, []


def _rollup_sql(contract_id: int, source: str, target: str, dims: Sequence[str]) -> str:
    d = _sql_dialect()
    table = ExecutionCell._meta.db_table
    period = {"Y": d["year_start"], "M": d["month"]}[target].format(d="period")
    dim_list = ", ".join(f"'{x}'" for x in dims)
    return f"""
        SELECT contract_id, '{target}', dim, value, {period}, year, partner_id, objective_id,
               SUM(programmed), SUM(committed), SUM(paid)
        FROM {table}
        WHERE contract_id = {int(contract_id)} AND grain = '{source}' AND dim IN ({dim_list})
        GROUP BY contract_id, dim, value, {period}, year, partner_id, objective_id
        HAVING SUM(programmed) <> 0 OR SUM(committed) <> 0 OR SUM(paid) <> 0
    """


_CELL_COLUMNS = (
    "contract_id, grain, dim, value, period, year, partner_id, objective_id, "
    "programmed, committed, paid"
)


def _cumulative(contract_id: int) -> dict[int, tuple[int, int]]:
    from cper.operations.models import FinancingLine

    committed, paid = movement_cents_sql("m")
    mov = Movement._meta.db_table
    line = FinancingLine._meta.db_table
    from cper.operations.models import Operation

    op = Operation._meta.db_table
    sql = f"""
        SELECT m.financing_line_id, SUM({committed}), SUM({paid})
        FROM {mov} m JOIN {line} l ON l.id = m.financing_line_id
        JOIN {op} o ON o.id = l.operation_id
        WHERE o.contract_id = %s
        GROUP BY m.financing_line_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [contract_id])
        return {row[0]: (int(row[1]), int(row[2])) for row in cursor.fetchall()}


def _bulk_insert(cursor: Any, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    for i in range(0, len(rows), 20000):
        cursor.executemany(sql, rows[i : i + 20000])


@dataclass
class RebuildReport:
    lines: int
    cells: int
    seconds: float


def rebuild(contract: Any) -> RebuildReport:
    """Recompute the summaries of one contract from the register and the ledger."""
    import time

    started = time.perf_counter()
    table = ExecutionCell._meta.db_table
    state_table = LineState._meta.db_table
    tag_table = LineTag._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # big aggregations and sorts: in memory rather than in temporary files
            cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(f"DELETE FROM {table} WHERE contract_id = %s", [contract.pk])
        cursor.execute(
            f"DELETE FROM {tag_table} WHERE state_id IN "
            f"(SELECT line_id FROM {state_table} WHERE contract_id = %s)",
            [contract.pk],
        )
        cursor.execute(f"DELETE FROM {state_table} WHERE contract_id = %s", [contract.pk])
        snaps = snapshots_compute(contract_ids=[contract.pk])
        cumulative = _cumulative(contract.pk)
        states: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        for lid, snap in snaps.items():
            c, p = cumulative.get(lid, (0, 0))
            states.append(
                (
                    lid,
                    snap.contract_id,
                    snap.operation_id,
                    snap.partner_id,
                    snap.objective_id,
                    snap.departement,
                    snap.epci,
                    snap.status,
                    snap.counted,
                    snap.programmed,
                    snap.programmed_on,
                    c,
                    p,
                )
            )
            tag_rows.extend((lid, k, v) for k, v in sorted(snap.tags))
        _bulk_insert(
            cursor,
            state_table,
            (
                "line_id",
                "contract_id",
                "operation_id",
                "partner_id",
                "objective_id",
                "departement",
                "epci",
                "status",
                "counted",
                "programmed",
                "programmed_on",
                "committed",
                "paid",
            ),
            states,
        )
        _bulk_insert(cursor, tag_table, ("state_id", "kind", "value"), tag_rows)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {state_table}")
            cursor.execute(f"ANALYZE {tag_table}")
        _stage(cursor, contract.pk)
        for dim in (BASE, *CELL_DIMS):
            grain = "M" if dim in MONTHLY_DIMS else "D"
            sql, params = _expected_cells_sql(contract.pk, grain, dim)
            cursor.execute(f"INSERT INTO {table} ({_CELL_COLUMNS}) {sql}", params)
        _unstage(cursor)
        cursor.execute(
            f"INSERT INTO {table} ({_CELL_COLUMNS}) "
            + _rollup_sql(
                contract.pk, "D", "M", [d for d in (BASE, *CELL_DIMS) if d not in MONTHLY_DIMS]
            )
        )
        cursor.execute(
            f"INSERT INTO {table} ({_CELL_COLUMNS}) "
            + _rollup_sql(contract.pk, "M", "Y", [BASE, *CELL_DIMS])
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (LineState, LineTag, ExecutionCell):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    count = ExecutionCell.objects.filter(contract_id=contract.pk).count()
    return RebuildReport(len(snaps), count, time.perf_counter() - started)


# -- verification ---------------------------------------------------------------------------------


@dataclass
class Discrepancy:
    what: str  # "ligne" | "agrégat"
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
            (pk, (c, p))
            for pk, c, p in LineState.objects.filter(contract_id=contract.pk)
            .values_list("pk", "committed", "paid")
            .iterator(chunk_size=20000)
        )
    )
    for lid, snap in expected.items():
        if stored.get(lid) != snap and add(Discrepancy("ligne", str(lid), stored.get(lid), snap)):
            return found
        want = cumulative.get(lid, (0, 0))
        have = tuple(int(x) for x in amounts[lid]) if lid in amounts else want
        if have != want and add(Discrepancy("ligne", f"{lid} (cumuls)", have, want)):
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
