"""The lifecycle of an operation: an explicit transitions table, and the one function that moves
an operation along it, writing the transition log and the audit trail.

    draft ─▶ submitted ─▶ under_review ─▶ programmed ─▶ in_progress ─▶ completed ─▶ closed
      ▲          │            │  ▲   │
      └──────────┘            ▼  │   └─▶ rejected
                           adjourned
    abandoned: from any state before completed.

Only the edges of `TRANSITIONS` exist. Going to `programmed` requires an approved committee
decision on this operation; going to `adjourned` or `rejected` requires a decision with that
outcome or a written reason; going back to draft and abandoning require a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record
from cper.findings import Finding
from cper.operations import rules
from cper.operations.execution import execution
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Decision,
    DecisionOutcome,
    FinancingLine,
    LineStatus,
    Operation,
    OperationStatus,
    OperationTransition,
)

S = OperationStatus


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str  # the verb shown on the button
    needs_decision: str | None = None  # outcome the decision must carry
    decision_or_reason: str | None = None  # outcome, if a reason may replace the decision
    needs_reason: bool = False


TRANSITIONS: tuple[Edge, ...] = (
    Edge(S.DRAFT, S.SUBMITTED, "déposer"),
    Edge(S.DRAFT, S.ABANDONED, "abandonner", needs_reason=True),
    Edge(S.SUBMITTED, S.UNDER_REVIEW, "mettre en instruction"),
    Edge(S.SUBMITTED, S.DRAFT, "renvoyer au porteur pour compléments", needs_reason=True),
    Edge(S.SUBMITTED, S.ABANDONED, "abandonner", needs_reason=True),
    Edge(S.UNDER_REVIEW, S.PROGRAMMED, "programmer", needs_decision=DecisionOutcome.APPROVED),
    Edge(S.UNDER_REVIEW, S.ADJOURNED, "ajourner", decision_or_reason=DecisionOutcome.ADJOURNED),
    Edge(S.UNDER_REVIEW, S.REJECTED, "rejeter", decision_or_reason=DecisionOutcome.REJECTED),
    Edge(S.UNDER_REVIEW, S.DRAFT, "renvoyer au porteur pour compléments", needs_reason=True),
    Edge(S.UNDER_REVIEW, S.ABANDONED, "abandonner", needs_reason=True),
    Edge(S.ADJOURNED, S.UNDER_REVIEW, "reprendre l'instruction"),
    Edge(S.ADJOURNED, S.ABANDONED, "abandonner", needs_reason=True),
    Edge(S.PROGRAMMED, S.IN_PROGRESS, "démarrer"),
    Edge(S.PROGRAMMED, S.ABANDONED, "abandonner", needs_reason=True),
    Edge(S.IN_PROGRESS, S.COMPLETED, "déclarer achevée"),
    Edge(S.IN_PROGRESS, S.ABANDONED, "abandonner", needs_reason=True),
    Edge(S.COMPLETED, S.CLOSED, "solder"),
)

EDGES: dict[tuple[str, str], Edge] = {(e.source, e.target): e for e in TRANSITIONS}
TERMINAL = frozenset({S.CLOSED, S.REJECTED, S.ABANDONED})


_LABELS = dict(OperationStatus.choices)


# --- the ledger's floor ------------------------------------------------------------------------
# Here rather than in `services.lines` because the status service below needs it too, and the
# line services import this module (not the other way round). The ledger itself is read by the
# finance app (`cper.operations.execution`).


def _line_name(line: FinancingLine) -> str:
    who = str(line.partner) if line.partner else line.financer_label
    return f"{who} (n° {line.pk})" if who else f"n° {line.pk}"


def ledger_floor_findings(
    lines: Iterable[FinancingLine],
    *,
    amounts: dict[int, Decimal] | None = None,
    cancel_verb: str = "l'annuler",
    name_lines: bool = False,
) -> list[Finding]:
    """What stops these lines from being programmed at `amounts` ({line: new amount}; a line
    left out is being cancelled, or its operation leaves the programmed statuses: 0): the
    committed amount on each (`rules.committed_floor_findings`). Lock the lines first."""
    lines = list(lines)
    floors = execution().ledger_floors(line.pk for line in lines)
    out: list[Finding] = []
    for line in lines:
        floor = floors.get(line.pk)
        if floor is None:
            continue
        cancelling = amounts is None or line.pk not in amounts
        amount = Decimal("0.00") if cancelling else amounts[line.pk]  # type: ignore[index]
        tolerance = Decimal(line.operation.contract.execution_tolerance or 0)
        field = "amount" if not cancelling else "status"
        subject = f"la ligne {_line_name(line)}" if name_lines else "la ligne"
        if floor.affected_peak is not None:  # AP/CP chain: nor below the AP affectée it reached
            out += rules.affected_floor_findings(
                amount=amount,
                peak=floor.affected_peak,
                peak_day=floor.affected_peak_day,
                tolerance=tolerance,
                cancelling=cancelling,
                field=field,
                subject=subject,
                cancel_verb=cancel_verb,
            )
        out += rules.committed_floor_findings(
            amount=amount,
            committed=floor.committed,
            peak=floor.committed_peak,
            peak_day=floor.committed_peak_day,
            tolerance=tolerance,
            cancelling=cancelling,
            field=field,
            subject=subject,
            cancel_verb=cancel_verb,
        )
    return out


def allowed_targets(status: str) -> list[Edge]:
    """The edges leaving `status`, in the table's order."""
    return [e for e in TRANSITIONS if e.source == status]


