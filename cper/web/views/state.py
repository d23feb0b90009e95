"""« L'État et ses opérateurs » (issue 12, item 4): per axis or objective, the State's
contractualised (and valorised) amounts beside its operators' co-financing — ADEME, agences de
l'eau, AFITF, VNF… — each in its own column, never added to the State's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cper.contracts import selectors as contract_selectors
from cper.operations.selectors import STATE_OPERATORS_BY, state_and_operators
from cper.params import BadParameter, guard_input
from cper.web.views.page import breadcrumb

TITLE = "L'État et ses opérateurs"


@guard_input
def state_operators(request: HttpRequest, slug: str) -> HttpResponse:
    contract = contract_selectors.contract_get(slug=slug)
    by = request.GET.get("par", "axis") or "axis"
    if by not in STATE_OPERATORS_BY:
        raise BadParameter("par", f"« {by} » : regroupement inconnu (axis, objective)")
    scope = request.GET.get("perimetre", "programme") or "programme"
    if scope not in ("programme", "tout"):
        raise BadParameter("perimetre", f"« {scope} » : périmètre inconnu (programme, tout)")
    view = state_and_operators(
        contract=contract, user=request.user, by=by, programmed_only=scope == "programme"
    )
    return render(
        request,
        "web/state_operators.html",
        {
            "contract": contract,
            "title": TITLE,
            "view": view,
            "rows": [
                {"row": r, "operators": [r.operators.get(o) for o in view.operators]}
                for r in view.rows
            ],
            "total_operators": [view.total.operators.get(o) for o in view.operators],
            "by": by,
            "scope": scope,
            "breadcrumb_data": breadcrumb(contract, current=TITLE),
        },
    )
