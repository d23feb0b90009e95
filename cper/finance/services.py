"""Writes of the execution ledger: recording a movement (commitment, decommitment, payment,
payment cancellation; affectation and désaffectation of AP for local authorities). Named,
keyword-only, atomic and audited; the summaries are updated in the same transaction. Movements
are never edited nor deleted: a correction is a new movement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import MOVEMENT_ACTIONS, AuditAction
from cper.audit.services import Actor, AuditDraft, Subject, audit_record, audit_record_many
from cper.contracts.models import (
    BudgetProgramme,
    Contract,
    Partner,
    PartnerKind,
    ProgrammingMode,
)
from cper.db import Provenance, ids_in, insert_rows
from cper.finance import rules, summaries
from cper.finance.models import AeKind, AeMiseEnPlace, Movement, MovementKind
from cper.findings import Finding
from cper.money import MoneyError, to_money
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    FinancingLine,
    LineStatus,
    Operation,
    OperationStatus,
)


class MovementRefused(ValidationError):
    """A movement the ledger's rules refuse; `.findings` keeps the field of each message."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        by_field: dict[str, list[str]] = {}
        for f in findings:
            by_field.setdefault(f.field, []).append(f.message)
        super().__init__(by_field)

    def __str__(self) -> str:
        return " ; ".join(f.message for f in self.findings)


def _same_request(existing: Movement, **wanted: Any) -> bool:
    return (
        existing.financing_line_id == wanted["line_id"]
        and existing.kind == wanted["kind"]
        and existing.date == wanted["date"]
        and existing.amount == wanted["amount"]
        and existing.reference == wanted["reference"]
        and existing.cancels_id == wanted["cancels_id"]
    )


