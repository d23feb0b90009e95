"""Recording a committee's decision on an operation: approved amounts, lifecycle transitions,
over-programming guard."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record
from cper.operations import rules
from cper.operations.lifecycle import operation_transition
from cper.operations.models import (
    Committee,
    Decision,
    DecisionAmount,
    DecisionOutcome,
    FinancingLine,
    LineStatus,
    Operation,
    OperationStatus,
)
from cper.operations.services.committees import EXAMINABLE, committee_add_to_agenda
from cper.operations.services.common import money_value, raise_findings
from cper.operations.services.lines import line_save, over_programming_guard

_OUTCOME_STATUS = {
    DecisionOutcome.APPROVED: OperationStatus.PROGRAMMED,
    DecisionOutcome.ADJOURNED: OperationStatus.ADJOURNED,
    DecisionOutcome.REJECTED: OperationStatus.REJECTED,
}


@transaction.atomic
def decision_record(
    *,
    actor: Actor,
    committee: Committee,
    operation: Operation,
    outcome: str,
    amounts: Mapping[Any, Any] | None = None,
    notes: str = "",
) -> Decision:
    """Record a committee's decision on an operation (added to the agenda if needed).

    approved: the amounts approved per financing line (default: each active partner line's
    current amount) are recorded; a line whose approved amount differs is set to it; the
    operation moves to `programmed` through the lifecycle (from `submitted` or `adjourned`
    it first goes to `under_review`). adjourned / rejected: the operation moves there.
    Over-programming is checked on the partner × objective pairs approved.
    """
    require_actor(actor, "committee.edit", committee)
    if outcome not in DecisionOutcome.values:
        raise ValidationError({"outcome": [f"décision inconnue « {outcome} »"]})
    op = Operation.objects.select_related("contract", "objective").get(pk=operation.pk)
    if op.contract_id != committee.contract_id:
        raise ValidationError({"operation": ["cette opération relève d'un autre contrat"]})
    raise_findings(
        rules.examinable_findings(
            examinable=op.status in EXAMINABLE,
            status_label=op.get_status_display(),
            to_agenda=False,
        )
    )
    decision = (
        Decision.objects.select_for_update(of=("self",))
        .filter(committee=committee, operation=op)
        .first()
    )
    if decision is not None and decision.outcome:
        raise ValidationError({"outcome": ["une décision est déjà enregistrée pour ce comité"]})

    lines = {
        line.pk: line
        for line in FinancingLine.objects.filter(operation=op, status=LineStatus.ACTIVE)
        .select_related("partner", "objective", "operation__contract")
        .select_for_update(of=("self",))
    }
    approved: dict[int, Decimal] = {}
    if amounts:
        if outcome != DecisionOutcome.APPROVED:
            raise ValidationError({"amounts": ["seule une décision favorable porte des montants"]})
        for key, value in amounts.items():
            pk = key.pk if isinstance(key, FinancingLine) else int(key)
            if pk not in lines:
                raise ValidationError(
                    {"amounts": [f"la ligne {pk} n'est pas une ligne active de cette opération"]}
                )
            amount = money_value(value, "amounts", required=True)
            assert amount is not None
            if amount < 0:
                raise ValidationError({"amounts": ["un montant approuvé ne peut pas être négatif"]})
            approved[pk] = amount
    elif outcome == DecisionOutcome.APPROVED:
        approved = {pk: line.amount for pk, line in lines.items() if line.partner_id}
    if outcome == DecisionOutcome.APPROVED and not any(v > 0 for v in approved.values()):
        raise ValidationError(
            {"amounts": ["une décision favorable approuve au moins un montant d'un partenaire"]}
        )

    if decision is None:
        decision = committee_add_to_agenda(actor=actor, committee=committee, operation=op)
    if op.status != OperationStatus.UNDER_REVIEW:
        operation_transition(
            actor=actor,
            operation=op,
            to_status=OperationStatus.UNDER_REVIEW,
            reason=f"examinée par le {committee}",
        )
    decision.outcome = outcome
    decision.notes = notes.strip()
    decision.decided_at = timezone.now()
    decision.save()
    DecisionAmount.objects.bulk_create(
        [
            DecisionAmount(decision=decision, financing_line_id=pk, amount=a)
            for pk, a in approved.items()
        ]
    )
    for pk, amount in approved.items():
        line = lines[pk]
        if line.amount != amount:
            line_save(
                actor=actor,
                line=line,
                values={"amount": amount},
                action=AuditAction.LINE_APPROVED_AMOUNT,
                message=str(committee),
            )
    audit_record(
        actor=actor,
        action=AuditAction.DECISION_RECORDED,
        subject=decision,
        changes={
            "outcome": {"avant": None, "après": outcome},
            "amounts": {"avant": None, "après": {str(k): v for k, v in approved.items()}},
        },
        message=f"{committee}" + (f" : {decision.notes}" if decision.notes else ""),
        contract_id=committee.contract_id,
        operation_id=op.pk,
    )
    operation_transition(
        actor=actor,
        operation=op,
        to_status=_OUTCOME_STATUS[DecisionOutcome(outcome)],
        reason=notes.strip(),
        decision=decision,
    )
    operation.status = op.status
    if outcome == DecisionOutcome.APPROVED:
        pairs = {
            (lines[pk].partner_id, lines[pk].objective_id)
            for pk in approved
            if lines[pk].contractualised and lines[pk].partner_id
        }
        over_programming_guard(operation=op, pairs=pairs)
    return decision
