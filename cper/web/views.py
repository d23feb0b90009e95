"""Web pages: thin views over selectors and the aggregation service.

Every amount on these pages comes from `cper.finance.aggregation` (execution, execution_series,
pace) called once per figure; each table is exported from the very object the page renders
(`?export=<table>&format=csv|xlsx`), so a page, its exports and the CLI agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse

from cper import money
from cper.accounts.permissions import sees_unpublished
from cper.contracts import selectors
from cper.contracts.models import Axis, Contract, Marker, Objective, Partner
from cper.finance import aggregation
from cper.io.exports import header_block
from cper.io.writers import MONEY, NUMBER
from cper.operations.models import Operation
from cper.territories.models import Commune, Departement, Epci, ProjectTerritory
from cper.web import alerts as alerts_mod
from cper.web import maps
from cper.web.charts import hbar
from cper.web.figures import Chart, breakdown, row_label, series_chart
from cper.web.tables import Column, Table, execution_table, export_response

# The dashboard's filters: GET parameters named as the aggregation service's (and the
# operations list's) filter keys, with codes as values, so a filtered URL reads the same
# everywhere: ?axis=2&partner=dep-59&departement=59&territory=bassin-minier&marker=….
DASHBOARD_FILTERS = ("axis", "partner", "departement", "territory", "marker")


def _maybe_reverse(name: str, **kwargs: Any) -> str | None:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def home(request: HttpRequest) -> HttpResponse:
    contracts = selectors.contract_list()
    if len(contracts) == 1:
        return redirect("web:dashboard", slug=contracts[0].slug)
    return render(request, "web/home.html", {"contracts": contracts, "title": "Contrats"})


def contract_detail(request: HttpRequest, slug: str) -> HttpResponse:
    contract = selectors.contract_get(slug=slug)
    overview = selectors.contract_overview(contract=contract)
    return render(
        request,
        "web/contract_detail.html",
        {
            "contract": contract,
            "overview": overview,
            "title": contract.title,
            "shares_chart": hbar([(f"Axe {a.number}", a.stated_share) for a in overview.axes]),
            "breadcrumb_data": {
                "links": [{"url": "/", "title": "Accueil"}],
                "current": contract.title,
            },
        },
    )


# -- shared pieces -------------------------------------------------------------------------------


def _as_of(request: HttpRequest) -> tuple[dt.date, str]:
    """The observation date from `?date=AAAA-MM-JJ` (today by default) and an error, if any."""
    raw = request.GET.get("date", "").strip()
    today = dt.date.today()
    if not raw:
        return today, ""
    try:
        return dt.date.fromisoformat(raw), ""
    except ValueError:
        return today, f"« {raw} » n'est pas une date (AAAA-MM-JJ) : date du jour retenue."


@dataclass
class Page:
    """What every figures page carries: the contract, the date, the filters and its tables."""

    request: HttpRequest
    contract: Contract
    as_of: dt.date
    date_error: str
    filters: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)

    @cached_property
    def links(self) -> dict[str, Callable[[Any], str | None]]:
        return _links(self.contract)

    def visible_operations(self, rows: list[Any]) -> list[Any]:
        """Operation rows this visitor may see: the public sees published operations only
        (amounts and totals stay those of the service, over every operation)."""
        linker: _OperationLinks = self.links["operation"]  # type: ignore[assignment]
        linker.prime(r.key.get("operation") for r in rows)
        if sees_unpublished(self.request.user):
            return rows
        return [r for r in rows if linker.published(r)]

    def execution(self, *group_by: str, extra: dict[str, Any] | None = None) -> Any:
        return aggregation.execution(
            contract=self.contract,
            as_of=self.as_of,
            group_by=group_by,
            filters={**self.filters, **(extra or {})},
        )

    def add(self, item: Table | Chart) -> Any:
        self.tables.append(item.table if isinstance(item, Chart) else item)
        return item

    def export(self, name: str) -> HttpResponse | None:
        def meta(table: Table) -> list[tuple[str, str]]:
            return header_block(
                self.contract,
                what=f"{table.caption} (page {self.request.path})",
                filters=self.filters,
                as_of=self.as_of,
            )

        return export_response(self.request, self.tables, filename=name, meta=meta)


def _page(request: HttpRequest, slug: str) -> Page:
    contract = selectors.contract_get(slug=slug)
    as_of, error = _as_of(request)
    return Page(request, contract, as_of, error)


def _crumbs(contract: Contract, *links: tuple[str, str], current: str) -> dict[str, Any]:
    return {
        "links": [
            {"url": reverse("web:dashboard", args=[contract.slug]), "title": contract.title},
            *[{"url": u, "title": t} for u, t in links],
        ],
        "current": current,
    }


def _url(name: str, contract: Contract, **kwargs: Any) -> str:
    return reverse(name, kwargs={"slug": contract.slug, **kwargs})


def _links(contract: Contract) -> dict[str, Callable[[Any], str | None]]:
    """How a row of each dimension links to its page."""

    def link(name: str, kwarg: str, dim: str) -> Callable[[Any], str | None]:
        def inner(row: Any) -> str | None:
            value = row.key.get(dim)
            return None if value in (None, "") else _url(name, contract, **{kwarg: value})

        return inner

    return {
        "axis": link("web:axis", "number", "axis"),
        "objective": link("web:objective", "code", "objective"),
        "partner": link("web:partner", "code", "partner"),
        "departement": link("web:departement", "code", "departement"),
        "epci": link("web:epci", "siren", "epci"),
        "territory": link("web:project_territory", "code", "territory"),
        "operation": _OperationLinks(contract),
    }


class _OperationLinks:
    """Rows keyed by operation code → the operation's page. The aggregation keys operations by
    their code: the codes of a table are resolved together (`prime`, one query)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.ops: dict[str, tuple[int, bool]] = {}  # code → (pk, published)

    def prime(self, codes: Iterable[str]) -> None:
        missing = [c for c in codes if c not in self.ops]
        if missing:
            rows = Operation.objects.filter(contract=self.contract, code__in=missing)
            for code, pk, published in rows.values_list("code", "pk", "published"):
                self.ops[code] = (pk, published)

    def published(self, row: Any) -> bool:
        return self.ops.get(row.key.get("operation"), (0, False))[1]

    def __call__(self, row: Any) -> str | None:
        found = self.ops.get(row.key.get("operation"))
        if found is None:
            return None
        return _maybe_reverse("operations:detail", slug=self.contract.slug, pk=found[0])


