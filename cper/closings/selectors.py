"""Reads of the closings app: the closings of a contract, one closing's figures, the latest one,
the commentary of its report, and the reconciliation — what changed for a closing's date since
it was made, with the difference per partner and axis and its causes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.closings import figures as F
from cper.closings.models import Closing, ReportComment
from cper.contracts.models import Axis, Contract
from cper.finance.models import Movement, MovementKind
from cper.operations.models import FinancingLine, LineStatus, OperationTransition

ZERO = Decimal("0.00")
# The groupings the reconciliation compares (the brief: per partner and axis).
RECONCILED = ("total", "axis", "partner", "axis,partner")
LINE_ACTIONS = (
    AuditAction.LINE_ADDED,
    AuditAction.LINE_UPDATED,
    AuditAction.LINE_CANCELLED,
    AuditAction.LINE_OBJECTIVE_FOLLOWS,
    AuditAction.LINE_APPROVED_AMOUNT,
    AuditAction.OPERATION_STATUS_CHANGED,
    AuditAction.OPERATION_UPDATED,
)


def closing_queryset(*, contract: Contract) -> QuerySet[Closing]:
    return (
        Closing.objects.filter(contract=contract)
        .select_related("created_by", "contract")
        .order_by("-at", "label")
    )


def closing_list(*, contract: Contract) -> list[Closing]:
    """The closings of a contract, latest date first. The figures are loaded with them: the
    list shows each closing's totals."""
    return list(closing_queryset(contract=contract))


def closing_get(*, contract: Contract, at: dt.date, label: str | None = None) -> Closing:
    """The closing of `contract` at `at`: the one with `label`, else the one without a label,
    else the only one of that date. Raises Closing.DoesNotExist otherwise."""
    candidates = list(closing_queryset(contract=contract).filter(at=at))
    if label is not None:
        for c in candidates:
            if c.label == label.strip():
                return c
        raise Closing.DoesNotExist(f"aucun arrêté au {at:%d/%m/%Y} libellé « {label} »")
    for c in candidates:
        if not c.label:
            return c
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise Closing.DoesNotExist(f"aucun arrêté au {at:%d/%m/%Y}")
    labels = ", ".join(f"« {c.label} »" for c in candidates)
    raise Closing.DoesNotExist(f"plusieurs arrêtés au {at:%d/%m/%Y} ({labels}) : précisez --label")


def closing_by_pk(*, contract: Contract, pk: int) -> Closing:
    return closing_queryset(contract=contract).get(pk=pk)


def latest_closing(*, contract: Contract, before: dt.date | None = None) -> Closing | None:
    """The closing of the latest date (≤ `before` when given)."""
    qs = closing_queryset(contract=contract)
    if before is not None:
        qs = qs.filter(at__lte=before)
    return qs.order_by("-at", "-created_at").first()


def digest_ok(closing: Closing) -> bool:
    """Whether the stored figures still give the stored digest."""
    return F.digest(closing.figures) == closing.digest


def current_comments(*, closing: Closing) -> dict[int, ReportComment]:
    """{axis number: its latest commentary version}."""
    out: dict[int, ReportComment] = {}
    for c in ReportComment.objects.filter(closing=closing).select_related("axis", "author"):
        out[c.axis.number] = c  # ordered by (axis, at, id): the last one wins
    return out


def comment_history(*, closing: Closing, axis: Axis) -> list[ReportComment]:
    return list(
        ReportComment.objects.filter(closing=closing, axis=axis)
        .select_related("author")
        .order_by("-at", "-id")
    )


# -- reconciliation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One row of a grouping: frozen, known today (for the same date), and the gap."""

    key: dict[str, Any]
    label: str
    frozen: F.FigureRow | None
    today: F.FigureRow | None

    def _get(self, side: F.FigureRow | None, measure: str) -> Decimal:
        value = side.amount(measure) if side is not None else None
        return value if value is not None else ZERO

    def gap(self, measure: str) -> Decimal:
        return self._get(self.today, measure) - self._get(self.frozen, measure)

    @property
    def changed(self) -> bool:
        return any(self.gap(m) for m in F.MEASURES)

    @property
    def gaps(self) -> dict[str, Decimal]:
        return {m: self.gap(m) for m in F.MEASURES}


