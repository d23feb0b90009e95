"""Writes of the execution ledger: recording a movement (commitment, decommitment, payment,
payment cancellation). Named, keyword-only, atomic and audited; the summaries are updated in the
same transaction. Movements are never edited nor deleted: a correction is a new movement.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cper.audit.services import Actor, audit_record
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
            return _record(
                actor=actor,
                line_id=line_id,
                kind=kind,
                date=date,
                amount=money,
                reference=reference,
                key=key,
                cancels_id=cancels_id,
                note=note,
            )
    except IntegrityError:
        if key is not None:
            existing = Movement.objects.filter(idempotency_key=key).first()
            if existing is not None:  # a concurrent request with the same key won the race
                return _replayed(existing, key, wanted)
        raise


def _replayed(existing: Movement, key: str, wanted: dict[str, Any]) -> Movement:
    if not _same_request(existing, **wanted):
        raise MovementRefused(
            [
                rules.Finding(
                    "idempotency_key",
                    f"la clé d'idempotence « {key} » a déjà servi pour un autre mouvement "
                    f"(n° {existing.pk})",
                )
            ]
        )
    return existing


def _record(
    *,
    actor: Actor,
    line_id: int,
    kind: str,
    date: dt.date,
    amount: Decimal,
    reference: str,
    key: str | None,
    cancels_id: int | None,
    note: str,
) -> Movement:
    line_table = FinancingLine._meta.db_table
    op_table = Operation._meta.db_table
    contract_table = Contract._meta.db_table
    mov_table = Movement._meta.db_table
    # Lock the line: writers of one line are serialised (PostgreSQL; SQLite has one writer).
    lock = " FOR UPDATE OF l" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.amount, l.status, l.operation_id, o.status, o.contract_id, c.start_year, "
            f"c.execution_tolerance FROM {line_table} l JOIN {op_table} o ON o.id = l.operation_id "
            f"JOIN {contract_table} c ON c.id = o.contract_id WHERE l.id = %s{lock}",
            [line_id],
        )
        found = cursor.fetchone()
        if found is None:
            raise FinancingLine.DoesNotExist(f"ligne de financement n° {line_id} introuvable")
        (
            line_amount,
            line_status,
            operation_id,
            op_status,
            contract_id,
            start_year,
            tolerance,
        ) = found
        cursor.execute(
            f"SELECT id, kind, date, amount, cancels_id FROM {mov_table} "
            "WHERE financing_line_id = %s",
            [line_id],
        )
        existing = [
            rules.Entry(kind=k, date=_date(d), amount=_dec(a), id=i, cancels_id=c)
            for i, k, d, a, c in cursor.fetchall()
        ]
        cancels_entry = None
        other_line = False
        already = Decimal("0.00")
        if cancels_id is not None:
            cursor.execute(
                f"SELECT kind, date, amount, financing_line_id FROM {mov_table} WHERE id = %s",
                [cancels_id],
            )
            target = cursor.fetchone()
            if target is None:
                raise MovementRefused(
                    [rules.Finding("cancels", f"le mouvement n° {cancels_id} n'existe pas")]
                )
            cancels_entry = rules.Entry(
                kind=target[0], date=_date(target[1]), amount=_dec(target[2]), id=cancels_id
            )
            other_line = target[3] != line_id
            already = sum(
                (e.amount for e in existing if e.cancels_id == cancels_id), Decimal("0.00")
            )
    programmed = (
        _dec(line_amount)
        if line_status == LineStatus.ACTIVE and op_status in PROGRAMMED_STATUSES
        else Decimal("0.00")
    )
    findings = rules.movement_findings(
        kind=kind,
        date=date,
        amount=amount,
        reference=reference,
        existing=existing,
        programmed=programmed,
        tolerance=_dec(tolerance or 0),
        first_day=dt.date(start_year, 1, 1),
        today=timezone.localdate(),
        cancels=cancels_entry,
        cancels_other_line=other_line,
        already_cancelled=already,
        status=str(dict(OperationStatus.choices).get(op_status, op_status)),
    )
    errors = [f for f in findings if f.is_error]
    if errors:
        raise MovementRefused(errors)
    snapshot = summaries.state_for(line_id)
    movement = Movement(
        financing_line_id=line_id,
        kind=kind,
        date=date,
        amount=amount,
        reference=reference,
        cancels_id=cancels_id,
        via=actor.via,
        recorded_by=actor.user if getattr(actor.user, "is_authenticated", False) else None,
        idempotency_key=key,
        note=note[:300],
    )
    movement.save()
    summaries.movement_applied(movement, snapshot)
    audit_record(
        actor=actor,
        action=f"movement.{kind}",
        subject=movement,
        changes={
            "ligne": line_id,
            "nature": kind,
            "date": date,
            "montant": amount,
            "référence": reference,
            "annule": cancels_id,
        },
        message=note,
        contract_id=contract_id,
        operation_id=operation_id,
    )
    return movement


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
