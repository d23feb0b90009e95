"""The financial maquette at a date or version, differences between two points, amendments.

Every figure comes from `cper.maquette.selectors` (`maquette_amounts` is THE computation): the
API neither sums nor subtracts money itself.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from cper.api.auth import OPTIONAL_SECURITY
from cper.api.common import SlugPath, contract_of, responses
from cper.api.errors import ApiError, not_found
from cper.api.schemas import Code, Date, ListOut, Money
from cper.maquette.models import Amendment
from cper.maquette.selectors import (
    GROUP_KEYS,
    DiffLine,
    MaquetteDiff,
    MaquetteQueryError,
    amendment_detail,
    amendment_list,
    envelope_in_force,
    maquette_amounts,
    maquette_diff,
    parse_point,
    version_at,
)

router = Router(tags=["Maquette"])

if TYPE_CHECKING:
    GroupKey: TypeAlias = str
else:  # the maquette's grouping keys, as an enumeration of the OpenAPI document
    GroupKey = Literal[GROUP_KEYS]
POINT_PATTERN = r"^([vV]?[0-9]{1,4}|[0-9]{4}-[0-9]{2}-[0-9]{2})$"
MAX_VERSION = 9999


class MaquetteFilters(Schema):
    as_of: Date | None = Field(
        None, description="Maquette en vigueur à cette date (défaut : aujourd'hui)."
    )
    version: int | None = Field(
        None, ge=0, le=MAX_VERSION, description="Ou : version n (contrat initial + avenants ≤ n)."
    )
    group_by: list[GroupKey] = Field(
        ["partner", "objective"],
        description="Regroupement, dans l'ordre : partner, axis, objective, year.",
        max_length=4,
    )
    partner: list[Code] = Field([], description="Filtre : code(s) de partenaire.", max_length=50)
    axis: list[Annotated[int, Field(ge=1, le=99)]] = Field(
        [], description="Filtre : numéro(s) d'axe.", max_length=50
    )
    objective: list[Code] = Field([], description="Filtre : code(s) d'objectif.", max_length=200)
    year: list[Annotated[int, Field(ge=1990, le=2100)]] = Field(
        [], description="Filtre : année(s).", max_length=50
    )


class MaquetteKey(Schema):
    partner: str | None = None
    axis: int | None = None
    objective: str | None = None
    year: int | None = None


class MaquetteRow(Schema):
    key: MaquetteKey = Field(description="Valeurs des regroupements (null hors regroupement).")
    amount: Money


class MaquetteOut(ListOut):
    as_of: dt.date | None
    version: int | None
    version_in_force: int = Field(description="Numéro du dernier avenant compté (0 : initial).")
    group_by: list[GroupKey]
    envelope: Money = Field(description="Enveloppe en vigueur (initiale + avenants comptés).")
    total: Money
    results: list[MaquetteRow]


def _query_error(exc: MaquetteQueryError, field: str | None = None) -> ApiError:
    """A well-formed request the maquette cannot answer (a date that does not exist…)."""
    return ApiError(422, "parametre_invalide", str(exc).capitalize() + ".", field)


@router.get(
    "/contracts/{slug}/maquette",
    response=responses(200, MaquetteOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Maquette financière en vigueur (à une date ou une version), regroupée",
)
def maquette(request: HttpRequest, slug: str = SlugPath, q: Query[MaquetteFilters] = None) -> Any:  # type: ignore[assignment]
    contract = contract_of(slug)
    if q.as_of is not None and q.version is not None:
        raise ApiError(
            422, "parametre_invalide", "Une date (as_of) ou une version, pas les deux.", "version"
        )
    group_by = list(dict.fromkeys(q.group_by))
    filters = {
        name: values
        for name, values in (
            ("partner", q.partner),
            ("axis", q.axis),
            ("objective", q.objective),
            ("year", q.year),
        )
        if values
    }
    point: dict[str, Any] = {"as_of": q.as_of, "version": q.version}
    try:
        amounts = maquette_amounts(contract=contract, group_by=group_by, filters=filters, **point)
        total = maquette_amounts(contract=contract, group_by=(), filters=filters, **point)[()]
        envelope = envelope_in_force(contract=contract, **point)
    except MaquetteQueryError as exc:
        raise _query_error(exc) from exc
    in_force = q.version if q.version is not None else version_at(contract=contract, as_of=q.as_of)
    return {
        "count": len(amounts),
        "as_of": q.as_of,
        "version": q.version,
        "version_in_force": in_force,
        "group_by": group_by,
        "envelope": envelope,
        "total": total,
        "results": [
            {"key": dict(zip(group_by, key, strict=True)), "amount": amount}
            for key, amount in amounts.items()
        ],
    }


class DiffLineOut(Schema):
    partner: str | None
    partner_name: str | None
    axis: int | None
    objective: str | None
    objective_title: str | None
    year: int | None
    before: Money
    after: Money
    delta: Money
    amendments: list[int] = Field(description="Avenants à l'origine de l'écart.")


class DiffAmendmentOut(Schema):
    number: int
    title: str
    effective_on: dt.date
    applied: bool = Field(description="true : appliqué de from à to ; false : défait.")


class MaquetteDiffOut(Schema):
    from_label: str
    to_label: str
    amendments: list[DiffAmendmentOut]
    cells: list[DiffLineOut] = Field(description="Écarts par partenaire × objectif × année.")
    by_partner_axis: list[DiffLineOut]
    by_partner: list[DiffLineOut]
    by_axis: list[DiffLineOut]
    total_before: Money
    total_after: Money
    total_delta: Money


def _diff_line(line: DiffLine) -> dict[str, Any]:
    return {
        "partner": line.partner or None,
        "partner_name": line.partner_name or None,
        "axis": line.axis,
        "objective": line.objective,
        "objective_title": line.objective_title or None,
        "year": line.year,
        "before": line.before,
        "after": line.after,
        "delta": line.delta,
        "amendments": line.amendments,
    }


def _diff(diff: MaquetteDiff) -> dict[str, Any]:
    return {
        "from_label": diff.from_label,
        "to_label": diff.to_label,
        "amendments": [
            {
                "number": a.number,
                "title": a.title,
                "effective_on": a.effective_on,
                "applied": sign > 0,
            }
            for a, sign in diff.amendments
        ],
        "cells": [_diff_line(d) for d in diff.cells],
        "by_partner_axis": [_diff_line(d) for d in diff.by_partner_axis],
        "by_partner": [_diff_line(d) for d in diff.by_partner],
        "by_axis": [_diff_line(d) for d in diff.by_axis],
        "total_before": diff.total_before,
        "total_after": diff.total_after,
        "total_delta": diff.total_delta,
    }


class DiffQuery(Schema):
    from_: str = Field(
        ...,
        alias="from",
        pattern=POINT_PATTERN,
        description="Point de départ : version (2, v2) ou date AAAA-MM-JJ.",
    )
    to: str = Field(
        ..., pattern=POINT_PATTERN, description="Point d'arrivée : version ou date AAAA-MM-JJ."
    )


@router.get(
    "/contracts/{slug}/maquette/diff",
    response=responses(200, MaquetteDiffOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Écarts de maquette entre deux versions ou deux dates",
)
def maquette_difference(
    request: HttpRequest,
    slug: str = SlugPath,
    q: Query[DiffQuery] = None,  # type: ignore[assignment]
) -> Any:
    contract = contract_of(slug)
    points = []
    for name, text in (("from", q.from_), ("to", q.to)):
        try:
            points.append(parse_point(text))
        except MaquetteQueryError as exc:
            raise _query_error(exc, name) from exc
    return _diff(maquette_diff(contract=contract, from_=points[0], to=points[1]))


class AmendmentOut(Schema):
    number: int
    title: str
    kind: str
    adopted_on: dt.date | None
    signed_on: dt.date | None
    effective_on: dt.date
    decision_ref: str
    rationale: str
    provenance: str
    source: str
    total: Money = Field(description="Variation nette de la maquette.")
    added: Money
    removed: Money
    lines: int = Field(description="Nombre de lignes de modification.")


class AmendmentListOut(ListOut):
    results: list[AmendmentOut]


def _amendment(a: Amendment) -> dict[str, Any]:
    return {
        "number": a.number,
        "title": a.title,
        "kind": a.kind,
        "adopted_on": a.adopted_on,
        "signed_on": a.signed_on,
        "effective_on": a.effective_on,
        "decision_ref": a.decision_ref,
        "rationale": a.rationale,
        "provenance": a.provenance,
        "source": a.source,
    }


@router.get(
    "/contracts/{slug}/amendments",
    response=responses(200, AmendmentListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Avenants, avec leur variation de maquette",
)
def amendments(request: HttpRequest, slug: str = SlugPath) -> Any:
    rows = amendment_list(contract=contract_of(slug))
    return {
        "count": len(rows),
        "results": [
            {
                **_amendment(s.amendment),
                "total": s.total,
                "added": s.added,
                "removed": s.removed,
                "lines": s.lines,
            }
            for s in rows
        ],
    }


class AmendmentLineOut(Schema):
    partner: str
    objective: str
    year: int | None
    amount: Money
    budget_nature: str
    programme: str | None
    note: str


class AmendmentDetailOut(Schema):
    amendment: AmendmentOut
    changes: list[AmendmentLineOut]
    envelope_before: Money
    envelope_after: Money
    diff: MaquetteDiffOut


@router.get(
    "/contracts/{slug}/amendments/{number}",
    response=responses(200, AmendmentDetailOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Un avenant : ses lignes et ce qu'il change",
)
def amendment(
    request: HttpRequest,
    slug: str = SlugPath,
    number: int = Path(..., ge=1, le=MAX_VERSION, description="Numéro de l'avenant."),
) -> Any:
    contract = contract_of(slug)
    try:
        detail = amendment_detail(contract=contract, number=number)
    except Amendment.DoesNotExist:
        raise not_found(f"Avenant n°{number} introuvable.") from None
    summary = next(s for s in amendment_list(contract=contract) if s.amendment.number == number)
    return {
        "amendment": {
            **_amendment(detail.amendment),
            "total": summary.total,
            "added": summary.added,
            "removed": summary.removed,
            "lines": summary.lines,
        },
        "changes": [
            {
                "partner": line.partner.code,
                "objective": line.objective.code,
                "year": line.year,
                "amount": line.amount,
                "budget_nature": line.budget_nature,
                "programme": line.programme.code if line.programme else None,
                "note": line.note,
            }
            for line in detail.lines
        ],
        "envelope_before": detail.envelope_before,
        "envelope_after": detail.envelope_after,
        "diff": _diff(detail.diff),
    }
