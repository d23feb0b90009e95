"""Forecasts (read only): the payment credits needed for a budget year per partner and per
programme, and the lines behind their schedule. Internal budget data: for the partners' staff
(the roles that see unpublished operations). Figures from `cper.forecasts.selectors`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from cper.accounts.permissions import sees_unpublished
from cper.api.auth import OPTIONAL_SECURITY
from cper.api.common import SlugPath, contract_of, responses
from cper.api.schemas import Date, Money
from cper.forecasts import selectors

router = Router(tags=["Prévisions"])


def _staff(request: HttpRequest) -> None:
    """Anonymous: 401 (the error handler's); public accounts: 403."""
    if not sees_unpublished(request.user):
        raise PermissionDenied("Les prévisions sont réservées aux agents des partenaires.")


class NeedOut(Schema):
    partner: str
    partner_name: str
    budget_nature: str
    programme: str | None
    planned_payments: Money
    carried: Money
    need: Money
    lines: int


class NeedsOut(Schema):
    year: int
    paid_as_of: dt.date
    partners: list[NeedOut]
    programmes: list[NeedOut]
    total: Money


class NeedQuery(Schema):
    year: int = Field(..., ge=2000, le=2100, description="Année budgétaire N+1.")


def _need(r: selectors.NeedRow) -> dict[str, Any]:
    return {
        "partner": r.partner.code,
        "partner_name": r.partner.name,
        "budget_nature": r.partner.budget_nature,
        "programme": r.programme or None,
        "planned_payments": r.need.next_year,
        "carried": r.need.carried,
        "need": r.need.total,
        "lines": r.lines,
    }


@router.get(
    "/contracts/{slug}/forecasts/payment-needs",
    response=responses(200, NeedsOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Besoin en crédits de paiement pour une année, par partenaire et par programme",
)
def payment_needs(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[NeedQuery] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    _staff(request)
    needs = selectors.payment_needs(contract=contract, year=q.year)
    return {
        "year": needs.year,
        "paid_as_of": needs.paid_as_of,
        "partners": [_need(r) for r in needs.partners],
        "programmes": [_need(r) for r in needs.programmes],
        "total": needs.total.total,
    }


class SlipOut(Schema):
    operation: int
    operation_code: str
    financing_line: int
    partner: str | None
    what: str
    planned_cumulative: Money
    actual_cumulative: Money
    gap: Money


class SlippageOut(Schema):
    at: dt.date
    count: int
    results: list[SlipOut]


class SlippageQuery(Schema):
    at: Date | None = Field(None, description="Date de situation (défaut : aujourd'hui).")


@router.get(
    "/contracts/{slug}/forecasts/slippage",
    response=responses(200, SlippageOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Lignes en retard sur leur échéancier prévisionnel (100 plus grands écarts)",
)
def slippage(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[SlippageQuery] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    _staff(request)
    alerts = selectors.slippage_alerts(contract=contract, at=q.at)
    return {
        "at": alerts.at,
        "count": alerts.count,
        "results": [
            {
                "operation": a.line.operation_id,
                "operation_code": a.line.operation.code,
                "financing_line": a.line.pk,
                "partner": a.line.partner.code if a.line.partner else None,
                "what": a.slip.what,
                "planned_cumulative": a.slip.planned,
                "actual_cumulative": a.slip.actual,
                "gap": a.slip.gap,
            }
            for a in alerts.rows
        ],
    }
