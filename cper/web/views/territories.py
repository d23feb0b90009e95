"""The territorial pages: the region's map by département or EPCI, and the pages of a
département, an EPCI and a project territory."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from cper import money
from cper.io.writers import MONEY, NUMBER
from cper.params import guard_input
from cper.territories.models import Commune, Departement, Epci, ProjectTerritory
from cper.web import maps
from cper.web.figures import row_label
from cper.web.tables import Column, Table, execution_table
from cper.web.views.page import (
    FilterField,
    Page,
    breadcrumb,
    contract_url,
    figures_page,
    render_page,
)
from cper.web.views.scopes import scope_page

MEASURE_CHOICES = {"programmed": "programmés", "paid": "payés", "committed": "engagés"}


def _populations(level: str, codes: list[str]) -> dict[str, int]:
    if level == "epci":
        return dict(Epci.objects.filter(siren__in=codes).values_list("siren", "population"))
    return {
        row["departement_id"]: row["total"]
        for row in Commune.objects.filter(departement_id__in=codes)
        .values("departement_id")
        .annotate(total=Sum("population"))
    }


def territory_map(page: Page, level: str, measure: str, per_head: bool) -> dict[str, Any]:
    """A choropleth of the region by département or EPCI, with its legend and table: each
    area's amount is the service's row for it, divided by its population for `per_head`."""
    layer = maps.region_map(page.contract.region_id, level)  # type: ignore[arg-type]
    result = page.execution(level)
    amounts = {str(r.key.get(level)): getattr(r, measure) for r in result.rows}
    populations = _populations(level, [s.code for s in layer.shapes])
    link_name, kw = ("web:epci", "siren") if level == "epci" else ("web:departement", "code")
    areas = []
    for s in layer.shapes:
        amount = amounts.get(s.code, Decimal(0))
        pop = populations.get(s.code) or 0
        ratio = (amount / pop).quantize(Decimal("0.01")) if pop else None
        areas.append(
            (s, amount, pop or None, ratio, contract_url(link_name, page.contract, **{kw: s.code}))
        )
    shown = {s.code: (ratio if per_head else amount) for s, amount, _, ratio, _ in areas}
    classes = maps.class_breaks([v for v in shown.values() if v is not None])
    verb = MEASURE_CHOICES[measure]
    unit_name = "EPCI" if level == "epci" else "département"
    items = [
        {
            "shape": s,
            "fill": maps.colour_for(shown[s.code], classes),
            "label": f"{s.name} : "
            + (
                f"{_map_value(shown[s.code], per_head)} {verb}"
                if shown[s.code]
                else "aucun montant"
            ),
            "url": link,
        }
        for s, _, _, _, link in areas
    ]
    table = page.add(
        Table(
            id=f"carte-{level}",
            caption=f"Montants {verb} par {unit_name}",
            columns=[
                Column(unit_name.capitalize() if level != "epci" else "EPCI"),
                Column("Code"),
                Column(f"Montant {verb[:-1]} (€)", MONEY, 0),
                Column("Population", NUMBER, 0),
                Column("Par habitant (€)", MONEY, 2),
            ],
            rows=[[s.name, s.code, amount, pop, ratio] for s, amount, pop, ratio, _ in areas],
            links=[link for *_, link in areas],
            total=["Total du contrat", "", getattr(result.total, measure), None, None],
            note="Population municipale (COG 2026). Le total du contrat comprend les montants "
            "non localisés ou hors de la région.",
        )
    )
    return {
        "layer": layer,
        "items": items,
        "classes": [
            {
                "colour": c.colour,
                "low": _map_value(c.low, per_head),
                "high": _map_value(c.high, per_head),
            }
            for c in classes
        ],
        "no_data": maps.NO_DATA,
        "unit": "€ par habitant" if per_head else "M€",
        "table": table,
        "level": level,
        "title": f"Montants {verb}{' par habitant' if per_head else ''}, par {unit_name}",
    }


def _map_value(value: Decimal | None, per_head: bool) -> str:
    return money.format_eur(value, 2) if per_head else money.format_meur(value)


def territory_table(page: Any, title: str) -> Any:
    """Execution by project territory: a commune may lie in several, so rows do not add up."""
    return execution_table(
        "par-territoire",
        title,
        page.execution("territory"),
        first="Territoire de projet",
        label=lambda r: row_label(r, "territory"),
        link=page.links["territory"],
        maquette=False,
        note="Une opération peut relever de plusieurs territoires de projet : ces lignes ne "
        "s'additionnent pas.",
    )


@guard_input
def territories(request: HttpRequest, slug: str) -> HttpResponse:
    page = figures_page(request, slug)
    contract = page.contract
    level = request.GET.get("niveau", "departement")
    if level not in ("departement", "epci") or not maps.has_map(contract.region_id, level):  # type: ignore[arg-type]
        level = "departement"
    measure = request.GET.get("mesure", "programmed")
    if measure not in MEASURE_CHOICES:
        measure = "programmed"
    per_head = request.GET.get("rapport") == "habitant"
    levels = [("departement", "Départements")]
    if maps.has_map(contract.region_id, "epci"):
        levels.append(("epci", "EPCI"))
    fields = [
        FilterField("niveau", "Découpage", levels, level, all_label=""),
        FilterField(
            "mesure", "Montants", [(k, v) for k, v in MEASURE_CHOICES.items()], measure, ""
        ),
        FilterField(
            "rapport",
            "Rapporté à",
            [("total", "total"), ("habitant", "par habitant")],
            "habitant" if per_head else "total",
            "",
        ),
    ]
    the_map = territory_map(page, level, measure, per_head)
    by_territory = page.add(territory_table(page, "Exécution par territoire de projet"))
    if response := page.export("territoires"):
        return response
    return render_page(
        request,
        "web/territories.html",
        page,
        {
            "title": f"Territoires — {contract.title}",
            "map": the_map,
            "fields": fields,
            "level": level,
            "measure": measure,
            "per_head": per_head,
            "measures": MEASURE_CHOICES,
            "has_epci_map": maps.has_map(contract.region_id, "epci"),
            "by_territory": by_territory,
            "breadcrumb_data": breadcrumb(contract, current="Territoires"),
        },
    )


@guard_input
def departement_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = figures_page(request, slug)
    dep = get_object_or_404(Departement, code=code, region_id=page.contract.region_id)
    page.filters["departement"] = dep.code
    return scope_page(
        request,
        page,
        title=f"{dep.name} ({dep.code})",
        kind="Département",
        breakdowns=[
            ("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}"),
            ("epci", "Exécution par EPCI", "EPCI", None),
        ],
        crumbs=breadcrumb(
            page.contract,
            (contract_url("web:territories", page.contract), "Territoires"),
            current=dep.name,
        ),
        export_name=f"departement-{dep.code}",
    )


@guard_input
def epci_detail(request: HttpRequest, slug: str, siren: str) -> HttpResponse:
    page = figures_page(request, slug)
    epci = get_object_or_404(Epci, siren=siren)
    page.filters["epci"] = epci.siren
    return scope_page(
        request,
        page,
        title=epci.name,
        kind="EPCI",
        intro=f"SIREN {epci.siren} — {epci.population:,} habitants".replace(",", "\u202f"),
        breakdowns=[("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}")],
        crumbs=breadcrumb(
            page.contract,
            (contract_url("web:territories", page.contract) + "?niveau=epci", "Territoires"),
            current=epci.name,
        ),
        export_name=f"epci-{epci.siren}",
    )


@guard_input
def project_territory_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = figures_page(request, slug)
    territory = get_object_or_404(
        ProjectTerritory.objects.prefetch_related("epcis"),
        code=code,
        contracts__contract=page.contract,
    )
    page.filters["territory"] = territory.code
    return scope_page(
        request,
        page,
        title=territory.name,
        kind="Territoire de projet",
        intro=territory.description or territory.source,
        breakdowns=[
            ("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}"),
            ("epci", "Exécution par EPCI", "EPCI", None),
        ],
        crumbs=breadcrumb(
            page.contract,
            (contract_url("web:territories", page.contract), "Territoires"),
            current=territory.name,
        ),
        export_name=f"territoire-{territory.code}",
        extra={"perimeter": list(territory.epcis.all())},
    )
