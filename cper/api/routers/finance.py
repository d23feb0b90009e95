"""The execution ledger (commitments, payments and their cancellations) and the execution
aggregates.

Movements are recorded by `cper.finance.services.movement_record` (permission, ledger rules,
audit, summaries); aggregates come from THE aggregation service
`cper.finance.aggregation.execution`, with the pages' filters and `as_of`, for the caller (the
public's figures leave out unpublished operations: the service's own rule). A movement is
idempotent on the client's own identifier (`external_id`, kept as the ledger's idempotency key,
per organisation) or on an `Idempotency-Key` header: a retried payment is never stored twice.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from cper.accounts.permissions import sees_unpublished
from cper.api.auth import OPTIONAL_SECURITY, WRITE_AUTH
from cper.api.common import SlugPath, actor_of, contract_of, dump, responses
from cper.api.errors import ApiError
from cper.api.idempotency import KEY_PATTERN, IdempotencyKey, respond
from cper.api.pagination import DEFAULT_LIMIT, keyset_page
from cper.api.schemas import Code, CursorListOut, Date, In, ListOut, Money, MoneyIn, Text
from cper.finance import aggregation
from cper.finance.models import AeKind, AeMiseEnPlace, Movement, MovementKind
from cper.finance.selectors import ae_mises_en_place, movement_count
from cper.finance.services import (
    UNCHANGED,
    AeDraft,
    MovementDraft,
    MovementRefused,
    ae_mise_en_place_record,
    movements_record_many,
)
from cper.operations.models import FinancingLine
from cper.operations.selectors import operation_queryset

router = Router(tags=["Exécution"])

if TYPE_CHECKING:
    Kind: TypeAlias = str
    GroupKey: TypeAlias = str
else:  # the ledger's kinds and the aggregation's keys, as enumerations of the OpenAPI document
    Kind = Literal[tuple(MovementKind.values)]
    GroupKey = Literal[tuple(aggregation.GROUP_KEYS)]
Id = Annotated[int, Field(ge=1, le=2**53)]
MAX_LIMIT = 500


class MovementOut(Schema):
    id: int
    financing_line: int
    operation: int
    operation_code: str
    partner: str | None
    kind: str
    date: dt.date
    amount: Money
    reference: str
    cancels: int | None
    note: str
    via: str
    recorded_at: dt.datetime


class MovementListOut(CursorListOut):
    results: list[MovementOut]


def _movement(m: Movement) -> dict[str, Any]:
    line = m.financing_line
    return {
        "id": m.pk,
        "financing_line": m.financing_line_id,
        "operation": line.operation_id,
        "operation_code": line.operation.code,
        "partner": line.partner.code if line.partner else None,
        "kind": m.kind,
        "date": m.date,
        "amount": m.amount,
        "reference": m.reference,
        "cancels": m.cancels_id,
        "note": m.note,
        "via": m.via,
        "recorded_at": m.recorded_at,
    }


class MovementFilters(Schema):
    operation: list[Id] = Field([], max_length=50, description="Identifiant(s) d'opération.")
    financing_line: list[Id] = Field([], max_length=50)
    partner: list[Code] = Field([], max_length=50)
    kind: list[Kind] = Field([], max_length=6)
    date_from: Date | None = None
    date_to: Date | None = None
    reference: Text | None = Field(None, max_length=60)
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` de la page lue.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _movement_count(request: HttpRequest, contract: Any, q: MovementFilters) -> Any:
    """The first page's total from the line states' movement counts when the filters are ones
    they answer (operation, line, partner); None (a count over the ledger) for the others."""
    if q.kind or q.date_from or q.date_to or q.reference:
        return None
    return lambda: movement_count(
        contract=contract,
        user=request.user,
        operations=q.operation,
        lines=q.financing_line,
        partners=q.partner,
    )


def _visible_movements(request: HttpRequest, contract: Any) -> Any:
    """The movements `request.user` may read. Who sees every operation of the contract gets
    them by contract (a join to the operation's contract column), not through the list of
    visible operations (a subquery over the whole register on every page)."""
    if sees_unpublished(request.user):
        qs = Movement.objects.filter(financing_line__operation__contract=contract)
    else:
        operations = operation_queryset(contract=contract, user=request.user)
        qs = Movement.objects.filter(financing_line__operation__in=operations)
    return qs.select_related("financing_line__operation", "financing_line__partner")


@router.get(
    "/contracts/{slug}/movements",
    response=responses(200, MovementListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Mouvements : engagements, paiements et leurs annulations (ordre : date, id)",
)
def movements(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[MovementFilters] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    qs = _visible_movements(request, contract)
    if q.operation:
        qs = qs.filter(financing_line__operation_id__in=q.operation)
    if q.financing_line:
        qs = qs.filter(financing_line_id__in=q.financing_line)
    if q.partner:
        qs = qs.filter(financing_line__partner__code__in=q.partner)
    if q.kind:
        qs = qs.filter(kind__in=q.kind)
    if q.date_from:
        qs = qs.filter(date__gte=q.date_from)
    if q.date_to:
        qs = qs.filter(date__lte=q.date_to)
    if q.reference:
        qs = qs.filter(reference=q.reference)
    page = keyset_page(
        qs,
        order=("date", "id"),
        cursor=q.cursor,
        limit=q.limit,
        count=_movement_count(request, contract, q),
    )
    return {
        "count": page.count,
        "next_cursor": page.next_cursor,
        "results": [_movement(m) for m in page.items],
    }


class MovementIn(In):
    financing_line: Id = Field(description="Ligne de financement (identifiant).")
    kind: Kind = Field(
        description="commitment (engagement), decommitment, payment (mandatement), "
        "payment_cancellation; affectation (affectation d'AP) and desaffectation "
        "(désaffectation) on the lines of local authorities voting AP/CP."
    )
    date: Date
    amount: MoneyIn = Field(description="Montant positif ; la nature donne le sens.")
    reference: Text = Field(
        ..., min_length=1, max_length=60, description="N° d'EJ, d'affectation ou de mandat."
    )
    cancels: Id | None = Field(None, description="Mouvement annulé (annulation, désengagement).")
    note: Text = Field("", max_length=300)
    external_id: str | None = Field(
        None,
        pattern=KEY_PATTERN,
        description="Identifiant du mouvement dans le logiciel du partenaire : renvoyé, le "
        "même mouvement n'est pas enregistré deux fois (clé d'idempotence).",
    )


def _ledger_key(request: HttpRequest, body: MovementIn, header_key: str | None) -> str | None:
    """The ledger's idempotency key: the client's id, scoped to its organisation (or user)."""
    user: Any = request.user
    if body.external_id:
        scope = f"o{user.organisation_id}" if user.organisation_id else f"u{user.pk}"
        return f"api:{scope}:{body.external_id}"
    if header_key:
        return f"api:u{user.pk}:k:{header_key}"
    return None


def _line_for(request: HttpRequest, contract: Any, line_id: int) -> FinancingLine:
    line = (
        FinancingLine.objects.select_related("operation", "partner")
        .filter(pk=line_id, operation__in=operation_queryset(contract=contract, user=request.user))
        .first()
    )
    if line is None:
        raise ApiError(
            422, "inconnu", "Ligne de financement inconnue dans ce contrat.", "financing_line"
        )
    return line


@router.post(
    "/contracts/{slug}/movements",
    response={**responses(201, MovementOut), 200: MovementOut},
    auth=WRITE_AUTH,
    summary="Enregistrer un engagement, un paiement ou une annulation (idempotent)",
)
def movement_create(
    request: HttpRequest,
    response: HttpResponse,
    body: MovementIn,
    slug: str = SlugPath,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    contract = contract_of(slug)

    def write() -> tuple[int, Any]:
        line = _line_for(request, contract, body.financing_line)
        key = _ledger_key(request, body, idempotency_key)
        draft = MovementDraft(
            financing_line=line,
            kind=body.kind,
            date=body.date,
            amount=body.amount,
            reference=body.reference,
            idempotency_key=key,
            cancels=body.cancels,
            note=body.note,
        )
        try:
            # The ledger says whether it wrote or replayed, also when a concurrent request with
            # the same key wrote first (issue 15, item 8): a replay always carries the header.
            outcome = movements_record_many(actor=actor_of(request), movements=[draft]).outcomes[0]
            if outcome.error is not None:
                raise outcome.error
            assert outcome.movement is not None
            movement, known = outcome.movement, outcome.status == UNCHANGED
        except MovementRefused as exc:
            first = exc.findings[0] if exc.findings else None
            if first is not None and first.field == "idempotency_key":
                raise ApiError(
                    409,
                    "cle_idempotence_reutilisee",
                    "Cet identifiant (external_id) a déjà servi pour un autre mouvement.",
                    "external_id",
                ) from exc
            raise
        if known:
            response["Idempotent-Replayed"] = "true"
        movement = Movement.objects.select_related(
            "financing_line__operation", "financing_line__partner"
        ).get(pk=movement.pk)
        return (200 if known else 201), dump(MovementOut, _movement(movement))

    return respond(request, response, idempotency_key, write)


# --- execution aggregates ------------------------------------------------------------------


class ExecutionFilters(Schema):
    as_of: Date | None = Field(None, description="Date d'arrêté (défaut : aujourd'hui).")
    group_by: list[GroupKey] = Field([], max_length=4, description="Regroupement, dans l'ordre.")
    axis: list[Annotated[int, Field(ge=1, le=99)]] = Field([], max_length=20)
    objective: list[Code] = Field([], max_length=100)
    partner: list[Code] = Field([], max_length=50)
    year: list[Annotated[int, Field(ge=1990, le=2100)]] = Field([], max_length=50)
    departement: list[Code] = Field([], max_length=20)
    epci: list[Code] = Field([], max_length=50)
    territory: list[Code] = Field([], max_length=20)
    marker: list[Code] = Field([], max_length=20)
    status: list[Code] = Field([], max_length=10)
    operation: list[Code] = Field([], max_length=50, description="Numéro(s) d'opération.")
    programme: list[Code] = Field([], max_length=20, description="Programme(s) LOLF (P112…).")
    bop: list[Code] = Field([], max_length=50, description="BOP (code Chorus).")
    budget_nature: list[Literal["ae_cp", "ap_cp", "other"]] = Field([], max_length=3)
    volet: list[Code] = Field([], max_length=10, description="Volet(s) du contrat (code).")


class RatesOut(Schema):
    programming: str | None = Field(description="Programmé / maquette, en %.")
    commitment: str | None = Field(description="Engagé / maquette, en %.")
    payment: str | None = Field(description="Payé / maquette, en %.")
    commitment_of_programmed: str | None = Field(description="Engagé / programmé, en %.")
    payment_of_committed: str | None = Field(description="Payé / engagé, en %.")


class ExecutionRowOut(Schema):
    key: dict[str, str | int | None]
    labels: dict[str, str]
    maquette: Money | None = Field(description="null quand le regroupement n'a pas de maquette.")
    programmed: Money
    committed: Money
    paid: Money
    remaining_to_pay: Money
    remaining_to_program: Money | None
    rates: RatesOut


class ExecutionOut(ListOut):
    as_of: dt.date
    group_by: list[str]
    results: list[ExecutionRowOut]
    total: ExecutionRowOut


def _pct(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def _execution_row(row: aggregation.ExecutionRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "labels": row.labels,
        "maquette": row.maquette,
        "programmed": row.programmed,
        "committed": row.committed,
        "paid": row.paid,
        "remaining_to_pay": row.remaining_to_pay,
        "remaining_to_program": row.remaining_to_program,
        "rates": {
            "programming": _pct(row.programming_rate),
            "commitment": _pct(row.commitment_rate),
            "payment": _pct(row.payment_rate),
            "commitment_of_programmed": _pct(row.commitment_of_programmed),
            "payment_of_committed": _pct(row.payment_of_committed),
        },
    }


@router.get(
    "/contracts/{slug}/execution",
    response=responses(200, ExecutionOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Exécution : maquette, programmé, engagé, payé à une date, regroupés et filtrés",
)
def execution(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[ExecutionFilters] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    group_by = list(dict.fromkeys(q.group_by))
    filters = {
        k: v for k, v in q.model_dump(exclude={"as_of", "group_by"}).items() if v not in (None, [])
    }
    if ("operation" in group_by or "operation" in filters) and not sees_unpublished(request.user):
        # Rows per operation would name operations that are not published.
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(
            "Le détail par opération est réservé aux rôles authentifiés qui voient toutes les "
            "opérations."
        )
    try:
        result = aggregation.execution(
            contract=contract,
            as_of=q.as_of,
            group_by=group_by,
            filters=filters,
            viewer=request.user,  # the public's figures leave out unpublished operations
        )
    except aggregation.ExecutionQueryError as exc:
        raise ApiError(400, "parametre_invalide", str(exc).capitalize() + ".") from exc
    return {
        "count": len(result.rows),
        "as_of": result.as_of,
        "group_by": list(result.group_by),
        "results": [_execution_row(r) for r in result.rows],
        "total": _execution_row(result.total),
    }


# --- issue 12: the State's budget chain (execution by programme, AE mises en place) ---------

ProgrammeKey = Literal["programme", "bop", "year"]


class ProgrammeFilters(Schema):
    as_of: Date | None = Field(None, description="Date d'arrêté (défaut : aujourd'hui).")
    group_by: list[ProgrammeKey] = Field(
        ["programme"],
        max_length=3,
        description="Regroupement : toujours par programme, et au choix par bop et year "
        "(« programme » est ajouté s'il manque).",
    )


class ProgrammeRowOut(Schema):
    key: dict[str, str | int | None]
    labels: dict[str, str]
    contractualised: Money | None = Field(
        description="Maquette de l'État pour le programme ; null par BOP (la maquette n'a pas "
        "de BOP)."
    )
    ae_delegated: Money = Field(description="AE mises en place (nettes des retraits).")
    ae_committed: Money = Field(description="AE engagées (engagements juridiques nets).")
    cp_paid: Money = Field(description="CP payés (nets des annulations).")
    ae_commitment_rate: str | None = Field(description="AE engagées / mises en place, en %.")
    cp_payment_rate: str | None = Field(description="CP payés / AE engagées, en %.")


class ProgrammeExecutionOut(ListOut):
    as_of: dt.date
    group_by: list[str]
    results: list[ProgrammeRowOut]
    total: ProgrammeRowOut


def _programme_row(row: aggregation.ProgrammeRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "labels": row.labels,
        "contractualised": row.contractualised,
        "ae_delegated": row.ae_delegated,
        "ae_committed": row.ae_committed,
        "cp_paid": row.cp_paid,
        "ae_commitment_rate": _pct(row.ae_commitment_rate),
        "cp_payment_rate": _pct(row.cp_payment_rate),
    }


@router.get(
    "/contracts/{slug}/execution/programmes",
    response=responses(200, ProgrammeExecutionOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Exécution de l'État par programme LOLF : contractualisé, AE mises en place, AE "
    "engagées, CP payés",
)
def programme_execution(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[ProgrammeFilters] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    # The table is a programme table: the programme leads whatever the caller listed.
    group_by = list(dict.fromkeys(["programme", *(q.group_by or [])]))
    try:
        table = aggregation.programme_execution(
            contract=contract, as_of=q.as_of, group_by=group_by, viewer=request.user
        )
    except aggregation.ExecutionQueryError as exc:
        raise ApiError(400, "parametre_invalide", str(exc).capitalize() + ".") from exc
    return {
        "count": len(table.rows),
        "as_of": table.as_of,
        "group_by": list(table.group_by),
        "results": [_programme_row(r) for r in table.rows],
        "total": _programme_row(table.total),
    }


class AeOut(Schema):
    id: int
    programme: str
    bop: str | None
    year: int
    kind: str
    amount: Money
    date: dt.date
    reference: str
    note: str
    provenance: str
    recorded_at: dt.datetime


class AeListOut(ListOut):
    results: list[AeOut]


class AeIn(In):
    programme: Code = Field(description="Programme LOLF (P112…).")
    bop: Code | None = Field(None, description="BOP (code Chorus).")
    year: int = Field(ge=1990, le=2100, description="Exercice.")
    kind: Literal["delegation", "withdrawal"] = Field(
        "delegation", description="delegation (mise en place) ou withdrawal (retrait)."
    )
    amount: MoneyIn = Field(description="Montant positif ; la nature donne le sens.")
    date: Date
    reference: Text = Field(..., min_length=1, max_length=60)
    note: Text = Field("", max_length=300, description="Motif (obligatoire pour un retrait).")


def _ae(r: AeMiseEnPlace) -> dict[str, Any]:
    return {
        "id": r.pk,
        "programme": r.programme.code,
        "bop": r.bop,
        "year": r.year,
        "kind": r.kind,
        "amount": r.amount,
        "date": r.date,
        "reference": r.reference,
        "note": r.note,
        "provenance": r.provenance,
        "recorded_at": r.recorded_at,
    }


@router.get(
    "/contracts/{slug}/ae-mises-en-place",
    response=responses(200, AeListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="AE mises en place de l'État (par programme, BOP et exercice), les plus récentes "
    "d'abord",
)
def ae_list(request: HttpRequest, slug: str = SlugPath) -> Any:
    rows = ae_mises_en_place(contract=contract_of(slug))
    return {"count": len(rows), "results": [_ae(r) for r in rows]}


@router.post(
    "/contracts/{slug}/ae-mises-en-place",
    response=responses(201, AeOut),
    auth=WRITE_AUTH,
    summary="Enregistrer une mise en place (ou un retrait) d'AE de l'État",
)
def ae_create(request: HttpRequest, body: AeIn, slug: str = SlugPath) -> Any:
    made = ae_mise_en_place_record(
        actor=actor_of(request),
        contract=contract_of(slug),
        draft=AeDraft(
            programme=body.programme,
            bop=body.bop,
            year=body.year,
            kind=AeKind(body.kind),
            amount=body.amount,
            date=body.date,
            reference=body.reference,
            note=body.note,
        ),
    )
    return 201, dump(AeOut, _ae(made))
