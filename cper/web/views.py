"""Web pages: thin views over selectors and services."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from cper.contracts import selectors
from cper.web.charts import hbar


def home(request: HttpRequest) -> HttpResponse:
    contracts = selectors.contract_list()
    if len(contracts) == 1:
        return redirect("web:contract", slug=contracts[0].slug)
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
