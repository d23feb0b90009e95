"""From the codes a client sends to the rows the services take (objective "2.5", partner
"dep-59", marker, LOLF programme, owner by SIRET/RNA); an unknown code is a 422 naming its field.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from cper.api.common import actor_of
from cper.api.errors import ApiError
from cper.contracts.models import BudgetProgramme, Contract, Marker, Objective, Partner
from cper.operations import selectors, services
from cper.operations.models import ProjectOwner


def _unknown(what: str, code: str, field: str) -> ApiError:
    return ApiError(422, "inconnu", f"{what} inconnu dans ce contrat : « {code} ».", field)


def objective(contract: Contract, code: str, field: str) -> Objective:
    found = Objective.objects.filter(contract=contract, code=code).first()
    if found is None:
        raise _unknown("Objectif", code, field)
    return found


def objectives(contract: Contract, codes: list[str], field: str) -> list[Objective]:
    found = {o.code: o for o in Objective.objects.filter(contract=contract, code__in=codes)}
    for i, code in enumerate(codes):
        if code not in found:
            raise _unknown("Objectif", code, f"{field}.{i}")
    return [found[c] for c in dict.fromkeys(codes)]


def markers(contract: Contract, codes: list[str], field: str) -> list[Marker]:
    found = {m.code: m for m in Marker.objects.filter(contract=contract, code__in=codes)}
    for i, code in enumerate(codes):
        if code not in found:
            raise _unknown("Marqueur", code, f"{field}.{i}")
    return [found[c] for c in dict.fromkeys(codes)]


def partner(contract: Contract, code: str | None, field: str) -> Partner | None:
    if code is None:
        return None
    found = Partner.objects.filter(contract=contract, code=code).first()
    if found is None:
        raise _unknown("Partenaire", code, field)
    return found


def programme(code: str | None, field: str) -> BudgetProgramme | None:
    if code is None:
        return None
    found = BudgetProgramme.objects.filter(code=code).first()
    if found is None:
        raise ApiError(422, "inconnu", f"Programme LOLF inconnu : « {code} ».", field)
    return found


def commune_codes(codes: list[str]) -> list[str]:
    """INSEE codes as they are: the service checks that they exist and lie in the region."""
    return list(codes)


def owner_for(request: HttpRequest, owner: Any) -> ProjectOwner:
    """The owner with this SIRET or RNA number; created when new (name and category given)."""
    identifier = owner.siret or owner.rna
    if not identifier:
        raise ApiError(
            422, "donnees_invalides", "SIRET ou numéro RNA du maître d'ouvrage requis.", "owner"
        )
    found = selectors.owner_find(identifier=identifier)
    if found is not None:
        return found
    if not (owner.name and owner.legal_category):
        raise ApiError(
            422,
            "inconnu",
            "Maître d'ouvrage inconnu : donnez aussi son nom (name) et sa catégorie juridique "
            "(legal_category) pour le créer.",
            "owner",
        )
    return services.owner_create(
        actor=actor_of(request),
        name=owner.name,
        legal_category=owner.legal_category,
        siret=owner.siret,
        rna=owner.rna,
        commune=owner.commune,
    )