def movement_record(
    *,
    actor: Actor,
    financing_line: FinancingLine | int,
    kind: str,
    date: dt.date,
    amount: Decimal | int | str,
    reference: str,
    idempotency_key: str | None = None,
    cancels: Movement | int | None = None,
    note: str = "",
) -> Movement:
    """Record one movement on a financing line, or refuse it (`MovementRefused`, nothing
    written; `PermissionDenied` when the actor may not). With an `idempotency_key` already used
    by the same request, the movement recorded then is returned and nothing is written; the
    same key with another request is refused. A batch of one draft: `movements_record_many`."""
    draft = MovementDraft(
        financing_line=financing_line,
        kind=kind,
        date=date,
        amount=amount,
        reference=reference,
        idempotency_key=idempotency_key,
        cancels=cancels,
        note=note,
    )
    outcome = movements_record_many(actor=actor, movements=[draft]).outcomes[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.movement is not None
    return outcome.movement


def _replayed(existing: Movement, key: str, wanted: dict[str, Any]) -> Movement:
    if not _same_request(existing, **wanted):
        raise _key_conflict(key, existing.pk)
    return existing


def _key_conflict(key: str, movement_id: int | None) -> MovementRefused:
    number = f" (n° {movement_id})" if movement_id is not None else ""
    return MovementRefused(
        [
            Finding(
                "idempotency_key",
                f"la clé d'idempotence « {key} » a déjà servi pour un autre mouvement{number}",
            )
        ]
    )


@dataclass
class _Ledger:
    """A financing line as the ledger's rules see it: its terms, and its movements (which a batch
    keeps up to date in memory as it accepts movements)."""

    operation_id: int
    contract_id: int
    programmed: Decimal
    tolerance: Decimal
    first_day: dt.date
    status: str
    entries: list[rules.Entry] = field(default_factory=list)
    affectation_required: bool = False  # the partner affects AP before committing
    state_chain: bool = False  # a State line (AE/CP): a commitment's reference is an EJ number

    def errors(
        self,
        request: dict[str, Any],
        *,
        today: dt.date,
        target: tuple[rules.Entry, int] | None,
    ) -> list[Finding]:
        """The rules' errors on recording this movement (`request`: its line, kind, date,
        amount, reference and cancelled movement's id) on the line (`target`: the cancelled
        movement and its line)."""
        cancels_id = request["cancels_id"]
        already = Decimal("0.00")
        if cancels_id is not None:
            already = sum(
                (e.amount for e in self.entries if e.cancels_id == cancels_id), Decimal("0.00")
            )
        findings = rules.movement_findings(
            kind=request["kind"],
            date=request["date"],
            amount=request["amount"],
            reference=request["reference"],
            existing=self.entries,
            programmed=self.programmed,
            tolerance=self.tolerance,
            first_day=self.first_day,
            today=today,
            cancels=target[0] if target is not None else None,
            cancels_other_line=target is not None and target[1] != request["line_id"],
            already_cancelled=already,
            status=self.status,
            affectation_required=self.affectation_required,
        )
        findings += rules.ej_reference_findings(
            kind=request["kind"], reference=request["reference"], state_line=self.state_chain
        )
        return [f for f in findings if f.is_error]


_STATUS_LABELS = dict(OperationStatus.choices)
_IN_CHUNK = 5000  # ids per IN (…) list


def _ledgers(cursor: Any, line_ids: Sequence[int], *, lock: bool = False) -> dict[int, _Ledger]:
    """The lines' terms and recorded movements (two queries per 5,000 lines); with `lock`, the
    lines are locked for the transaction (PostgreSQL: in id order, so concurrent writers queue
    rather than deadlock)."""
    line_table = FinancingLine._meta.db_table
    op_table = Operation._meta.db_table
    contract_table = Contract._meta.db_table
    partner_table = Partner._meta.db_table
    mov_table = Movement._meta.db_table
    suffix = " FOR UPDATE OF l" if lock and connection.features.has_select_for_update_of else ""
    out: dict[int, _Ledger] = {}
    by_decision: list[int] = []  # issue 12: lines programmed by their partner's decision
    for chunk, marks in _in_lists(line_ids):
        cursor.execute(
            f"SELECT l.id, l.amount, l.status, l.operation_id, o.status, o.contract_id, "
            f"c.start_year, c.execution_tolerance, p.affectation_required, "
            f"l.budget_nature, p.kind, c.programming_mode FROM {line_table} l "
            f"JOIN {op_table} o ON o.id = l.operation_id "
            f"JOIN {contract_table} c ON c.id = o.contract_id "
            f"LEFT JOIN {partner_table} p ON p.id = l.partner_id "
            f"WHERE l.id IN ({marks}) AND l.id BETWEEN %s AND %s ORDER BY l.id{suffix}",
            [*chunk, chunk[0], chunk[-1]],
        )
        for (
            lid, amount, status, op_id, op_status, contract_id, start, tolerance, ar, nature,
            partner_kind, mode,
        ) in cursor.fetchall():  # fmt: skip
            programmed = (
                _dec(amount)
                if status == LineStatus.ACTIVE and op_status in PROGRAMMED_STATUSES
                else Decimal("0.00")
            )
            if programmed and mode == ProgrammingMode.PARTNER_DECISION and partner_kind:
                by_decision.append(lid)
            out[lid] = _Ledger(
                operation_id=op_id,
                contract_id=contract_id,
                programmed=programmed,
                tolerance=_dec(tolerance or 0),
                first_day=dt.date(start, 1, 1),
                status=str(_STATUS_LABELS.get(op_status, op_status)),
                affectation_required=bool(ar),
                state_chain=nature == "ae_cp" and partner_kind == "state",
            )
        cursor.execute(
            f"SELECT financing_line_id, id, kind, date, amount, cancels_id FROM {mov_table} "
            f"WHERE financing_line_id IN ({marks}) AND financing_line_id BETWEEN %s AND %s "
            "ORDER BY id",
            [*chunk, chunk[0], chunk[-1]],
        )
        for lid, mid, k, d, a, c in cursor.fetchall():
            out[lid].entries.append(
                rules.Entry(kind=k, date=_date(d), amount=_dec(a), id=mid, cancels_id=c)
            )
    if by_decision:
        # Under the CPER setting, what the partner's decision in force grants (the summaries'
        # own reading), 0 while the line awaits its decision.
        granted = summaries.decisions_in_force(line_ids=by_decision)
        for lid in by_decision:
            grant = granted.get(lid)
            out[lid].programmed = summaries.euros(grant[0]) if grant else Decimal("0.00")
    return out


def _in_lists(ids: Iterable[int]) -> Iterator[tuple[list[int], str]]:
    """The distinct ids, sorted, by lists of 5,000 with their SQL placeholders. The queries
    bound each list by its first and last id too (`BETWEEN`): the database then reads that slice
    of the index, even on a table it has no statistics for yet (`cper.db.ids_in`)."""
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[i : i + _IN_CHUNK]
        yield chunk, ", ".join(["%s"] * len(chunk))


def _targets(cursor: Any, movement_ids: Sequence[int]) -> dict[int, tuple[rules.Entry, int]]:
    """{id: (movement as the rules see it, its line)} of movements a cancellation names."""
    mov_table = Movement._meta.db_table
    out: dict[int, tuple[rules.Entry, int]] = {}
    for chunk, marks in _in_lists(movement_ids):
        cursor.execute(
            f"SELECT id, kind, date, amount, financing_line_id FROM {mov_table} "
            f"WHERE id IN ({marks})",
            chunk,
        )
        for mid, kind, day, amount, line_id in cursor.fetchall():
            entry = rules.Entry(kind=kind, date=_date(day), amount=_dec(amount), id=mid)
            out[mid] = (entry, line_id)
    return out


def _missing_target(cancels_id: int) -> Finding:
    return Finding("cancels", f"le mouvement n° {cancels_id} n'existe pas")


def _movement(actor: Actor, request: dict[str, Any], key: str | None, note: str) -> Movement:
    # Positional values, in the order of the concrete fields (`_COLUMNS`, checked at import),
    # as the ORM builds a row it reads: less than half the cost of keywords, for tens of
    # thousands of movements a batch.
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    movement = Movement(  # type: ignore[misc]
        None,
        request["line_id"],
        request["kind"],
        request["date"],
        request["amount"],
        request["reference"],
        request["cancels_id"],
        actor.via,
        None if user is None else user.pk,
        None,
        key,
        note[:300],
    )
    if user is not None:
        movement.recorded_by = user  # as the keyword did: the user is at hand, not read again
    return movement


_KIND_LABELS = dict(MovementKind.choices)


def _audit_of(row: _Row, ledger: _Ledger, note: str) -> AuditDraft:
    """The audit entry of a recorded movement (`audit_record`'s arguments but the actor). The
    subject is named as the movement names itself (`Movement.__str__`) and the changes are
    given as the trail writes them: the same entry, without the model's per-row display
    machinery."""
    pk, line, kind, date, amount, reference, cancels = row[:7]
    day = date.isoformat()
    return AuditDraft(
        action=MOVEMENT_ACTIONS[kind],
        subject=Subject(
            _MOVEMENT_TYPE,
            str(pk),
            f"{_KIND_LABELS.get(kind, kind)} {reference} {amount} € ({date})",
        ),
        changes={
            "ligne": line,
            "nature": kind,
            "date": day,
            "montant": str(amount),
            "référence": reference,
            "annule": cancels,
        },
        message=note,
        contract_id=ledger.contract_id,
        operation_id=ledger.operation_id,
    )


_MOVEMENT_TYPE = Movement._meta.label_lower


# -- batches ------------------------------------------------------------------------------------

CREATED, UNCHANGED, REFUSED = "created", "unchanged", "refused"


@dataclass(frozen=True)
class MovementDraft:
    """A movement to record in a batch: the arguments of `movement_record` (`cancels` a recorded
    movement), or `cancels_draft`, the index in the batch of an earlier draft it cancels.
    Consecutive drafts with the same non-None `group` are recorded together or not at all (an
    import's row with an engagement and a payment)."""

    financing_line: FinancingLine | int
    kind: str
    date: dt.date
    amount: Decimal | int | str
    reference: str
    idempotency_key: str | None = None
    cancels: Movement | int | None = None
    cancels_draft: int | None = None
    note: str = ""
    group: Hashable = None


@dataclass
class DraftOutcome:
    """What became of one draft: `created` (the new movement), `unchanged` (its idempotency key
    had been used by the same request: the movement then recorded) or `refused` with `error`,
    the exception `movement_record` would have raised (`MovementRefused`, `PermissionDenied`).
    `with_group`: refused because another draft of its group was."""

    status: str
    movement: Movement | None = None
    error: MovementRefused | PermissionDenied | None = None
    with_group: bool = False

    @property
    def findings(self) -> list[Finding]:
        if isinstance(self.error, MovementRefused):
            return list(self.error.findings)
        if self.error is not None:
            return [Finding("financing_line", str(self.error))]
        return []


@dataclass
class BatchResult:
    outcomes: list[DraftOutcome]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def created(self) -> list[Movement]:
        return [o.movement for o in self.outcomes if o.status == CREATED and o.movement]


def movements_record_many(*, actor: Actor, movements: Sequence[MovementDraft]) -> BatchResult:
    """Record a batch of movements — the one write path of the ledger (`movement_record` is a
    batch of one) — with the rules, permissions, idempotency and audit, and the outcome of
    recording each draft in turn, each group in its own savepoint: a refused draft writes
    nothing and the drafts after it are checked against the ledger without it (they still go
    in if the rules accept them). Each touched line is loaded (and locked) once; the batch's
    movements are checked in order against the line's movements as they stand in memory, then
    inserted in bulk with their audit entries, and the summaries are updated in the same
    transaction. A few queries per batch, whatever its length (the bulk inserts go by the
    database's batch size)."""
    drafts = list(movements)
    try:
        with transaction.atomic():
            return _Batch(actor, drafts).run()
    except IntegrityError:
        # A concurrent writer stored one of the batch's idempotency keys between our reading
        # and our insert (PostgreSQL: the unique index waits for it, then refuses): once more,
        # the keys it wrote are now read, and replayed or refused like any other.
        if not any((d.idempotency_key or "").strip() for d in drafts):
            raise
        with transaction.atomic():
            return _Batch(actor, drafts).run()


class _Batch:
    def __init__(self, actor: Actor, drafts: list[MovementDraft]) -> None:
        self.actor = actor
        self.drafts = drafts
        self.outcomes: list[DraftOutcome | None] = [None] * len(drafts)
        self.today = timezone.localdate()
        self.ledgers: dict[int, _Ledger] = {}
        self.targets: dict[int, tuple[rules.Entry, int]] = {}
        self.denied: dict[int, PermissionDenied] = {}
        self.known: dict[str, Movement] = {}  # idempotency key → movement recorded before
        self.pending: dict[int, tuple[Movement, dict[str, Any]]] = {}  # index → (new, request)
        self.keys: dict[str, int] = {}  # idempotency key → index of a pending draft
        self.conflicts: dict[int, tuple[str, int]] = {}  # index → (key, pending index)

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        line_ids = sorted({_pk(d.financing_line) for d in self.drafts})
        with connection.cursor() as cursor:
            self.ledgers = _ledgers(cursor, line_ids, lock=True)
            for lid, ledger in self.ledgers.items():
                for e in ledger.entries:
                    assert e.id is not None
                    self.targets[e.id] = (e, lid)
            wanted = {_pk(d.cancels) for d in self.drafts if d.cancels is not None}
            missing = sorted(wanted - set(self.targets))
            if missing:
                self.targets.update(_targets(cursor, missing))
        if self.actor.user is not None or self.actor.via not in {"system", "cli"}:
            lines = FinancingLine.objects.filter(ids_in("pk", line_ids)).select_related(
                "operation", "partner"
            )
            for line in lines:
                try:
                    require_actor(self.actor, "movement.record", line)
                except PermissionDenied as exc:
                    self.denied[line.pk] = exc
        keys = sorted({k for d in self.drafts if (k := (d.idempotency_key or "").strip())})
        for i in range(0, len(keys), _IN_CHUNK):
            for m in Movement.objects.filter(idempotency_key__in=keys[i : i + _IN_CHUNK]):
                assert m.idempotency_key is not None
                self.known[m.idempotency_key] = m

    # -- checking ----------------------------------------------------------------------------

    def run(self) -> BatchResult:
        self.load()
        n = len(self.drafts)
        i = 0
        while i < n:
            j = i + 1
            group = self.drafts[i].group
            if group is not None:
                while j < n and self.drafts[j].group == group:
                    j += 1
            self.run_group(i, j)
            i = j
        self.write()
        outcomes = [o for o in self.outcomes if o is not None]
        assert len(outcomes) == n
        return BatchResult(outcomes)

    def run_group(self, start: int, end: int) -> None:
        for k in range(start, end):
            outcome = self.check(k, start)
            self.outcomes[k] = outcome
            if outcome.status != REFUSED:
                continue
            # Undo the group's earlier drafts, newest first (their entries are the last ones).
            for earlier in range(k - 1, start - 1, -1):
                self.forget(earlier)
            message = f"refusé avec le mouvement n° {k + 1} du lot (même groupe)"
            for other in (*range(start, k), *range(k + 1, end)):
                self.outcomes[other] = DraftOutcome(
                    REFUSED,
                    error=MovementRefused([Finding("group", message)]),
                    with_group=True,
                )
            return

    def forget(self, k: int) -> None:
        entry = self.pending.pop(k, None)
        if entry is None:
            return
        movement, _ = entry
        self.ledgers[movement.financing_line_id].entries.pop()
        self.targets.pop(_temp_id(k), None)
        if movement.idempotency_key is not None:
            self.keys.pop(movement.idempotency_key, None)

    def check(self, k: int, start: int) -> DraftOutcome:
        """The outcome of draft `k` (of the group beginning at `start`), given the drafts
        before it."""
        d = self.drafts[k]
        line_id = _pk(d.financing_line)
        if line_id in self.denied:
            return DraftOutcome(REFUSED, error=self.denied[line_id])
        try:
            amount = to_money(d.amount)
        except MoneyError as exc:
            return _refused([Finding("amount", str(exc))])
        reference = (d.reference or "").strip()
        key = (d.idempotency_key or "").strip() or None
        cancels_id: int | None = _pk(d.cancels) if d.cancels is not None else None
        unrecorded = False  # cancels a draft of the batch that was not recorded
        if d.cancels_draft is not None:
            cancels_id = self.draft_target(k, d.cancels_draft)
            if cancels_id is None:
                # Refused below, where `movement_record` finds its target missing: after the
                # idempotency key, whose conflict it reports first. 0 is no movement's id.
                unrecorded, cancels_id = True, 0
        request = {
            "line_id": line_id,
            "kind": d.kind,
            "date": d.date,
            "amount": amount,
            "reference": reference,
            "cancels_id": cancels_id,
        }
        if key is not None:
            if key in self.known:
                try:
                    return DraftOutcome(UNCHANGED, _replayed(self.known[key], key, request))
                except MovementRefused as exc:
                    return _refused(exc.findings)
            if key in self.keys:
                first = self.keys[key]
                movement, asked = self.pending[first]
                if asked == request:
                    return DraftOutcome(UNCHANGED, movement)
                if first >= start:  # of the same group, which this refusal undoes
                    return DraftOutcome(REFUSED, error=_key_conflict(key, None))
                self.conflicts[k] = (key, first)  # refused once the first one has its number
                return _refused([])
        ledger = self.ledgers.get(line_id)
        if ledger is None:
            return _refused(
                [Finding("financing_line", f"ligne de financement n° {line_id} introuvable")]
            )
        if unrecorded:
            assert d.cancels_draft is not None
            return _refused(
                [
                    Finding(
                        "cancels",
                        f"le mouvement annulé (n° {d.cancels_draft + 1} du lot) n'a pas été "
                        "enregistré",
                    )
                ]
            )
        target = None
        if cancels_id is not None:
            target = self.targets.get(cancels_id)
            if target is None:
                return _refused([_missing_target(cancels_id)])
        errors = ledger.errors(request, today=self.today, target=target)
        if errors:
            return _refused(errors)
        entry = rules.Entry(
            kind=d.kind, date=d.date, amount=amount, id=_temp_id(k), cancels_id=cancels_id
        )
        ledger.entries.append(entry)
        self.targets[_temp_id(k)] = (entry, line_id)
        recorded = cancels_id if cancels_id is None or cancels_id > 0 else None
        movement = _movement(self.actor, {**request, "cancels_id": recorded}, key, d.note)
        self.pending[k] = (movement, request)
        if key is not None:
            self.keys[key] = k
        return DraftOutcome(CREATED, movement)

    def draft_target(self, k: int, index: int) -> int | None:
        """The id (a temporary one while pending) of the movement an earlier draft gave."""
        if not 0 <= index < k:
            return None
        outcome = self.outcomes[index]
        if outcome is None or outcome.status == REFUSED or outcome.movement is None:
            return None
        if outcome.status == CREATED:
            return _temp_id(index)
        return outcome.movement.pk

    # -- writing -----------------------------------------------------------------------------

    def write(self) -> None:
        order = sorted(self.pending)
        if not order:
            self.settle_conflicts()
            return
        pending = [self.pending[k] for k in order]
        snapshots = summaries.states_for({request["line_id"] for _, request in pending})
        user = self.actor.user if getattr(self.actor.user, "is_authenticated", False) else None
        recorded_by = None if user is None else user.pk
        # Ids are reserved first, in the batch's order: a movement cancelling a movement of
        # the batch (always an earlier one) names it at once, and the batch goes in as one
        # insert. The rows are plain tuples, read from the requests rather than back from the
        # models (whose foreign key attributes cost a descriptor call each).
        rows: list[_Row] = []
        for (movement, request), pk in zip(pending, _reserve_ids(len(pending)), strict=True):
            movement.pk = pk
            cancels = request["cancels_id"]
            if cancels is not None and cancels < 0:
                cancels = movement.cancels_id = self.pending[_draft_of(cancels)][0].pk
            rows.append(
                (
                    pk,
                    request["line_id"],
                    request["kind"],
                    request["date"],
                    request["amount"],
                    request["reference"],
                    cancels,
                    self.actor.via,
                    recorded_by,
                    movement.idempotency_key,
                    movement.note,
                )
            )
        _insert(rows, [movement for movement, _ in pending])
        summaries.entries_applied([(r[1], r[2], r[3], r[4]) for r in rows], snapshots)
        audit_record_many(
            actor=self.actor,
            entries=[
                _audit_of(row, self.ledgers[row[1]], self.drafts[k].note)
                for k, row in zip(order, rows, strict=True)
            ],
        )
        self.settle_conflicts()

    def settle_conflicts(self) -> None:
        for k, (key, first) in self.conflicts.items():
            self.outcomes[k] = DraftOutcome(
                REFUSED, error=_key_conflict(key, self.pending[first][0].pk)
            )


_COLUMNS = (
    "id",
    "financing_line_id",
    "kind",
    "date",
    "amount",
    "reference",
    "cancels_id",
    "via",
    "recorded_by_id",
    "recorded_at",
    "idempotency_key",
    "note",
)
assert tuple(f.attname for f in Movement._meta.concrete_fields) == _COLUMNS, "see _movement"


def _reserve_ids(n: int) -> list[int]:
    """`n` new movement ids, ascending. PostgreSQL: from the table's sequence (safe between
    concurrent writers). SQLite: after the largest id ever given — one writer at a time, and a
    transaction that read before another one wrote cannot write (WAL), so nobody takes them."""
    if n == 0:
        return []
    table = Movement._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                "FROM generate_series(1, %s)",
                [n],
            )
            return sorted(int(row[0]) for row in cursor.fetchall())
        cursor.execute(
            f"SELECT MAX(x) FROM (SELECT MAX(id) AS x FROM {table} "
            "UNION ALL SELECT seq FROM sqlite_sequence WHERE name = %s)",
            [table],
        )
        last = cursor.fetchone()[0] or 0
    return list(range(int(last) + 1, int(last) + 1 + n))


