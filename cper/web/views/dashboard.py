"""The entry pages: home (the contracts), the contract, and the dashboard with its filters,
charts and alerts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from cper.accounts.permissions import Role, role_of
from cper.contracts import selectors
from cper.contracts.models import Contract
from cper.finance import aggregation
from cper.money import format_eur
from cper.params import guard_input
from cper.territories.models import Departement
from cper.web import alerts as alerts_mod
from cper.web.charts import hbar
from cper.web.figcache import cached_figures, figures_key
from cper.web.figures import breakdown, series_chart
from cper.web.views.page import (
    FilterField,
    Page,
    figures_page,
    kpis,
    operations_list_url,
    render_page,
)

# The dashboard's filters: GET parameters named as the aggregation service's (and the
# operations list's) filter keys, with codes as values, so a filtered URL reads the same
# everywhere: ?axis=2&partner=dep-59&departement=59&territory=bassin-minier&marker=….
DASHBOARD_FILTERS = ("volet", "axis", "partner", "departement", "territory", "marker")


@guard_input
def home(request: HttpRequest) -> HttpResponse:
    contracts = selectors.contract_list()
    org_id = getattr(request.user, "organisation_id", None)
    if role_of(request.user) == Role.PARTNER_MANAGER and org_id:
        # A partner manager lands on its workspace (the first contract its organisation is in).
        own = next(
            (c for c in contracts if c.partners.filter(organisation_id=org_id).exists()), None
        )
        if own is not None:
            return redirect("web:workspace", slug=own.slug)
    if len(contracts) == 1:
        return redirect("web:dashboard", slug=contracts[0].slug)
    return render(request, "web/home.html", {"contracts": contracts, "title": "Contrats"})


@guard_input
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


def _filter_fields(
    request: HttpRequest, contract: Contract, parts: list[selectors.VoletPart]
) -> list[FilterField]:
    axes = [  # the axes read once, with their volets (issue 12)
        (str(a.number), f"Axe {a.number} — {a.title}")
        for a in sorted((a for p in parts for a in p.axes), key=lambda a: a.number)
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
    volets = [(p.code, f"{p.title} ({p.period_label})") for p in parts if p.code]  # issue 12
    options = {
        "volet": ("Volet", volets),
        "axis": ("Axe", axes),
        "partner": ("Partenaire", partners),
        "departement": ("Département", deps),
        "territory": ("Territoire de projet", territories),
        "marker": ("Thème transversal", markers),
    }
    fields = []
    for name in DASHBOARD_FILTERS:
        label, choices = options[name]
        if name == "volet" and len(choices) < 2:
            continue  # one volet: nothing to choose
        value = request.GET.get(name, "")
        if value not in {c for c, _ in choices}:
            value = ""
        fields.append(FilterField(name, label, choices, value))
    return fields


def _operations_url(
    contract: Contract, filters: dict[str, Any], volet: selectors.VoletPart | None
) -> str | None:
    """The operations list for the dashboard's filters. The list knows axes, not volets: a
    volet of one axis becomes that axis; a volet of several axes gets no link (issue 12)."""
    if "volet" not in filters:
        return operations_list_url(contract, filters)
    others = {k: v for k, v in filters.items() if k != "volet"}
    if volet is None or len(volet.axes) != 1 or "axis" in others:
        return operations_list_url(contract, others) if "axis" in others else None
    return operations_list_url(contract, {**others, "axis": volet.axes[0].number})


@guard_input
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    page = figures_page(request, slug)
    key = figures_key(request, "dashboard")
    if key is None:  # an export, or the cache off: the figures of this request
        context = _context(page)
        if response := page.export("tableau-de-bord"):
            return response
        content = mark_safe(render_to_string(CONTENT, context, request=request))
    else:
        content = cached_figures(
            key, lambda: render_to_string(CONTENT, _context(page), request=request)
        )
    return render_page(
        request,
        "web/dashboard.html",
        page,
        {
            "title": f"Tableau de bord — {page.contract.title}",
            "content": content,
            "breadcrumb_data": {
                "links": [{"url": "/", "title": "Accueil"}],
                "current": "Tableau de bord",
            },
        },
    )


# The dashboard's content (title, filters, figures): what `figcache` keeps between requests.
# It depends on the query string, the visitor's sight of unpublished operations and the data
# only — nothing of the session (the filters are a GET form, without a CSRF token).
CONTENT = "web/parts/dashboard_content.html"


def _context(page: Page) -> dict[str, Any]:
    contract = page.contract
    parts = selectors.volet_parts(contract=contract)  # issue 12
    fields = _filter_fields(page.request, contract, parts)
    for f in fields:
        if f.value:
            page.filters[f.name] = int(f.value) if f.name == "axis" else f.value
    chosen = next((p for p in parts if p.code and p.code == page.filters.get("volet")), None)
    return {
        "contract": contract,
        "as_of": page.as_of,
        "date_error": page.date_error,
        "filters": page.filters,
        "fields": fields,
        "active_filters": {f.name: f.value for f in fields if f.value},
        "volet": chosen,  # issue 12: the volet chosen, with its period and envelope
        **_figures(page, parts, chosen),
    }


def _figures(
    page: Page, parts: list[selectors.VoletPart], chosen: selectors.VoletPart | None
) -> dict[str, Any]:
    """The dashboard's figures for the page's filters and date: key figures, charts, series,
    alerts (each table added to the page, for its exports)."""
    contract = page.contract
    links = page.links
    # -- issue 12: volets. The axes are grouped by volet (same service call: a volet is a set
    # of axes), the note gives each volet's period and envelope; the volet filter gives a
    # volet's own figures and pace.
    several = len(parts) > 1
    volets_note = (
        "Axes regroupés par volet, chacun avec sa période et son enveloppe : "
        + " ; ".join(
            f"{p.title} {p.period_label} (axe{'s' if len(p.axes) > 1 else ''} "
            f"{', '.join(str(n) for n in p.axis_numbers)})"
            + (f", enveloppe {format_eur(p.envelope, 0)}" if p.envelope is not None else "")
            for p in parts
        )
        + "."
        if several
        else ""
    )
    by_axis = page.execution("volet", "axis") if several else page.execution("axis")
    # -- end volets --
    axis_chart = page.add(
        breakdown(
            "par-axe",
            "Exécution par axe",
            by_axis,
            dim="axis",
            first="Axe",
            link=links["axis"],
            short=lambda r: f"Axe {r.key.get('axis')}",
            note=volets_note,
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
                contract=contract,
                as_of=page.as_of,
                filters=page.filters or None,
                viewer=page.request.user,
            ),
            page.as_of,
        )
    )
    alerts = alerts_mod.dashboard_alerts(page, by_partner=by_partner)
    for a in alerts:
        page.add(a.table)
    return {
        "kpis": kpis(by_axis.total, envelope=contract.envelope),
        "charts": [axis_chart, partner_chart],
        "series": series,
        "alerts": alerts,
        "operations_url": _operations_url(contract, page.filters, chosen),
    }
