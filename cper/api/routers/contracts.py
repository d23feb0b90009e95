"""Contracts and their structure: axes, objectives, partners, territories (public reads)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from cper.api.auth import OPTIONAL_SECURITY
from cper.api.common import SlugPath, contract_of, responses
from cper.api.schemas import (
    AxisListOut,
    ContractListOut,
    ContractOut,
    ObjectiveListOut,
    PartnerListOut,
    TerritoryListOut,
)
from cper.contracts.selectors import contract_as_dict, contract_list

router = Router(tags=["Contrats"])


def _listed(results: list[Any]) -> dict[str, Any]:
    return {"count": len(results), "results": results}


@router.get(
    "/contracts",
    response=responses(200, ContractListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Contrats",
)
def contracts(request: HttpRequest) -> Any:
    return _listed(
        [
            {
                "slug": c.slug,
                "title": c.title,
                "region": {"code": c.region.code, "name": c.region.name},
                "period": {"start": c.start_year, "end": c.end_year},
                "status": c.status,
                "envelope": c.envelope,
            }
            for c in contract_list()
        ]
    )


@router.get(
    "/contracts/{slug}",
    response=responses(200, ContractOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Un contrat, avec sa structure",
)
def contract(request: HttpRequest, slug: str = SlugPath) -> Any:
    return contract_as_dict(contract=contract_of(slug))


@router.get(
    "/contracts/{slug}/axes",
    response=responses(200, AxisListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Axes et leurs objectifs",
)
def axes(request: HttpRequest, slug: str = SlugPath) -> Any:
    return _listed(contract_as_dict(contract=contract_of(slug))["axes"])


@router.get(
    "/contracts/{slug}/objectives",
    response=responses(200, ObjectiveListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Objectifs",
)
def objectives(request: HttpRequest, slug: str = SlugPath) -> Any:
    data = contract_as_dict(contract=contract_of(slug))
    return _listed(
        [{**o, "axis": axis["number"]} for axis in data["axes"] for o in axis["objectives"]]
    )


@router.get(
    "/contracts/{slug}/partners",
    response=responses(200, PartnerListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Partenaires signataires et montants annoncés",
)
def partners(request: HttpRequest, slug: str = SlugPath) -> Any:
    return _listed(contract_as_dict(contract=contract_of(slug))["partners"])


@router.get(
    "/contracts/{slug}/territories",
    response=responses(200, TerritoryListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Territoires de projet du contrat",
)
def territories(request: HttpRequest, slug: str = SlugPath) -> Any:
    return _listed(contract_as_dict(contract=contract_of(slug))["territories"])
