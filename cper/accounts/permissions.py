"""THE permission function: `can(user, action, obj=None)` and `require(...)`.

Every face (pages, API, imports, admin) and every domain service asks here, and nowhere else,
whether a user may do something. Rules (see docs/operations.md):

- administrator (or Django superuser): everything;
- partner_manager: reads everything; writes only the money of its own partner — financing
  lines and movements whose partner belongs to the user's organisation (a Nord manager cannot
  change a State line); may run imports (each row is checked again);
- instructor: creates and edits operations, owners, committees and decisions, moves
  operations through their lifecycle; edits the plan's lines that are not a contract partner's
  (EU funds, other public money, the owner's share) and the lines of its own organisation's
  partner, never another partner's line; records no movement; may run imports;
- imports: a simulation is confirmed by the user who ran it; confirming another user's
  (`import.confirm_others`) is for administrators only;
- observer: reads everything (non-published operations and histories included), writes nothing;
- public (and anonymous visitors): reads published operations only (no history, no
  committees); may export what it can read.

Inactive users can do nothing. The function is pure (no query beyond the objects' own foreign
keys, which callers select_related).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from cper.accounts.models import Role

# Every action the application checks, with the French wording used in refusals.
ACTIONS: dict[str, str] = {
    "operation.view": "consulter cette opération",
    "operation.history": "consulter l'historique de cette opération",
    "operation.create": "créer une opération",
    "operation.edit": "modifier cette opération",
    "operation.transition": "changer le statut de cette opération",
    "owner.edit": "créer ou modifier un maître d'ouvrage",
    "financing_line.edit": "modifier cette ligne de financement",
    "movement.record": "enregistrer un engagement ou un paiement sur cette ligne",
    # issue 12: partners' decisions
    "partner_decision.record": "enregistrer la décision du financeur sur cette ligne",
    "partner_decision.document": "consulter l'acte signé de cette décision",
    "ae.record": "enregistrer des AE mises en place pour l'État",
    "committee.view": "consulter les comités",
    "committee.edit": "créer ou modifier un comité et ses décisions",
    "maquette.edit": "modifier la maquette financière",
    "contract.load": "charger ou modifier un contrat",
    "import.run": "lancer un import",
    "import.confirm_others": "confirmer l'import simulé par un autre utilisateur",
    "export.run": "exporter des données",
    "audit.view": "consulter le journal d'audit",
    "user.manage": "gérer les utilisateurs et les organisations",
    "closing.create": "arrêter la situation d'exécution et commenter le bilan",
}

STAFF_ROLES = frozenset({Role.ADMINISTRATOR, Role.PARTNER_MANAGER, Role.INSTRUCTOR, Role.OBSERVER})


def role_of(user: Any) -> str | None:
    """The user's effective role, or None for an anonymous or inactive visitor."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "is_active", True):
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMINISTRATOR
    return getattr(user, "role", None) or Role.OBSERVER


def _same_organisation(user: Any, partner: Any) -> bool:
    org_id = getattr(user, "organisation_id", None)
    return bool(partner is not None and org_id and partner.organisation_id == org_id)


def _line_target(obj: Any) -> tuple[Any, Any]:
    """(operation, partner) of a FinancingLine, or of an (operation, partner) tuple."""
    if isinstance(obj, tuple):
        operation, partner = obj
        return operation, partner
    if obj is None:
        return None, None
    return getattr(obj, "operation", None), obj.partner if obj.partner_id else None


def can(user: Any, action: str, obj: Any = None) -> bool:
    """May `user` do `action` (on `obj`)? See the module's docstring for the rules."""
    if action not in ACTIONS:
        raise ValueError(f"action inconnue : {action}")
    role = role_of(user)

    if action == "operation.view":
        if role in STAFF_ROLES:
            return True
        return obj is None or bool(getattr(obj, "published", False))
    if action == "export.run":
        return True  # exports go through the same selectors, which hide unpublished data
    if role is None or role == Role.PUBLIC:
        return False
    if role == Role.ADMINISTRATOR:
        return True
    if action in {"operation.history", "audit.view", "committee.view"} | {
        "partner_decision.document"  # issue 12: the signed act, as the history
    }:
        return True  # every authenticated non-public role reads
    if role == Role.OBSERVER:
        return False

    if action in {"operation.create", "operation.edit", "operation.transition", "owner.edit"}:
        return role == Role.INSTRUCTOR
    if action == "committee.edit":
        return role == Role.INSTRUCTOR
    if action == "closing.create":  # issue 16: closings and their report's commentary
        return role == Role.INSTRUCTOR
    if action == "financing_line.edit":
        if role not in {Role.PARTNER_MANAGER, Role.INSTRUCTOR}:
            return False
        if obj is None:
            return True  # may edit some lines; each line is checked when it is known
        _, partner = _line_target(obj)
        if role == Role.PARTNER_MANAGER:
            return _same_organisation(user, partner)
        return partner is None or _same_organisation(user, partner)
    if action == "movement.record":
        if role != Role.PARTNER_MANAGER:
            return False
        if obj is None:
            return True
        _, partner = _line_target(obj)
        return _same_organisation(user, partner)
    if action == "ae.record":
        # The State's credits: its partner managers (obj: the contract's State partner).
        return role == Role.PARTNER_MANAGER and (obj is None or _same_organisation(user, obj))
    if action == "partner_decision.record":
        # issue 12: the line's partner's managers record its decision; instructors (who keep
        # the committees and their decisions) too.
        if role == Role.INSTRUCTOR:
            return True
        if role != Role.PARTNER_MANAGER:
            return False
        _, partner = _line_target(obj)
        return obj is None or _same_organisation(user, partner)
    if action == "import.run":
        return role in {Role.PARTNER_MANAGER, Role.INSTRUCTOR}
    # maquette.edit, contract.load, user.manage: administrators only.
    return False


def sees_unpublished(user: Any) -> bool:
    """Whether lists show `user` the operations that are not published (staff roles)."""
    return role_of(user) in STAFF_ROLES


def refusal_message(user: Any, action: str, obj: Any = None) -> str:
    what = ACTIONS.get(action, action)
    role = role_of(user)
    if role is None:
        return f"Connectez-vous pour {what}."
    if action in {"financing_line.edit", "movement.record", "partner_decision.record"} and role in {
        Role.PARTNER_MANAGER,
        Role.INSTRUCTOR,
    }:
        _, partner = _line_target(obj)
        if partner is not None:
            return (
                f"Vous ne pouvez pas {what} : elle relève de « {partner} », "
                "qui n'est pas votre organisation."
            )
    label = dict(Role.choices).get(role, role)
    return f"Vous n'avez pas le droit de {what} (rôle : {label})."


def require(user: Any, action: str, obj: Any = None) -> None:
    """Raise PermissionDenied, with a French message, unless `can(user, action, obj)`."""
    if not can(user, action, obj):
        raise PermissionDenied(refusal_message(user, action, obj))


def require_actor(actor: Any, action: str, obj: Any = None) -> None:
    """The check for a service called by an `Actor`: a system or command-line actor without a
    user (the demo, `cper` commands run by the operator on the server) is trusted; any actor
    carrying a user is checked like that user."""
    if actor.user is None and actor.via in {"system", "cli"}:
        return
    require(actor.user, action, obj)
