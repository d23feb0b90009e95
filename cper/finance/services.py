"""Writes of the execution ledger: recording a movement (commitment, decommitment, payment,
payment cancellation). Named, keyword-only, atomic and audited; the summaries are updated in the
same transaction. Movements are never edited nor deleted: a correction is a new movement.
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

from cper.audit.services import Actor, AuditDraft, audit_record, audit_record_many
from cper.contracts.models import Contract
from cper.finance import rules, summaries
from cper.finance.models import Movement, MovementKind
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

    def __init__(self, findings: list[rules.Finding]) -> None:
        self.findings = findings
        by_field: dict[str, list[str]] = {}
        for f in findings:
            by_field.setdefault(f.field, []).append(f.message)
        super().__init__(by_field)

    def __str__(self) -> str:
        return " ; ".join(f.message for f in self.findings)


def _require(actor: Actor, line: FinancingLine) -> None:
    try:
        from cper.accounts.permissions import require_actor
    except ImportError:  # pragma: no cover - the permissions module ships with accounts
        return
    require_actor(actor, "movement.record", line)


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
    same key with another request is refused."""
    line_id = financing_line if isinstance(financing_line, int) else financing_line.pk
    cancels_id = cancels if isinstance(cancels, int) or cancels is None else cancels.pk
    try:
        money = to_money(amount)
    except MoneyError as exc:
        raise MovementRefused([rules.Finding("amount", str(exc))]) from exc
    reference = (reference or "").strip()
    key = (idempotency_key or "").strip() or None
    wanted = {
        "line_id": line_id,
        "kind": kind,
        "date": date,
        "amount": money,
        "reference": reference,
        "cancels_id": cancels_id,
    }

    if actor.user is not None or actor.via not in {"system", "cli"}:
        line = FinancingLine.objects.select_related("operation", "partner").get(pk=line_id)
        _require(actor, line)

    if key is not None:
        existing = Movement.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return _replayed(existing, key, wanted)
    try:
        with transaction.atomic():
            return _record(actor=actor, request=wanted, key=key, note=note)
    except IntegrityError:
        if key is not None:
            existing = Movement.objects.filter(idempotency_key=key).first()
            if existing is not None:  # a concurrent request with the same key won the race
                return _replayed(existing, key, wanted)
        raise


def _replayed(existing: Movement, key: str, wanted: dict[str, Any]) -> Movement:
    if not _same_request(existing, **wanted):
        raise _key_conflict(key, existing.pk)
    return existing


def _key_conflict(key: str, movement_id: int | None) -> MovementRefused:
    number = f" (n° {movement_id})" if movement_id is not None else ""
    return MovementRefused(
        [
            rules.Finding(
                "idempotency_key",
                f"la clé d'idempotence « {key} » a déjà servi pour un autre mouvement{number}",
            )
        ]
    )


def _record(*, actor: Actor, request: dict[str, Any], key: str | None, note: str) -> Movement:
    line_id, cancels_id = request["line_id"], request["cancels_id"]
    with connection.cursor() as cursor:
        # Lock the line: writers of one line are serialised (PostgreSQL; SQLite has one writer).
        ledger = _ledgers(cursor, [line_id], lock=True).get(line_id)
        if ledger is None:
            raise FinancingLine.DoesNotExist(f"ligne de financement n° {line_id} introuvable")
        target = None
        if cancels_id is not None:
            target = _targets(cursor, [cancels_id]).get(cancels_id)
            if target is None:
                raise MovementRefused([_missing_target(cancels_id)])
    errors = ledger.errors(request, today=timezone.localdate(), target=target)
    if errors:
        raise MovementRefused(errors)
    snapshot = summaries.state_for(line_id)
    movement = _movement(actor, request, key, note)
    movement.save()
    summaries.movement_applied(movement, snapshot)
    audit_record(actor=actor, **vars(_audit_of(movement, ledger, note)))
    return movement


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

    def errors(
        self,
        request: dict[str, Any],
        *,
        today: dt.date,
        target: tuple[rules.Entry, int] | None,
    ) -> list[rules.Finding]:
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
    mov_table = Movement._meta.db_table
    suffix = " FOR UPDATE OF l" if lock and connection.features.has_select_for_update_of else ""
    out: dict[int, _Ledger] = {}
    for chunk, marks in _in_lists(line_ids):
        cursor.execute(
            f"SELECT l.id, l.amount, l.status, l.operation_id, o.status, o.contract_id, "
            f"c.start_year, c.execution_tolerance FROM {line_table} l "
            f"JOIN {op_table} o ON o.id = l.operation_id "
            f"JOIN {contract_table} c ON c.id = o.contract_id "
            f"WHERE l.id IN ({marks}) ORDER BY l.id{suffix}",
            chunk,
        )
        for lid, amount, status, op_id, op_status, contract_id, start, tolerance in cursor:
            programmed = (
                _dec(amount)
                if status == LineStatus.ACTIVE and op_status in PROGRAMMED_STATUSES
                else Decimal("0.00")
            )
            out[lid] = _Ledger(
                operation_id=op_id,
                contract_id=contract_id,
                programmed=programmed,
                tolerance=_dec(tolerance or 0),
                first_day=dt.date(start, 1, 1),
                status=str(_STATUS_LABELS.get(op_status, op_status)),
            )
        cursor.execute(
            f"SELECT financing_line_id, id, kind, date, amount, cancels_id FROM {mov_table} "
            f"WHERE financing_line_id IN ({marks}) ORDER BY id",
            chunk,
        )
        for lid, mid, k, d, a, c in cursor.fetchall():
            out[lid].entries.append(
                rules.Entry(kind=k, date=_date(d), amount=_dec(a), id=mid, cancels_id=c)
            )
    return out


