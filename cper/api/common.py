"""Helpers shared by the routers: documented responses, the contract of a path, the caller."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path

from cper.api.errors import ERROR_STATUSES, ErrorOut, not_found
from cper.api.schemas import SLUG_PATTERN
from cper.contracts.models import Contract
from cper.contracts.selectors import contract_get


def responses(status: int, schema: Any) -> dict[Any, Any]:
    """The success shape and the error body on every error status."""
    return {status: schema, ERROR_STATUSES: ErrorOut}


SlugPath = Path(..., pattern=SLUG_PATTERN, description="Identifiant du contrat.")


def contract_of(slug: str) -> Contract:
    from django.http import Http404

    try:
        return contract_get(slug=slug)
    except Http404:
        raise not_found(f"Contrat « {slug} » introuvable.") from None


def caller(request: HttpRequest) -> Any:
    """The user the request acts as (set by the authentication: token owner or anonymous)."""
    return request.user
