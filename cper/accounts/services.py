"""Writes of the accounts app: the organisations a contract file names (the loader), and user
accounts created in a batch (the demo accounts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from cper.accounts.models import Organisation, Role, User
from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import (
    Actor,
    AuditDraft,
    UpsertDraft,
    Upserted,
    audit_record_many,
    audited_upsert_many,
)


@transaction.atomic
def organisations_write(
    *, actor: Actor, drafts: list[UpsertDraft], contract_id: int | None
) -> list[Upserted]:
    """Create or update organisations keyed on their code (contract loader), audited."""
    return audited_upsert_many(
        actor=actor,
        model=Organisation,
        drafts=drafts,
        created=AuditAction.CONTRACT_LOAD_CREATED,
        updated=AuditAction.CONTRACT_LOAD_UPDATED,
        contract_id=contract_id,
    )


@dataclass(frozen=True)
class UserDraft:
    """An account to create. The password is given in clear and only its hash is kept."""

    username: str
    password: str
    role: str
    organisation: Organisation | None = None
    is_staff: bool = False
    first_name: str = ""
    last_name: str = ""
    email: str = ""


# What the trail keeps of a new account (never the password, nor its hash).
_AUDITED = ("username", "role", "organisation", "is_staff", "is_superuser", "email")


@transaction.atomic
def users_create(*, actor: Actor, drafts: Iterable[UserDraft]) -> list[User]:
    """Create the accounts in one batch, one audit entry each. An administrator is a Django
    superuser; a partner manager needs an organisation. A username already taken (in the base or
    twice in the batch) refuses the whole batch: nothing is written."""
    require_actor(actor, "user.manage")
    batch = list(drafts)
    names = [d.username for d in batch]
    taken = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    taken |= {n for n in names if names.count(n) > 1}
    errors = [f"l'identifiant « {n} » est déjà pris" for n in sorted(taken)]
    errors += [
        f"« {d.username} » : un gestionnaire d'un partenaire a une organisation"
        for d in batch
        if d.role == Role.PARTNER_MANAGER and d.organisation is None
    ]
    if errors:
        raise ValidationError({"username": errors})
    users = []
    for d in batch:
        user = User(
            username=d.username,
            role=d.role,
            organisation=d.organisation,
            is_staff=d.is_staff,
            is_superuser=d.role == Role.ADMINISTRATOR,
            first_name=d.first_name,
            last_name=d.last_name,
            email=d.email,
        )
        user.set_password(d.password)
        users.append(user)
    # Ids come back on both databases (Django ≥ 4 on SQLite ≥ 3.35): the entries need them.
    User.objects.bulk_create(users)
    audit_record_many(
        actor=actor,
        entries=[
            AuditDraft(
                action=AuditAction.USER_CREATED,
                subject=user,
                changes={k: {"avant": None, "après": getattr(user, k)} for k in _AUDITED},
            )
            for user in users
        ],
    )
    return users
