"""Writes of operations: creation (a batch of one, `cper.operations.bulk`), update of their
descriptive fields, communes, secondary objectives, markers and partners' references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record, diff_fields
from cper.contracts.models import Action, Contract, Marker, Objective, Partner
from cper.db import Provenance
from cper.findings import Finding
from cper.operations import bulk, rules
from cper.operations.execution import execution
from cper.operations.lifecycle import TERMINAL
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    CostBase,
    ExternalReference,
    FinancingLine,
    LineStatus,
    Operation,
    OperationCommune,
    ProjectOwner,
)
from cper.operations.services.common import raise_findings, refuse_unknown_keys
from cper.operations.services.lines import line_save
from cper.operations.snapshots import (
    operation_snapshot,
)
from cper.territories.models import Commune

OPERATION_FIELDS = (
    "title",
    "description",
    "owner",
    "objective",
    "start_date",
    "end_date",
    "cost_ht",
    "cost_ttc",
    "cost_base",
    "physical_progress",
    "published",
    "action",
)
OPERATION_M2M = ("communes", "secondary_objectives", "markers", "external_references")
# What may still change once an operation is closed, rejected or abandoned.
TERMINAL_EDITABLE = frozenset({"description", "physical_progress", "published"})


def _check_contract_objects(
    contract: Contract, values: dict[str, Any], findings: list[Finding]
) -> None:
    findings += rules.contract_objects_findings(
        contract_id=contract.pk,
        objective=values.get("objective"),
        owner=values.get("owner"),
        secondary_objectives=values.get("secondary_objectives") or [],
        markers=values.get("markers") or [],
        external_references=values.get("external_references") or {},
        action=values.get("action"),
    )


def _normalise_operation_values(values: dict[str, Any]) -> None:
    raise_findings(bulk.normalise_operation_values(values))


def _set_communes(operation: Operation, communes: list[Commune]) -> None:
    OperationCommune.objects.filter(operation=operation).delete()
    OperationCommune.objects.bulk_create(
        [
            OperationCommune(operation=operation, commune=c, position=i)
            for i, c in enumerate(communes)
        ]
    )
    first = communes[0] if communes else None
    # Derived, never typed: the département and EPCI of the first commune.
    operation.departement_id = first.departement_id if first else None
    operation.epci_id = first.epci_id if first else None


def _set_external_references(operation: Operation, refs: Mapping[Partner, str]) -> None:
    wanted = {p.pk: str(r).strip() for p, r in refs.items()}
    ExternalReference.objects.filter(operation=operation).exclude(partner_id__in=wanted).delete()
    for partner_id, reference in wanted.items():
        clash = (
            ExternalReference.objects.filter(partner_id=partner_id, reference=reference)
            .exclude(operation=operation)
            .select_related("operation")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "external_references": [
                        f"la référence « {reference} » est déjà celle de l'opération "
                        f"{clash.operation.code}"
                    ]
                }
            )
        ExternalReference.objects.update_or_create(
            operation=operation, partner_id=partner_id, defaults={"reference": reference}
        )


@transaction.atomic
def operation_create(
    *,
    actor: Actor,
    contract: Contract,
    title: str,
    owner: ProjectOwner | bulk.OwnerDraft,
    objective: Objective,
    code: str | None = None,
    description: str = "",
    communes: Iterable[Commune | str] = (),
    secondary_objectives: Iterable[Objective] = (),
    markers: Iterable[Marker] = (),
    external_references: Mapping[Partner, str] | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    cost_ht: Decimal | str | None = None,
    cost_ttc: Decimal | str | None = None,
    cost_base: str = CostBase.HT,
    physical_progress: str = "",
    published: bool = False,
    provenance: str = Provenance.OFFICIAL,
    action: Action | None = None,
) -> Operation:
    """Create an operation in `draft`. Its département and EPCI are derived from the first
    commune; its code is `OP-000001`… unless given (e.g. an import keeps the source's). A batch
    of one (`bulk.operations_create_many`); an `owner` given as a `bulk.OwnerDraft` is created
    with it, in the same transaction (its refusal keyed by the owner's fields)."""
    draft = bulk.OperationDraft(
        title=title,
        owner=owner,
        objective=objective,
        code=code,
        description=description,
        communes=list(communes),
        secondary_objectives=list(secondary_objectives),
        markers=list(markers),
        external_references=dict(external_references or {}),
        start_date=start_date,
        end_date=end_date,
        cost_ht=cost_ht,
        cost_ttc=cost_ttc,
        cost_base=cost_base,
        physical_progress=physical_progress,
        published=published,
        provenance=provenance,
        action=action,
    )
    try:
        with transaction.atomic():
            [outcome] = bulk.operations_create_many(actor=actor, contract=contract, drafts=[draft])
    except IntegrityError as exc:  # the same number given by a concurrent write
        raise ValidationError({"code": [f"le numéro « {code} » existe déjà"]}) from exc
    if outcome.refusal is not None:
        raise outcome.refusal.error()
    assert outcome.operation is not None
    return outcome.operation


@transaction.atomic
def operation_update(*, actor: Actor, operation: Operation, **changes: Any) -> Operation:
    """Change an operation's descriptive fields, communes (département/EPCI re-derived),
    secondary objectives, markers or external references (`{partner: reference}`).

    The status only changes through `lifecycle.operation_transition`. The main objective of an
    operation already programmed does not change (its lines count against it in the maquette).
    """
    refuse_unknown_keys(changes, (*OPERATION_FIELDS, *OPERATION_M2M), "operation_update")
    require_actor(actor, "operation.edit", operation)
    current = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("contract", "owner", "objective")
        .get(pk=operation.pk)
    )
    before = operation_snapshot(current)
    values = dict(changes)
    _normalise_operation_values(values)
    findings = rules.terminal_edit_findings(
        terminal=current.status in TERMINAL,
        status_label=current.get_status_display(),
        fields=values,
        editable=TERMINAL_EDITABLE,
    )
    new_objective = values.get("objective")
    findings += rules.frozen_objective_findings(
        programmed=current.status in PROGRAMMED_STATUSES,
        current_id=current.objective_id,
        new_id=new_objective.pk if "objective" in values and new_objective is not None else None,
    )
    merged = {k: values.get(k, getattr(current, k)) for k in OPERATION_FIELDS}
    findings += rules.operation_errors(
        title=merged["title"],
        start_date=merged["start_date"],
        end_date=merged["end_date"],
        cost_ht=merged["cost_ht"],
        cost_ttc=merged["cost_ttc"],
        cost_base=merged["cost_base"],
    )
    commune_objs = None
    if "communes" in values:
        commune_objs = bulk.resolve_communes(current.contract, values["communes"] or [], findings)
    _check_contract_objects(current.contract, {**merged, **values}, findings)
    raise_findings(findings)

    old_objective_id = current.objective_id
    for key in OPERATION_FIELDS:
        if key in values:
            setattr(current, key, values[key])
    if commune_objs is not None:
        _set_communes(current, commune_objs)
    current.save()
    if "secondary_objectives" in values:
        current.secondary_objectives.set(values["secondary_objectives"] or [])
    if "markers" in values:
        current.markers.set(values["markers"] or [])
    if "external_references" in values:
        _set_external_references(current, values["external_references"] or {})
    if {"communes", "markers"} & set(values):
        # Where the lines count (département, EPCI, project territories, markers) moved.
        execution().lines_sync(operation_ids=[current.pk])
    if current.objective_id != old_objective_id:
        # Lines that counted against the old main objective follow the new one.
        for line in FinancingLine.objects.filter(
            operation=current, objective_id=old_objective_id, status=LineStatus.ACTIVE
        ):
            line_save(
                actor=actor,
                line=line,
                values={"objective": current.objective},
                action=AuditAction.LINE_OBJECTIVE_FOLLOWS,
            )
    diff = diff_fields(before, operation_snapshot(current))
    if diff:
        audit_record(
            actor=actor,
            action=AuditAction.OPERATION_UPDATED,
            subject=current,
            changes=diff,
            contract_id=current.contract_id,
            operation_id=current.pk,
        )
    # The caller's instance reflects what was saved.
    for key in (*OPERATION_FIELDS, "departement_id", "epci_id", "updated_at"):
        setattr(operation, key, getattr(current, key))
    return current


@transaction.atomic
def external_reference_set(
    *, actor: Actor, operation: Operation, partner: Partner, reference: str
) -> None:
    """Set (or, with an empty reference, remove) a partner's own file number for an operation."""
    current = {r.partner: r.reference for r in operation.external_references.all()}
    if reference.strip():
        current[partner] = reference.strip()
    else:
        current.pop(partner, None)
    operation_update(actor=actor, operation=operation, external_references=current)
