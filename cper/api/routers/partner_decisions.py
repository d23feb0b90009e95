"""The partners' decisions on their financing lines (issue 12): read a line's decisions, record
one (`cper.operations.services.partner_decision_record`: permission, rules, audit, summaries).

The signed act is not sent through the API (JSON only): it is attached on the operation's page
and read there by the users allowed to. A line's decisions are listed by date, the last being in
force; recording is idempotent on an `Idempotency-Key` header.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Router, Schema

from cper.api.auth import OPTIONAL_SECURITY, WRITE_AUTH
from cper.api.common import SlugPath, actor_of, contract_of, dump, responses
from cper.api.errors import ApiError
from cper.api.idempotency import IdempotencyKey, respond
from cper.api.schemas import Date, In, ListOut, Money, MoneyIn, Text
from cper.operations.models import (
    FinancingLine,
    PartnerDecision,
    PartnerDecisionKind,
    PartnerDecisionOutcome,
)
from cper.operations.selectors import line_partner_decisions, operation_queryset
from cper.operations.services import partner_decision_record

router = Router(tags=["Décisions des financeurs"])

if TYPE_CHECKING:
    Kind: TypeAlias = str
    Outcome: TypeAlias = str
else:  # enumerations of the OpenAPI document
    Kind = Literal[tuple(PartnerDecisionKind.values)]
    Outcome = Literal[tuple(PartnerDecisionOutcome.values)]
LinePath = Path(..., ge=1, le=2**53, description="Ligne de financement (identifiant).")


class PartnerDecisionOut(Schema):
    id: int
    financing_line: int
    partner: str
    kind: str
    body: str
    date: dt.date
    reference: str
    amount: Money
    outcome: str
    in_force: bool
    has_document: bool
    notes: str
    provenance: str
    recorded_at: dt.datetime


class PartnerDecisionListOut(ListOut):
    results: list[PartnerDecisionOut]


class PartnerDecisionIn(In):
    kind: Kind = Field(
        description="arrete_attributif, convention, deliberation_cp (commission permanente), "
        "deliberation_conseil, decision_bureau, autre."
    )
    body: Text = Field("", max_length=200, description="Instance (commission permanente…).")
    date: Date
    reference: Text = Field("", max_length=100, description="N° de délibération, d'arrêté…")
    amount: MoneyIn = Field(description="Montant décidé ; 0 pour un refus ou un retrait.")
    outcome: Outcome = Field("granted", description="granted, refused, withdrawn.")
    notes: Text = Field("", max_length=1000)


def _out(d: PartnerDecision, in_force: bool) -> dict[str, Any]:
    return {
        "id": d.pk,
        "financing_line": d.financing_line_id,
        "partner": d.partner.code,
        "kind": d.kind,
        "body": d.body,
        "date": d.date,
        "reference": d.reference,
        "amount": d.amount,
        "outcome": d.outcome,
        "in_force": in_force,
        "has_document": bool(d.document),
        "notes": d.notes,
        "provenance": d.provenance,
        "recorded_at": d.recorded_at,
    }


def _line(request: HttpRequest, contract: Any, line_id: int) -> FinancingLine:
    line = (
        FinancingLine.objects.select_related("operation", "partner")
        .filter(pk=line_id, operation__in=operation_queryset(contract=contract, user=request.user))
        .first()
    )
    if line is None:
        raise ApiError(404, "introuvable", "Ligne de financement inconnue dans ce contrat.")
    return line


@router.get(
    "/contracts/{slug}/financing-lines/{line_id}/decisions",
    response=responses(200, PartnerDecisionListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Décisions du financeur sur une ligne (la dernière en date est en vigueur)",
)
def decisions(
    request: HttpRequest,
    slug: str = SlugPath,
    line_id: Annotated[int, Field(ge=1)] = LinePath,
) -> Any:
    line = _line(request, contract_of(slug), line_id)
    rows = line_partner_decisions(line=line)
    return {
        "count": len(rows),
        "results": [_out(d, i == len(rows) - 1) for i, d in enumerate(rows)],
    }


@router.post(
    "/contracts/{slug}/financing-lines/{line_id}/decisions",
    response=responses(201, PartnerDecisionOut),
    auth=WRITE_AUTH,
    summary="Enregistrer la décision du financeur sur sa ligne (idempotent avec Idempotency-Key)",
)
def decision_create(
    request: HttpRequest,
    response: HttpResponse,
    body: PartnerDecisionIn,
    slug: str = SlugPath,
    line_id: Annotated[int, Field(ge=1)] = LinePath,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def write() -> tuple[int, Any]:
        line = _line(request, contract, line_id)
        decision = partner_decision_record(
            actor=actor_of(request),
            line=line,
            kind=body.kind,
            body=body.body,
            date=body.date,
            reference=body.reference,
            amount=body.amount,
            outcome=body.outcome,
            notes=body.notes,
        )
        latest = line_partner_decisions(line=line)[-1]
        return 201, dump(PartnerDecisionOut, _out(decision, latest.pk == decision.pk))

    return respond(request, response, idempotency_key, write)
