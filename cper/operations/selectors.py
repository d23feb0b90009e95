"""Reads of the register: the operations list (filtered, sorted, paginated, in a bounded number
of queries), an operation's detail (plan, timeline, decisions, history), committees.

Visibility is decided by `cper.accounts.permissions`: the public sees published operations only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from cper.accounts.permissions import can, sees_unpublished
from cper.audit.models import AuditEntry
from cper.contracts.models import Axis, Contract, Marker, Objective, Partner
from cper.db import MoneyField
from cper.finance import aggregation
from cper.findings import Finding
from cper.money import ZERO
from cper.operations import rules
from cper.operations.lifecycle import allowed_targets
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Committee,
    Decision,
    DecisionAmount,
    FinancingLine,
    LineStatus,
    Operation,
    OperationCommune,
    OperationStatus,
    OperationTransition,
    ProjectOwner,
)
from cper.territories.models import Commune, Departement, Epci, ProjectTerritory

FILTER_KEYS = (
    "axis",
    "objective",
    "partner",
    "departement",
    "epci",
    "territory",
    "status",
    "marker",
    "q",
    "published",
)
# Sort keys (prefix "-" for descending) → model fields; "id" breaks ties.
ORDERS: dict[str, tuple[str, ...]] = {
    "code": ("code",),
    "title": ("title",),
    "owner": ("owner__name",),
    "objective": ("objective__axis__number", "objective__position"),
    "departement": ("departement_id",),
    "status": ("status",),
    "start_date": ("start_date",),
    "updated": ("updated_at",),
    "amount": ("contractualised_total",),
}
DEFAULT_ORDER = "code"
MAX_LIMIT = 200


class FilterError(ValueError):
    """An unknown filter or sort key (French message, for a 400 answer)."""


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value).strip()]


def _contractualised_sum() -> Subquery:
    sub = (
        FinancingLine.objects.filter(
            operation=OuterRef("pk"), status=LineStatus.ACTIVE, contractualised=True
        )
        .order_by()
        .values("operation")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(sub, output_field=MoneyField())


def operation_queryset(*, contract: Contract, user: Any) -> QuerySet[Operation]:
    """The operations of `contract` that `user` may see."""
    qs = Operation.objects.filter(contract=contract)
    if not sees_unpublished(user):
        qs = qs.filter(published=True)
    return qs


def apply_filters(qs: QuerySet[Operation], filters: Mapping[str, Any]) -> QuerySet[Operation]:
    """Filters by codes (as in a query string): axis=2, objective=2.5, partner=dep-59,
    departement=59, epci=200093201, territory=bassin-minier, status=programmed (or a list),
    marker=emploi-formation-orientation, q=text (title, number, owner's name or SIRET)."""
    unknown = set(filters) - set(FILTER_KEYS) - {"page", "limit", "order", "format"}
    if unknown:
        raise FilterError(f"filtre inconnu : {', '.join(sorted(unknown))}")
    if v := _values(filters.get("axis")):
        try:
            qs = qs.filter(objective__axis__number__in=[int(x) for x in v])
        except ValueError as exc:
            raise FilterError("axe : numéro attendu") from exc
    if v := _values(filters.get("objective")):
        qs = qs.filter(objective__code__in=v)
    if v := _values(filters.get("status")):
        bad = [s for s in v if s not in OperationStatus.values]
        if bad:
            raise FilterError(f"statut inconnu : {', '.join(bad)}")
        qs = qs.filter(status__in=v)
    if v := _values(filters.get("departement")):
        qs = qs.filter(departement_id__in=v)
    if v := _values(filters.get("epci")):
        qs = qs.filter(epci_id__in=v)
    if v := _values(filters.get("partner")):
        qs = qs.filter(
            Exists(
                FinancingLine.objects.filter(
                    operation=OuterRef("pk"), partner__code__in=v, status=LineStatus.ACTIVE
                )
            )
        )
    if v := _values(filters.get("territory")):
        # The territory's communes first (one small query): a subquery on them lets the
        # database use the commune index instead of re-joining per operation.
        codes = list(
            Commune.objects.filter(project_territories__code__in=v)
            .values_list("code", flat=True)
            .distinct()
        )
        qs = qs.filter(
            pk__in=OperationCommune.objects.filter(commune_id__in=codes).values("operation_id")
        )
    if v := _values(filters.get("marker")):
        qs = qs.filter(
            Exists(
                Operation.markers.through.objects.filter(
                    operation_id=OuterRef("pk"), marker__code__in=v
                )
            )
        )
    if v := _values(filters.get("published")):
        qs = qs.filter(published=v[0] in {"1", "true", "oui", "True"})
    if v := _values(filters.get("q")):
        text = " ".join(v)
        ident = rules.normalise_identifier(text)
        cond = Q(title__icontains=text) | Q(code__icontains=text) | Q(owner__name__icontains=text)
        if ident.isdigit() and len(ident) >= 9:
            cond |= Q(owner__siret__startswith=ident)
        qs = qs.filter(cond)
    return qs


def _order_by(order: str) -> list[str]:
    desc = order.startswith("-")
    key = order.lstrip("-")
    if key not in ORDERS:
        raise FilterError(f"tri inconnu « {order} » (possibles : {', '.join(ORDERS)})")
    fields = [f"-{f}" if desc else f for f in ORDERS[key]]
    return [*fields, "-id" if desc else "id"]


@dataclass
class OperationPage:
    items: list[Operation]
    total: int
    page: int
    limit: int
    order: str
    filters: dict[str, Any]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def start_index(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.limit + 1

    @property
    def end_index(self) -> int:
        return min(self.total, self.page * self.limit)


def operation_list(
    *,
    contract: Contract,
    user: Any,
    filters: Mapping[str, Any] | None = None,
    order: str = DEFAULT_ORDER,
    page: int = 1,
    limit: int = 50,
) -> OperationPage:
    """One page of the operations `user` may see, filtered and sorted.

    Each item has its owner, objective (and axis), département and EPCI selected, and
    `contractualised_total` (active contractualised lines). Three queries whatever the size:
    the count, the page, and the page's totals (two when sorting by amount).
    """
    filters = dict(filters or {})
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    page = max(1, int(page or 1))
    order = order or DEFAULT_ORDER
    ordering = _order_by(order)
    qs = apply_filters(operation_queryset(contract=contract, user=user), filters)
    total = qs.count()
    pages = max(1, -(-total // limit))
    page = min(page, pages)
    offset = (page - 1) * limit
    by_amount = order.lstrip("-") == "amount"
    if by_amount:
        qs = qs.annotate(contractualised_total=Coalesce(_contractualised_sum(), Value(ZERO)))
    items = list(
        qs.select_related("owner", "objective__axis", "departement", "epci").order_by(*ordering)[
            offset : offset + limit
        ]
    )
    if not by_amount and items:
        sums = dict(
            FinancingLine.objects.filter(
                operation_id__in=[o.pk for o in items],
                status=LineStatus.ACTIVE,
                contractualised=True,
            )
            .order_by()
            .values("operation_id")
            .annotate(total=Sum("amount"))
            .values_list("operation_id", "total")
        )
        for o in items:
            o.contractualised_total = sums.get(o.pk) or ZERO  # type: ignore[attr-defined]
    return OperationPage(items, total, page, limit, order, filters)


@dataclass
class FilterChoices:
    axes: list[Axis]
    objectives: list[Objective]
    partners: list[Partner]
    departements: list[Departement]
    epcis: list[Epci]
    territories: list[ProjectTerritory]
    markers: list[Marker]
    statuses: list[tuple[str, str]]


def filter_choices(*, contract: Contract) -> FilterChoices:
    """The options of the list's filters (7 small queries)."""
    return FilterChoices(
        axes=list(Axis.objects.filter(contract=contract)),
        objectives=list(Objective.objects.filter(contract=contract).select_related("axis")),
        partners=list(Partner.objects.filter(contract=contract)),
        departements=list(Departement.objects.filter(region_id=contract.region_id)),
        epcis=list(
            Epci.objects.filter(communes__departement__region_id=contract.region_id)
            .distinct()
            .order_by("name")
        ),
        territories=list(ProjectTerritory.objects.filter(contracts__contract=contract)),
        markers=list(Marker.objects.filter(contract=contract)),
        statuses=list(OperationStatus.choices),
    )


# --- one operation -----------------------------------------------------------------------------


def operation_get(*, contract: Contract, pk: int | str, user: Any) -> Operation:
    """The operation, if `user` may see it; else Operation.DoesNotExist (no leak of existence).
    `pk` may be the id or the operation's number (code)."""
    qs = operation_queryset(contract=contract, user=user).select_related(
        "contract", "owner", "owner__commune", "objective__axis", "departement", "epci"
    )
    if isinstance(pk, int) or str(pk).isdigit():
        return qs.get(pk=int(pk))
    return qs.get(code=str(pk))


@dataclass
class LineView:
    line: FinancingLine
    can_edit: bool
    approved: Decimal | None = None


@dataclass
class OperationDetail:
    operation: Operation
    communes: list[Commune]
    territories: list[ProjectTerritory]
    secondary_objectives: list[Objective]
    markers: list[Marker]
    external_references: list[Any]
    lines: list[LineView]
    cancelled_lines: list[LineView]
    figures: rules.PlanFigures
    findings: list[Finding]
    transitions: list[OperationTransition]
    decisions: list[Decision]
    history: list[AuditEntry]
    allowed_transitions: list[Any]
    perms: dict[str, bool] = field(default_factory=dict)


def operation_territories(*, communes: Iterable[Commune]) -> list[ProjectTerritory]:
    """Project territories derived from the communes (Bassin minier, QPV…)."""
    codes = [c.pk for c in communes]
    if not codes:
        return []
    return list(ProjectTerritory.objects.filter(communes__in=codes).distinct().order_by("name"))


def operation_history(*, operation: Operation, limit: int | None = None) -> list[AuditEntry]:
    """Every audit entry about the operation (its lines, decisions, transitions), newest first."""
    qs = AuditEntry.objects.filter(operation_id=operation.pk).select_related("user")
    return list(qs[:limit] if limit else qs)


def operation_detail(
    *, contract: Contract, pk: int | str, user: Any, history_limit: int | None = 50
) -> OperationDetail:
    """Everything the detail page shows, for a user who may see the operation."""
    op = operation_get(contract=contract, pk=pk, user=user)
    communes = [
        oc.commune
        for oc in OperationCommune.objects.filter(operation=op)
        .select_related("commune")
        .order_by("position")
    ]
    all_lines = list(
        FinancingLine.objects.filter(operation=op)
        .select_related("partner", "objective", "programme")
        .order_by("id")
    )
    for line in all_lines:
        line.operation = op  # permissions read line.operation without a query
    decisions = list(
        Decision.objects.filter(operation=op)
        .select_related("committee")
        .prefetch_related("amounts")
        .order_by("committee__date", "id")
    )
    approved: dict[int, Decimal] = {}
    for d in decisions:
        if d.outcome == "approved":
            for a in d.amounts.all():
                approved[a.financing_line_id] = a.amount
    figures = rules.plan_figures(eligible_cost=op.eligible_cost, lines=all_lines)
    findings = rules.plan_balance_findings(figures) + rules.aid_rate_findings(figures)
    if op.status in PROGRAMMED_STATUSES:
        pairs = {
            (ln.partner_id, ln.objective_id)
            for ln in all_lines
            if ln.status == LineStatus.ACTIVE and ln.contractualised and ln.partner_id
        }
        findings += rules.over_programming_findings(
            programmed_figures(contract=contract, pairs=pairs),  # type: ignore[arg-type]
            policy="warn",
        )
    views = [
        LineView(ln, can(user, "financing_line.edit", ln), approved.get(ln.pk)) for ln in all_lines
    ]
    show_history = can(user, "operation.history", op)
    return OperationDetail(
        operation=op,
        communes=communes,
        territories=operation_territories(communes=communes),
        secondary_objectives=list(op.secondary_objectives.all()),
        markers=list(op.markers.all()),
        external_references=list(op.external_references.select_related("partner")),
        lines=[v for v in views if v.line.status == LineStatus.ACTIVE],
        cancelled_lines=[v for v in views if v.line.status != LineStatus.ACTIVE],
        figures=figures,
        findings=findings,
        transitions=list(
            OperationTransition.objects.filter(operation=op)
            .select_related("user", "decision__committee")
            .order_by("at", "id")
        ),
        decisions=decisions,
        history=operation_history(operation=op, limit=history_limit) if show_history else [],
        allowed_transitions=allowed_targets(op.status),
        perms={
            "edit": can(user, "operation.edit", op),
            "transition": can(user, "operation.transition", op),
            "history": show_history,
            "add_line": can(user, "financing_line.edit"),
            "committee": can(user, "committee.edit"),
            "committee_view": can(user, "committee.view"),
        },
    )


# --- programmed vs maquette --------------------------------------------------------------------


def programmed_figures(
    *, contract: Contract, pairs: Iterable[tuple[int, int]], as_of: dt.date | None = None
) -> list[rules.ProgrammedFigure]:
    """The figures of `programmed_figure_map`, in the order of the pairs."""
    found = programmed_figure_map(contract=contract, pairs=pairs, as_of=as_of)
    return [found[pair] for pair in sorted(found)]


def programmed_figure_map(
    *, contract: Contract, pairs: Iterable[tuple[int, int]], as_of: dt.date | None = None
) -> dict[tuple[int, int], rules.ProgrammedFigure]:
    """Programmed and maquette amounts for the given (partner id, objective id) pairs.

    Programmed = active contractualised lines of operations in a programmed status, as the
    finance app's aggregation service counts them.
    """
    pairs = {(p, o) for p, o in pairs if p and o}
    if not pairs:
        return {}
    partners = {p.pk: p for p in Partner.objects.filter(pk__in={p for p, _ in pairs})}
    objectives = {o.pk: o for o in Objective.objects.filter(pk__in={o for _, o in pairs})}
    as_of = as_of or timezone.localdate()
    rows = _execution_rows(contract, partners, objectives, as_of)
    out = {}
    for p, o in sorted(pairs):
        if p not in partners or o not in objectives:
            continue
        maquette, programmed = rows.get((partners[p].code, objectives[o].code), (ZERO, ZERO))
        out[(p, o)] = rules.ProgrammedFigure(
            str(partners[p]), objectives[o].code, maquette, programmed
        )
    return out


def _execution_rows(
    contract: Contract,
    partners: dict[int, Partner],
    objectives: dict[int, Objective],
    as_of: dt.date,
) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """{(partner code, objective code): (maquette, programmed)}, from the finance app's
    aggregation service (so pages, rules and reports agree)."""
    result = aggregation.execution(
        contract=contract,
        as_of=as_of,
        group_by=("partner", "objective"),
        filters={
            "partner": [p.code for p in partners.values()],
            "objective": [o.code for o in objectives.values()],
        },
    )
    return {
        (str(r.key["partner"]), str(r.key["objective"])): (
            Decimal(r.maquette or 0),
            Decimal(r.programmed or 0),
        )
        for r in result.rows
    }


# --- committees and owners ---------------------------------------------------------------------


def committee_list(*, contract: Contract) -> list[Committee]:
    return list(
        Committee.objects.filter(contract=contract)
        .annotate(
            agenda_count=Count("decisions"),
            approved_count=Count("decisions", filter=Q(decisions__outcome="approved")),
        )
        .order_by("-date", "-id")
    )


@dataclass
class AgendaItem:
    decision: Decision
    operation: Operation
    lines: list[FinancingLine]
    approved: dict[int, Decimal]

    @property
    def approved_total(self) -> Decimal:
        return sum(self.approved.values(), ZERO)


@dataclass
class CommitteeDetail:
    committee: Committee
    items: list[AgendaItem]
    totals_by_partner: list[tuple[str, Decimal]]


def committee_detail(*, contract: Contract, pk: int) -> CommitteeDetail:
    committee = Committee.objects.select_related("contract").get(contract=contract, pk=pk)
    decisions = list(
        Decision.objects.filter(committee=committee)
        .select_related("operation__owner", "operation__objective", "operation__departement")
        .order_by("id")
    )
    op_ids = [d.operation_id for d in decisions]
    lines_by_op: dict[int, list[FinancingLine]] = {}
    for line in (
        FinancingLine.objects.filter(operation_id__in=op_ids, status=LineStatus.ACTIVE)
        .select_related("partner")
        .order_by("id")
    ):
        lines_by_op.setdefault(line.operation_id, []).append(line)
    amounts: dict[int, dict[int, Decimal]] = {}
    by_partner: dict[str, Decimal] = {}
    for a in DecisionAmount.objects.filter(decision__committee=committee).select_related(
        "financing_line__partner"
    ):
        amounts.setdefault(a.decision_id, {})[a.financing_line_id] = a.amount
        who = str(a.financing_line.partner or a.financing_line.financer_label)
        by_partner[who] = by_partner.get(who, ZERO) + a.amount
    items = [
        AgendaItem(d, d.operation, lines_by_op.get(d.operation_id, []), amounts.get(d.pk, {}))
        for d in decisions
    ]
    return CommitteeDetail(committee, items, sorted(by_partner.items()))


def owner_find(*, identifier: str) -> ProjectOwner | None:
    """The owner with this SIRET or RNA number (spaces ignored), or None."""
    ident = rules.normalise_identifier(identifier)
    if not ident:
        return None
    return ProjectOwner.objects.filter(Q(siret=ident) | Q(rna=ident)).first()
