"""Indicators: the contract's catalogue, the values recorded per operation (history, the latest
by date counts) and their roll-up; recording a value.

Reads go through `cper.indicators.selectors` (the public sees the values of published
operations only); a value is recorded by `cper.indicators.services.indicator_values_record_many`
(permission `operation.edit`, rules, audit). Quantities are decimal strings (`"1234.5"`).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from cper.api.auth import OPTIONAL_SECURITY, WRITE_AUTH
from cper.api.common import SlugPath, actor_of, contract_of, responses
from cper.api.errors import ApiError
from cper.api.pagination import DEFAULT_LIMIT, keyset_page
from cper.api.schemas import Code, CursorListOut, Date, In, ListOut, Text
from cper.indicators import rules, selectors
from cper.indicators.models import IndicatorValue
from cper.indicators.services import ValueDraft, indicator_values_record_many
from cper.operations.selectors import operation_queryset

router = Router(tags=["Indicateurs"])

QUANTITY_PATTERN = r"^[0-9]{1,14}(\.[0-9]{1,4})?$"


def _quantity_in(value: Any) -> Decimal:
    if not isinstance(value, str) or not re.fullmatch(QUANTITY_PATTERN, value):
        raise ValueError('Quantité attendue sous forme de chaîne décimale, par exemple "1234.5".')
    return Decimal(value)


QuantityOut = Annotated[
    Decimal,
    PlainSerializer(rules.plain, return_type=str),
    WithJsonSchema({"type": "string", "description": "Quantité, chaîne décimale."}),
]
QuantityIn = Annotated[
    Decimal,
    BeforeValidator(_quantity_in),
    WithJsonSchema(
        {"type": "string", "pattern": QUANTITY_PATTERN, "examples": ["1500.5"]},
    ),
]


class IndicatorOut(Schema):
    code: str
    name: str
    kind: str
    kind_label: str
    unit: str
    unit_label: str
    summable: bool
    objectives: list[str]
    baseline_value: QuantityOut | None
    baseline_year: int | None
    target_2027: QuantityOut | None
    provenance: str
    source: str


class IndicatorListOut(ListOut):
    results: list[IndicatorOut]


@router.get(
    "/contracts/{slug}/indicators",
    response=responses(200, IndicatorListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Catalogue des indicateurs de réalisation et de résultat",
)
def indicators(request: HttpRequest, slug: str = SlugPath) -> Any:
    contract = contract_of(slug)
    items = selectors.catalogue(contract=contract)
    return {
        "count": len(items),
        "results": [
            {
                "code": i.code,
                "name": i.name,
                "kind": i.kind,
                "kind_label": i.get_kind_display(),
                "unit": i.unit,
                "unit_label": i.get_unit_display(),
                "summable": rules.summable(i.unit),
                "objectives": sorted(o.code for o in i.objectives.all()),
                "baseline_value": i.baseline_value,
                "baseline_year": i.baseline_year,
                "target_2027": i.target_2027,
                "provenance": i.provenance,
                "source": i.source,
            }
            for i in items
        ],
    }


class RollupRowOut(Schema):
    group: str
    group_label: str
    indicator: str
    unit: str
    aggregation: str
    planned: QuantityOut | None
    achieved: QuantityOut | None
    operations: int


class RollupOut(Schema):
    by: str
    at: dt.date | None
    rows: list[RollupRowOut]


class RollupQuery(Schema):
    by: str = Field("contract", pattern="^(contract|axis|objective|departement|territory)$")
    at: Date | None = Field(None, description="Valeurs connues à cette date (défaut : toutes).")
    indicator: Code | None = None


@router.get(
    "/contracts/{slug}/indicators/rollup",
    response=responses(200, RollupOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Indicateurs agrégés (contrat, axe, objectif, département, territoire de projet)",
)
def rollup(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[RollupQuery] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    result = selectors.indicator_rollup(
        contract=contract, by=q.by, user=request.user, at=q.at, indicator=q.indicator
    )
    return {
        "by": result.by,
        "at": result.at,
        "rows": [
            {
                "group": str(r.group),
                "group_label": r.group_label,
                "indicator": r.indicator.code,
                "unit": r.indicator.unit,
                "aggregation": "sum" if r.summable else "mean_per_operation",
                "planned": r.planned,
                "achieved": r.achieved,
                "operations": r.operations,
            }
            for r in result.rows
        ],
    }


class ValueOut(Schema):
    id: int
    operation: int
    operation_code: str
    indicator: str
    planned: QuantityOut | None
    achieved: QuantityOut | None
    date: dt.date
    source: str
    recorded_at: dt.datetime


class ValueListOut(CursorListOut):
    results: list[ValueOut]


class ValueFilters(Schema):
    operation: list[Annotated[int, Field(ge=1, le=2**53)]] = Field([], max_length=50)
    indicator: list[Code] = Field([], max_length=50)
    cursor: str | None = Field(
        None, min_length=1, max_length=500, description="`next_cursor` de la page lue."
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=500)


def _value(v: IndicatorValue) -> dict[str, Any]:
    return {
        "id": v.pk,
        "operation": v.operation_id,
        "operation_code": v.operation.code,
        "indicator": v.indicator.code,
        "planned": v.planned,
        "achieved": v.achieved,
        "date": v.date,
        "source": v.source,
        "recorded_at": v.recorded_at,
    }


@router.get(
    "/contracts/{slug}/indicator-values",
    response=responses(200, ValueListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Valeurs d'indicateurs par opération, historique compris (ordre : date, id)",
)
def values(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[ValueFilters] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    qs = IndicatorValue.objects.filter(
        operation__in=operation_queryset(contract=contract, user=request.user)
    ).select_related("operation", "indicator")
    if q.operation:
        qs = qs.filter(operation_id__in=q.operation)
    if q.indicator:
        qs = qs.filter(indicator__code__in=q.indicator)
    page = keyset_page(qs, order=("date", "id"), cursor=q.cursor, limit=q.limit)
    return {
        "count": page.count,
        "next_cursor": page.next_cursor,
        "results": [_value(v) for v in page.items],
    }


class ValueIn(In):
    operation: Annotated[int, Field(ge=1, le=2**53)] = Field(description="Opération (id).")
    indicator: Code = Field(description="Code de l'indicateur dans le catalogue.")
    planned: QuantityIn | None = None
    achieved: QuantityIn | None = None
    date: Date
    source: Text = Field("", max_length=300)


@router.post(
    "/contracts/{slug}/indicator-values",
    response=responses(201, ValueOut),
    auth=WRITE_AUTH,
    summary="Enregistrer une valeur d'indicateur pour une opération (l'historique est gardé)",
)
def value_create(request: HttpRequest, body: ValueIn, slug: str = SlugPath) -> Any:
    contract = contract_of(slug)
    if (
        not operation_queryset(contract=contract, user=request.user)
        .filter(pk=body.operation)
        .exists()
    ):
        raise ApiError(422, "inconnu", "Opération inconnue dans ce contrat.", "operation")
    result = indicator_values_record_many(
        actor=actor_of(request),
        contract=contract,
        values=[
            ValueDraft(
                operation=body.operation,
                indicator=body.indicator,
                planned=body.planned,
                achieved=body.achieved,
                date=body.date,
                source=body.source,
            )
        ],
    )
    made = IndicatorValue.objects.select_related("operation", "indicator").get(
        pk=result.values[0].pk
    )
    return 201, _value(made)
