"""Writes of project owners (maîtres d'ouvrage): creation (a batch of one, `cper.operations.bulk`)
and update."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record, diff_fields
from cper.db import Provenance
from cper.operations import bulk
from cper.operations.models import (
    ProjectOwner,
)
from cper.operations.services.common import raise_findings, refuse_unknown_keys
from cper.operations.snapshots import (
    owner_snapshot,
)
from cper.territories.models import Commune

OWNER_FIELDS = ("name", "siret", "rna", "legal_category", "commune", "provenance")


def _owner_validate(values: dict[str, Any], *, exclude_pk: int | None = None) -> dict[str, Any]:
    findings = bulk.owner_findings(values)
    for key in ("siret", "rna"):
        if values[key] and not any(f.field == key for f in findings):
            clash = ProjectOwner.objects.filter(**{key: values[key]})
            if exclude_pk:
                clash = clash.exclude(pk=exclude_pk)
            other = clash.first()
            if other is not None:
                findings.append(bulk.number_clash(key, other.name, other.pk))
    raise_findings(findings)
    return values


@transaction.atomic
def owner_create(
    *,
    actor: Actor,
    name: str,
    legal_category: str,
    siret: str | None = None,
    rna: str | None = None,
    commune: Commune | str | None = None,
    provenance: str = Provenance.OFFICIAL,
) -> ProjectOwner:
    """Create a maître d'ouvrage; SIRET (Luhn; La Poste's rule) or RNA number required. A batch
    of one (`bulk.owners_create_many`)."""
    draft = bulk.OwnerDraft(
        name=name,
        legal_category=legal_category,
        siret=siret,
        rna=rna,
        commune=commune or None,
        provenance=provenance,
    )
    [result] = bulk.owners_create_many(actor=actor, drafts=[draft])
    if isinstance(result, bulk.Refusal):
        raise result.error()
    return result


@transaction.atomic
def owner_update(*, actor: Actor, owner: ProjectOwner, **changes: Any) -> ProjectOwner:
    """Change a maître d'ouvrage's name, identifiers, category or commune."""
    refuse_unknown_keys(
        changes, ("name", "siret", "rna", "legal_category", "commune"), "owner_update"
    )
    require_actor(actor, "owner.edit", owner)
    current = ProjectOwner.objects.select_for_update(of=("self",)).get(pk=owner.pk)
    before = owner_snapshot(current)
    values = {
        "name": current.name,
        "legal_category": current.legal_category,
        "siret": current.siret,
        "rna": current.rna,
        "commune": current.commune,
        **changes,
    }
    values = _owner_validate(values, exclude_pk=current.pk)
    for key, value in values.items():
        setattr(current, key, value)
    current.save()
    diff = diff_fields(before, owner_snapshot(current))
    if diff:
        audit_record(actor=actor, action=AuditAction.OWNER_UPDATED, subject=current, changes=diff)
    for key in values:
        setattr(owner, key, getattr(current, key))
    return current
