"""Closings (arrêtés): the list of a contract's closings and one closing's frozen figures.

The figures are those stored by the closing (`cper.closings.figures`), never recomputed: the
same, to the cent, as `cper closing show` and the bilan d'exécution. Closings count unpublished
operations: only the roles that see them may read closings (`sees_unpublished`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from cper.accounts.permissions import sees_unpublished
from cper.api.auth import OPTIONAL_SECURITY
from cper.api.common import SlugPath, contract_of, responses
from cper.api.errors import ApiError, not_found
from cper.api.schemas import Date, ListOut, Money, Text
from cper.closings import figures as F
from cper.closings import selectors
from cper.closings.models import Closing

router = Router(tags=["Arrêtés"])


class ClosingOut(Schema):
    id: int
    at: dt.date = Field(description="Date de la situation arrêtée.")
    label: str
    created_at: dt.datetime
    created_by: str | None
    digest: str = Field(description="SHA-256 du JSON canonique des chiffres arrêtés.")
    programmed: Money
    committed: Money
    paid: Money


class ClosingListOut(ListOut):
    results: list[ClosingOut]


class FigureOut(Schema):
    key: dict[str, Any] = Field(description="Valeurs des regroupements (codes, numéros).")
    label: str
    maquette: Money | None = Field(description="null quand le regroupement n'a pas de maquette.")
    programmed: Money
    committed: Money
    paid: Money


class GroupingOut(Schema):
    name: str = Field(description="Nom du regroupement (axis, partner, axis,partner…).")
    label: str
    rows: list[FigureOut]
    total: FigureOut | None


class ClosingFiguresOut(ClosingOut):
    digest_ok: bool = Field(description="Les chiffres redonnent-ils l'empreinte enregistrée ?")
    groupings: list[GroupingOut]


# A grouping's name: "axis", "axis,partner", "operation@year"…
GroupingName = Annotated[str, Field(pattern=r"^[a-z_,@]{1,60}$")]


class FiguresQuery(Schema):
    label: Text | None = Field(None, max_length=120, description="Libellé de l'arrêté.")
    grouping: list[GroupingName] = Field(
        [], max_length=20, description="Regroupements voulus (défaut : tous)."
    )


def _require_read(request: HttpRequest) -> None:
    if not sees_unpublished(request.user):
        raise PermissionDenied(
            "Les situations arrêtées sont réservées aux rôles authentifiés du contrat."
        )


def _closing(c: Closing) -> dict[str, Any]:
    total = F.total_of(c.figures)
    zero = Decimal("0.00")
    return {
        "id": c.pk,
        "at": c.at,
        "label": c.label,
        "created_at": c.created_at,
        "created_by": str(c.created_by) if c.created_by else None,
        "digest": c.digest,
        "programmed": total.programmed if total else zero,
        "committed": total.committed if total else zero,
        "paid": total.paid if total else zero,
    }


def _figure(r: F.FigureRow) -> dict[str, Any]:
    return {
        "key": r.key,
        "label": r.label,
        "maquette": r.maquette,
        "programmed": r.programmed,
        "committed": r.committed,
        "paid": r.paid,
    }


@router.get(
    "/contracts/{slug}/closings",
    response=responses(200, ClosingListOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Situations arrêtées d'un contrat (rôles authentifiés)",
)
def closings(request: HttpRequest, slug: str = SlugPath) -> Any:
    contract = contract_of(slug)
    _require_read(request)
    items = selectors.closing_list(contract=contract)
    return {"count": len(items), "results": [_closing(c) for c in items]}


@router.get(
    "/contracts/{slug}/closings/{at}",
    response=responses(200, ClosingFiguresOut),
    openapi_extra=OPTIONAL_SECURITY,
    summary="Les chiffres d'une situation arrêtée",
)
def closing_figures(
    request: HttpRequest,
    slug: str = SlugPath,
    at: Date = Path(..., description="Date de l'arrêté (AAAA-MM-JJ)."),  # noqa: B008
    query: FiguresQuery = Query(...),  # noqa: B008
) -> Any:
    contract = contract_of(slug)
    _require_read(request)
    try:
        closing = selectors.closing_get(contract=contract, at=at, label=query.label)
    except Closing.DoesNotExist as exc:
        raise not_found(str(exc) or "Arrêté introuvable.") from None
    known = closing.figures.get("groupings", {})
    unknown = [g for g in query.grouping if g not in known]
    if unknown:
        raise ApiError(
            400, "regroupement_inconnu", f"Regroupement inconnu : {', '.join(unknown)}", "grouping"
        )
    names = query.grouping or list(known)
    return {
        **_closing(closing),
        "digest_ok": selectors.digest_ok(closing),
        "groupings": [
            {
                "name": name,
                "label": F.GROUPING_LABELS.get(name, name),
                "rows": [_figure(r) for r in F.rows_of(closing.figures, name)],
                "total": (
                    _figure(t) if (t := F.total_of(closing.figures, name)) is not None else None
                ),
            }
            for name in names
        ],
    }
