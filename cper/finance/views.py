"""Pages of the ledger on an operation's page: the form that records a commitment, a
decommitment, a payment or a payment cancellation on one financing line.

Thin over `finance.services.movement_record` — the same service, rules and messages as the API
and the imports. With htmx the form opens in the line's row and, once the movement is recorded,
the execution section is redrawn in place; without JavaScript the same URL is a page of its own
that redirects to the operation.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import reswap, retarget

from cper.accounts.permissions import refusal_message
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.finance.forms import MovementForm
from cper.finance.selectors import OperationExecution, operation_execution
from cper.finance.services import MovementRefused, movement_record
from cper.money import format_eur
from cper.operations.models import Operation
from cper.operations.selectors import operation_get


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))  # set by django-htmx's middleware


def _execution(request: HttpRequest, slug: str, pk: int) -> OperationExecution:
    contract = get_object_or_404(Contract, slug=slug)
    try:
        op = operation_get(contract=contract, pk=pk, user=request.user)
    except Operation.DoesNotExist as exc:
        raise Http404("opération introuvable") from exc
    return operation_execution(operation=op, user=request.user)


def _chain(view: Any) -> dict[str, Any]:
    """The line's budget chain, which sets the form's kinds and words (AP/CP: affectation)."""
    partner = view.line.partner
    return {
        "budget_nature": view.line.budget_nature,
        "affectation_required": bool(partner is not None and partner.affectation_required),
    }


@require_http_methods(["GET", "POST"])
def movement_new(request: HttpRequest, slug: str, pk: int, line_pk: int) -> HttpResponse:
    """Record a movement on line `line_pk` of operation `pk` (GET: the form)."""
    execution = _execution(request, slug, pk)
    view = execution.line(line_pk)
    if view is None:
        raise Http404("ligne de financement introuvable ou annulée")
    if not view.can_record:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied(refusal_message(request.user, "movement.record", view.line))
    detail_url = reverse("operations:detail", kwargs={"slug": slug, "pk": pk})
    if request.method == "POST":
        form = MovementForm(request.POST, payments=view.cancellable_payments, **_chain(view))
        if form.is_valid():
            data = form.cleaned_data
            try:
                movement = movement_record(
                    actor=Actor(user=request.user, via="web"),
                    financing_line=view.line,
                    kind=data["kind"],
                    date=data["date"],
                    amount=data["amount"],
                    reference=data["reference"],
                    idempotency_key=data["idempotency_key"],
                    cancels=data["cancels"],
                    note=data["note"] or "",
                )
            except MovementRefused as exc:
                form.add_findings(exc.findings)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                done = (
                    f"{movement.get_kind_display().capitalize()} de "
                    f"{format_eur(movement.amount)} enregistré (n° {movement.pk})."
                )
                if _htmx(request):
                    fresh = _execution(request, slug, pk)
                    response = render(
                        request,
                        "finance/_execution.html",
                        {
                            "x": fresh,
                            "contract": fresh.operation.contract,
                            "done": done,
                            "done_line": line_pk,
                        },
                    )
                    return reswap(retarget(response, "#execution"), "outerHTML")
                messages.success(request, done)
                return redirect(f"{detail_url}#ligne-{line_pk}")
    else:
        form = MovementForm(payments=view.cancellable_payments, **_chain(view))
    context = {
        "form": form,
        "v": view,
        "x": execution,
        "contract": execution.operation.contract,
        "op": execution.operation,
        "detail_url": detail_url,
        "action": request.path,
    }
    if _htmx(request):
        return render(request, "finance/_movement_form.html", context)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "finance/movement_form.html",
        {
            **context,
            "title": f"Enregistrer un mouvement — {execution.operation.code}",
            "breadcrumb_data": {
                "links": [
                    {"url": "/", "title": "Accueil"},
                    {"url": detail_url, "title": execution.operation.code},
                ],
                "current": "Enregistrer un mouvement",
            },
        },
        status=status,
    )