def _in_lists(ids: Iterable[int]) -> Iterator[tuple[list[int], str]]:
    """The distinct ids, sorted, by lists of 5,000 with their SQL placeholders."""
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


def _missing_target(cancels_id: int) -> rules.Finding:
    return rules.Finding("cancels", f"le mouvement n° {cancels_id} n'existe pas")


def _movement(actor: Actor, request: dict[str, Any], key: str | None, note: str) -> Movement:
    return Movement(
        financing_line_id=request["line_id"],
        kind=request["kind"],
        date=request["date"],
        amount=request["amount"],
        reference=request["reference"],
        cancels_id=request["cancels_id"],
        via=actor.via,
        recorded_by=actor.user if getattr(actor.user, "is_authenticated", False) else None,
        idempotency_key=key,
        note=note[:300],
    )


def _audit_of(movement: Movement, ledger: _Ledger, note: str) -> AuditDraft:
    """The audit entry of a recorded movement (`audit_record`'s arguments but the actor)."""
    return AuditDraft(
        action=f"movement.{movement.kind}",
        subject=movement,
        changes={
            "ligne": movement.financing_line_id,
            "nature": movement.kind,
            "date": movement.date,
            "montant": movement.amount,
            "référence": movement.reference,
            "annule": movement.cancels_id,
        },
        message=note,
        contract_id=ledger.contract_id,
        operation_id=ledger.operation_id,
    )


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
    def findings(self) -> list[rules.Finding]:
        if isinstance(self.error, MovementRefused):
            return list(self.error.findings)
        if self.error is not None:
            return [rules.Finding("financing_line", str(self.error))]
        return []


@dataclass
class BatchResult:
    outcomes: list[DraftOutcome]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def created(self) -> list[Movement]:
        return [o.movement for o in self.outcomes if o.status == CREATED and o.movement]


@transaction.atomic
def movements_record_many(*, actor: Actor, movements: Sequence[MovementDraft]) -> BatchResult:
    """Record a batch of movements with the rules, permissions, idempotency and audit of
    `movement_record`, and the same outcome as calling it on each draft in turn, each in its own
    savepoint: a refused draft writes nothing and the drafts after it are checked against the
    ledger without it (they still go in if the rules accept them). Each touched line is loaded
    (and locked) once; the batch's movements are checked in order against the line's movements
    as they stand in memory, then inserted in bulk with their audit entries, and the summaries
    are updated once. A few queries per batch, whatever its length (the bulk inserts go by
    the database's batch size)."""
    return _Batch(actor, list(movements)).run()


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
            lines = FinancingLine.objects.filter(pk__in=line_ids).select_related(
                "operation", "partner"
            )
            for line in lines:
                try:
                    _require(self.actor, line)
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
                    error=MovementRefused([rules.Finding("group", message)]),
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
        try:
            amount = to_money(d.amount)
        except MoneyError as exc:
            return _refused([rules.Finding("amount", str(exc))])
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
        if line_id in self.denied:
            return DraftOutcome(REFUSED, error=self.denied[line_id])
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
                [rules.Finding("financing_line", f"ligne de financement n° {line_id} introuvable")]
            )
        if unrecorded:
            assert d.cancels_draft is not None
            return _refused(
                [
                    rules.Finding(
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
        movements = [self.pending[k][0] for k in order]
        snapshots = summaries.states_for({m.financing_line_id for m in movements})
        # Insert in order; a movement cancelling a movement of the same insert waits for it
        # (its id is known once inserted): the insert is split there.
        run: list[Movement] = []
        in_run: set[int] = set()
        for k in order:
            movement, request = self.pending[k]
            cancels = request["cancels_id"]
            if cancels is not None and cancels < 0:
                if cancels in in_run:
                    Movement.objects.bulk_create(run)
                    run, in_run = [], set()
                movement.cancels_id = self.pending[_draft_of(cancels)][0].pk
            run.append(movement)
            in_run.add(_temp_id(k))
        Movement.objects.bulk_create(run)
        summaries.movements_applied(movements, snapshots)
        audit_record_many(
            actor=self.actor,
            entries=[
                _audit_of(m, self.ledgers[m.financing_line_id], self.drafts[k].note)
                for k, m in zip(order, movements, strict=True)
            ],
        )
        self.settle_conflicts()

    def settle_conflicts(self) -> None:
        for k, (key, first) in self.conflicts.items():
            self.outcomes[k] = DraftOutcome(
                REFUSED, error=_key_conflict(key, self.pending[first][0].pk)
            )


def _refused(findings: list[rules.Finding]) -> DraftOutcome:
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
    """An engagement (State: legal commitment EJ; local authorities: AP affectation)."""
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


def summaries_rebuild(*, actor: Actor, contract: Any) -> summaries.RebuildReport:
    """Recompute a contract's execution summaries from the ledger (audited)."""
    report = summaries.rebuild(contract)
    audit_record(
        actor=actor,
        action="execution.rebuild_summaries",
        subject=contract,
        changes={"lignes": report.lines, "agrégats": report.cells},
        contract_id=contract.pk,
    )
    return report