def status_path(source: str, target: str) -> list[Edge] | None:
    """The shortest walk of edges from `source` to `target` ([] when equal; None if none)."""
    frontier: list[tuple[str, list[Edge]]] = [(source, [])]
    seen = {source}
    while frontier:
        status, path = frontier.pop(0)
        if status == target:
            return path
        for e in allowed_targets(status):
            if e.target not in seen:
                seen.add(e.target)
                frontier.append((e.target, [*path, e]))
    return None


def label(status: str) -> str:
    return str(_LABELS.get(status, status))


def transition_errors(
    *, operation: Operation, to_status: str, reason: str = "", decision: Decision | None = None
) -> list[str]:
    """Why this transition cannot happen (French messages), or [] if it can."""
    if to_status not in _LABELS:
        return [f"statut inconnu « {to_status} »"]
    edge = EDGES.get((operation.status, to_status))
    if edge is None:
        possible = ", ".join(f"« {label(e.target)} »" for e in allowed_targets(operation.status))
        return [
            f"transition refusée : une opération « {label(operation.status)} » ne peut pas passer "
            f"à « {label(to_status)} »"
            + (f" (possibles : {possible})" if possible else " (statut final)")
        ]
    errors: list[str] = []
    if decision is not None and decision.operation_id != operation.pk:
        errors.append("la décision citée porte sur une autre opération")
    if edge.needs_decision:
        if decision is None:
            errors.append(
                f"passer à « {label(to_status)} » exige une décision de comité "
                f"({dict(DecisionOutcome.choices)[edge.needs_decision]})"
            )
        elif decision.outcome != edge.needs_decision:
            errors.append(
                f"la décision du comité n'est pas un(e) « "
                f"{dict(DecisionOutcome.choices)[edge.needs_decision]} »"
            )
    if edge.decision_or_reason:
        has_decision = decision is not None and decision.outcome == edge.decision_or_reason
        if not has_decision and not reason.strip():
            errors.append(
                f"passer à « {label(to_status)} » exige une décision de comité ou un motif"
            )
    if edge.needs_reason and not reason.strip():
        errors.append(f"passer à « {label(to_status)} » exige un motif")
    return errors


@transaction.atomic
def operation_transition(
    *,
    actor: Actor,
    operation: Operation,
    to_status: str,
    reason: str = "",
    decision: Decision | None = None,
) -> OperationTransition:
    """Move `operation` to `to_status` if the table allows it; log who, when, why.

    Raises PermissionDenied (role) or ValidationError({"status": [...]}) and changes nothing.
    """
    require_actor(actor, "operation.transition", operation)
    current = Operation.objects.select_for_update(of=("self",)).get(pk=operation.pk)
    errors = transition_errors(
        operation=current, to_status=to_status, reason=reason, decision=decision
    )
    if errors:
        raise ValidationError({"status": errors})
    from_status = current.status
    if from_status in PROGRAMMED_STATUSES and to_status not in PROGRAMMED_STATUSES:
        # Its lines stop being programmed: what is committed on them must be decommitted first.
        lines = (
            FinancingLine.objects.select_for_update(of=("self",))
            .select_related("partner", "operation__contract")
            .filter(operation=current, status=LineStatus.ACTIVE)
            .order_by("pk")
        )
        floor = ledger_floor_findings(
            lines, cancel_verb=f"passer l'opération à « {label(to_status)} »", name_lines=True
        )
        if floor:
            raise ValidationError({"status": [f.message for f in floor]})
    current.status = to_status
    current.save(update_fields=["status", "updated_at"])
    operation.status = to_status
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    log = OperationTransition.objects.create(
        operation=current,
        from_status=from_status,
        to_status=to_status,
        user=user,
        reason=reason,
        decision=decision,
    )
    # What the operation's lines count as follows its status (programmed or not, and when).
    execution().lines_sync(operation_ids=[current.pk])
    changes: dict[str, Any] = {"status": {"avant": from_status, "après": to_status}}
    if decision is not None:
        changes["decision"] = {"avant": None, "après": decision.pk}
    audit_record(
        actor=actor,
        action=AuditAction.OPERATION_STATUS_CHANGED,
        subject=current,
        changes=changes,
        message=reason,
        contract_id=current.contract_id,
        operation_id=current.pk,
    )
    return log
