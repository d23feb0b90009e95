"""« Exécution par programme » (issue 12, item 5): the State's credits by LOLF programme — the
table the ministries, the SGAR and the ANCT ask for (contractualisé, AE mises en place, AE
engagées, CP payés, rates) with a bar chart of the same figures, the AE mises en place recorded
and, for the State's managers and administrators, the form that records one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from cper.accounts.permissions import can, refusal_message
from cper.audit.services import Actor
from cper.contracts import selectors as contract_selectors
from cper.contracts.models import BudgetProgramme, Contract
from cper.finance import aggregation
from cper.finance.forms import AeForm
from cper.finance.selectors import ae_mises_en_place
from cper.finance.services import AeDraft, AeRefused, ae_mise_en_place_record
from cper.finance.vocabulary import measure_labels
from cper.money import format_eur
from cper.params import BadParameter, guard_input
from cper.web import charts
from cper.web.views.page import breadcrumb, observation_date

TITLE = "Exécution par programme"
GROUPINGS = {
    "programme": ("programme",),
    "programme-annee": ("programme", "year"),
    "programme-bop": ("programme", "bop"),
}
SERIES = ["contractualised", "ae_delegated", "ae_committed", "cp_paid"]


def _may_record(user: Any, contract: Contract) -> bool:
    state = contract.partners.filter(kind="state").select_related("organisation").first()
    return can(user, "ae.record", state)


@guard_input
def programme_execution(request: HttpRequest, slug: str) -> HttpResponse:
    contract = contract_selectors.contract_get(slug=slug)
    as_of, date_error = observation_date(request)
    by = request.GET.get("par", "programme") or "programme"
    if by not in GROUPINGS:
        raise BadParameter("par", f"« {by} » : regroupement inconnu ({', '.join(GROUPINGS)})")
    table = aggregation.programme_execution(
        contract=contract, as_of=as_of, group_by=GROUPINGS[by], viewer=request.user
    )
    row_names = [" · ".join(r.labels[k] for k in table.group_by)[:60] for r in table.rows]
    svg = charts.grouped_hbar(
        chart_id="programmes",
        title=f"{TITLE} — {contract.title}",
        categories=row_names,
        series=SERIES,
        values=[[r.contractualised, r.ae_delegated, r.ae_committed, r.cp_paid] for r in table.rows],
    )
    return render(
        request,
        "web/programmes.html",
        {
            "contract": contract,
            "title": TITLE,
            "as_of": as_of,
            "date_error": date_error,
            "table": table,
            "rows": list(zip(row_names, table.rows, strict=True)),
            "svg": svg,
            "legend": [
                {"key": k, "label": charts.MEASURES[k][0], "colour": charts.MEASURES[k][1]}
                for k in SERIES
            ],
            "by": by,
            "words": measure_labels("ae_cp"),
            "ae_list": ae_mises_en_place(contract=contract, limit=200),
            "may_record": _may_record(request.user, contract),
            "breadcrumb_data": breadcrumb(contract, current=TITLE),
        },
    )


@require_http_methods(["GET", "POST"])
@guard_input
def ae_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Record an AE mise en place (GET: the form)."""
    contract = contract_selectors.contract_get(slug=slug)
    if not _may_record(request.user, contract):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied(refusal_message(request.user, "ae.record"))
    choices = [
        (code, f"{code} — {label}")
        for code, label in BudgetProgramme.objects.order_by("code").values_list("code", "label")
    ]
    back = reverse("web:programmes", args=[contract.slug])
    if request.method == "POST":
        form = AeForm(request.POST, programmes=choices)
        if form.is_valid():
            data = form.cleaned_data
            try:
                made = ae_mise_en_place_record(
                    actor=Actor(user=request.user, via="web"),
                    contract=contract,
                    draft=AeDraft(
                        programme=data["programme"],
                        bop=data["bop"] or None,
                        year=data["year"],
                        kind=data["kind"],
                        amount=data["amount"],
                        date=data["date"],
                        reference=data["reference"],
                        note=data["note"] or "",
                    ),
                )
            except AeRefused as exc:
                form.add_findings(exc.findings)
            else:
                messages.success(
                    request,
                    f"{made.get_kind_display().capitalize()} de {format_eur(made.amount)} "
                    f"enregistrée ({made.programme.code}, exercice {made.year}).",
                )
                return redirect(back)
    else:
        form = AeForm(programmes=choices, initial={"year": dt.date.today().year})
    return render(
        request,
        "web/ae_form.html",
        {
            "contract": contract,
            "title": "Enregistrer des AE mises en place",
            "form": form,
            "back": back,
            "breadcrumb_data": breadcrumb(
                contract, (back, TITLE), current="Enregistrer des AE mises en place"
            ),
        },
        status=422 if request.method == "POST" else 200,
    )
