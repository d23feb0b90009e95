"""Operations and their co-financing plans: the filtered, keyset-paginated register, one
operation with its lines, and the writes (create, update, add/update/cancel a line).

Reads go through `cper.operations.selectors` (which apply the permission function: anonymous
callers and the public see published operations only); writes through
`cper.operations.services` (which check the permission, validate and audit). Every write is
idempotent with an `Idempotency-Key` header; creating an operation is also idempotent on the
client's own file number (`external_references`): a second request carrying a reference the
register already holds answers 200 with that operation and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema

from cper.accounts.permissions import require
from cper.api.auth import OPTIONAL_SECURITY, WRITE_AUTH
from cper.api.common import SlugPath, actor_of, contract_of, dump, responses
from cper.api.errors import ApiError, not_found
from cper.api.idempotency import IdempotencyKey, respond
from cper.api.pagination import DEFAULT_LIMIT, keyset_page
from cper.api.resolve import (
    commune_codes,
    markers,
    objective,
    objectives,
    owner_for,
    partner,
    programme,
)
from cper.api.schemas import Code, CursorListOut, Date, In, ListOut, Money, MoneyIn, Text
from cper.contracts.models import BudgetNature
from cper.finance.selectors import line_count
from cper.operations import selectors, services
from cper.operations.models import (
    Committee,
    ExternalReference,
    FinancerKind,
    FinancingLine,
    Operation,
    OperationStatus,
)
from cper.operations.rules import line_category

router = Router(tags=["Opérations"])

CommuneCode = Annotated[str, Field(pattern=r"^[0-9][0-9AB][0-9]{3}$")]
if TYPE_CHECKING:
    StatusValue: TypeAlias = str
    FinancerKindIn: TypeAlias = str
    BudgetNatureIn: TypeAlias = str
else:  # the values of the models' choices, as enumerations of the OpenAPI document
    StatusValue = Literal[tuple(OperationStatus.values)]
    FinancerKindIn = Literal[tuple(FinancerKind.values)]
    BudgetNatureIn = Literal[tuple(BudgetNature.values)]
OperationId = Path(..., ge=1, le=2**53, description="Identifiant de l'opération.")
LineId = Path(..., ge=1, le=2**53, description="Identifiant de la ligne de financement.")
MAX_LIMIT = 200

# --- shapes --------------------------------------------------------------------------------


class OwnerOut(Schema):
    name: str
    siret: str | None
    rna: str | None
    legal_category: str


class OperationSummaryOut(Schema):
    id: int
    code: str
    title: str
    status: str
    published: bool
    owner: OwnerOut
    objective: str
    axis: int
    departement: str | None = Field(description="Code du département (de la 1re commune).")
    epci: str | None = Field(description="SIREN de l'EPCI (de la 1re commune).")
    start_date: dt.date | None
    end_date: dt.date | None
    cost_ht: Money | None
    cost_ttc: Money | None
    cost_base: str
    updated_at: dt.datetime


class OperationListOut(CursorListOut):
    results: list[OperationSummaryOut]


class LineOut(Schema):
    id: int
    operation: int
    financer_kind: str
    partner: str | None
    financer_label: str
    objective: str
    amount: Money
    contractualised: bool
    category: str = Field(
        description="contractualise | valorise | cofinancement (voir le plan de financement)."
    )
    budget_nature: str
    programme: str | None
    bop: str | None = Field(description="BOP (État, code Chorus).")
    activity: str | None = Field(description="Activité (État, code Chorus).")
    year: int | None
    external_ref: str
    status: str
    cancel_reason: str
    approved: Money | None = Field(
        description="Montant approuvé par avis favorable (dans le détail d'une opération ; "
        "null dans la liste des lignes du contrat)."
    )


class LineListOut(ListOut):
    results: list[LineOut]


class PlanOut(Schema):
    eligible_cost: Money | None
    total: Money
    contractualised: Money = Field(
        description="Crédits des signataires inscrits dans la maquette (lignes contractualisées)."
    )
    valorised: Money = Field(
        description="Crédits des signataires hors de l'enveloppe contractualisée (lignes d'un "
        "partenaire non contractualisées)."
    )
    cofinanced: Money = Field(
        description="Co-financements : fonds européens, opérateurs de l'État, Banque des "
        "Territoires, autres financements publics ou privés, autofinancement du maître d'ouvrage."
    )
    public: Money
    gap: Money | None


class ExternalReferenceOut(Schema):
    partner: str
    reference: str


class CommuneOut(Schema):
    code: str
    name: str


class OperationOut(OperationSummaryOut):
    description: str
    physical_progress: str
    communes: list[CommuneOut]
    territories: list[str]
    secondary_objectives: list[str]
    markers: list[str]
    external_references: list[ExternalReferenceOut]
    plan: PlanOut
    financing_lines: list[LineOut]


def _summary(op: Operation) -> dict[str, Any]:
    return {
        "id": op.pk,
        "code": op.code,
        "title": op.title,
        "status": op.status,
        "published": op.published,
        "owner": {
            "name": op.owner.name,
            "siret": op.owner.siret,
            "rna": op.owner.rna,
            "legal_category": op.owner.legal_category,
        },
        "objective": op.objective.code,
        "axis": op.objective.axis.number,
        "departement": op.departement_id,
        "epci": op.epci_id,
        "start_date": op.start_date,
        "end_date": op.end_date,
        "cost_ht": op.cost_ht,
        "cost_ttc": op.cost_ttc,
        "cost_base": op.cost_base,
        "updated_at": op.updated_at,
    }


def _line(line: FinancingLine, approved: Any = None) -> dict[str, Any]:
    return {
        "id": line.pk,
        "operation": line.operation_id,
        "financer_kind": line.financer_kind,
        "partner": line.partner.code if line.partner else None,
        "financer_label": line.financer_label,
        "objective": line.objective.code,
        "amount": line.amount,
        "contractualised": line.contractualised,
        "category": line_category(line),
        "budget_nature": line.budget_nature,
        "programme": line.programme.code if line.programme else None,
        "bop": line.bop,
        "activity": line.activity,
        "year": line.year,
        "external_ref": line.external_ref,
        "status": line.status,
        "cancel_reason": line.cancel_reason,
        "approved": approved,
    }


def _detail(request: HttpRequest, contract: Any, pk: int) -> dict[str, Any]:
    try:
        d = selectors.operation_detail(contract=contract, pk=pk, user=request.user, history_limit=1)
    except Operation.DoesNotExist:
        raise not_found("Opération introuvable.") from None
    f = d.figures
    return {
        **_summary(d.operation),
        "description": d.operation.description,
        "physical_progress": d.operation.physical_progress,
        "communes": [{"code": c.code, "name": c.name} for c in d.communes],
        "territories": [t.code for t in d.territories],
        "secondary_objectives": [o.code for o in d.secondary_objectives],
        "markers": [m.code for m in d.markers],
        "external_references": [
            {"partner": r.partner.code, "reference": r.reference} for r in d.external_references
        ],
        "plan": {
            "eligible_cost": f.eligible_cost,
            "total": f.total,
            "contractualised": f.contractualised,
            "valorised": f.valorised,
            "cofinanced": f.cofinanced,
            "public": f.public,
            "gap": f.gap,
        },
        "financing_lines": [_line(v.line, v.approved) for v in (*d.lines, *d.cancelled_lines)],
    }


# --- reads ---------------------------------------------------------------------------------


class OperationFilters(Schema):
    axis: list[Annotated[int, Field(ge=1, le=99)]] = Field([], max_length=20)
    objective: list[Code] = Field([], max_length=100)
    partner: list[Code] = Field([], max_length=50, description="A une ligne de ce partenaire.")
    departement: list[Code] = Field([], max_length=20)
    epci: list[Code] = Field([], max_length=50)
    territory: list[Code] = Field([], max_length=20, description="Territoire de projet.")
    status: list[StatusValue] = Field([], max_length=10)
    marker: list[Code] = Field([], max_length=20)
    q: Text | None = Field(
        None, max_length=200, description="Texte : intitulé, numéro, maître d'ouvrage."
    )
    published: bool | None = None
    order: Literal["code", "updated"] = Field(
        "code", description="Ordre stable : numéro, ou date de mise à jour (synchronisation)."
    )
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` de la page lue.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


KEYSET_ORDERS = {"code": ("code", "id"), "updated": ("updated_at", "id")}


@router.get(
    "/contracts/{slug}/operations",
    response=responses(200, OperationListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Opérations (filtres de la page liste, pagination par curseur)",
)
def operation_list(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[OperationFilters] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    filters = {
        k: v
        for k, v in q.model_dump(include=set(selectors.FILTER_KEYS)).items()
        if v not in (None, [], "")
    }
    if "published" in filters:
        filters["published"] = "true" if filters["published"] else "false"
    try:
        qs = selectors.apply_filters(
            selectors.operation_queryset(contract=contract, user=request.user), filters
        )
    except selectors.FilterError as exc:
        raise ApiError(400, "parametre_invalide", str(exc).capitalize() + ".") from exc
    page = keyset_page(
        qs.select_related("owner", "objective__axis"),
        order=KEYSET_ORDERS[q.order],
        cursor=q.cursor,
        limit=q.limit,
    )
    return {
        "count": page.count,
        "next_cursor": page.next_cursor,
        "results": [_summary(op) for op in page.items],
    }


@router.get(
    "/contracts/{slug}/operations/{operation_id}",
    response=responses(200, OperationOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Une opération, avec son plan de financement",
)
def operation_get(
    request: HttpRequest, slug: str = SlugPath, operation_id: int = OperationId
) -> Any:
    return _detail(request, contract_of(slug), operation_id)


@router.get(
    "/contracts/{slug}/operations/{operation_id}/financing-lines",
    response=responses(200, LineListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Lignes du plan de financement d'une opération (annulées comprises)",
)
def financing_lines(
    request: HttpRequest, slug: str = SlugPath, operation_id: int = OperationId
) -> Any:
    lines = _detail(request, contract_of(slug), operation_id)["financing_lines"]
    return {"count": len(lines), "results": lines}


class LineFilters(Schema):
    partner: list[Code] = Field([], max_length=50, description="Code(s) de partenaire.")
    operation: list[Annotated[int, Field(ge=1, le=2**53)]] = Field([], max_length=50)
    objective: list[Code] = Field([], max_length=100)
    status: list[Literal["active", "cancelled"]] = Field([], max_length=2)
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` de la page lue.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class LinePageOut(CursorListOut):
    results: list[LineOut]


def _line_total(request: HttpRequest, contract: Any, q: LineFilters) -> Any:
    """The first page's total from the line states (they carry the contract: no join to the
    operations) unless the list is filtered by the lines' status, which they do not keep."""
    if q.status:
        return None
    return lambda: line_count(
        contract=contract,
        user=request.user,
        operations=q.operation,
        partners=q.partner,
        objectives=q.objective,
    )


