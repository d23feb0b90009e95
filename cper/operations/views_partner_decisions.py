"""Pages of the partners' decisions on an operation (issue 12): the form that records a
partner's decision on its line (htmx: opened in the section « Décisions des financeurs » of the
operation's page, which is redrawn once the decision is recorded; without JavaScript, a page of
its own), and the signed act, streamed to users allowed to read it — never served as a public
media file.

Thin over `services.partner_decision_record`: the same service, rules and messages as the API.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import reswap, retarget

from cper.accounts.permissions import can, refusal_message
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.money import format_eur
from cper.operations import selectors, services
from cper.operations.forms import PartnerDecisionForm, apply_service_errors
from cper.operations.models import FinancingLine, Operation, PartnerDecision


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))  # set by django-htmx's middleware


def _operation(request: HttpRequest, slug: str, pk: int) -> tuple[Contract, Operation]:
    contract = get_object_or_404(Contract, slug=slug)
    try:
        op = selectors.operation_get(contract=contract, pk=pk, user=request.user)
    except Operation.DoesNotExist as exc:
        raise Http404("opération introuvable") from exc
    return contract, op


def section_context(
    contract: Contract, op: Operation, user: object, lines: list[FinancingLine] | None = None
) -> dict[str, object]:
    """What the section « Décisions des financeurs » shows (the detail page includes it, with
    the lines it has already read)."""
    return {
        "contract": contract,
        "op": op,
        "partner_rows": selectors.partner_decision_rows(operation=op, user=user, lines=lines),
        "by_decision": contract.programming_mode == "partner_decision",
        "can_read_acts": can(user, "partner_decision.document"),
    }


@require_http_methods(["GET", "POST"])
def partner_decision_new(request: HttpRequest, slug: str, pk: int, line_pk: int) -> HttpResponse:
    """Record the partner's decision on line `line_pk` of operation `pk` (GET: the form)."""
    contract, op = _operation(request, slug, pk)
    row = next(
        (
            r
            for r in selectors.partner_decision_rows(operation=op, user=request.user)
            if r.line.pk == line_pk
        ),
        None,
    )
    if row is None:
        raise Http404("ligne de financement introuvable, annulée ou sans partenaire")
    if not row.can_record:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied(refusal_message(request.user, "partner_decision.record", row.line))
    detail_url = reverse("operations:detail", kwargs={"slug": slug, "pk": pk})
    if request.method == "POST":
        form = PartnerDecisionForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                decision = services.partner_decision_record(
                    actor=Actor(user=request.user, via="web"),
                    line=row.line,
                    kind=data["kind"],
                    body=data["body"],
                    date=data["date"],
                    reference=data["reference"],
                    amount=data["amount"],
                    outcome=data["outcome"],
                    document=data["document"],
                    notes=data["notes"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                done = (
                    f"{decision.get_kind_display().capitalize()} du {decision.date:%d/%m/%Y} "
                    f"enregistrée ({row.line.partner} : {format_eur(decision.amount)})."
                )
                if _htmx(request):
                    response = render(
                        request,
                        "operations/_partner_decisions.html",
                        {**section_context(contract, op, request.user), "done": done},
                    )
                    return reswap(retarget(response, "#decisions-financeurs"), "outerHTML")
                messages.success(request, done)
                return redirect(f"{detail_url}#decisions-financeurs")
    else:
        form = PartnerDecisionForm(initial={"amount": row.line.amount})
    context = {
        "form": form,
        "row": row,
        "contract": contract,
        "op": op,
        "detail_url": detail_url,
        "action": request.path,
    }
    if _htmx(request):
        return render(request, "operations/_partner_decision_form.html", context)
    return render(
        request,
        "operations/partner_decision_form.html",
        {
            **context,
            "title": f"Décision du financeur — {op.code}",
            "breadcrumb_data": {
                "links": [
                    {"url": "/", "title": "Accueil"},
                    {"url": detail_url, "title": op.code},
                ],
                "current": "Décision du financeur",
            },
        },
        status=422 if request.method == "POST" else 200,
    )


@require_GET
def partner_decision_document(
    request: HttpRequest, slug: str, pk: int, decision_pk: int
) -> HttpResponseBase:
    """The signed act of a decision, for the users allowed to read it (as an attachment: the
    browser never renders it in the application's origin)."""
    contract, op = _operation(request, slug, pk)
    if not can(request.user, "partner_decision.document"):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied(refusal_message(request.user, "partner_decision.document"))
    try:
        decision = selectors.partner_decision_get(
            contract=contract, operation_pk=op.pk, pk=decision_pk
        )
    except PartnerDecision.DoesNotExist as exc:
        raise Http404("décision introuvable") from exc
    if not decision.document:
        raise Http404("aucun acte signé n'est joint à cette décision")
    try:
        handle = decision.document.open("rb")
    except FileNotFoundError as exc:
        raise Http404("l'acte signé est introuvable sur le serveur") from exc
    response = FileResponse(
        handle, as_attachment=True, filename=PurePosixPath(str(decision.document.name)).name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
