"""Writes of a contract's structure: the contract, its programmes, axes, objectives, partners
and their stated amounts, priorities, markers and their contributions, and the links between
them. The contract loader is their caller; each write is atomic and audited, batch-first (a
list of drafts in, per draft what was written out), and an unchanged row writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from cper.audit.actions import AuditAction
from cper.audit.services import (
    Actor,
    UpsertDraft,
    Upserted,
    audit_record,
    audited_upsert_many,
)
from cper.contracts.models import (
    Action,
    Axis,
    BudgetProgramme,
    Contract,
    ContractTerritory,
    Marker,
    MarkerContribution,
    Objective,
    Partner,
    PartnerStatedAmount,
    Priority,
    Volet,
)
from cper.territories.models import ProjectTerritory

# The rows of a contract's structure, written by `structure_write`.
STRUCTURE_MODELS: frozenset[type[models.Model]] = frozenset(
    {
        Action,
        Axis,
        BudgetProgramme,
        Marker,
        MarkerContribution,
        Objective,
        Partner,
        PartnerStatedAmount,
        Priority,
        Volet,  # issue 12
    }
)


@transaction.atomic
def contract_upsert(*, actor: Actor, slug: str, values: dict[str, Any]) -> Upserted:
    """Create the contract `slug` or update its values; audited under the contract itself."""
    (done,) = audited_upsert_many(
        actor=actor,
        model=Contract,
        drafts=[UpsertDraft({"slug": slug}, values)],
        created=AuditAction.CONTRACT_LOAD_CREATED,
        updated=AuditAction.CONTRACT_LOAD_UPDATED,
        contract_id=None,
        is_contract=True,
    )
    return done


@transaction.atomic
def structure_write(
    *,
    actor: Actor,
    contract: Contract,
    model: type[models.Model],
    drafts: list[UpsertDraft],
) -> list[Upserted]:
    """Create or update rows of the contract's structure keyed on their lookup (a code, a
    number, a partner × axis…), audited under the contract."""
    if model not in STRUCTURE_MODELS:
        raise ValueError(f"{model.__name__} n'est pas un élément de la structure du contrat")
    return audited_upsert_many(
        actor=actor,
        model=model,
        drafts=drafts,
        created=AuditAction.CONTRACT_LOAD_CREATED,
        updated=AuditAction.CONTRACT_LOAD_UPDATED,
        contract_id=contract.pk,
    )


@transaction.atomic
def links_set(
    *, actor: Actor, contract: Contract, subject: models.Model, relation: str, wanted: set[Any]
) -> bool:
    """Make the many-to-many `relation` of `subject` (a priority's axes, a marker's objectives,
    a contribution's territories) exactly the rows `wanted` (primary keys); audit a change.
    Returns whether it changed."""
    if type(subject) not in STRUCTURE_MODELS:
        raise ValueError(f"{type(subject).__name__} n'est pas un élément de la structure")
    manager = getattr(subject, relation)
    current = set(manager.values_list("pk", flat=True))
    if current == wanted:
        return False
    manager.set(sorted(wanted))
    audit_record(
        actor=actor,
        action=AuditAction.CONTRACT_LOAD_UPDATED,
        subject=subject,
        changes={relation: {"avant": sorted(current), "après": sorted(wanted)}},
        contract_id=contract.pk,
    )
    return True


@transaction.atomic
def contract_territories_link(
    *, actor: Actor, contract: Contract, territories: list[ProjectTerritory]
) -> int:
    """Attach project territories to the contract (those not attached yet); audited. Returns
    how many were attached."""
    attached = set(
        ContractTerritory.objects.filter(contract=contract).values_list("territory_id", flat=True)
    )
    count = 0
    for territory in territories:
        if territory.pk in attached:
            continue
        link = ContractTerritory.objects.create(contract=contract, territory=territory)
        attached.add(territory.pk)
        audit_record(
            actor=actor,
            action=AuditAction.CONTRACT_LOAD_CREATED,
            subject=link,
            changes={"territory": {"avant": None, "après": territory.pk}},
            contract_id=contract.pk,
        )
        count += 1
    return count


# -- issue 12: volets --


@transaction.atomic
def volets_unused_delete(*, actor: Actor, contract: Contract, keep: set[str]) -> list[str]:
    """Delete the contract's volets not in `keep` that no axis belongs to any more (the
    default volet a contract got at migration, once its file names its own volets); audited.
    A volet that still holds an axis is kept. Returns the deleted codes."""
    deleted: list[str] = []
    for volet in Volet.objects.filter(contract=contract, axes__isnull=True).exclude(code__in=keep):
        audit_record(
            actor=actor,
            action=AuditAction.CONTRACT_LOAD_DELETED,
            subject=volet,
            changes={"code": {"avant": volet.code, "après": None}},
            contract_id=contract.pk,
        )
        deleted.append(volet.code)
        volet.delete()
    return deleted
