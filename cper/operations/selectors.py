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
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from cper.accounts.permissions import can, sees_unpublished
from cper.audit.models import AuditEntry
from cper.contracts.models import Axis, Contract, Marker, Objective, Partner, PartnerKind
from cper.db import MoneyField
from cper.findings import Finding
from cper.money import CENT, ZERO
from cper.operations import rules
from cper.operations.execution import execution
from cper.operations.lifecycle import allowed_targets
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Committee,
    Decision,
    DecisionAmount,
    FinancerKind,
    FinancingLine,
    LineStatus,
    Operation,
    OperationCommune,
    OperationStatus,
    OperationTransition,
    PartnerDecision,
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
# Sort keys (prefix "-" for descending) → model fields. The number (code), unique in a contract,
# breaks ties: the list then walks the (contract, code) unique index, where an appended "id"
# made the database sort the whole register for a deep page. The amount is the maintained
# total of the finance summaries (`amount_total`, see `_by_amount`).
ORDERS: dict[str, tuple[str, ...]] = {
    "code": ("code",),
    "title": ("title",),
    "owner": ("owner__name",),
    "objective": ("objective__axis__number", "objective__position"),
    "departement": ("departement_id",),
    "status": ("status",),
    "start_date": ("start_date",),
    "updated": ("updated_at",),
    "amount": ("amount_total__contractualised", "id"),
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
        qs = qs.filter(_text_condition(" ".join(v)))
    return qs


OWNERS_INLINE = 2000


def _text_condition(text: str) -> Q:
    """Title, number or owner's name containing `text` (case ignored), or owner's SIRET
    starting with it. On PostgreSQL, trigram indexes (pg_trgm, operations migration 0003)
    serve these `UPPER(…) LIKE` conditions: the owners are resolved first (their own index) and
    given as ids, so that every branch of the OR is an index scan. SQLite has no such index:
    it reads the register (a few milliseconds per thousand operations) — the honest fallback."""
    owners = ProjectOwner.objects.filter(name__icontains=text)
    ident = rules.normalise_identifier(text)
    if ident.isdigit() and len(ident) >= 9:
        owners = owners | ProjectOwner.objects.filter(siret__startswith=ident)
    found = list(owners.values_list("pk", flat=True)[: OWNERS_INLINE + 1])
    by_owner = (
        Q(owner_id__in=found)
        if len(found) <= OWNERS_INLINE
        else Q(owner_id__in=owners.values("pk"))
    )
    return Q(title__icontains=text) | Q(code__icontains=text) | by_owner


def _order_by(order: str) -> list[str]:
    desc = order.startswith("-")
    key = order.lstrip("-")
    if key not in ORDERS:
        raise FilterError(f"tri inconnu « {order} » (possibles : {', '.join(ORDERS)})")
    fields = [f"-{f}" if desc else f for f in ORDERS[key]]
    if key in ("code", "amount"):
        return fields  # unique already (the amount: see `_by_amount`)
    return [*fields, "-code" if desc else "code"]


def _totals_kept(contract: Contract) -> bool:
    """Whether the finance summaries keep a total for every operation of the contract (they
    do once migrated and synced; an operation written around the services would lack one)."""
    return execution().totals_kept(contract)


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
    `contractualised_total` (active contractualised lines). Four queries whatever the size:
    the count, the page's ids (along the sort's index), those rows, and their totals; with a
    text search, the count rides on the ids; sorted by amount, a query first checks that every
    operation has its maintained total, whose index then gives the ids and the amounts.
    """
    filters = dict(filters or {})
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    page = max(1, int(page or 1))
    order = order or DEFAULT_ORDER
    ordering = _order_by(order)
    qs = apply_filters(operation_queryset(contract=contract, user=user), filters)
    counted_qs = qs  # what is counted: the join below adds no row when the totals are kept
    by_amount = order.lstrip("-") == "amount"
    kept = by_amount and _totals_kept(contract)
    if kept:
        # an inner join on the maintained totals, walked along their (contract, amount,
        # operation) index
        qs = qs.filter(amount_total__contract=contract).annotate(
            _cents=F("amount_total__contractualised")
        )
    elif by_amount:  # totals not kept for every operation yet: summed here (slower)
        qs = qs.annotate(
            contractualised_total=Coalesce(_contractualised_sum(), Value(ZERO)),
            _cents=Value(None, output_field=BigIntegerField()),
        )
        desc = order.startswith("-")
        ordering = ["-contractualised_total", "-id"] if desc else ["contractualised_total", "id"]
    else:
        qs = qs.annotate(_cents=Value(None, output_field=BigIntegerField()))
    searching = bool(_values(filters.get("q")))
    if searching:
        # The few matches first (trigram indexes), then their sort: a sort key the database
        # cannot take from an index, lest it walk the whole index testing every operation.
        first, *rest = ordering
        key = first.lstrip("-")
        expr = Coalesce(F(key), F(key))
        ordering = [expr.desc() if first.startswith("-") else expr.asc(), *rest]  # type: ignore[list-item]
    # The page's ids first, along the sort's index (nothing joined), then those rows with
    # what they show: a deep page no longer joins every operation before it.
    ids = qs.order_by(*ordering)
    if searching:
        # A text search is counted once: the count rides on the page's ids (a window over the
        # same matching rows), not a second scan of the text conditions.
        found = list(
            ids.annotate(_count=Window(Count("pk"))).values_list("pk", "_cents", "_count")[
                (page - 1) * limit : page * limit
            ]
        )
        total = found[0][2] if found else 0
        if not found and page > 1:  # past the end: the last page
            total = counted_qs.count()
            page = max(1, -(-total // limit))
            found = list(ids.values_list("pk", "_cents", "pk")[(page - 1) * limit : page * limit])
    else:
        total = counted_qs.count()
        page = min(page, max(1, -(-total // limit)))
        found = list(ids.values_list("pk", "_cents", "pk")[(page - 1) * limit : page * limit])
    rows = Operation.objects.select_related("owner", "objective__axis", "departement", "epci")
    by_pk = rows.in_bulk([pk for pk, _, _ in found])
    items = [by_pk[pk] for pk, _, _ in found]
    if kept:
        for o, (_, cents, _) in zip(items, found, strict=True):
            o.contractualised_total = (Decimal(cents) / 100).quantize(CENT)  # type: ignore[attr-defined]
    elif items:
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
    # Over-programming compares with every operation, published or not: staff only, so that
    # the public cannot infer unpublished amounts from the warning.
    if op.status in PROGRAMMED_STATUSES and sees_unpublished(user):
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
    return execution().maquette_and_programmed(
        contract=contract,
        partner_codes=[p.code for p in partners.values()],
        objective_codes=[o.code for o in objectives.values()],
        as_of=as_of,
    )


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


# --- search for the operation form: known owners, communes by name or code ---------------------

SEARCH_LIMIT = 10
_COMMUNE_CODE = r"^(?:\d{5}|2[AB]\d{3})$"


@dataclass
class SearchResult:
    """What a search found: the first `limit` items, and how many match in all."""

    items: list[Any]
    count: int
    query: str

    @property
    def more(self) -> int:
        return max(self.count - len(self.items), 0)


def owner_search(*, query: str, limit: int = SEARCH_LIMIT) -> SearchResult:
    """Known maîtres d'ouvrage by name, SIRET or RNA number (its beginning, spaces ignored), or
    the name or INSEE code of their commune; every word typed must match. Sorted by name."""
    text = " ".join((query or "").split())
    if len(text) < 2:
        return SearchResult([], 0, text)
    ident = rules.normalise_identifier(text)
    cond = Q()
    if ident.isdigit() and len(ident) >= 3:
        cond = Q(siret__startswith=ident) | Q(commune_id=ident)
    elif ident.startswith("W") and len(ident) >= 3 and ident[1:].isalnum():
        cond = Q(rna__startswith=ident)
    words = Q()
    for word in text.split():
        words &= (
            Q(name__icontains=word)
            | Q(commune__name__icontains=word)
            | Q(commune__code__startswith=word)
        )
    qs = ProjectOwner.objects.filter(cond | words if cond else words)
    items = list(qs.select_related("commune__departement").order_by("name", "pk")[:limit])
    count = len(items) if len(items) < limit else qs.count()
    return SearchResult(items, count, text)


def commune_search(
    *, query: str, region_code: str | None = None, limit: int = SEARCH_LIMIT
) -> SearchResult:
    """Communes (COG) by the beginning of their name or INSEE code, those of `region_code`
    first, then by name; each with its département."""
    text = " ".join((query or "").split())
    if len(text) < 2:
        return SearchResult([], 0, text)
    if text[:1].isdigit() or text.upper().startswith("2A") or text.upper().startswith("2B"):
        qs = Commune.objects.filter(code__startswith=text.upper())
    else:
        qs = Commune.objects.filter(name__istartswith=text)
    ordered = qs.select_related("departement").order_by(
        *([_in_region_first(region_code)] if region_code else []), "name", "code"
    )
    items = list(ordered[:limit])
    count = len(items) if len(items) < limit else qs.count()
    return SearchResult(items, count, text)


def _in_region_first(region_code: str) -> Any:
    from django.db.models import Case, IntegerField, When

    return Case(
        When(departement__region_id=region_code, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    ).asc()


@dataclass
class CommuneEntry:
    """One commune typed in the operation form: the text, and what it names — the commune's
    code, or the candidates when the name is ambiguous (none when it is unknown)."""

    text: str
    code: str | None = None
    candidates: list[Commune] = field(default_factory=list)
    hint: str = ""  # the département given in brackets: `Saint-Martin (62)`


def communes_resolve(*, entries: Iterable[str], region_code: str) -> list[CommuneEntry]:
    """What each entry names: an INSEE code (`80021`) is taken as typed (the rules check it
    exists); a name (`Amiens`, any case), `Name (80021)` or `Name (80)` is looked up in the
    COG — a name borne by several communes names the one in the contract's region if only one
    is there, else is ambiguous. One query for all the names."""
    import re

    out: list[CommuneEntry] = []
    names: dict[str, list[CommuneEntry]] = {}
    for raw in entries:
        text = " ".join(raw.split())
        entry = CommuneEntry(text)
        out.append(entry)
        m = re.match(r"^(.*?)\s*\(\s*([0-9AB]{2,5})\s*\)$", text, re.IGNORECASE)
        bare, hint = (m.group(1), m.group(2).upper()) if m else (text, "")
        if re.match(_COMMUNE_CODE, text.upper()):
            entry.code = text.upper()
        elif re.match(_COMMUNE_CODE, hint):
            entry.code = hint
        else:
            entry.hint = hint
            names.setdefault(bare.lower(), []).append(entry)
    if not names:
        return out
    cond = Q()
    for name in names:
        cond |= Q(name__iexact=name)
    found: dict[str, list[Commune]] = {}
    for c in Commune.objects.filter(cond).select_related("departement").order_by("code"):
        found.setdefault(c.name.lower(), []).append(c)
    for name, waiting in names.items():
        for entry in waiting:
            pool = [
                c
                for c in found.get(name, [])
                if c.departement_id == (entry.hint or c.departement_id)
            ]
            local = [c for c in pool if c.departement.region_id == region_code]
            if len(pool) == 1:
                entry.code = pool[0].code
            elif len(local) == 1:
                entry.code = local[0].code
            else:
                entry.candidates = pool
    return out


def illustrative_operations_exist(*, contract: Contract) -> bool:
    """Whether the register holds operations invented for the demonstration (`cper demo`): the
    execution figures computed from it are then illustrative too."""
    return Operation.objects.filter(contract=contract, provenance="illustrative").exists()


# --- issue 12: the State and its operators ----------------------------------------------------


@dataclass(frozen=True)
class StateOperatorsRow:
    """One axis or objective: the State's own lines (contractualised, valorised) beside its
    operators' co-financing, each operator apart. Never added together."""

    key: str  # the axis number or the objective code
    label: str
    state_contractualised: Decimal
    state_valorised: Decimal
    operators: dict[str, Decimal]  # operator label → amount

    @property
    def operators_total(self) -> Decimal:
        return sum(self.operators.values(), ZERO)