def operations_list_url(contract: Contract, params: dict[str, Any]) -> str | None:
    """The operations list of the operations app with the page's filters (French names)."""
    url = _maybe_reverse("operations:list", slug=contract.slug)
    if url is None:
        return None
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


TOP_OPERATIONS = 25


def _operations_table(
    page: Page,
    total: Any,
    caption: str = "Opérations",
    *,
    group_by: tuple[str, ...] = ("operation",),
    extra: Sequence[tuple[str, Callable[[Any], Any]]] = (),
) -> Table:
    """The TOP_OPERATIONS largest operations at this level that the visitor may see (chosen
    and counted by the operations selector, by contractualised amount), with their figures
    from the aggregation service at the date; `total` is the service's total of the level, every
    operation included. The whole list is the operations register's (linked)."""
    from cper.operations.selectors import operation_list

    chosen = operation_list(
        contract=page.contract,
        user=page.request.user,
        filters=page.filters,
        order="-amount",
        limit=TOP_OPERATIONS,
    )
    codes = [o.code for o in chosen.items]
    linker: _OperationLinks = page.links["operation"]  # type: ignore[assignment]
    linker.ops.update({o.code: (o.pk, o.published) for o in chosen.items})
    result = page.execution(*group_by, extra={"operation": codes}) if codes else None
    order = {code: i for i, code in enumerate(codes)}
    rows = sorted(result.rows, key=lambda r: order.get(r.key.get("operation"), 0)) if result else []
    note = (
        f"Les {len(codes)} opérations au plus fort montant contractualisé sur {chosen.total}, "
        "avec leurs montants à la date ; la ligne Total porte sur tout le niveau."
        if chosen.total > len(codes)
        else f"{chosen.total} opération{'s' if chosen.total > 1 else ''} ; la ligne Total porte "
        "sur tout le niveau."
    )
    if not sees_unpublished(page.request.user):
        note += " Seules les opérations publiées sont listées ; le total les compte toutes."
    return page.add(
        execution_table(
            "operations",
            caption,
            SimpleNamespace(rows=rows, total=total),
            first="Opération",
            label=lambda r: row_label(r, "operation"),
            link=linker,
            maquette=False,
            note=note,
            extra=extra,
        )
    )


def _kpis(total: Any, *, envelope: Decimal | None = None) -> dict[str, Any]:
    return {"row": total, "envelope": envelope}


def _render(request: HttpRequest, template: str, page: Page, context: dict[str, Any]) -> Any:
    # htmx asks for the same page and keeps its #figures (hx-select): one code path.
    return render(
        request,
        template,
        {
            "contract": page.contract,
            "as_of": page.as_of,
            "date_error": page.date_error,
            "filters": page.filters,
            **context,
        },
    )


# -- dashboard -----------------------------------------------------------------------------------


@dataclass
class FilterField:
    name: str
    label: str
    choices: list[tuple[str, str]]
    value: str
    all_label: str = "Tous"


