"""Pages of closings: the list (and the form to arrêter a date), a closing's page — « situation
arrêtée » beside « situation connue aujourd'hui », the commentary of its report —, the
reconciliation, and the downloads (bilan PDF, annexes XLSX/ODS, comité de suivi pack).

Closings count every operation, published or not: only the roles that see unpublished
operations read them (`sees_unpublished`); arrêter a date and write commentary is
`closing.create` (administrators and instructors), checked again by the services.
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

from cper.accounts.permissions import can, sees_unpublished
from cper.audit.services import Actor
from cper.closings import figures as F
from cper.closings import forms, reports, selectors
from cper.closings.models import Closing
from cper.closings.services import ClosingRefused, closing_create, report_comment_write
from cper.contracts.models import Axis, Contract
from cper.io.writers import CONTENT_TYPES
from cper.operations.models import Committee
from cper.params import guard_input


def _contract(slug: str) -> Contract:
    return get_object_or_404(Contract, slug=slug)


class _LoginNeeded(Exception):
    pass


def _may_read(request: HttpRequest) -> None:
    if not request.user.is_authenticated:
        raise _LoginNeeded
    if not sees_unpublished(request.user):
        raise PermissionDenied("Les situations arrêtées sont réservées aux équipes du contrat.")


def _guarded(view: Any) -> Any:
    """Anonymous visitors asked to log in rather than shown a 403."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _LoginNeeded:
            return redirect_to_login(request.get_full_path())

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _closing(contract: Contract, pk: int) -> Closing:
    try:
        return selectors.closing_by_pk(contract=contract, pk=pk)
    except Closing.DoesNotExist as exc:
        raise Http404("arrêté introuvable") from exc


def _crumbs(contract: Contract, *extra: tuple[str, str], current: str) -> dict[str, Any]:
    links = [
        {"url": "/", "title": "Accueil"},
        {"url": reverse("web:contract", args=[contract.slug]), "title": contract.title},
    ]
    links += [{"url": u, "title": t} for u, t in extra]
    return {"links": links, "current": current}


def _list_crumb(contract: Contract) -> tuple[str, str]:
    return (reverse("closings:list", args=[contract.slug]), "Situations arrêtées")


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def closing_list(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    _may_read(request)
    may_close = can(request.user, "closing.create", contract)
    form = forms.ClosingForm(request.POST or None) if may_close else None
    status = 200
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Vous n'avez pas le droit d'arrêter une situation.")
        if form.is_valid():
            try:
                closing = closing_create(
                    actor=Actor(user=request.user, via="web"),
                    contract=contract,
                    at=form.cleaned_data["at"],
                    label=form.cleaned_data["label"],
                )
            except ClosingRefused as exc:
                for field, msgs in exc.errors.items():
                    for msg in msgs:
                        form.add_error(field if field in form.fields else None, msg)
            else:
                messages.success(request, f"{closing} : chiffres figés.")
                return redirect("closings:detail", slug=slug, pk=closing.pk)
        status = 400
    items = [(c, F.total_of(c.figures)) for c in selectors.closing_list(contract=contract)]
    return render(
        request,
        "closings/list.html",
        {
            "contract": contract,
            "items": items,
            "form": form,
            "title": "Situations arrêtées",
            "breadcrumb_data": _crumbs(contract, current="Situations arrêtées"),
        },
        status=status,
    )


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def closing_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    _may_read(request)
    closing = _closing(contract, pk)
    may_comment = can(request.user, "closing.create", contract)
    status = 200
    comment_errors: dict[int, list[str]] = {}
    if request.method == "POST":
        if not may_comment:
            raise PermissionDenied("Vous n'avez pas le droit de commenter ce bilan.")
        form = forms.CommentForm(request.POST)
        if form.is_valid():
            axis = get_object_or_404(Axis, contract=contract, number=form.cleaned_data["axis"])
            try:
                report_comment_write(
                    actor=Actor(user=request.user, via="web"),
                    closing=closing,
                    axis=axis,
                    text=form.cleaned_data["text"],
                )
            except ClosingRefused as exc:
                comment_errors[axis.number] = [m for ms in exc.errors.values() for m in ms]
            else:
                messages.success(request, f"Commentaire de l'axe {axis.number} enregistré.")
                return redirect("closings:detail", slug=slug, pk=pk)
        else:
            number = request.POST.get("axis", "")
            key = int(number) if number.isdigit() else 0
            comment_errors[key] = [m for ms in form.errors.values() for m in ms]
        status = 400
    rec = selectors.reconciliation(closing=closing)
    return render(
        request,
        "closings/detail.html",
        {
            "contract": contract,
            "closing": closing,
            "rec": rec,
            "comparison": [
                ("Par axe", rec.groupings["axis"]),
                ("Par partenaire", rec.groupings["partner"]),
            ],
            "comments": reports.axis_comments(closing),
            "comment_errors": comment_errors,
            "may_comment": may_comment,
            "digest_ok": selectors.digest_ok(closing),
            "title": str(closing),
            "breadcrumb_data": _crumbs(contract, _list_crumb(contract), current=str(closing)),
        },
        status=status,
    )


@guard_input
@_guarded
def closing_reconciliation(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    _may_read(request)
    closing = _closing(contract, pk)
    rec = selectors.reconciliation(closing=closing)
    detail_crumb = (reverse("closings:detail", args=[slug, pk]), str(closing))
    return render(
        request,
        "closings/reconciliation.html",
        {
            "contract": contract,
            "closing": closing,
            "rec": rec,
            "sections": [
                (F.GROUPING_LABELS[name], rec.changed(name))
                for name in ("axis", "partner", "axis,partner")
            ],
            "title": f"Rapprochement — {closing}",
            "breadcrumb_data": _crumbs(
                contract, _list_crumb(contract), detail_crumb, current="Rapprochement"
            ),
        },
    )


@guard_input
@_guarded
def closing_report(request: HttpRequest, slug: str, pk: int, fmt: str) -> HttpResponse:
    """The bilan d'exécution (pdf) or its annexes (xlsx, ods), generated on request."""
    contract = _contract(slug)
    _may_read(request)
    closing = _closing(contract, pk)
    if fmt == "pdf":
        data, content_type = reports.annual_report_pdf(closing), "application/pdf"
    elif fmt in {"xlsx", "ods"}:
        data, content_type = reports.annual_report_annex(closing, fmt), CONTENT_TYPES[fmt]
    else:
        raise Http404("format inconnu")
    response = HttpResponse(data, content_type=content_type)
    name = reports.annual_report_filename(closing, fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@guard_input
@_guarded
def committee_pack(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The comité de suivi pack: agenda, operations and their plans, latest closing."""
    contract = _contract(slug)
    _may_read(request)
    if not can(request.user, "committee.view"):
        raise PermissionDenied("Vous n'avez pas le droit de consulter les comités.")
    try:
        data = reports.committee_pack_pdf(contract=contract, committee_pk=pk)
    except Committee.DoesNotExist as exc:
        raise Http404("comité introuvable") from exc
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="dossier-comite-{pk}.pdf"'
    return response
