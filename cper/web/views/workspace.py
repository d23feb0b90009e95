"""A partner's workspace: where a partner manager lands once logged in.

The contract's figures filtered on its partner (the aggregation service, as on the partner's
page) and its work lists — lines programmed but not committed, commitments without payment for
more than 12 months, this month's movements, its recent imports — each a `Table` that exports as
CSV or XLSX like every other table. Staff (administrators, instructors, observers) may open any
partner's workspace with `?partenaire=<code>`.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from cper.accounts.permissions import STAFF_ROLES, Role, can, role_of
from cper.contracts.models import Contract, Partner
from cper.finance import selectors as ledger
from cper.finance.vocabulary import ap_labels
from cper.forecasts import selectors as forecasts
from cper.io.models import ImportLog
from cper.io.writers import MONEY, TEXT
from cper.operations.selectors import lines_awaiting_decision
from cper.params import guard_input
from cper.web.alerts import STALE_MONTHS, months_before
from cper.web.tables import Column, Table
from cper.web.views.page import breadcrumb, figures_page, kpis, render_page


def partner_of(user: object, contract: Contract, code: str | None) -> Partner:
    """The partner whose workspace `user` opens: its own (partner manager), or any partner of
    the contract for staff (`code`, default the first)."""
    role = role_of(user)
    partners = Partner.objects.filter(contract=contract).select_related("organisation")
    if role == Role.PARTNER_MANAGER:
        org_id = getattr(user, "organisation_id", None)
        own = partners.filter(organisation_id=org_id) if org_id else partners.none()
        mine = own.first()
        if mine is None:
            raise PermissionDenied(
                "Votre organisation n'est pas partenaire de ce contrat : aucun espace partenaire."
            )
        found = own.filter(code=code).first() if code else mine
        if found is None:
            raise PermissionDenied(
                f"Vous gérez l'espace de {mine.name}, pas celui d'un autre partenaire."
            )
        return found
    if role not in STAFF_ROLES:
        raise PermissionDenied("L'espace partenaire est réservé aux agents des partenaires.")
    if code:
        return get_object_or_404(partners, code=code)
    first = partners.order_by("pk").first()
    if first is None:
        raise PermissionDenied("Ce contrat n'a aucun partenaire.")
    return first


def _line_link(contract: Contract, line: object) -> str:
    op = line.operation  # type: ignore[attr-defined]
    url = reverse("operations:detail", kwargs={"slug": contract.slug, "pk": op.pk})
    return f"{url}#ligne-{line.pk}"  # type: ignore[attr-defined]


def _decision_link(contract: Contract, line: object) -> str:
    op = line.operation  # type: ignore[attr-defined]
    url = reverse("operations:detail", kwargs={"slug": contract.slug, "pk": op.pk})
    return f"{url}#decisions-financeurs"


def _note(shown: int, count: int) -> str:
    return "" if shown >= count else f"{shown} premières lignes sur {count}."


@guard_input
@login_required
def workspace(request: HttpRequest, slug: str) -> HttpResponse:
    page = figures_page(request, slug)
    contract = page.contract
    partner = partner_of(request.user, contract, request.GET.get("partenaire"))
    page.filters["partner"] = partner.code
    today = timezone.localdate()
    total = page.execution().total

    waiting = ledger.lines_programmed_not_committed(partner=partner)
    waiting_table = page.add(
        Table(
            "programmees-sans-engagement",
            "Lignes programmées sans engagement",
            [
                Column("Opération"),
                Column("Intitulé"),
                Column("Programmée le"),
                Column("Programmé", MONEY),
            ],
            rows=[
                [
                    r.line.operation.code,
                    r.line.operation.title,
                    r.programmed_on.strftime("%d/%m/%Y") if r.programmed_on else "",
                    r.programmed,
                ]
                for r in waiting.rows
            ],
            links=[_line_link(contract, r.line) for r in waiting.rows],
            note=_note(len(waiting.rows), waiting.count),
        )
    )
    before = months_before(today, STALE_MONTHS)
    stale = ledger.commitments_without_payment(partner=partner, before=before)
    stale_table = page.add(
        Table(
            "engagements-sans-paiement",
            f"Engagements sans paiement depuis plus de {STALE_MONTHS} mois",
            [
                Column("Opération"),
                Column("Intitulé"),
                Column("Dernier paiement ou premier engagement"),
                Column("Engagé", MONEY),
                Column("Reste à payer", MONEY),
            ],
            rows=[
                [
                    r.line.operation.code,
                    r.line.operation.title,
                    r.since.strftime("%d/%m/%Y") if r.since else "",
                    r.committed,
                    r.remaining_to_pay,
                ]
                for r in stale.rows
            ],
            links=[_line_link(contract, r.line) for r in stale.rows],
            note=_note(len(stale.rows), stale.count)
            or f"Sans paiement depuis le {before:%d/%m/%Y} : à relancer ou à désengager.",
        )
    )
    # -- AP/CP chain: caducité (localchain) --
    caducity_table = None
    if partner.caducity_months:
        lapsing = ledger.lines_near_caducity(partner=partner, as_of=today)
        caducity_table = page.add(
            Table(
                "caducite",
                f"Affectations et engagements sans mandatement (caducité à "
                f"{partner.caducity_months} mois)",
                [
                    Column("Opération"),
                    Column("Intitulé"),
                    Column("Sans mandatement depuis le"),
                    Column("Caducité le"),
                    Column("AP affectée", MONEY),
                    Column("Engagé", MONEY),
                    Column("CP mandatés", MONEY),
                    Column("Alerte"),
                ],
                rows=[
                    [
                        r.line.operation.code,
                        r.line.operation.title,
                        r.since.strftime("%d/%m/%Y"),
                        r.lapses_on.strftime("%d/%m/%Y"),
                        r.affected,
                        r.committed,
                        r.paid,
                        r.message
                        if r.past
                        else f"caducité dans moins de {ledger.CADUCITY_WARN_MONTHS} mois",
                    ]
                    for r in lapsing.rows
                ],
                links=[_line_link(contract, r.line) for r in lapsing.rows],
                note=_note(len(lapsing.rows), lapsing.count)
                or "À mandater, ou à désaffecter (désaffectation) pour libérer l'AP.",
            )
        )
    # -- end localchain --
    # -- issue 12: partners' decisions --
    awaiting = lines_awaiting_decision(contract=contract, partner_ids=[partner.pk], limit=20)
    awaiting_table = page.add(
        Table(
            "en-attente-de-decision",
            "Lignes en attente de votre décision (avis favorable du comité)",
            [
                Column("Opération"),
                Column("Intitulé"),
                Column("Statut"),
                Column("Montant de la ligne", MONEY),
            ],
            rows=[
                [
                    line.operation.code,
                    line.operation.title,
                    line.operation.get_status_display(),
                    line.amount,
                ]
                for line in awaiting.lines
            ],
            links=[_decision_link(contract, line) for line in awaiting.lines],
            note=_note(len(awaiting.lines), awaiting.total)
            or (
                "Arrêté, convention ou délibération à enregistrer sur la page de l'opération : "
                "dans ce contrat, c'est elle qui programme la ligne."
                if contract.programming_mode == "partner_decision"
                else "Arrêté, convention ou délibération à enregistrer sur la page de l'opération."
            ),
        )
    )
    # -- end partners' decisions --
    start = today.replace(day=1)
    month = ledger.movements_between(partner=partner, start=start, end=today)
    month_table = page.add(
        Table(
            "mouvements-du-mois",
            f"Mouvements du mois ({start:%m/%Y})",
            [
                Column("Opération"),
                Column("Date"),
                Column("Nature"),
                Column("Montant", MONEY),
                Column("Référence"),
                Column("Saisi par"),
            ],
            rows=[
                [
                    m.financing_line.operation.code,
                    m.date.strftime("%d/%m/%Y"),
                    m.get_kind_display(),
                    m.amount,
                    m.reference,
                    (m.recorded_by.get_full_name() or m.recorded_by.username)
                    if m.recorded_by
                    else m.get_via_display(),
                ]
                for m in month.rows
            ],
            links=[_line_link(contract, m.financing_line) for m in month.rows],
            note=_note(len(month.rows), month.count),
        )
    )
    imports = (
        list(
            ImportLog.objects.filter(contract=contract, partner=partner)
            .select_related("user")
            .order_by("-started_at")[:20]
        )
        if can(request.user, "import.run") or can(request.user, "audit.view")
        else []
    )
    imports_table = page.add(
        Table(
            "imports-recents",
            "Imports récents",
            [
                Column("Fichier"),
                Column("Nature"),
                Column("Début"),
                Column("État"),
                Column("Lignes", TEXT),
            ],
            rows=[
                [
                    log.file_name,
                    log.get_kind_display(),
                    timezone.localtime(log.started_at).strftime("%d/%m/%Y %H:%M"),
                    log.get_state_display(),
                    f"{log.rows_done}/{log.rows_total}",
                ]
                for log in imports
            ],
            links=[
                reverse("io:import_log", kwargs={"slug": contract.slug, "pk": log.pk})
                for log in imports
            ],
        )
    )
    # -- issue 16: forecasts — lines behind their schedule (cper.forecasts) --
    slips = forecasts.slippage_alerts(contract=contract, at=today, partner=partner, limit=50)
    slippage_table = page.add(
        Table(
            "retards-echeancier",
            "Retards sur l'échéancier prévisionnel",
            [
                Column("Opération"),
                Column("Intitulé"),
                Column("Sur"),
                Column("Prévu cumulé", MONEY),
                Column("Réalisé cumulé", MONEY),
                Column("Écart", MONEY),
            ],
            rows=[
                [
                    a.line.operation.code,
                    a.line.operation.title,
                    a.what_label,
                    a.slip.planned,
                    a.slip.actual,
                    a.slip.gap,
                ]
                for a in slips.rows
            ],
            links=[
                reverse(
                    "operations:detail", kwargs={"slug": contract.slug, "pk": a.line.operation_id}
                )
                + f"#echeancier-{a.line.pk}"
                for a in slips.rows
            ],
            note=_note(len(slips.rows), slips.count),
        )
    )
    if response := page.export(f"espace-{partner.code}"):
        return response
    partners = (
        Partner.objects.filter(contract=contract).order_by("pk")
        if role_of(request.user) != Role.PARTNER_MANAGER
        else []
    )
    return render_page(
        request,
        "web/workspace.html",
        page,
        {
            "title": f"Espace partenaire — {partner.name}",
            "partner": partner,
            "partners": partners,
            "kpis": kpis(total),
            "lists": [
                t
                for t in (
                    awaiting_table,  # issue 12
                    waiting_table,
                    stale_table,
                    caducity_table,
                    month_table,
                    imports_table,
                    slippage_table,  # issue 16
                )
                if t is not None
            ],
            "caducity_months": partner.caducity_months,
            "words": ap_labels(partner.budget_nature),
            "today": today,
            "breadcrumb_data": breadcrumb(contract, current="Espace partenaire"),
        },
    )