def _filter_fields(request: HttpRequest, contract: Contract) -> list[FilterField]:
    axes = [
        (str(a.number), f"Axe {a.number} — {a.title}") for a in contract.axes.order_by("number")
    ]
    partners = [(p.code, str(p)) for p in contract.partners.order_by("position", "code")]
    deps = [
        (d.code, f"{d.name} ({d.code})")
        for d in Departement.objects.filter(region_id=contract.region_id).order_by("code")
    ]
    territories = [
        (t.territory.code, t.territory.name)
        for t in contract.territories.select_related("territory").order_by("territory__name")
    ]
    markers = [(m.code, m.label) for m in contract.markers.order_by("code")]
    options = {
        "axis": ("Axe", axes),
        "partner": ("Partenaire", partners),
        "departement": ("Département", deps),
        "territory": ("Territoire de projet", territories),
        "marker": ("Thème transversal", markers),
    }
    fields = []
    for name in DASHBOARD_FILTERS:
        label, choices = options[name]
        value = request.GET.get(name, "")
        if value not in {c for c, _ in choices}:
            value = ""
        fields.append(FilterField(name, label, choices, value))
    return fields


def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page(request, slug)
    contract = page.contract
    fields = _filter_fields(request, contract)
    for f in fields:
        if f.value:
            page.filters[f.name] = int(f.value) if f.name == "axis" else f.value
    links = page.links
    by_axis = page.execution("axis")
    axis_chart = page.add(
        breakdown(
            "par-axe",
            "Exécution par axe",
            by_axis,
            dim="axis",
            first="Axe",
            link=links["axis"],
            short=lambda r: f"Axe {r.key.get('axis')}",
        )
    )
    by_partner = page.execution("partner")
    partner_chart = page.add(
        breakdown(
            "par-partenaire",
            "Exécution par partenaire",
            by_partner,
            dim="partner",
            first="Partenaire",
            link=links["partner"],
        )
    )
    series = page.add(
        series_chart(
            "cumul",
            "Engagements et paiements cumulés, mois par mois",
            aggregation.execution_series(
                contract=contract, as_of=page.as_of, filters=page.filters or None
            ),
            page.as_of,
        )
    )
    alerts = alerts_mod.dashboard_alerts(page, by_partner=by_partner)
    for a in alerts:
        page.add(a.table)
    if response := page.export("tableau-de-bord"):
        return response
    active = {f.name: f.value for f in fields if f.value}
    return _render(
        request,
        "web/dashboard.html",
        page,
        {
            "title": f"Tableau de bord — {contract.title}",
            "fields": fields,
            "active_filters": active,
            "kpis": _kpis(by_axis.total, envelope=contract.envelope),
            "charts": [axis_chart, partner_chart],
            "series": series,
            "alerts": alerts,
            "operations_url": operations_list_url(contract, page.filters),
            "breadcrumb_data": {
                "links": [{"url": "/", "title": "Accueil"}],
                "current": "Tableau de bord",
            },
        },
    )


# -- axis, objective, partner --------------------------------------------------------------------


def _scope_page(
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
                contract=page.contract, as_of=page.as_of, filters=page.filters
            ),
            page.as_of,
        )
    )
    operations = _operations_table(page, total)
    if response := page.export(export_name):
        return response
    return _render(
        request,
        "web/scope.html",
        page,
        {
            "title": title,
            "kind": kind,
            "intro": intro,
            "kpis": _kpis(total),
            "charts": charts_,
            "series": series,
            "operations": operations,
            "operations_url": operations_list_url(page.contract, page.filters),
            "amendments": amendments,
            "breadcrumb_data": crumbs,
            **(extra or {}),
        },
    )


@dataclass
class AmendmentLine:
    amendment: Any
    change: Decimal | None  # net change of the maquette at this level, from the service


def _amendments(contract: Contract, filters: dict[str, Any], **lookup: Any) -> list[AmendmentLine]:
    """The amendments with at least one maquette line at this level (axis, objective or
    partner), each with its net change of the maquette there — from the maquette's own
    selector, one query for all amendments. With a territorial filter (département, marker…)
    the maquette has no meaning, so the change is not given."""
    from cper.maquette.models import Amendment
    from cper.maquette.selectors import amendment_effects

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


def axis_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    page = _page(request, slug)
    axis = get_object_or_404(Axis, contract=page.contract, number=number)
    page.filters["axis"] = axis.number
    return _scope_page(
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
        crumbs=_crumbs(page.contract, current=f"Axe {axis.number}"),
        export_name=f"axe-{axis.number}",
        amendments=_amendments(page.contract, page.filters, objective__axis=axis),
    )


