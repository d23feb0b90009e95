"""Writes of the accounts app: the organisations a contract file names (the loader), user
accounts created in a batch (the demo accounts), and the account of an agent who signs in with
ProConnect (created at the first sign-in, kept up to date at the next ones)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from cper.accounts.models import Organisation, Role, User
from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.models import Via
from cper.audit.services import (
    Actor,
    AuditDraft,
    UpsertDraft,
    Upserted,
    audit_record,
    audit_record_many,
    audited_upsert_many,
    diff_fields,
)

logger = logging.getLogger(__name__)


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


# --- ProConnect ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProConnectIdentity:
    """What cper keeps of ProConnect's claims (the userinfo of the sign-in)."""

    email: str
    given_name: str
    usual_name: str
    siret: str
    idp_id: str

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> ProConnectIdentity:
        def text(name: str, limit: int) -> str:
            value = claims.get(name)
            return str(value).strip()[:limit] if value is not None else ""

        email = text("email", 254).lower()
        if not email or "@" not in email:
            raise ValidationError({"email": ["ProConnect n'a pas transmis d'adresse électronique"]})
        # A SIRET is 14 digits; some providers space them ("110 020 013 00097").
        siret = re.sub(r"\s", "", text("siret", 40))
        return cls(
            email=email,
            given_name=text("given_name", 150),
            usual_name=text("usual_name", 150),
            siret=siret if re.fullmatch(r"\d{14}", siret) else "",
            idp_id=text("idp_id", 100),
        )


def organisation_for_siret(siret: str) -> Organisation | None:
    """The organisation of the contracts' partner that a SIRET designates: a partner whose SIRET
    is this one, else the partner (or organisation) whose SIREN — the SIRET's first 9 digits —
    is this one's. None when no partner matches, or when several organisations do (an ambiguous
    SIRET gives no rights)."""
    if not re.fullmatch(r"\d{14}", siret or ""):
        return None
    partners = Organisation.objects.filter(partnerships__isnull=False)
    for query in (
        partners.filter(partnerships__siret=siret),
        partners.filter(models.Q(siren=siret[:9]) | models.Q(partnerships__siren=siret[:9])),
    ):
        found = list(query.distinct()[:2])
        if len(found) == 1:
            return found[0]
        if found:
            logger.warning(
                "SIRET %s : plusieurs organisations correspondent, aucune retenue", siret
            )
            return None
    return None


def _proconnect_username(identity: ProConnectIdentity) -> str:
    """The address itself when it fits and is free (what the agent recognises), else the
    address shortened with a number."""
    base = identity.email[:150]
    if not User.objects.filter(username__iexact=base).exists():
        return base
    n = 2
    while User.objects.filter(username__iexact=f"{base[:140]}-{n}").exists():
        n += 1
    return f"{base[:140]}-{n}"


# What the trail keeps of a ProConnect account (never a token).
_PROCONNECT_AUDITED = ("username", "email", "first_name", "last_name", "role", "organisation")


def _audited_state(user: User) -> dict[str, Any]:
    return {k: getattr(user, k) for k in _PROCONNECT_AUDITED}


@transaction.atomic
def user_from_proconnect(*, claims: Mapping[str, Any]) -> User:
    """The account of the agent ProConnect has just identified, created at the first sign-in.

    The agent is found by e-mail address (ProConnect's advice: its `sub` differs for each
    identity provider), case-insensitively; two accounts with that address refuse the sign-in.
    Names and address follow the claims. The organisation is the partner's that the SIRET
    designates (`organisation_for_siret`): a new account gets it with the role of partner
    manager; a new account whose SIRET designates no partner is an observer without
    organisation until an administrator grants a role. At a later sign-in, a SIRET that
    designates another partner's organisation moves the agent there as its partner manager
    (the rights follow the organisation ProConnect vouches for); one that designates none leaves
    the organisation and role an administrator gave. An administrator keeps their role.

    The acting user of the audit entry is the agent, via the web (the sign-in)."""
    identity = ProConnectIdentity.from_claims(claims)
    matches = list(User.objects.select_for_update().filter(email__iexact=identity.email)[:2])
    if len(matches) > 1:
        raise ValidationError({"email": [f"plusieurs comptes ont l'adresse « {identity.email} »"]})
    organisation = organisation_for_siret(identity.siret)
    origin = (
        f"ProConnect (SIRET {identity.siret or 'absent'}, fournisseur {identity.idp_id or '?'})"
    )

    if not matches:
        user = User(
            username=_proconnect_username(identity),
            email=identity.email,
            first_name=identity.given_name,
            last_name=identity.usual_name,
            organisation=organisation,
            role=Role.PARTNER_MANAGER if organisation is not None else Role.OBSERVER,
        )
        # No password: this account signs in through ProConnect only (an administrator may set
        # one in the admin).
        user.set_unusable_password()
        user.save()
        audit_record(
            actor=Actor(user=user, via=Via.WEB),
            action=AuditAction.USER_CREATED,
            subject=user,
            changes=diff_fields({}, _audited_state(user)),
            message=f"première connexion par {origin}",
        )
        return user

    user = matches[0]
    before = _audited_state(user)
    # The address is the key it was found by (case aside): left as it is.
    user.first_name = identity.given_name or user.first_name
    user.last_name = identity.usual_name or user.last_name
    administrator = user.is_superuser or user.role == Role.ADMINISTRATOR
    if organisation is not None and organisation.pk != user.organisation_id and not administrator:
        user.organisation = organisation
        user.role = Role.PARTNER_MANAGER
    changes = diff_fields(before, _audited_state(user))
    if changes:
        user.save(update_fields=[k for k in _PROCONNECT_AUDITED if k in changes])
        audit_record(
            actor=Actor(user=user, via=Via.WEB),
            action=AuditAction.USER_UPDATED,
            subject=user,
            changes=changes,
            message=f"connexion par {origin}",
        )
    return user