# A new movement as written: id, line, kind, date, amount, reference, cancelled movement, path,
# user, idempotency key, note (`_COLUMNS` but the time of recording).
_Row = tuple[int, int, str, dt.date, Decimal, str, int | None, str, int | None, str | None, str]


def _insert(rows: list[_Row], movements: list[Movement]) -> None:
    """Insert new movements (`rows`, their models `movements`, ids set), by one `executemany`
    (the ORM's `bulk_create` prepares each value of each row through its compiler: most of a
    large batch's time); the models are then marked as recorded."""
    now = timezone.now()
    ops = connection.ops
    alias = connection.alias
    recorded_at = ops.adapt_datetimefield_value(now)
    money = Movement._meta.get_field("amount").get_db_prep_save  # exact, as the ORM stores it
    days: dict[dt.date, Any] = {}
    values = []
    for pk, line, kind, date, amount, reference, cancels, via, user, key, note in rows:
        day = days.get(date)
        if day is None:
            day = days[date] = ops.adapt_datefield_value(date)
        values.append(
            (
                pk,
                line,
                kind,
                day,
                # An exact Decimal goes in as it is (what the field's preparation returns).
                amount if type(amount) is Decimal else money(amount, connection),
                reference,
                cancels,
                via,
                user,
                recorded_at,
                key,
                note,
            )
        )
    for m in movements:
        m.recorded_at = now
        state = m._state
        state.adding = False  # recorded: from now on the model refuses to save it again
        state.db = alias
    # COPY on PostgreSQL for a batch; a concurrent writer's idempotency key surfaces as
    # `IntegrityError`, retried by the batch.
    insert_rows(Movement._meta.db_table, _COLUMNS, values)


