"""The focus page of a cross-cutting theme (employment, training and career guidance by
default): its execution by axis, project territory and département, and its operations."""

from __future__ import annotations

from typing import Any

from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from cper.contracts.models import Marker
from cper.params import guard_input
from cper.web.figcache import cached_figures, figures_key
from cper.web.figures import breakdown, row_label
from cper.web.tables import execution_table
from cper.web.views.page import (
    Page,
    breadcrumb,
    figures_page,
    kpis,
    operations_list_url,
    operations_table,
    render_page,
)
from cper.web.views.territories import territory_table

FOCUS_MARKER = "emploi-formation-orientation"


@guard_input
def focus(request: HttpRequest, slug: str) -> HttpResponse:
    page = figures_page(request, slug)
    contract = page.contract
    marker = Marker.objects.filter(
        contract=contract, code=request.GET.get("marker", FOCUS_MARKER)
    ).first()
    if marker is None:
        raise Http404("thème transversal inconnu")
    page.filters["marker"] = marker.code
    key = figures_key(request, "focus")
    if key is None:  # an export, or the cache off: the figures of this request
        context = _context(page, marker)
        if response := page.export("emploi-formation-orientation"):
            return response
        content = mark_safe(render_to_string(CONTENT, context, request=request))
    else:
        content = cached_figures(
            key, lambda: render_to_string(CONTENT, _context(page, marker), request=request)
        )
    return render_page(
        request,
        "web/focus.html",
        page,
        {
            "title": marker.label,
            "content": content,
            "breadcrumb_data": breadcrumb(
                page.contract, current="Emploi, formation et orientation"
            ),
        },
    )


# The page's content: what `figcache` keeps between requests (as the dashboard's).
CONTENT = "web/parts/focus_content.html"


def _context(page: Page, marker: Marker) -> dict[str, Any]:
    contract = page.contract
    prefetch_related_objects(
        [marker], "objectives", "contributions__axis", "contributions__territories"
    )
    links = page.links
    by_axis = page.execution("axis")
    rows_by_axis = {r.key.get("axis"): r for r in by_axis.rows}
    axis_chart = page.add(
        breakdown(
            "par-axe",
            f"{marker.label} : exécution par axe",
            by_axis,
            dim="axis",
            first="Axe",
            link=links["axis"],
            short=lambda r: f"Axe {r.key.get('axis')}",
        )
    )
    contributions = [
        {"c": c, "row": rows_by_axis.get(c.axis.number)} for c in marker.contributions.all()
    ]
    by_territory = page.add(territory_table(page, "Par territoire de projet"))
    by_dep = page.add(
        execution_table(
            "par-departement",
            "Par département",
            page.execution("departement"),
            first="Département",
            label=lambda r: row_label(r, "departement"),
            link=links["departement"],
            maquette=False,
        )
    )
    operations = operations_table(
        page,
        by_axis.total,
        "Opérations portant le thème",
        group_by=("operation", "departement"),
        extra=[("Département", lambda r: row_label(r, "departement"))],
    )
    return {
        "contract": contract,
        "as_of": page.as_of,
        "date_error": page.date_error,
        "filters": page.filters,
        "marker": marker,
        "kpis": kpis(by_axis.total),
        "axis_chart": axis_chart,
        "contributions": contributions,
        "objectives": list(marker.objectives.all()),
        "by_territory": by_territory,
        "by_dep": by_dep,
        "operations": operations,
        "operations_url": operations_list_url(contract, page.filters),
    }