def objective_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = _page(request, slug)
    objective = get_object_or_404(
        Objective.objects.select_related("axis"), contract=page.contract, code=code
    )
    page.filters["objective"] = objective.code
    axis = objective.axis
    return _scope_page(
        request,
        page,
        title=f"Objectif {objective.code} — {objective.title}",
        kind="Objectif",
        breakdowns=[
            ("partner", "Exécution par partenaire", "Partenaire", None),
            ("year", "Exécution par année de programmation", "Année", None),
        ],
        crumbs=_crumbs(
            page.contract,
            (_url("web:axis", page.contract, number=axis.number), f"Axe {axis.number}"),
            current=f"Objectif {objective.code}",
        ),
        export_name=f"objectif-{objective.code}",
        amendments=_amendments(page.contract, page.filters, objective=objective),
    )


def partner_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = _page(request, slug)
    partner = get_object_or_404(Partner, contract=page.contract, code=code)
    page.filters["partner"] = partner.code
    return _scope_page(
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
        crumbs=_crumbs(page.contract, current=partner.name),
        export_name=f"partenaire-{partner.code}",
        amendments=_amendments(page.contract, page.filters, partner=partner),
    )


# -- territories ---------------------------------------------------------------------------------

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
            (s, amount, pop or None, ratio, _url(link_name, page.contract, **{kw: s.code}))
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


def _territory_table(page: Any, title: str) -> Any:
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


def territories(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page(request, slug)
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
    by_territory = page.add(_territory_table(page, "Exécution par territoire de projet"))
    if response := page.export("territoires"):
        return response
    return _render(
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
            "breadcrumb_data": _crumbs(contract, current="Territoires"),
        },
    )


def departement_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = _page(request, slug)
    dep = get_object_or_404(Departement, code=code, region_id=page.contract.region_id)
    page.filters["departement"] = dep.code
    return _scope_page(
        request,
        page,
        title=f"{dep.name} ({dep.code})",
        kind="Département",
        breakdowns=[
            ("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}"),
            ("epci", "Exécution par EPCI", "EPCI", None),
        ],
        crumbs=_crumbs(
            page.contract, (_url("web:territories", page.contract), "Territoires"), current=dep.name
        ),
        export_name=f"departement-{dep.code}",
    )


def epci_detail(request: HttpRequest, slug: str, siren: str) -> HttpResponse:
    page = _page(request, slug)
    epci = get_object_or_404(Epci, siren=siren)
    page.filters["epci"] = epci.siren
    return _scope_page(
        request,
        page,
        title=epci.name,
        kind="EPCI",
        intro=f"SIREN {epci.siren} — {epci.population:,} habitants".replace(",", "\u202f"),
        breakdowns=[("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}")],
        crumbs=_crumbs(
            page.contract,
            (_url("web:territories", page.contract) + "?niveau=epci", "Territoires"),
            current=epci.name,
        ),
        export_name=f"epci-{epci.siren}",
    )


def project_territory_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    page = _page(request, slug)
    territory = get_object_or_404(
        ProjectTerritory.objects.prefetch_related("epcis"),
        code=code,
        contracts__contract=page.contract,
    )
    page.filters["territory"] = territory.code
    return _scope_page(
        request,
        page,
        title=territory.name,
        kind="Territoire de projet",
        intro=territory.description or territory.source,
        breakdowns=[
            ("axis", "Exécution par axe", "Axe", lambda r: f"Axe {r.key.get('axis')}"),
            ("epci", "Exécution par EPCI", "EPCI", None),
        ],
        crumbs=_crumbs(
            page.contract,
            (_url("web:territories", page.contract), "Territoires"),
            current=territory.name,
        ),
        export_name=f"territoire-{territory.code}",
        extra={"perimeter": list(territory.epcis.all())},
    )


# -- focus: employment, training and career guidance ---------------------------------------------

FOCUS_MARKER = "emploi-formation-orientation"


def focus(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page(request, slug)
    contract = page.contract
    marker = (
        Marker.objects.filter(contract=contract, code=request.GET.get("marker", FOCUS_MARKER))
        .prefetch_related("objectives", "contributions__axis", "contributions__territories")
        .first()
    )
    if marker is None:
        raise Http404("thème transversal inconnu")
    page.filters["marker"] = marker.code
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
    by_territory = page.add(_territory_table(page, "Par territoire de projet"))
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
    operations = _operations_table(
        page,
        by_axis.total,
        "Opérations portant le thème",
        group_by=("operation", "departement"),
        extra=[("Département", lambda r: row_label(r, "departement"))],
    )
    if response := page.export("emploi-formation-orientation"):
        return response
    return _render(
        request,
        "web/focus.html",
        page,
        {
            "title": marker.label,
            "marker": marker,
            "kpis": _kpis(by_axis.total),
            "axis_chart": axis_chart,
            "contributions": contributions,
            "objectives": list(marker.objectives.all()),
            "by_territory": by_territory,
            "by_dep": by_dep,
            "operations": operations,
            "operations_url": operations_list_url(contract, page.filters),
            "breadcrumb_data": _crumbs(contract, current="Emploi, formation et orientation"),
        },
    )
