"""Writes of co-financing lines: add, update, cancel (money is never deleted), and the
over-programming guard run after a change that adds to a partner × objective pair."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record, diff_fields
from cper.contracts.models import Objective, Partner
from cper.findings import Finding
from cper.operations import bulk, rules, selectors
from cper.operations.execution import execution
from cper.operations.lifecycle import ledger_floor_findings
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    FinancingLine,
    LineStatus,
    Operation,
    OperationStatus,
)
from cper.operations.services.common import money_value, raise_findings, refuse_unknown_keys
from cper.operations.snapshots import (
    line_snapshot,
)

LINE_EDITABLE = (
    "amount",
    "financer_label",
    "objective",
    "contractualised",
    "budget_nature",
    "programme",
    "bop",
    "activity",
    "year",
    "external_ref",
)
FROZEN_PLAN = bulk.FROZEN_PLAN


def line_findings(operation: Operation, values: dict[str, Any]) -> list[Finding]:
    secondary_ids: Iterable[int] = ()
    if values.get("objective") is not None:
        secondary_ids = operation.secondary_objectives.values_list("pk", flat=True)
    return bulk.line_findings(operation, values, secondary_ids=secondary_ids)


def over_programming_guard(
    *, operation: Operation, pairs: set[tuple[int | None, int]]
) -> list[Finding]:
    """After a change, compare programmed and maquette for the touched partner × objective
    pairs; raise if the contract blocks over-programming, return the warnings otherwise."""
    if not pairs or operation.status not in PROGRAMMED_STATUSES:
        return []
    contract = operation.contract
    findings = rules.over_programming_findings(
        selectors.programmed_figures(contract=contract, pairs=pairs),  # type: ignore[arg-type]
        policy=contract.over_programming,
    )
    raise_findings(findings)
    return findings


def line_save(
    *,
    actor: Actor,
    line: FinancingLine,
    values: dict[str, Any],
    action: AuditAction,
    message: str = "",
) -> FinancingLine:
    before = line_snapshot(line)
    for key, value in values.items():
        setattr(line, key, value)
    line.save()
    execution().lines_sync(line_ids=[line.pk])
    diff = diff_fields(before, line_snapshot(line))
    if diff:
        audit_record(
            actor=actor,
            action=action,
            subject=line,
            changes=diff,
            message=message,
            contract_id=line.operation.contract_id,
            operation_id=line.operation_id,
        )
    return line


@transaction.atomic
def financing_line_add(
    *,
    actor: Actor,
    operation: Operation,
    financer_kind: str,
    amount: Decimal | str | int,
    partner: Partner | None = None,
    financer_label: str = "",
    objective: Objective | None = None,
    contractualised: bool | None = None,
    budget_nature: str | None = None,
    programme: Any = None,
    year: int | None = None,
    external_ref: str = "",
    bop: str | None = None,
    activity: str | None = None,
) -> FinancingLine:
    """Add a financer's line to an operation's plan. A partner's line is contractualised by
    default (it counts against the maquette), or valorised when said not contractualised;
    other financers are co-financing (`rules.line_category`)."""
    require_actor(actor, "financing_line.edit", (operation, partner))
    op = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("contract", "objective")
        .get(pk=operation.pk)
    )
    values = bulk.line_values(
        op,
        financer_kind=financer_kind,
        partner=partner,
        financer_label=financer_label,
        objective=objective,
        amount=money_value(amount, "amount", required=True),
        contractualised=contractualised,
        budget_nature=budget_nature,
        programme=programme,
        year=year,
        external_ref=external_ref,
        bop=bop,
        activity=activity,
    )
    raise_findings(line_findings(op, values))
    line = FinancingLine.objects.create(operation=op, **values)
    execution().lines_sync(line_ids=[line.pk])
    audit_record(
        actor=actor,
        action=AuditAction.LINE_ADDED,
        subject=line,
        changes=diff_fields({}, line_snapshot(line)),
        contract_id=op.contract_id,
        operation_id=op.pk,
    )
    if line.contractualised:
        over_programming_guard(operation=op, pairs={(line.partner_id, line.objective_id)})
    return line


@transaction.atomic
def financing_line_update(*, actor: Actor, line: FinancingLine, **changes: Any) -> FinancingLine:
    """Change a line's amount, label, objective, contractualised flag, budget nature, LOLF
    programme, year or reference. Its financer (kind, partner) never changes: cancel the line
    and add another. Its amount never falls below what is committed on it."""
    refuse_unknown_keys(changes, LINE_EDITABLE, "financing_line_update")
    current = (
        FinancingLine.objects.select_for_update(of=("self",))
        .select_related("operation__contract", "operation__objective", "partner", "objective")
        .get(pk=line.pk)
    )
    require_actor(actor, "financing_line.edit", current)
    if current.status != LineStatus.ACTIVE:
        raise ValidationError({"status": ["cette ligne est annulée : elle ne se modifie plus"]})
    values = dict(changes)
    if "amount" in values:
        values["amount"] = money_value(values["amount"], "amount", required=True)
    if "financer_label" in values:
        values["financer_label"] = (values["financer_label"] or "").strip()
    for key in ("bop", "activity"):
        if key in values:
            values[key] = (values[key] or "").strip() or None
    merged = {
        k: values.get(k, getattr(current, k)) for k in (*LINE_EDITABLE, "financer_kind", "partner")
    }
    raise_findings(line_findings(current.operation, merged))
    if "amount" in values and values["amount"] < current.amount:
        # The line is locked: no movement can be recorded on it until this transaction ends.
        raise_findings(ledger_floor_findings([current], amounts={current.pk: values["amount"]}))
    old = (current.objective_id, current.contractualised, current.amount)
    saved = line_save(actor=actor, line=current, values=values, action=AuditAction.LINE_UPDATED)
    # Only a change that adds to the programmed figure of a pair is checked: lowering an amount
    # on an over-programmed pair must stay possible when the contract blocks.
    grows = saved.contractualised and (
        not old[1] or saved.objective_id != old[0] or saved.amount > old[2]
    )
    if grows:
        over_programming_guard(
            operation=saved.operation, pairs={(saved.partner_id, saved.objective_id)}
        )
    for key in (*LINE_EDITABLE, "updated_at"):
        setattr(line, key, getattr(saved, key))
    return saved


@transaction.atomic
def financing_line_cancel(*, actor: Actor, line: FinancingLine, reason: str) -> FinancingLine:
    """Cancel a line (never deleted): it stops counting in the plan and the maquette. A line
    with commitments is decommitted first (the ledger's `committed ≤ programmed`)."""
    current = (
        FinancingLine.objects.select_for_update(of=("self",))
        .select_related("operation__contract", "partner", "objective")
        .get(pk=line.pk)
    )
    require_actor(actor, "financing_line.edit", current)
    if not (reason or "").strip():
        raise ValidationError({"cancel_reason": ["le motif d'annulation est obligatoire"]})
    if current.status == LineStatus.CANCELLED:
        raise ValidationError({"status": ["cette ligne est déjà annulée"]})
    if current.operation.status == OperationStatus.CLOSED:
        raise ValidationError({"status": ["le plan d'une opération soldée est figé"]})
    raise_findings(ledger_floor_findings([current]))
    saved = line_save(
        actor=actor,
        line=current,
        values={"status": LineStatus.CANCELLED, "cancel_reason": reason.strip()},
        action=AuditAction.LINE_CANCELLED,
        message=reason.strip(),
    )
    line.status, line.cancel_reason = saved.status, saved.cancel_reason
    return saved