@dataclass(frozen=True)
class StateOperators:
    by: str  # "axis" or "objective"
    programmed_only: bool
    operators: list[str]  # the operators present, in `rules.STATE_OPERATORS` order
    rows: list[StateOperatorsRow]
    total: StateOperatorsRow


STATE_OPERATORS_BY = ("axis", "objective")


def state_and_operators(
    *, contract: Contract, user: Any, by: str = "axis", programmed_only: bool = True
) -> StateOperators:
    """The State's amounts (lines of the contract's State partners, contractualised and
    valorised apart) beside the State's operators' co-financing (lines of kind « opérateur de
    l'État », per operator), by `by` ("axis" or "objective") of the line's objective: active
    lines of the operations `user` may see — of programmed operations only by default. Two
    queries (the structure, the sums)."""
    if by not in STATE_OPERATORS_BY:
        raise ValueError(f"regroupement inconnu « {by} » (axis, objective)")
    field_name = "objective__axis__number" if by == "axis" else "objective__code"
    lines = FinancingLine.objects.filter(
        operation__in=operation_queryset(contract=contract, user=user),
        status=LineStatus.ACTIVE,
    ).filter(
        Q(financer_kind=FinancerKind.PARTNER, partner__kind=PartnerKind.STATE)
        | Q(financer_kind=FinancerKind.STATE_OPERATOR)
    )
    if programmed_only:
        lines = lines.filter(operation__status__in=PROGRAMMED_STATUSES)
    sums = (
        lines.values(field_name, "financer_kind", "contractualised", "financer_label")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    if by == "axis":
        scopes = [
            (str(a.number), f"Axe {a.number} — {a.title}")
            for a in Axis.objects.filter(contract=contract).order_by("number")
        ]
    else:
        scopes = [
            (o.code, f"{o.code} {o.title}")
            for o in Objective.objects.filter(contract=contract).order_by(
                "axis__number", "position"
            )
        ]
    state: dict[str, dict[bool, Decimal]] = {}
    ops: dict[str, dict[str, Decimal]] = {}
    for s in sums:
        key = str(s[field_name])
        if s["financer_kind"] == FinancerKind.PARTNER:
            bucket = state.setdefault(key, {True: ZERO, False: ZERO})
            bucket[bool(s["contractualised"])] += s["amount"]
        else:
            per = ops.setdefault(key, {})
            label = rules.state_operator_label(s["financer_label"]) or s["financer_label"]
            per[label] = per.get(label, ZERO) + s["amount"]
    known = [label for _, label in rules.STATE_OPERATORS]
    present = {label for per in ops.values() for label in per}
    operators = [lb for lb in known if lb in present] + sorted(present - set(known))
    rows = [
        StateOperatorsRow(
            key=key,
            label=label,
            state_contractualised=state.get(key, {}).get(True, ZERO),
            state_valorised=state.get(key, {}).get(False, ZERO),
            operators=ops.get(key, {}),
        )
        for key, label in scopes
    ]
    total_ops: dict[str, Decimal] = {}
    for r in rows:
        for label, amount in r.operators.items():
            total_ops[label] = total_ops.get(label, ZERO) + amount
    total = StateOperatorsRow(
        key="",
        label="Total",
        state_contractualised=sum((r.state_contractualised for r in rows), ZERO),
        state_valorised=sum((r.state_valorised for r in rows), ZERO),
        operators=total_ops,
    )
    return StateOperators(by, programmed_only, operators, rows, total)


# -- issue 12: partners' decisions ------------------------------------------------------------


@dataclass
class PartnerDecisionRow:
    """A contract partner's active line on an operation, with its partner's decisions (by
    date) and the one in force (the latest)."""

    line: FinancingLine
    decisions: list[PartnerDecision]
    can_record: bool

    @property
    def in_force(self) -> PartnerDecision | None:
        return self.decisions[-1] if self.decisions else None


def partner_decision_rows(
    *, operation: Operation, user: Any, lines: Iterable[FinancingLine] | None = None
) -> list[PartnerDecisionRow]:
    """The operation's active partner lines (`lines` when the caller has them, with their
    partners) and their partners' decisions: one query for the decisions, one for the lines
    when they are not given."""
    if lines is None:
        lines = FinancingLine.objects.filter(operation=operation).select_related(
            "partner", "operation"
        )
    kept = sorted(
        (ln for ln in lines if ln.status == LineStatus.ACTIVE and ln.partner_id is not None),
        key=lambda ln: ln.pk,
    )
    by_line: dict[int, list[PartnerDecision]] = {ln.pk: [] for ln in kept}
    if by_line:
        for decision in PartnerDecision.objects.filter(
            financing_line_id__in=list(by_line)
        ).order_by("date", "id"):
            by_line[decision.financing_line_id].append(decision)
    return [
        PartnerDecisionRow(
            line=ln,
            decisions=by_line[ln.pk],
            can_record=can(user, "partner_decision.record", ln),
        )
        for ln in kept
    ]


def line_partner_decisions(*, line: FinancingLine) -> list[PartnerDecision]:
    """A line's partner decisions, by date then recording order (the last is in force)."""
    return list(
        PartnerDecision.objects.filter(financing_line=line)
        .select_related("partner")
        .order_by("date", "id")
    )


def partner_decision_get(*, contract: Contract, operation_pk: int, pk: int) -> PartnerDecision:
    """One decision of one of the contract's operations (DoesNotExist otherwise)."""
    return PartnerDecision.objects.select_related("financing_line__operation", "partner").get(
        pk=pk,
        financing_line__operation_id=operation_pk,
        financing_line__operation__contract=contract,
    )


@dataclass
class AwaitingDecisions:
    lines: list[FinancingLine]
    total: int


def lines_awaiting_decision(
    *, contract: Contract, partner_ids: Iterable[int], limit: int = 20
) -> AwaitingDecisions:
    """The partners' active lines on operations the committee has given an avis favorable
    (a programmed status), on which the partner has recorded no decision yet: the `limit`
    oldest by operation code, and how many there are."""
    qs = (
        FinancingLine.objects.filter(
            operation__contract=contract,
            operation__status__in=list(PROGRAMMED_STATUSES),
            partner_id__in=list(partner_ids),
            status=LineStatus.ACTIVE,
        )
        .filter(~Exists(PartnerDecision.objects.filter(financing_line=OuterRef("pk"))))
        .select_related("operation", "partner")
        .order_by("operation__code", "pk")
    )
    return AwaitingDecisions(lines=list(qs[:limit]), total=qs.count())