def _refused(findings: list[Finding]) -> DraftOutcome:
    return DraftOutcome(REFUSED, error=MovementRefused(findings))


def _temp_id(index: int) -> int:
    """The id a pending draft's movement goes by in the batch's memory (negative: no clash)."""
    return -(index + 1)


def _draft_of(temp_id: int) -> int:
    return -temp_id - 1


def _pk(value: Any) -> int:
    return value if isinstance(value, int) else value.pk


def _dec(value: Any) -> Decimal:
    """A money value read by raw SQL (SQLite may return a float or an int)."""
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return to_money(value)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def commitment_record(**kwargs: Any) -> Movement:
    """An engagement (State: legal commitment EJ; local authorities: the engagement that
    follows the AP affectation, `affectation_record`)."""
    return movement_record(kind=MovementKind.COMMITMENT, **kwargs)


def decommitment_record(**kwargs: Any) -> Movement:
    """A désengagement, optionally of a given commitment (`cancels=`)."""
    return movement_record(kind=MovementKind.DECOMMITMENT, **kwargs)


def payment_record(**kwargs: Any) -> Movement:
    """A payment (mandatement), `reference` being the mandate number."""
    return movement_record(kind=MovementKind.PAYMENT, **kwargs)


def payment_cancellation_record(**kwargs: Any) -> Movement:
    """The cancellation of (part of) a payment: `cancels=` the payment."""
    return movement_record(kind=MovementKind.PAYMENT_CANCELLATION, **kwargs)