@router.get(
    "/contracts/{slug}/financing-lines",
    response=responses(200, LinePageOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Lignes de financement du contrat (par partenaire : les identifiants des paiements)",
)
def contract_financing_lines(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[LineFilters] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    lines = FinancingLine.objects.filter(
        operation__in=selectors.operation_queryset(contract=contract, user=request.user)
    ).select_related("partner", "objective", "programme")
    if q.partner:
        lines = lines.filter(partner__code__in=q.partner)
    if q.operation:
        lines = lines.filter(operation_id__in=q.operation)
    if q.objective:
        lines = lines.filter(objective__code__in=q.objective)
    if q.status:
        lines = lines.filter(status__in=q.status)
    page = keyset_page(
        lines,
        order=("id",),
        cursor=q.cursor,
        limit=q.limit,
        count=_line_total(request, contract, q),
    )
    return {
        "count": page.count,
        "next_cursor": page.next_cursor,
        "results": [_line(line) for line in page.items],
    }


# --- writes --------------------------------------------------------------------------------


class OwnerIn(In):
    siret: Text | None = Field(
        None, max_length=20, description="SIRET (14 chiffres) du maître d'ouvrage."
    )
    rna: Text | None = Field(None, max_length=12, description="Ou : numéro RNA d'une association.")
    name: Text | None = Field(None, max_length=300, description="Pour un maître d'ouvrage nouveau.")
    legal_category: Text | None = Field(
        None, max_length=24, description="Pour un maître d'ouvrage nouveau."
    )
    commune: CommuneCode | None = None


class ExternalReferenceIn(In):
    partner: Code
    reference: Text = Field(..., min_length=1, max_length=100)


class LineIn(In):
    financer_kind: FinancerKindIn
    amount: MoneyIn
    partner: Code | None = Field(None, description="Code du partenaire (ligne d'un partenaire).")
    financer_label: Text = Field("", max_length=200, description="FEDER, autofinancement…")
    objective: Code | None = Field(None, description="Défaut : l'objectif principal.")
    contractualised: bool | None = None
    budget_nature: BudgetNatureIn | None = None
    programme: Code | None = Field(None, description="Programme LOLF (P112…).")
    bop: Text | None = Field(None, max_length=30, description="BOP (État, code Chorus).")
    activity: Text | None = Field(None, max_length=30, description="Activité (État).")
    year: int | None = Field(None, ge=1990, le=2100)
    external_ref: Text = Field("", max_length=100)


class OperationIn(In):
    title: Text = Field(..., min_length=1, max_length=400)
    owner: OwnerIn
    objective: Code
    code: Code | None = Field(None, description="Numéro ; défaut : OP-000001…")
    description: Text = Field("", max_length=10000)
    communes: list[CommuneCode] = Field([], max_length=500)
    secondary_objectives: list[Code] = Field([], max_length=50)
    markers: list[Code] = Field([], max_length=50)
    external_references: list[ExternalReferenceIn] = Field(
        [], max_length=20, description="Numéros de dossier des partenaires (idempotence)."
    )
    start_date: Date | None = None
    end_date: Date | None = None
    cost_ht: MoneyIn | None = None
    cost_ttc: MoneyIn | None = None
    cost_base: Literal["ht", "ttc"] = "ht"
    physical_progress: Text = Field("", max_length=10000)
    published: bool = False
    financing_lines: list[LineIn] = Field([], max_length=100, description="Plan de financement.")


def Omitted(**constraints: Any) -> Any:
    """A field of a PATCH body that may be left out, but not sent as null."""
    return Field(None, **constraints)


class OperationPatch(In):
    """Only the fields sent change; `null` clears a date or a cost, the other fields take a
    value (leave them out to keep them)."""

    title: Text = Omitted(min_length=1, max_length=400)
    owner: OwnerIn = Omitted()
    objective: Code = Omitted()
    description: Text = Omitted(max_length=10000)
    communes: list[CommuneCode] = Omitted(max_length=500)
    secondary_objectives: list[Code] = Omitted(max_length=50)
    markers: list[Code] = Omitted(max_length=50)
    external_references: list[ExternalReferenceIn] = Omitted(max_length=20)
    start_date: Date | None = None
    end_date: Date | None = None
    cost_ht: MoneyIn | None = None
    cost_ttc: MoneyIn | None = None
    cost_base: Literal["ht", "ttc"] = Omitted()
    physical_progress: Text = Omitted(max_length=10000)
    published: bool = Omitted()


class LinePatch(In):
    """Only the fields sent change; `null` clears the programme, BOP, activity or the year."""

    amount: MoneyIn = Omitted()
    financer_label: Text = Omitted(max_length=200)
    objective: Code = Omitted()
    contractualised: bool = Omitted()
    budget_nature: BudgetNatureIn = Omitted()
    programme: Code | None = None
    bop: Text | None = Field(None, max_length=30)
    activity: Text | None = Field(None, max_length=30)
    year: int | None = Field(None, ge=1990, le=2100)
    external_ref: Text = Omitted(max_length=100)


class LineCancelIn(In):
    reason: Text = Field(..., min_length=1, max_length=2000)


def _line_kwargs(contract: Any, line: LineIn | LinePatch, prefix: str) -> dict[str, Any]:
    values = line.model_dump(exclude_unset=True)
    if "partner" in values:
        values["partner"] = partner(contract, values["partner"], f"{prefix}partner")
    if values.get("objective") is not None:
        values["objective"] = objective(contract, values["objective"], f"{prefix}objective")
    if "programme" in values:
        values["programme"] = programme(values["programme"], f"{prefix}programme")
    return values


def _operation_kwargs(request: HttpRequest, contract: Any, body: Any) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True, exclude={"financing_lines"})
    if "owner" in values:
        values["owner"] = owner_for(request, body.owner)
    if "objective" in values:
        values["objective"] = objective(contract, values["objective"], "objective")
    if "secondary_objectives" in values:
        values["secondary_objectives"] = objectives(
            contract, values["secondary_objectives"] or [], "secondary_objectives"
        )
    if "markers" in values:
        values["markers"] = markers(contract, values["markers"] or [], "markers")
    if "communes" in values:
        values["communes"] = commune_codes(values["communes"] or [])
    if "external_references" in values:
        values["external_references"] = {
            partner(contract, r["partner"], f"external_references.{i}.partner"): r["reference"]
            for i, r in enumerate(values["external_references"] or [])
        }
    return values


def _existing_by_reference(request: HttpRequest, contract: Any, body: OperationIn) -> int | None:
    for ref in body.external_references:
        found = (
            ExternalReference.objects.filter(
                partner__contract=contract, partner__code=ref.partner, reference=ref.reference
            )
            .values_list("operation_id", flat=True)
            .first()
        )
        if found is not None:
            return found
    return None


@router.post(
    "/contracts/{slug}/operations",
    response={**responses(201, OperationOut), 200: OperationOut},
    auth=WRITE_AUTH,
    summary="Créer une opération (et son plan de financement)",
)
def operation_create(
    request: HttpRequest,
    response: HttpResponse,
    body: OperationIn,
    slug: str = SlugPath,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def replay(existing: int) -> tuple[int, Any]:
        response["Idempotent-Replayed"] = "true"
        return 200, dump(OperationOut, _detail(request, contract, existing))

    def write() -> tuple[int, Any]:
        # The permission first: whether a partner's file number exists is not for everyone.
        require(request.user, "operation.create", contract)
        existing = _existing_by_reference(request, contract, body)
        if existing is not None:
            return replay(existing)
        actor = actor_of(request)
        try:
            with transaction.atomic():
                values = _operation_kwargs(request, contract, body)
                op = services.operation_create(actor=actor, contract=contract, **values)
                for i, line in enumerate(body.financing_lines):
                    services.financing_line_add(
                        actor=actor,
                        operation=op,
                        **_line_kwargs(contract, line, f"financing_lines.{i}."),
                    )
        except IntegrityError:
            # A concurrent request with the same file number created the operation between our
            # reading and our writing (the reference is unique): a replay of it.
            existing = _existing_by_reference(request, contract, body)
            if existing is None:
                raise
            return replay(existing)
        return 201, dump(OperationOut, _detail(request, contract, op.pk))

    return respond(request, response, idempotency_key, write)


@router.patch(
    "/contracts/{slug}/operations/{operation_id}",
    response=responses(200, OperationOut),
    auth=WRITE_AUTH,
    summary="Modifier une opération (seuls les champs envoyés changent)",
)
def operation_update(
    request: HttpRequest,
    response: HttpResponse,
    body: OperationPatch,
    slug: str = SlugPath,
    operation_id: int = OperationId,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def write() -> tuple[int, Any]:
        op = _visible(request, contract, operation_id)
        require(request.user, "operation.edit", op)  # before creating an owner
        with transaction.atomic():
            values = _operation_kwargs(request, contract, body)
            if values:
                services.operation_update(actor=actor_of(request), operation=op, **values)
        return 200, dump(OperationOut, _detail(request, contract, op.pk))

    return respond(request, response, idempotency_key, write)


def _visible(request: HttpRequest, contract: Any, operation_id: int) -> Operation:
    try:
        return selectors.operation_get(contract=contract, pk=operation_id, user=request.user)
    except Operation.DoesNotExist:
        raise not_found("Opération introuvable.") from None


def _line_of(request: HttpRequest, contract: Any, line_id: int) -> FinancingLine:
    line = (
        FinancingLine.objects.select_related("operation", "partner", "objective", "programme")
        .filter(pk=line_id, operation__contract=contract)
        .first()
    )
    if line is None:
        raise not_found("Ligne de financement introuvable.")
    _visible(request, contract, line.operation_id)
    return line


@router.post(
    "/contracts/{slug}/operations/{operation_id}/financing-lines",
    response=responses(201, LineOut),
    auth=WRITE_AUTH,
    summary="Ajouter une ligne au plan de financement",
)
def financing_line_add(
    request: HttpRequest,
    response: HttpResponse,
    body: LineIn,
    slug: str = SlugPath,
    operation_id: int = OperationId,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def write() -> tuple[int, Any]:
        op = _visible(request, contract, operation_id)
        line = services.financing_line_add(
            actor=actor_of(request), operation=op, **_line_kwargs(contract, body, "")
        )
        return 201, dump(LineOut, _line(line))

    return respond(request, response, idempotency_key, write)


@router.patch(
    "/contracts/{slug}/financing-lines/{line_id}",
    response=responses(200, LineOut),
    auth=WRITE_AUTH,
    summary="Modifier une ligne de financement (montant, objectif, année…)",
)
def financing_line_update(
    request: HttpRequest,
    response: HttpResponse,
    body: LinePatch,
    slug: str = SlugPath,
    line_id: int = LineId,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def write() -> tuple[int, Any]:
        line = _line_of(request, contract, line_id)
        values = _line_kwargs(contract, body, "")
        if values:
            line = services.financing_line_update(actor=actor_of(request), line=line, **values)
        return 200, dump(LineOut, _line(line))

    return respond(request, response, idempotency_key, write)


@router.post(
    "/contracts/{slug}/financing-lines/{line_id}/cancel",
    response=responses(200, LineOut),
    auth=WRITE_AUTH,
    summary="Annuler une ligne de financement (avec un motif ; jamais supprimée)",
)
def financing_line_cancel(
    request: HttpRequest,
    response: HttpResponse,
    body: LineCancelIn,
    slug: str = SlugPath,
    line_id: int = LineId,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def write() -> tuple[int, Any]:
        line = _line_of(request, contract, line_id)
        line = services.financing_line_cancel(
            actor=actor_of(request), line=line, reason=body.reason
        )
        return 200, dump(LineOut, _line(line))

    return respond(request, response, idempotency_key, write)


# --- committees and their decisions --------------------------------------------------------


class CommitteeOut(Schema):
    id: int
    kind: str
    date: dt.date
    place: str
    title: str
    agenda_count: int = Field(description="Opérations inscrites à l'ordre du jour.")
    approved_count: int = Field(description="Dont avis favorables.")


class CommitteeListOut(ListOut):
    results: list[CommitteeOut]


class ApprovedAmountOut(Schema):
    financing_line: int
    partner: str | None
    financer_label: str
    amount: Money


class DecisionOut(Schema):
    id: int
    operation: int
    operation_code: str
    operation_title: str
    outcome: str | None = Field(
        description="approved, adjourned, rejected ; null : à l'ordre du jour."
    )
    notes: str
    decided_at: dt.datetime | None
    approved_amounts: list[ApprovedAmountOut]


class PartnerTotalOut(Schema):
    financer: str
    amount: Money


class CommitteeDetailOut(CommitteeOut):
    minutes: str
    decisions: list[DecisionOut]
    approved_by_financer: list[PartnerTotalOut]


def _committee(c: Any, agenda: int, approved: int) -> dict[str, Any]:
    return {
        "id": c.pk,
        "kind": c.kind,
        "date": c.date,
        "place": c.place,
        "title": c.title,
        "agenda_count": agenda,
        "approved_count": approved,
    }


def _partner_code(line: FinancingLine | None) -> str | None:
    partner = line.partner if line is not None else None
    return partner.code if partner is not None else None


def _require_committee_view(request: HttpRequest) -> None:
    require(request.user, "committee.view")


@router.get(
    "/contracts/{slug}/committees",
    response=responses(200, CommitteeListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Comités (rôles authentifiés)",
)
def committees(request: HttpRequest, slug: str = SlugPath) -> Any:
    contract = contract_of(slug)
    _require_committee_view(request)
    rows = selectors.committee_list(contract=contract)
    return {
        "count": len(rows),
        "results": [_committee(c, c.agenda_count, c.approved_count) for c in rows],  # type: ignore[attr-defined]
    }


@router.get(
    "/contracts/{slug}/committees/{committee_id}",
    response=responses(200, CommitteeDetailOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Un comité : ses décisions et les montants approuvés",
)
def committee(
    request: HttpRequest,
    slug: str = SlugPath,
    committee_id: int = Path(..., ge=1, le=2**53),
) -> Any:
    contract = contract_of(slug)
    _require_committee_view(request)
    try:
        d = selectors.committee_detail(contract=contract, pk=committee_id)
    except Committee.DoesNotExist:
        raise not_found("Comité introuvable.") from None
    lines = {line.pk: line for item in d.items for line in item.lines}
    decisions = [
        {
            "id": item.decision.pk,
            "operation": item.operation.pk,
            "operation_code": item.operation.code,
            "operation_title": item.operation.title,
            "outcome": item.decision.outcome,
            "notes": item.decision.notes,
            "decided_at": item.decision.decided_at,
            "approved_amounts": [
                {
                    "financing_line": line_id,
                    "partner": _partner_code(lines.get(line_id)),
                    "financer_label": lines[line_id].financer_label if line_id in lines else "",
                    "amount": amount,
                }
                for line_id, amount in item.approved.items()
            ],
        }
        for item in d.items
    ]
    approved = sum(1 for item in d.items if item.decision.outcome == "approved")
    return {
        **_committee(d.committee, len(d.items), approved),
        "minutes": d.committee.minutes,
        "decisions": decisions,
        "approved_by_financer": [
            {"financer": who, "amount": amount} for who, amount in d.totals_by_partner
        ],
    }
