"""Writes of committees: sessions (create, update) and their agendas."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record, diff_fields
from cper.contracts.models import Contract
from cper.db import Provenance
from cper.findings import Finding
from cper.operations import rules
from cper.operations.execution import execution
from cper.operations.models import (
    Committee,
    CommitteeKind,
    Decision,
    Operation,
    OperationStatus,
    OperationTransition,
)
from cper.operations.services.common import raise_findings, refuse_unknown_keys
from cper.operations.snapshots import (
    COMMITTEE_FIELDS,
    committee_snapshot,
)

# The choices' values, read once (a TextChoices' `.values` builds a new list at each access).
_COMMITTEE_KINDS = frozenset(CommitteeKind.values)


def _committee_findings(values: dict[str, Any]) -> list[Finding]:
    return rules.committee_findings(
        kind=values.get("kind"),
        date_given=isinstance(values.get("date"), date),
        kinds=_COMMITTEE_KINDS,
    )


@transaction.atomic
def committee_create(
    *,
    actor: Actor,
    contract: Contract,
    kind: str,
    date: date,
    place: str = "",
    title: str = "",
    minutes: str = "",
    provenance: str = Provenance.OFFICIAL,
) -> Committee:
    """Create a committee session (comité de pilotage, de programmation, de suivi)."""
    require_actor(actor, "committee.edit", contract)
    values = {"kind": kind, "date": date, "place": place.strip(), "title": title.strip()}
    raise_findings(_committee_findings(values))
    committee = Committee.objects.create(
        contract=contract, minutes=minutes, provenance=provenance, **values
    )
    audit_record(
        actor=actor,
        action=AuditAction.COMMITTEE_CREATED,
        subject=committee,
        changes=diff_fields({}, committee_snapshot(committee)),
        contract_id=contract.pk,
    )
    return committee


@transaction.atomic
def committee_update(*, actor: Actor, committee: Committee, **changes: Any) -> Committee:
    refuse_unknown_keys(changes, COMMITTEE_FIELDS, "committee_update")
    require_actor(actor, "committee.edit", committee)
    current = Committee.objects.select_for_update(of=("self",)).get(pk=committee.pk)
    before = committee_snapshot(current)
    merged = {**before, **changes}
    raise_findings(_committee_findings(merged))
    for key, value in changes.items():
        setattr(current, key, value)
    current.save()
    if current.date != before["date"]:
        # A committee's date is the programming date of the operations it programmed.
        execution().lines_sync(
            operation_ids=OperationTransition.objects.filter(decision__committee=current)
            .values_list("operation_id", flat=True)
            .distinct()
        )
    diff = diff_fields(before, committee_snapshot(current))
    if diff:
        audit_record(
            actor=actor,
            action=AuditAction.COMMITTEE_UPDATED,
            subject=current,
            changes=diff,
            contract_id=current.contract_id,
        )
    for key in changes:
        setattr(committee, key, getattr(current, key))
    return current


EXAMINABLE = frozenset(
    {OperationStatus.SUBMITTED, OperationStatus.UNDER_REVIEW, OperationStatus.ADJOURNED}
)


@transaction.atomic
def committee_add_to_agenda(
    *, actor: Actor, committee: Committee, operation: Operation
) -> Decision:
    """Put an operation (submitted, under review or adjourned) on a committee's agenda."""
    require_actor(actor, "committee.edit", committee)
    if operation.contract_id != committee.contract_id:
        raise ValidationError({"operation": ["cette opération relève d'un autre contrat"]})
    raise_findings(
        rules.examinable_findings(
            examinable=operation.status in EXAMINABLE,
            status_label=operation.get_status_display(),
            to_agenda=True,
        )
    )
    if Decision.objects.filter(committee=committee, operation=operation).exists():
        raise ValidationError({"operation": ["cette opération est déjà à l'ordre du jour"]})
    decision = Decision.objects.create(committee=committee, operation=operation)
    audit_record(
        actor=actor,
        action=AuditAction.AGENDA_ADDED,
        subject=decision,
        changes={"committee": {"avant": None, "après": committee.pk}},
        message=str(committee),
        contract_id=committee.contract_id,
        operation_id=operation.pk,
    )
    return decision


@transaction.atomic
def committee_remove_from_agenda(*, actor: Actor, decision: Decision, reason: str = "") -> None:
    """Take an operation off an agenda while no decision has been recorded."""
    require_actor(actor, "committee.edit", decision.committee)
    current = Decision.objects.select_for_update(of=("self",)).get(pk=decision.pk)
    if current.outcome:
        raise ValidationError({"operation": ["une décision enregistrée ne se retire pas"]})
    audit_record(
        actor=actor,
        action=AuditAction.AGENDA_REMOVED,
        subject=current,
        changes={"committee": {"avant": current.committee_id, "après": None}},
        message=f"{current.committee}" + (f" : {reason}" if reason else ""),
        contract_id=current.committee.contract_id,
        operation_id=current.operation_id,
    )
    current.delete()