def affectation_record(**kwargs: Any) -> Movement:
    """An affectation d'AP to a line (local authorities' AP/CP chain), `reference` being the
    deliberation's or the affectation's number."""
    return movement_record(kind=MovementKind.AFFECTATION, **kwargs)


def desaffectation_record(**kwargs: Any) -> Movement:
    """A désaffectation: releases part of the line's net affected AP (never what is
    committed); it also ends a caducité alert once nothing affected is left unpaid."""
    return movement_record(kind=MovementKind.DESAFFECTATION, **kwargs)


def summaries_rebuild(*, actor: Actor, contract: Any) -> summaries.RebuildReport:
    """Recompute a contract's execution summaries from the ledger (audited)."""
    report = summaries.rebuild(contract)
    audit_record(
        actor=actor,
        action=AuditAction.SUMMARIES_REBUILT,
        subject=contract,
        changes={"lignes": report.lines, "agrégats": report.cells},
        contract_id=contract.pk,
    )
    return report


# -- issue 12: the State's budget chain (AE mises en place) --------------------------------------


class AeRefused(ValidationError):
    """AE mises en place the rules refuse; `.findings` keeps the field (and the draft's number,
    as `line`) of each message. Nothing of the batch is written."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        by_field: dict[str, list[str]] = {}
        for f in findings:
            by_field.setdefault(f.field, []).append(f.message)
        super().__init__(by_field)

    def __str__(self) -> str:
        return " ; ".join(
            (f"n° {f.line} : " if f.line is not None else "") + f.message for f in self.findings
        )


@dataclass(frozen=True)
class AeDraft:
    """One AE mise en place to record: programme code (P112…), exercice, amount, date of the
    notification and its reference; a withdrawal (`kind="withdrawal"`) says why in `note`."""

    programme: str
    year: int
    amount: Decimal | str | int
    date: dt.date
    reference: str
    bop: str | None = None
    kind: str = AeKind.DELEGATION
    note: str = ""
    provenance: str = Provenance.OFFICIAL


def _state_partner(contract: Contract) -> Partner | None:
    return (
        Partner.objects.filter(contract=contract, kind=PartnerKind.STATE)
        .select_related("organisation")
        .order_by("position", "pk")
        .first()
    )


@transaction.atomic
def ae_mise_en_place_record_many(
    *, actor: Actor, contract: Contract, drafts: Sequence[AeDraft]
) -> list[AeMiseEnPlace]:
    """Record AE mises en place (and withdrawals) of the State on a contract, all or nothing:
    the State partner's managers and administrators (`ae.record`); each draft checked by
    `rules.ae_mise_en_place_findings` against the net amount already in place for its
    programme × BOP × year (the batch's earlier drafts included); appended (never edited), one
    audit entry each."""
    require_actor(actor, "ae.record", _state_partner(contract))
    items = list(drafts)
    codes = {str(d.programme or "").strip().upper() for d in items}
    programmes = {p.code.upper(): p for p in BudgetProgramme.objects.filter(code__in=codes)}
    net: dict[tuple[int, str | None, int], Decimal] = {}
    for pid, stored_bop, year, kind, value in (
        AeMiseEnPlace.objects.select_for_update()
        .filter(contract=contract)
        .values_list("programme_id", "bop", "year", "kind", "amount")
    ):
        sign = 1 if kind == AeKind.DELEGATION else -1
        key = (pid, stored_bop, year)
        net[key] = net.get(key, Decimal("0.00")) + sign * _dec(value)
    today = timezone.localdate()
    findings: list[Finding] = []
    rows: list[AeMiseEnPlace] = []
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    for n, d in enumerate(items, start=1):
        programme = programmes.get(str(d.programme or "").strip().upper())
        bop = (d.bop or "").strip() or None
        amount: Decimal | None
        try:
            amount = to_money(d.amount)
        except MoneyError as exc:
            findings.append(Finding("amount", f"montant : {exc}", line=n))
            amount = None
        key = (programme.pk if programme else 0, bop, int(d.year or 0))
        found = rules.ae_mise_en_place_findings(
            kind=d.kind,
            amount=amount,
            year=d.year,
            date=d.date,
            reference=d.reference,
            note=d.note,
            bop=bop,
            programme_known=programme is not None,
            first_year=contract.start_year,
            last_year=contract.end_year,
            today=today,
            net_before=net.get(key, Decimal("0.00")),
        )
        if found:
            findings += [Finding(f.field, f.message, f.level, line=n) for f in found]
            continue
        assert programme is not None and amount is not None
        net[key] = net.get(key, Decimal("0.00")) + (
            amount if d.kind == AeKind.DELEGATION else -amount
        )
        rows.append(
            AeMiseEnPlace(
                contract=contract,
                programme=programme,
                bop=bop,
                year=d.year,
                kind=d.kind,
                amount=amount,
                date=d.date,
                reference=d.reference.strip(),
                note=(d.note or "").strip()[:300],
                provenance=d.provenance,
                via=actor.via,
                recorded_by=user,
            )
        )
    if findings:
        raise AeRefused(findings)
    created = AeMiseEnPlace.objects.bulk_create(rows)
    audit_record_many(
        actor=actor,
        entries=[
            AuditDraft(
                action=AuditAction.AE_MISE_EN_PLACE
                if r.kind == AeKind.DELEGATION
                else AuditAction.AE_WITHDRAWAL,
                subject=r,
                changes={
                    "programme": r.programme.code,
                    "bop": r.bop,
                    "exercice": r.year,
                    "nature": r.kind,
                    "montant": str(r.amount),
                    "date": r.date.isoformat(),
                    "référence": r.reference,
                },
                message=r.note,
                contract_id=contract.pk,
            )
            for r in created
        ],
    )
    return created


def ae_mise_en_place_record(*, actor: Actor, contract: Contract, draft: AeDraft) -> AeMiseEnPlace:
    """One AE mise en place: the batch service given one draft."""
    return ae_mise_en_place_record_many(actor=actor, contract=contract, drafts=[draft])[0]


# -- end of issue 12: the State's budget chain ---------------------------------------------------
