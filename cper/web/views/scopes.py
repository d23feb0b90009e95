"""The pages of one level of the contract (axis, objective, partner) and the figures page
they share with the territorial levels: key figures, breakdowns, the cumulative series, the
operations and the amendments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from cper.contracts import selectors as contract_selectors
from cper.contracts.models import Axis, Contract, Objective, Partner
from cper.finance import aggregation
from cper.finance.vocabulary import ap_labels
from cper.maquette.models import Amendment
from cper.maquette.selectors import amendment_effects
from cper.params import guard_input
from cper.web.figcache import cached_figures, figures_key
from cper.web.figures import breakdown, series_chart
from cper.web.tables import in_words
from cper.web.views.page import (
    Page,
    breadcrumb,
    contract_url,
    figures_page,
    kpis,
    operations_list_url,
    operations_table,
    render_page,
)


def scope_page(
    request: HttpRequest,
    page: Page,
    *,
    title: str,
    kind: str,
    breakdowns: list[tuple[str, str, str, Callable[[Any], str] | None]],
    crumbs: dict[str, Any],
    export_name: str,
    intro: str = "",
    amendments: list[Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """A page of figures at one level (axis, objective, partner, territory): key figures,
    breakdowns (dimension, caption, first column, short label), the cumulative series, the
    operations and the amendments."""
    context = {
        "title": title,
        "kind": kind,
        "intro": intro,
        "amendments": amendments,
        "breadcrumb_data": crumbs,
        **(extra or {}),
    }
    key = figures_key(request, f"scope:{kind}")
    if key is None:  # an export, or the cache off: the figures of this request
        figures_context = _figures(page, breakdowns, extra)
        if response := page.export(export_name):
            return response
        figures = mark_safe(
            render_to_string(FIGURES, {**context, **figures_context}, request=request)
        )
    else:
        figures = cached_figures(
            key,
            lambda: render_to_string(
                FIGURES, {**context, **_figures(page, breakdowns, extra)}, request=request
            ),
        )
    return render_page(request, "web/scope.html", page, {**context, "figures": figures})


# The figures block of a scope page (inside #figures): what `figcache` keeps between requests.
FIGURES = "web/parts/scope_figures.html"


def _figures(
    page: Page,
    breakdowns: list[tuple[str, str, str, Callable[[Any], str] | None]],
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    links = page.links
    charts_ = []
    total = None
    for dim, caption, first, short in breakdowns:
        result = page.execution(dim)
        total = total or result.total
        charts_.append(
            page.add(
                breakdown(
                    f"par-{dim}",
                    caption,
                    result,
                    dim=dim,
                    first=first,
                    link=links.get(dim),
                    short=short,
                )
            )
        )
    series = page.add(
        series_chart(
            "cumul",
            "Engagements et paiements cumulés, mois par mois",
            aggregation.execution_series(
                contract=page.contract,
                as_of=page.as_of,
                filters=page.filters,
                viewer=page.request.user,
            ),
            page.as_of,
        )
    )
    operations = operations_table(page, total)
    words = (extra or {}).get("words")
    if words:  # a partner's page: its own words (AE/CP, AP/CP), on the page and in exports
        for table in page.tables:
            in_words(table, words)
    return {
        "contract": page.contract,
        "as_of": page.as_of,
        "filters": page.filters,
        "kpis": kpis(total),
        "charts": charts_,
        "series": series,
        "operations": operations,
        "operations_url": operations_list_url(page.contract, page.filters),
    }


@dataclass
class AmendmentLine:
    amendment: Any
    change: Decimal | None  # net change of the maquette at this level, from the service


def _amendments(contract: Contract, filters: dict[str, Any], **lookup: Any) -> list[AmendmentLine]:
    """The amendments with at least one maquette line at this level (axis, objective or
    partner), each with its net change of the maquette there — from the maquette's own
    selector, one query for all amendments. With a territorial filter (département, marker…)
    the maquette has no meaning, so the change is not given."""
    touched = (
        Amendment.objects.filter(
            contract=contract, **{f"changes__{k}": v for k, v in lookup.items()}
        )
        .distinct()
        .order_by("number")
    )
    maquette_keys = {"partner", "axis", "objective", "year"}
    effects: dict[int, Decimal] | None = None
    if set(filters) <= maquette_keys:
        effects = amendment_effects(contract=contract, filters=filters)
    return [
        AmendmentLine(a, None if effects is None else effects.get(a.number, Decimal("0")))
        for a in touched
    ]


@guard_input
def axis_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    page = figures_page(request, slug)
    axis = get_object_or_404(Axis, contract=page.contract, number=number)
    page.filters["axis"] = axis.number
    return scope_page(
        request,
        page,
        title=f"Axe {axis.number} — {axis.title}",
        kind="Axe",
        intro=axis.share_note
        or (f"Part des crédits annoncée : {axis.stated_share} %" if axis.stated_share else ""),
        breakdowns=[
            (
                "objective",
                "Exécution par objectif",
                "Objectif",
                lambda r: f"{r.key.get('objective')}",
            ),
            ("partner", "Exécution par partenaire", "Partenaire", None),
        ],
        crumbs=breadcrumb(page.contract, current=f"Axe {axis.number}"),
        export_name=f"axe-{axis.number}",
        amendments=_amendments(page.contract, page.filters, objective__axis=axis),
    )


@guard_input
def objective_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = figures_page(request, slug)
    objective = get_object_or_404(
        Objective.objects.select_related("axis"), contract=page.contract, code=code
    )
    page.filters["objective"] = objective.code
    axis = objective.axis
    return scope_page(
        request,
        page,
        title=f"Objectif {objective.code} — {objective.title}",
        kind="Objectif",
        breakdowns=[
            ("partner", "Exécution par partenaire", "Partenaire", None),
            ("year", "Exécution par année de programmation", "Année", None),
        ],
        crumbs=breadcrumb(
            page.contract,
            (contract_url("web:axis", page.contract, number=axis.number), f"Axe {axis.number}"),
            current=f"Objectif {objective.code}",
        ),
        export_name=f"objectif-{objective.code}",
        amendments=_amendments(page.contract, page.filters, objective=objective),
        extra={"actions": contract_selectors.objective_actions(objective=objective)},
    )


@guard_input
def partner_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = figures_page(request, slug)
    partner = get_object_or_404(Partner, contract=page.contract, code=code)
    page.filters["partner"] = partner.code
    return scope_page(
        request,
        page,
        title=partner.name,
        kind="Partenaire",
        intro=partner.get_kind_display(),
        breakdowns=[
            ("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}"),
            (
                "objective",
                "Exécution par objectif",
                "Objectif",
                lambda r: f"{r.key.get('objective')}",
            ),
        ],
        crumbs=breadcrumb(page.contract, current=partner.name),
        export_name=f"partenaire-{partner.code}",
        amendments=_amendments(page.contract, page.filters, partner=partner),
        # the partner's own words: AE/CP (« AE engagées », « CP payés ») or AP/CP
        extra={"words": ap_labels(partner.budget_nature)},
    )