@dataclass(frozen=True)
class MovementCause:
    movement: Movement
    operation_code: str
    partner: str
    axis: int
    committed: Decimal  # signed
    paid: Decimal  # signed


@dataclass(frozen=True)
class LineCause:
    line: FinancingLine
    what: str  # créée | annulée | modifiée


@dataclass
class Reconciliation:
    closing: Closing
    groupings: dict[str, list[Difference]]
    movements: list[MovementCause] = field(default_factory=list)
    lines: list[LineCause] = field(default_factory=list)
    transitions: list[OperationTransition] = field(default_factory=list)
    journal: list[AuditEntry] = field(default_factory=list)

    def changed(self, grouping: str) -> list[Difference]:
        return [d for d in self.groupings.get(grouping, []) if d.changed]

    @property
    def total(self) -> Difference:
        return self.groupings["total"][0]

    @property
    def unchanged(self) -> bool:
        return not (
            self.total.changed or self.movements or self.lines or self.transitions or self.journal
        )


def _differences(frozen: dict[str, Any], today: dict[str, Any], name: str) -> list[Difference]:
    a = {r.key_text: r for r in F.rows_of(frozen, name)}
    b = {r.key_text: r for r in F.rows_of(today, name)}
    order = list(a) + [k for k in b if k not in a]
    return [
        Difference(
            key=(a.get(k) or b[k]).key,
            label=(b.get(k) or a[k]).label,
            frozen=a.get(k),
            today=b.get(k),
        )
        for k in order
    ]


def reconciliation(*, closing: Closing) -> Reconciliation:
    """Today's figures for the closing's date against the frozen ones, per partner and axis, and
    what was recorded after the closing that bears on that date."""
    contract = closing.contract
    today = F.execution_figures(contract=contract, at=closing.at, only=RECONCILED)
    groups = {name: _differences(closing.figures, today, name) for name in RECONCILED}
    if not groups["total"]:
        groups["total"] = [Difference({}, "Total", None, None)]
    marks = closing.watermarks or {}
    movements = (
        Movement.objects.filter(
            financing_line__operation__contract=contract,
            date__lte=closing.at,
            id__gt=marks.get("movement", 0),
        )
        .select_related(
            "financing_line__operation",
            "financing_line__partner",
            "financing_line__objective__axis",
            "recorded_by",
        )
        .order_by("recorded_at", "id")
    )
    causes = []
    for m in movements:
        line = m.financing_line
        sign = -1 if m.kind in {MovementKind.DECOMMITMENT, MovementKind.PAYMENT_CANCELLATION} else 1
        committed = m.amount * sign if m.kind in {"commitment", "decommitment"} else ZERO
        paid = m.amount * sign if m.kind in {"payment", "payment_cancellation"} else ZERO
        causes.append(
            MovementCause(
                movement=m,
                operation_code=line.operation.code,
                partner=str(line.partner or line.financer_label),
                axis=line.objective.axis.number,
                committed=committed,
                paid=paid,
            )
        )
    lines = []
    for line in (
        FinancingLine.objects.filter(
            operation__contract=contract, updated_at__gt=closing.created_at
        )
        .select_related("operation", "partner", "objective__axis")
        .order_by("operation__code", "id")
    ):
        if line.created_at > closing.created_at:
            what = "créée"
        elif line.status == LineStatus.CANCELLED:
            what = "annulée"
        else:
            what = "modifiée"
        lines.append(LineCause(line, what))
    transitions = list(
        OperationTransition.objects.filter(
            operation__contract=contract,
            id__gt=marks.get("transition", 0),
            at__date__lte=closing.at,
        )
        .select_related("operation", "user")
        .order_by("at", "id")
    )
    journal = list(
        AuditEntry.objects.filter(
            contract_id=contract.pk,
            id__gt=marks.get("audit", 0),
            action__in=[a.value for a in LINE_ACTIONS],
        )
        .select_related("user")
        .order_by("at", "id")[:500]
    )
    return Reconciliation(closing, groups, causes, lines, transitions, journal)
