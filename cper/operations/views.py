"""Pages of the register: thin views over `selectors` (reads) and `services` (writes).

Every write goes through a service, which checks the permission again (`cper.accounts.
permissions`) and writes the audit trail with `via="web"`. Views check first only to show a
403 page (or the login page) instead of a form the user could not submit.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from cper.accounts.permissions import can, require
from cper.audit.services import Actor
from cper.contracts.models import Contract, Partner
from cper.operations import forms, rules, selectors, services, views_partner_decisions
from cper.operations.lifecycle import allowed_targets, operation_transition
from cper.operations.models import (
    Committee,
    Decision,
    FinancingLine,
    LineStatus,
    Operation,
)
from cper.params import guard_input, refusal_response

PAGE_SIZE = 50


def _contract(slug: str) -> Contract:
    return get_object_or_404(Contract, slug=slug)


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, via="web")


class _LoginNeeded(Exception):
    pass


def _check(request: HttpRequest, action: str, obj: Any = None) -> None:
    if not request.user.is_authenticated and not can(request.user, action, obj):
        raise _LoginNeeded
    require(request.user, action, obj)


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


def _op_or_404(contract: Contract, pk: int, request: HttpRequest) -> Operation:
    try:
        return selectors.operation_get(contract=contract, pk=pk, user=request.user)
    except Operation.DoesNotExist as exc:
        raise Http404("opération introuvable") from exc


def _crumbs(contract: Contract, *extra: tuple[str, str], current: str) -> dict[str, Any]:
    links = [
        {"url": "/", "title": "Accueil"},
        {"url": reverse("web:contract", args=[contract.slug]), "title": contract.title},
        {"url": reverse("operations:list", args=[contract.slug]), "title": "Opérations"},
    ]
    links += [{"url": u, "title": t} for u, t in extra]
    return {"links": links, "current": current}


# --- list ----------------------------------------------------------------------------------------


@guard_input
def operation_list(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    filters = {
        k: request.GET.getlist(k) if k == "status" else request.GET.get(k, "")
        for k in selectors.FILTER_KEYS
        if request.GET.get(k)
    }
    order = request.GET.get("order") or selectors.DEFAULT_ORDER
    try:
        # Past the last page the list is empty; a page number beyond any offset the database
        # takes is the same.
        page = min(max(int(request.GET.get("page") or 1), 1), 10**6)
    except ValueError:
        page = 1
    try:
        result = selectors.operation_list(
            contract=contract,
            user=request.user,
            filters=filters,
            order=order,
            page=page,
            limit=PAGE_SIZE,
        )
    except selectors.FilterError as exc:
        return refusal_response(request, f"Filtre refusé : {exc}.")
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("order", None)
    context = {
        "contract": contract,
        "result": result,
        "choices": selectors.filter_choices(contract=contract),
        "filters": filters,
        "order": order,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "sorts": [
            ("code", "Numéro"),
            ("title", "Intitulé"),
            ("owner", "Maître d'ouvrage"),
            ("objective", "Objectif"),
            ("departement", "Département"),
            ("status", "Statut"),
            ("amount", "Contractualisé"),
        ],
        "can_create": can(request.user, "operation.create"),
        "can_committees": can(request.user, "committee.view"),
        "title": "Opérations",
        "breadcrumb_data": {
            "links": [
                {"url": "/", "title": "Accueil"},
                {"url": reverse("web:contract", args=[contract.slug]), "title": contract.title},
            ],
            "current": "Opérations",
        },
    }
    template = (
        "operations/_results.html"
        if getattr(request, "htmx", False) and not getattr(request.htmx, "boosted", False)  # type: ignore[attr-defined]
        else "operations/list.html"
    )
    return render(request, template, context)


# --- detail and history --------------------------------------------------------------------------


@guard_input
def operation_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    try:
        detail = selectors.operation_detail(
            contract=contract, pk=pk, user=request.user, history_limit=20
        )
    except Operation.DoesNotExist as exc:
        raise Http404("opération introuvable") from exc
    op = detail.operation
    return render(
        request,
        "operations/detail.html",
        {
            "contract": contract,
            "d": detail,
            "op": op,
            "transition_form": forms.TransitionForm(edges=detail.allowed_transitions)
            if detail.perms["transition"]
            else None,
            "title": f"{op.code} — {op.title}",
            "breadcrumb_data": _crumbs(contract, current=op.code),
            # issue 12: the section « Décisions des financeurs »
            **views_partner_decisions.section_context(
                contract, op, request.user, lines=[v.line for v in detail.lines]
            ),
        },
    )


@guard_input
def operation_history(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    op = _op_or_404(contract, pk, request)
    if not can(request.user, "operation.history", op):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied("L'historique est réservé aux utilisateurs connectés.")
    return render(
        request,
        "operations/history.html",
        {
            "contract": contract,
            "op": op,
            "history": selectors.operation_history(operation=op),
            "title": f"Historique — {op.code}",
            "breadcrumb_data": _crumbs(
                contract,
                (reverse("operations:detail", args=[slug, op.pk]), op.code),
                current="Historique",
            ),
        },
    )


# --- create and edit -----------------------------------------------------------------------------


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def operation_create(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    _check(request, "operation.create", contract)
    form = forms.OperationForm(request.POST or None, contract=contract, new_owner=True)
    searched = _form_search(request, form, contract)
    if request.method == "POST" and searched is None and form.is_valid():
        aliases = (
            forms.OperationForm.NEW_OWNER_ALIASES
            if form.creates_owner()
            else forms.OperationForm.ALIASES
        )
        try:
            op = services.operation_create(
                actor=_actor(request), contract=contract, **form.service_values()
            )
        except ValidationError as exc:
            forms.apply_service_errors(form, exc, aliases)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            created = (
                f" avec son maître d'ouvrage « {op.owner.name} »" if form.creates_owner() else ""
            )
            messages.success(request, f"Opération {op.code} créée (brouillon){created}.")
            return redirect("operations:detail", slug=slug, pk=op.pk)
    return render(
        request,
        "operations/form.html",
        {
            "contract": contract,
            "form": form,
            "operation_form": True,
            **(searched or {}),
            "title": "Nouvelle opération",
            "submit": "Créer l'opération",
            "breadcrumb_data": _crumbs(contract, current="Nouvelle opération"),
        },
        status=400 if form.errors else 200,
    )


def _form_search(
    request: HttpRequest, form: forms.OperationForm, contract: Contract
) -> dict[str, Any] | None:
    """Without JavaScript, the operation form's "Rechercher" buttons submit the whole form: it
    comes back as typed, unchecked, with the owners or communes found (radio buttons and check
    boxes the next submission reads). None when the form was not submitted for a search."""
    which = request.POST.get("search") if request.method == "POST" else None
    if which == "owner":
        found = selectors.owner_search(query=request.POST.get("owner_q", ""))
        form.quiet()
        return {"owner_results": found, "searched": "owner"}
    if which == "commune":
        found = selectors.commune_search(
            query=request.POST.get("commune_q", ""), region_code=contract.region_id
        )
        form.quiet()
        return {"commune_results": found, "searched": "commune"}
    return None


@guard_input
@_guarded
@require_http_methods(["GET"])
def owner_search(request: HttpRequest, slug: str) -> HttpResponse:
    """The known owners matching `q` (or `owner_q`, as the form's field sends it): the list of
    the operation form (htmx), or a page of its own."""
    contract = _contract(slug)
    _check(request, "operation.create", contract)
    query = request.GET.get("q") or request.GET.get("owner_q") or ""
    return render(
        request,
        "operations/_owner_results.html",
        {"contract": contract, "owner_results": selectors.owner_search(query=query)},
    )


@guard_input
@_guarded
@require_http_methods(["GET"])
def commune_search(request: HttpRequest, slug: str) -> HttpResponse:
    """The communes (COG) matching `q` (or `commune_q`) by name or INSEE code, those of the
    contract's region first."""
    contract = _contract(slug)
    _check(request, "operation.create", contract)
    query = request.GET.get("q") or request.GET.get("commune_q") or ""
    return render(
        request,
        "operations/_commune_results.html",
        {
            "contract": contract,
            "commune_results": selectors.commune_search(
                query=query, region_code=contract.region_id
            ),
        },
    )


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def operation_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    op = _op_or_404(contract, pk, request)
    _check(request, "operation.edit", op)
    form = forms.OperationForm(
        request.POST or None, contract=contract, initial=forms.OperationForm.initial_for(op)
    )
    searched = _form_search(request, form, contract)
    if request.method == "POST" and searched is None and form.is_valid():
        changed = set(form.changed_data)
        if "owner_identifier" in changed:
            changed.add("owner")
        values = {k: v for k, v in form.service_values().items() if k in changed}
        try:
            services.operation_update(actor=_actor(request), operation=op, **values)
        except ValidationError as exc:
            forms.apply_service_errors(form, exc, forms.OperationForm.ALIASES)
        else:
            messages.success(request, "Opération enregistrée.")
            return redirect("operations:detail", slug=slug, pk=op.pk)
    return render(
        request,
        "operations/form.html",
        {
            "contract": contract,
            "form": form,
            "operation_form": True,
            **(searched or {}),
            "op": op,
            "title": f"Modifier {op.code}",
            "submit": "Enregistrer",
            "breadcrumb_data": _crumbs(
                contract,
                (reverse("operations:detail", args=[slug, op.pk]), op.code),
                current="Modifier",
            ),
        },
        status=400 if form.errors else 200,
    )


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def owner_create(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    _check(request, "owner.edit")
    form = forms.OwnerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            owner = services.owner_create(actor=_actor(request), **form.cleaned_data)
        except ValidationError as exc:
            forms.apply_service_errors(form, exc)
        else:
            messages.success(
                request, f"Maître d'ouvrage « {owner.name} » créé ({owner.siret or owner.rna})."
            )
            return redirect("operations:create", slug=slug)
    return render(
        request,
        "operations/form.html",
        {
            "contract": contract,
            "form": form,
            "title": "Nouveau maître d'ouvrage",
            "submit": "Créer le maître d'ouvrage",
            "breadcrumb_data": _crumbs(contract, current="Nouveau maître d'ouvrage"),
        },
        status=400 if form.errors else 200,
    )


# --- lifecycle -----------------------------------------------------------------------------------


@guard_input
@_guarded
@require_http_methods(["POST"])
def operation_transition_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    op = _op_or_404(contract, pk, request)
    _check(request, "operation.transition", op)
    edges = allowed_targets(op.status)
    form = forms.TransitionForm(request.POST, edges=edges)
    error = None
    if form.is_valid():
        try:
            operation_transition(
                actor=_actor(request),
                operation=op,
                to_status=form.cleaned_data["to_status"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(" ".join(v) for v in form.errors.values())
    if error:
        messages.error(request, f"Statut inchangé : {error}")
    else:
        messages.success(request, f"Nouveau statut : {op.get_status_display()}.")
    return redirect("operations:detail", slug=slug, pk=op.pk)


# --- financing lines -----------------------------------------------------------------------------


def _editable_partners(request: HttpRequest, op: Operation) -> Any:
    partners = Partner.objects.filter(contract=op.contract).select_related("organisation")
    allowed = [p.pk for p in partners if can(request.user, "financing_line.edit", (op, p))]
    return Partner.objects.filter(pk__in=allowed)


def _warn_state_line(request: HttpRequest, line: FinancingLine) -> None:
    """A contractualised State line without its LOLF programme is saved, with a warning
    (issue 12: it would be missing from the execution by programme)."""
    for finding in rules.state_line_findings(
        contractualised=line.contractualised,
        partner_kind=line.partner.kind if line.partner is not None else None,
        budget_nature=line.budget_nature,
        has_programme=line.programme_id is not None,
    ):
        messages.warning(request, f"Avertissement — {finding.message}.")


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def line_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    op = _op_or_404(contract, pk, request)
    _check(request, "financing_line.edit")
    form = forms.LineForm(
        request.POST or None, operation=op, partners=_editable_partners(request, op)
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if data["financer_kind"] != "partner":  # only a partner's share can count in the maquette
            data["contractualised"] = False
            data["partner"] = None
        try:
            added = services.financing_line_add(actor=_actor(request), operation=op, **data)
        except ValidationError as exc:
            forms.apply_service_errors(form, exc)
        else:
            messages.success(request, "Ligne de financement ajoutée.")
            _warn_state_line(request, added)
            return redirect("operations:detail", slug=slug, pk=op.pk)
    return _line_page(request, contract, op, form, "Ajouter une ligne de financement", "Ajouter")


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def line_edit(request: HttpRequest, slug: str, pk: int, line_pk: int) -> HttpResponse:
    contract = _contract(slug)
    op = _op_or_404(contract, pk, request)
    line = get_object_or_404(
        FinancingLine.objects.select_related("partner", "objective"), pk=line_pk, operation=op
    )
    line.operation = op
    _check(request, "financing_line.edit", line)
    form = forms.LineForm(
        request.POST or None,
        operation=op,
        partners=Partner.objects.filter(pk__in=[line.partner_id] if line.partner_id else []),
        line=line,
        initial=forms.LineForm.initial_for(line),
    )
    if request.method == "POST" and form.is_valid():
        changes = {
            k: form.cleaned_data[k] for k in form.changed_data if k in services.LINE_EDITABLE
        }
        try:
            saved = services.financing_line_update(actor=_actor(request), line=line, **changes)
        except ValidationError as exc:
            forms.apply_service_errors(form, exc)
        else:
            messages.success(request, "Ligne de financement modifiée.")
            _warn_state_line(request, saved)
            return redirect("operations:detail", slug=slug, pk=op.pk)
    return _line_page(request, contract, op, form, f"Modifier la ligne {line}", "Enregistrer")


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def line_cancel(request: HttpRequest, slug: str, pk: int, line_pk: int) -> HttpResponse:
    contract = _contract(slug)
    op = _op_or_404(contract, pk, request)
    line = get_object_or_404(
        FinancingLine.objects.select_related("partner"), pk=line_pk, operation=op
    )
    line.operation = op
    _check(request, "financing_line.edit", line)
    form = forms.CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.financing_line_cancel(
                actor=_actor(request), line=line, reason=form.cleaned_data["cancel_reason"]
            )
        except ValidationError as exc:
            # Why the line cannot be cancelled (its state, its commitments) concerns the form.
            forms.apply_service_errors(form, exc, aliases={"status": ""})
        else:
            messages.success(request, "Ligne annulée (elle reste visible, barrée, avec son motif).")
            return redirect("operations:detail", slug=slug, pk=op.pk)
    return _line_page(
        request, contract, op, form, f"Annuler la ligne {line}", "Annuler la ligne", line=line
    )


def _line_page(
    request: HttpRequest,
    contract: Contract,
    op: Operation,
    form: Any,
    title: str,
    submit: str,
    line: FinancingLine | None = None,
) -> HttpResponse:
    return render(
        request,
        "operations/form.html",
        {
            "contract": contract,
            "form": form,
            "op": op,
            "line": line,
            "title": title,
            "submit": submit,
            "breadcrumb_data": _crumbs(
                contract,
                (reverse("operations:detail", args=[contract.slug, op.pk]), op.code),
                current=title,
            ),
        },
        status=400 if form.errors else 200,
    )


# --- committees ----------------------------------------------------------------------------------


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def committee_list(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    _check(request, "committee.view")
    can_edit = can(request.user, "committee.edit")
    form = forms.CommitteeForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        _check(request, "committee.edit")
        assert form is not None
        if form.is_valid():
            try:
                committee = services.committee_create(
                    actor=_actor(request), contract=contract, **form.cleaned_data
                )
            except ValidationError as exc:
                forms.apply_service_errors(form, exc)
            else:
                messages.success(request, f"{committee} créé.")
                return redirect("operations:committee", slug=slug, pk=committee.pk)
    return render(
        request,
        "operations/committees.html",
        {
            "contract": contract,
            "committees": selectors.committee_list(contract=contract),
            "form": form,
            "title": "Comités",
            "breadcrumb_data": _crumbs(contract, current="Comités"),
        },
        status=400 if form is not None and form.errors else 200,
    )


def _committee(contract: Contract, pk: int) -> selectors.CommitteeDetail:
    try:
        return selectors.committee_detail(contract=contract, pk=pk)
    except Committee.DoesNotExist as exc:
        raise Http404("comité introuvable") from exc


@guard_input
@_guarded
@require_http_methods(["GET", "POST"])
def committee_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract = _contract(slug)
    _check(request, "committee.view")
    detail = _committee(contract, pk)
    committee = detail.committee
    can_edit = can(request.user, "committee.edit", committee)
    agenda_form = forms.AgendaForm(prefix="agenda") if can_edit else None
    decision_forms: dict[int, Any] = {}
    status = 200
    if request.method == "POST":
        _check(request, "committee.edit", committee)
        action = request.POST.get("action")
        if action == "agenda":
            agenda_form = forms.AgendaForm(request.POST, prefix="agenda")
            if agenda_form.is_valid():
                code = agenda_form.cleaned_data["operation_code"].strip()
                op = Operation.objects.filter(contract=contract, code=code).first()
                if op is None:
                    agenda_form.add_error(
                        "operation_code", f"aucune opération n'a le numéro « {code} »"
                    )
                else:
                    try:
                        services.committee_add_to_agenda(
                            actor=_actor(request), committee=committee, operation=op
                        )
                    except ValidationError as exc:
                        forms.apply_service_errors(agenda_form, exc, forms.AgendaForm.ALIASES)
                    else:
                        messages.success(request, f"{op.code} inscrite à l'ordre du jour.")
                        return redirect("operations:committee", slug=slug, pk=pk)
            status = 400
        elif action == "decision":
            decision = get_object_or_404(
                Decision, pk=request.POST.get("decision"), committee=committee
            )
            item = next(i for i in detail.items if i.decision.pk == decision.pk)
            form = forms.DecisionForm(request.POST, prefix=f"d{decision.pk}", lines=item.lines)
            if form.is_valid():
                outcome = form.cleaned_data["outcome"]
                try:
                    services.decision_record(
                        actor=_actor(request),
                        committee=committee,
                        operation=item.operation,
                        outcome=outcome,
                        amounts=form.amounts() if outcome == "approved" else None,
                        notes=form.cleaned_data["notes"],
                    )
                except ValidationError as exc:
                    forms.apply_service_errors(form, exc)
                else:
                    messages.success(request, f"Décision enregistrée pour {item.operation.code}.")
                    return redirect("operations:committee", slug=slug, pk=pk)
            decision_forms[decision.pk] = form
            status = 400
    if can_edit:
        for item in detail.items:
            if not item.decision.outcome and item.decision.pk not in decision_forms:
                decision_forms[item.decision.pk] = forms.DecisionForm(
                    prefix=f"d{item.decision.pk}", lines=item.lines
                )
    rows = [(item, decision_forms.get(item.decision.pk)) for item in detail.items]
    return render(
        request,
        "operations/committee.html",
        {
            "contract": contract,
            "detail": detail,
            "committee": committee,
            "rows": rows,
            "agenda_form": agenda_form,
            "can_edit": can_edit,
            "title": str(committee),
            "breadcrumb_data": _crumbs(
                contract,
                (reverse("operations:committees", args=[slug]), "Comités"),
                current=str(committee),
            ),
        },
        status=status,
    )


@guard_input
@_guarded
def committee_minutes(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The relevé de décisions: printable HTML, or PDF with ?format=pdf (WeasyPrint)."""
    contract = _contract(slug)
    _check(request, "committee.view")
    detail = _committee(contract, pk)
    html = render_to_string(
        "operations/committee_minutes.html",
        {"contract": contract, "detail": detail, "committee": detail.committee},
        request=request,
    )
    if request.GET.get("format") == "pdf":
        from weasyprint import HTML

        pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
        response = HttpResponse(pdf, content_type="application/pdf")
        name = f"releve-{detail.committee.date:%Y-%m-%d}-{detail.committee.pk}.pdf"
        response["Content-Disposition"] = f'inline; filename="{name}"'
        return response
    return HttpResponse(html)


__all__ = [
    "LineStatus",
    "committee_detail",
    "committee_list",
    "committee_minutes",
    "commune_search",
    "line_add",
    "line_cancel",
    "line_edit",
    "operation_create",
    "operation_detail",
    "operation_edit",
    "operation_history",
    "operation_list",
    "operation_transition_view",
    "owner_create",
    "owner_search",
]
