"""Pages of the indicators: the catalogue with its roll-up (by contract, axis, objective,
département or project territory, at a date), and the small form of the block « Indicateurs »
of an operation's page (htmx redraws the block in place; without JavaScript the form posts and
redirects to the operation).

Thin over `indicators.selectors` and `indicators.services.indicator_value_record`.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cper.accounts.permissions import can, refusal_message
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.indicators import selectors
from cper.indicators.forms import ValueForm
from cper.indicators.services import IndicatorsRefused, indicator_value_record
from cper.indicators.templatetags.indicators_tags import block_context
from cper.operations.models import Operation
from cper.operations.selectors import operation_get


def _at(request: HttpRequest) -> tuple[dt.date | None, str]:
    raw = request.GET.get("date", "").strip()[:20]
    if not raw:
        return None, ""
    try:
        return dt.date.fromisoformat(raw), ""
    except ValueError:
        return None, f"« {raw} » n'est pas une date (AAAA-MM-JJ) : toutes les valeurs retenues."


@require_GET
def catalogue_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The catalogue and the roll-up of the values that count (`?par=`, `?date=`)."""
    contract = get_object_or_404(Contract, slug=slug)
    by = request.GET.get("par", "contract")
    if by not in selectors.GROUPINGS:
        by = "contract"
    at, date_error = _at(request)
    rollup = selectors.indicator_rollup(contract=contract, by=by, user=request.user, at=at)
    return render(
        request,
        "indicators/catalogue.html",
        {
            "contract": contract,
            "title": f"Indicateurs — {contract.title}",
            "catalogue": selectors.catalogue(contract=contract),
            "rollup": rollup,
            "groupings": selectors.GROUPINGS,
            "by": by,
            "by_label": selectors.GROUPINGS[by],
            "at": at,
            "date_error": date_error,
            "breadcrumb_data": {
                "links": [{"url": reverse("web:dashboard", args=[slug]), "title": contract.title}],
                "current": "Indicateurs",
            },
        },
    )


@require_POST
def value_new(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Record a value of an indicator for operation `pk` (the block's form)."""
    contract = get_object_or_404(Contract, slug=slug)
    try:
        op = operation_get(contract=contract, pk=pk, user=request.user)
    except Operation.DoesNotExist as exc:
        raise Http404("opération introuvable") from exc
    if not can(request.user, "operation.edit", op):
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("operations:detail", args=[slug, pk]))
        raise PermissionDenied(refusal_message(request.user, "operation.edit", op))
    detail = reverse("operations:detail", kwargs={"slug": slug, "pk": pk})
    htmx = bool(getattr(request, "htmx", False))
    form = ValueForm(request.POST, indicators=selectors.catalogue(contract=contract))
    done = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            v = indicator_value_record(
                actor=Actor(user=request.user, via="web"),
                operation=op,
                indicator=data["indicator"],
                planned=data["planned"],
                achieved=data["achieved"],
                date=data["date"],
                source=data["source"] or "",
            )
        except IndicatorsRefused as exc:
            form.add_findings(exc.findings)
        else:
            done = f"Valeur de l'indicateur {v.indicator.code} enregistrée au {v.date:%d/%m/%Y}."
            if not htmx:
                messages.success(request, done)
                return redirect(f"{detail}#indicateurs")
            form = None  # type: ignore[assignment]
    if not htmx:
        problems = "; ".join(m for errors in form.errors.values() for m in errors)
        messages.error(request, f"Valeur non enregistrée : {problems}")
        return redirect(f"{detail}#indicateurs")
    context = block_context(request, op, form=form, done=done)
    return render(request, "indicators/_operation_block.html", context, status=200)
