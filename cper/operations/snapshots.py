"""The audited state of the register's objects: what an audit entry records before and after a
write (readable values: codes and names, not ids). Shared by the one-by-one services and the
batch, so that both write the same entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cper.operations.models import (
    Committee,
    FinancingLine,
    Operation,
    OperationCommune,
    ProjectOwner,
)


def owner_snapshot(owner: ProjectOwner) -> dict[str, Any]:
    return {
        "name": owner.name,
        "siret": owner.siret,
        "rna": owner.rna,
        "legal_category": owner.legal_category,
        "commune": owner.commune_id,
    }


def operation_snapshot(
    operation: Operation, *, related: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The audited state of an operation (readable values: codes and names, not ids).

    `related` gives the communes, secondary objectives, markers and external references when
    the caller already holds them (a batch of new operations), instead of reading them."""
    if related is not None:
        return {**_operation_fields_snapshot(operation), **related}
    return {
        **_operation_fields_snapshot(operation),
        "communes": [
            oc.commune_id
            for oc in OperationCommune.objects.filter(operation=operation).order_by("position")
        ]
        if operation.pk
        else [],
        "secondary_objectives": sorted(
            operation.secondary_objectives.values_list("code", flat=True)
        )
        if operation.pk
        else [],
        "markers": sorted(operation.markers.values_list("code", flat=True)) if operation.pk else [],
        "external_references": {
            r.partner.code: r.reference
            for r in operation.external_references.select_related("partner").order_by(
                "partner__code"
            )
        }
        if operation.pk
        else {},
    }


def _operation_fields_snapshot(operation: Operation) -> dict[str, Any]:
    return {
        "code": operation.code,
        "title": operation.title,
        "description": operation.description,
        "owner": f"{operation.owner.name} ({operation.owner_id})" if operation.owner_id else None,
        "objective": operation.objective.code if operation.objective_id else None,
        # Only when set (issue 12's third level): entries of operations without one unchanged.
        **({"action": operation.action.code} if operation.action is not None else {}),
        "start_date": operation.start_date,
        "end_date": operation.end_date,
        "cost_ht": operation.cost_ht,
        "cost_ttc": operation.cost_ttc,
        "cost_base": operation.cost_base,
        "physical_progress": operation.physical_progress,
        "published": operation.published,
        "departement": operation.departement_id,
        "epci": operation.epci_id,
    }


def line_snapshot(line: FinancingLine) -> dict[str, Any]:
    return {
        "financer_kind": line.financer_kind,
        "partner": line.partner.code if line.partner is not None else None,
        "financer_label": line.financer_label,
        "objective": line.objective.code if line.objective_id else None,
        "amount": line.amount,
        "contractualised": line.contractualised,
        "budget_nature": line.budget_nature,
        "programme": line.programme.code if line.programme is not None else None,
        "bop": line.bop,
        "activity": line.activity,
        "year": line.year,
        "external_ref": line.external_ref,
        "status": line.status,
        "cancel_reason": line.cancel_reason,
    }


COMMITTEE_FIELDS = ("kind", "date", "place", "title", "minutes")


def committee_snapshot(c: Committee) -> dict[str, Any]:
    return {k: getattr(c, k) for k in COMMITTEE_FIELDS}
