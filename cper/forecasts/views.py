"""Pages of the forecasts: « Prévisions » (the payment credits needed for a budget year per
partner and, for the State, per programme; the slippage alerts), and the small form of the
block « Échéancier prévisionnel » of an operation's page (htmx redraws the block in place;
without JavaScript the form posts and redirects to the operation).

Forecasts are internal budget data: the page is for the partners' staff (the roles that see
unpublished operations). Thin over `forecasts.selectors` and `forecasts.services`.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cper.accounts.permissions import can, refusal_message, sees_unpublished
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.forecasts import selectors
from cper.forecasts.forms import ScheduleForm
from cper.forecasts.services import ScheduleRefused, schedule_replace
from cper.forecasts.templatetags.forecasts_tags import block_context
from cper.operations.models import FinancingLine, LineStatus
from cper.operations.selectors import operation_get


@require_GET
def forecasts_page(request: HttpRequest, slug: str) -> HttpResponse:
    """« Prévisions » (`?annee=` budget year, default next year; `?date=` of the alerts)."""
    contract = get_object_or_404(Contract, slug=slug)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not sees_unpublished(request.user):
        raise PermissionDenied("Les prévisions sont réservées aux agents des partenaires.")
    today = timezone.localdate()
    year = today.year + 1
    raw_year = request.GET.get("annee", "").strip()
    if raw_year.isdigit() and contract.start_year <= int(raw_year) <= contract.end_year + 6:
        year = int(raw_year)
    at = today
    raw_date = request.GET.get("date", "").strip()[:20]
    if raw_date:
        try:
            at = dt.date.fromisoformat(raw_date)
        except ValueError:
            at = today
    needs = selectors.payment_needs(contract=contract, year=year, today=today)
    alerts = selectors.slippage_alerts(contract=contract, at=at)
    return render(
        request,
        "forecasts/page.html",
        {
            "contract": contract,
            "title": f"Prévisions — {contract.title}",
            "needs": needs,
            "alerts": alerts,
            "year": year,
            "at": at,
            "rate_pct": alerts.rate * 100,
            "breadcrumb_data": {
                "links": [{"url": reverse("web:dashboard", args=[slug]), "title": contract.title}],
                "current": "Prévisions",
            },
        },
    )


@require_POST
def schedule_edit(request: HttpRequest, slug: str, line_pk: int) -> HttpResponse:
    """Replace the schedule of line `line_pk` (the block's form)."""
    contract = get_object_or_404(Contract, slug=slug)
    line = (
        FinancingLine.objects.filter(
            pk=line_pk, operation__contract=contract, status=LineStatus.ACTIVE
        )
        .select_related("operation", "partner")
        .first()
    )
    if line is None:
        raise Http404("ligne de financement introuvable ou annulée")
    try:
        op = operation_get(contract=contract, pk=line.operation_id, user=request.user)
    except line.operation.DoesNotExist as exc:
        raise Http404("opération introuvable") from exc
    if not can(request.user, "financing_line.edit", line):
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("operations:detail", args=[slug, op.pk]))
        raise PermissionDenied(refusal_message(request.user, "financing_line.edit", line))
    detail = reverse("operations:detail", kwargs={"slug": slug, "pk": op.pk})
    htmx = bool(getattr(request, "htmx", False))
    form = ScheduleForm(request.POST, prefix=f"ech-{line.pk}")
    done = ""
    if form.is_valid():
        try:
            version = schedule_replace(
                actor=Actor(user=request.user, via="web"),
                line=line,
                rows=form.cleaned_data["rows"],
            )
        except ScheduleRefused as exc:
            form.add_findings(exc.findings)
        else:
            done = f"Échéancier de la ligne {line.partner} enregistré (version {version})."
            if not htmx:
                messages.success(request, done)
                return redirect(f"{detail}#echeancier-{line.pk}")
            return render(
                request, "forecasts/_operation_block.html", block_context(request, op, done=done)
            )
    if not htmx:
        problems = "; ".join(m for errors in form.errors.values() for m in errors)
        messages.error(request, f"Échéancier non enregistré : {problems}")
        return redirect(f"{detail}#echeancier-{line.pk}")
    return render(
        request, "forecasts/_operation_block.html", block_context(request, op, {line.pk: form})
    )
