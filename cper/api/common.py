"""Helpers shared by the routers: documented responses, the contract of a path, the actor."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Path, Schema

from cper.api.errors import ERROR_STATUSES, ErrorOut, not_found
from cper.api.schemas import SLUG_PATTERN
from cper.audit.models import Via
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.contracts.selectors import contract_get


def responses(status: int, schema: Any) -> dict[Any, Any]:
    """The success shape and the error body on every error status."""
    return {status: schema, ERROR_STATUSES: ErrorOut}


SlugPath = Path(..., pattern=SLUG_PATTERN, description="Identifiant du contrat.")


def contract_of(slug: str) -> Contract:
    try:
        return contract_get(slug=slug)
    except Http404:
        raise not_found(f"Contrat « {slug} » introuvable.") from None


def actor_of(request: HttpRequest) -> Actor:
    """The services' actor: the token's owner, through the API."""
    return Actor(user=request.user, via=Via.API)


def dump(schema: type[Schema], data: Any) -> Any:
    """`data` as the JSON the response carries (for the idempotency record)."""
    return schema.model_validate(data).model_dump(mode="json")
