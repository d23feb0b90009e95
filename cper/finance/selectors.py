"""Reads of the ledger for an operation's page: each financing line's execution (programmed,
committed, paid, what remains, rates, last movement) and its movements, with the totals of the
operation.

The figures come from the aggregation service (`aggregation.line_execution`, the one that
computes every execution figure), so the page and the dashboards agree to the cent; the
movements are read in one query with who recorded them and what they cancel.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, DateField, F, Max, Min, OuterRef, Q, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from cper.accounts.permissions import STAFF_ROLES, can, role_of, sees_unpublished
from cper.contracts.models import Partner
from cper.finance import rules, vocabulary
from cper.finance.aggregation import ExecutionQueryError, ExecutionRow, line_execution
from cper.finance.aggregation.ledger import _where
from cper.finance.aggregation.planning import _complete, _normalise, _ref
from cper.finance.dialect import movement_cents_sql
from cper.finance.models import AeMiseEnPlace, LineState, Movement, MovementKind
from cper.finance.summaries import euros
from cper.money import rate
from cper.operations.models import FinancingLine, LineStatus, Operation
from cper.operations.selectors import operation_queryset

ZERO = Decimal("0.00")


@dataclass
class MovementView:
    """A movement as the page lists it: `cancelled_by` is the cancellation that corrects it."""

    movement: Movement
    cancelled_by: Movement | None = None

    @property
    def signed_amount(self) -> Decimal:
        kind = self.movement.kind
        negative = kind in {
            MovementKind.DECOMMITMENT,
            MovementKind.PAYMENT_CANCELLATION,
            MovementKind.DESAFFECTATION,
        }
        return -self.movement.amount if negative else self.movement.amount

    @property
    def kind_label(self) -> str:
        """The movement's kind in its line's chain's words (AP/CP: « mandat »…)."""
        m = self.movement
        return vocabulary.kind_label(m.kind, m.financing_line.budget_nature, m.get_kind_display())


class _Derived:
    """What follows from programmed, committed and paid: what remains, and the rates."""

    programmed: Decimal
    committed: Decimal
    paid: Decimal

    @property
    def remaining_to_commit(self) -> Decimal:
        return self.programmed - self.committed

    @property
    def remaining_to_pay(self) -> Decimal:
        return self.committed - self.paid

    @property
    def commitment_rate(self) -> Decimal | None:
        return rate(self.committed, self.programmed)

    @property
    def payment_rate(self) -> Decimal | None:
        return rate(self.paid, self.committed)


@dataclass
class LineExecutionView(_Derived):
    """One financing line's execution at `as_of`, its movements and what the viewer may do."""

    line: FinancingLine
    programmed: Decimal
    committed: Decimal
    paid: Decimal
    movements: list[MovementView] = field(default_factory=list)
    can_record: bool = False
    # AP/CP chain: the net AP affectée at `as_of` (None where the line's chain has none)
    affected: Decimal | None = None

    @property
    def labels(self) -> dict[str, str]:
        """The words of the line's budget chain (`vocabulary.ap_labels`)."""
        return vocabulary.ap_labels(self.line.budget_nature)

    @property
    def last_movement(self) -> Movement | None:
        return self.movements[-1].movement if self.movements else None

    @property
    def cancellable_payments(self) -> list[Movement]:
        """Payments not yet cancelled: what a payment cancellation may correct."""
        return [
            v.movement
            for v in self.movements
            if v.movement.kind == MovementKind.PAYMENT and v.cancelled_by is None
        ]


@dataclass
class OperationExecution(_Derived):
    """The execution of an operation's active lines at `as_of`, with totals."""

    operation: Operation
    as_of: dt.date
    lines: list[LineExecutionView]
    shows_who: bool

    programmed: Decimal = field(init=False)
    committed: Decimal = field(init=False)
    paid: Decimal = field(init=False)

    def __post_init__(self) -> None:  # the operation's totals: the sums of its lines
        for name in ("programmed", "committed", "paid"):
            setattr(self, name, sum((getattr(v, name) for v in self.lines), ZERO))

    @property
    def can_record(self) -> bool:
        return any(v.can_record for v in self.lines)

    def line(self, pk: int) -> LineExecutionView | None:
        return next((v for v in self.lines if v.line.pk == pk), None)


def operation_execution(
    *, operation: Operation, user: Any, as_of: dt.date | None = None
) -> OperationExecution:
    """The execution of `operation` (already checked visible to `user`) at `as_of` (today by
    default): four queries whatever the number of lines and movements."""
    as_of = as_of or timezone.localdate()
    lines = list(
        FinancingLine.objects.filter(operation=operation, status=LineStatus.ACTIVE)
        .select_related("partner", "objective", "programme")
        .order_by("pk")
    )
    figures = line_execution(lines=lines, as_of=as_of)
    movements = list(
        Movement.objects.filter(financing_line__in=lines)
        .select_related("recorded_by")
        .order_by("financing_line_id", "date", "pk")
    )
    cancellations = {m.cancels_id: m for m in movements if m.cancels_id is not None}
    by_line: dict[int, list[MovementView]] = {}
    for m in movements:
        by_line.setdefault(m.financing_line_id, []).append(
            MovementView(movement=m, cancelled_by=cancellations.get(m.pk))
        )
    views = []
    for line in lines:
        f = figures[line.pk]
        own = by_line.get(line.pk, [])
        for v in own:  # the line is at hand: no query per movement for its words
            v.movement.financing_line = line
        partner = line.partner
        affected = None
        if vocabulary.offers_affectation(
            line.budget_nature, partner is not None and partner.affectation_required
        ):
            affected = sum(
                (v.movement.signed_affected for v in own if v.movement.date <= as_of), ZERO
            )
        views.append(
            LineExecutionView(
                line=line,
                programmed=f.programmed,
                committed=f.committed,
                paid=f.paid,
                movements=own,
                can_record=can(user, "movement.record", line),
                affected=affected,
            )
        )
    return OperationExecution(
        operation=operation, as_of=as_of, lines=views, shows_who=role_of(user) in STAFF_ROLES
    )


# -- a partner's work lists (its workspace) -------------------------------------------------------

WORK_LIST_LIMIT = 200  # rows shown per list; the count says how many there are


@dataclass
class WorkList:
    """Some rows of a work list, oldest first, and how many there are in all."""

    rows: list[Any]
    count: int


@dataclass
class OpenLine:
    """A financing line of a partner with what it waits for."""

    line: FinancingLine
    programmed: Decimal
    committed: Decimal
    paid: Decimal
    programmed_on: dt.date | None
    since: dt.date | None = None  # last payment, or first commitment when none

    @property
    def remaining_to_pay(self) -> Decimal:
        return self.committed - self.paid


def _open_lines(states: Any, limit: int) -> list[OpenLine]:
    rows = list(
        states.values_list("line_id", "programmed", "committed", "paid", "programmed_on")[:limit]
    )
    lines = FinancingLine.objects.select_related("operation", "partner").in_bulk(
        [r[0] for r in rows]
    )
    return [
        OpenLine(lines[pk], cents_to_euros(p), cents_to_euros(c), cents_to_euros(pd), on)
        for pk, p, c, pd, on in rows
    ]


def cents_to_euros(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


def lines_programmed_not_committed(*, partner: Any, limit: int = WORK_LIST_LIMIT) -> WorkList:
    """The partner's lines programmed (today's state) on which nothing is committed, the
    longest waiting first."""
    states = LineState.objects.filter(partner=partner, programmed__gt=0, committed=0).order_by(
        "programmed_on", "line_id"
    )
    return WorkList(_open_lines(states, limit), states.count())


def commitments_without_payment(
    *, partner: Any, before: dt.date, limit: int = WORK_LIST_LIMIT
) -> WorkList:
    """The partner's lines with something left to pay whose last payment — or, without any
    payment, whose first commitment — is dated before `before` (12 months ago on the page)."""
    open_ids = LineState.objects.filter(partner=partner, committed__gt=F("paid")).values("line_id")
    dates = (
        Movement.objects.filter(financing_line_id__in=open_ids)
        .values("financing_line_id")
        .annotate(
            last_payment=Max("date", filter=Q(kind=MovementKind.PAYMENT)),
            first_commitment=Min("date", filter=Q(kind=MovementKind.COMMITMENT)),
        )
    )
    stale = sorted(
        (
            (d["last_payment"] or d["first_commitment"], d["financing_line_id"])
            for d in dates
            if (d["last_payment"] or d["first_commitment"]) is not None
            and (d["last_payment"] or d["first_commitment"]) < before
        ),
    )
    shown = stale[:limit]
    since = {pk: day for day, pk in shown}
    rows = _open_lines(LineState.objects.filter(line_id__in=list(since)).order_by("line_id"), limit)
    for r in rows:
        r.since = since[r.line.pk]
    rows.sort(key=lambda r: (r.since, r.line.pk))
    return WorkList(rows, len(stale))


def movements_between(
    *, partner: Any, start: dt.date, end: dt.date, limit: int = WORK_LIST_LIMIT
) -> WorkList:
    """The movements on the partner's lines dated from `start` to `end` included."""
    qs = Movement.objects.filter(
        financing_line__partner=partner, date__gte=start, date__lte=end
    ).order_by("date", "pk")
    rows = list(qs.select_related("financing_line__operation", "recorded_by")[:limit])
    return WorkList(rows, qs.count())


# -- caducité: affectations and commitments without payment (AP/CP chain) -------------------------

CADUCITY_WARN_MONTHS = 3  # lines within this many months of their caducité are listed too
_CADUCITY_SCAN = 5  # candidates read per row shown (the SQL date is a lower bound, see below)


@dataclass
class CaducityLine:
    """A line whose affectation or commitment lapses (`lapses_on`) for want of payment since
    `since`; `past` when the date is reached at `as_of`."""

    line: FinancingLine
    affected: Decimal
    committed: Decimal
    paid: Decimal
    since: dt.date
    lapses_on: dt.date
    past: bool
    message: str


def lines_near_caducity(
    *,
    as_of: dt.date,
    partner: Any = None,
    contract: Any = None,
    warn_months: int = CADUCITY_WARN_MONTHS,
    limit: int = WORK_LIST_LIMIT,
    published_only: bool = False,
) -> WorkList:
    """The lines of `partner` (or of every partner of `contract` that follows a caducité) whose
    affectation or commitment lapses at `as_of` or within `warn_months` after it, the earliest
    first (`CaducityLine`s; dates by `rules.caducity_date`, the partner's `caducity_months`).

    One query picks candidates among the line states with something unpaid — ordered by their
    last payment or else first affectation/commitment date, a lower bound of the exact date,
    and limited (ORDER BY … LIMIT) to `_CADUCITY_SCAN` × `limit`; their movements are then read
    in one query and the exact dates computed. `count` counts the rows found among them. At
    today's date (the dashboards' default) those two dates are the ones the states keep; at a
    past date, they are grouped from the movements up to it."""
    partners: list[tuple[int, int]] = [
        (pk, int(months or 0))
        for pk, months in Partner.objects.filter(
            **({"pk": partner.pk} if partner is not None else {"contract": contract}),
            caducity_months__isnull=False,
        ).values_list("pk", "caducity_months")
    ]
    if not partners:
        return WorkList([], 0)
    horizon = rules.add_months(as_of, warn_months)
    due = Q()
    for pk, months in partners:
        cut = rules.add_months(horizon, -months)
        if horizon.day == calendar.monthrange(horizon.year, horizon.month)[1]:
            # every day of that month lapses on `horizon` or before (29/02/2024 + 36 months =
            # 28/02/2027): the latest start that lapses by then is the month's last day
            cut = cut.replace(day=calendar.monthrange(cut.year, cut.month)[1])
        # Nothing is outstanding before the line's first affectation or commitment, so no line
        # opened after the cut is due: a cheap filter the database applies before `since`.
        due |= Q(partner_id=pk, opened_on__lte=cut, since__lte=cut)
    if as_of >= timezone.localdate():
        # No movement is dated after today (a ledger rule): the dates the states keep are
        # those at `as_of`, read without grouping the ledger.
        since: Any = Coalesce(F("paid_on"), F("opened_on"))
    else:
        # The last payment up to `as_of` is the one the state keeps unless that one is later:
        # only those lines read the ledger (one index probe each, on (line, date)), instead of
        # grouping every outstanding line's movements (most of the page's time at scale M).
        last_payment = (
            Movement.objects.filter(
                financing_line_id=OuterRef("line_id"),
                kind=MovementKind.PAYMENT,
                date__lte=as_of,
            )
            .order_by("-date")
            .values("date")[:1]
        )
        since = Case(
            When(
                paid_on__gt=as_of,
                then=Coalesce(Subquery(last_payment, output_field=DateField()), F("opened_on")),
            ),
            default=Coalesce(F("paid_on"), F("opened_on")),
            output_field=DateField(),
        )
    states = (
        LineState.objects.filter(
            Q(affected__gt=F("paid")) | Q(committed__gt=F("paid")),
            partner_id__in=[pk for pk, _ in partners],
            # nothing affected nor committed by `as_of`: nothing outstanding at that date
            opened_on__lte=as_of,
        )
        .annotate(since=since)
        .filter(due)
    )
    if published_only:
        states = states.filter(operation__published=True)
    found = list(
        states.order_by("since", "line_id").values_list(
            "line_id", "partner_id", "affected", "committed", "paid"
        )[: limit * _CADUCITY_SCAN]
    )
    months_of = dict(partners)
    entries: dict[int, list[rules.Entry]] = {}
    for lid, kind, day, amount in Movement.objects.filter(
        financing_line_id__in=[r[0] for r in found], date__lte=as_of
    ).values_list("financing_line_id", "kind", "date", "amount"):
        entries.setdefault(lid, []).append(rules.Entry(kind=kind, date=day, amount=amount))
    due_rows: list[tuple[dt.date, int, tuple[Any, ...], dt.date]] = []
    for row in found:
        lid, pid = row[0], row[1]
        since = rules.unpaid_since(entries=entries.get(lid, []), as_of=as_of)
        if since is None:
            continue
        lapse = rules.add_months(since, months_of[pid])
        if lapse <= horizon:
            due_rows.append((lapse, lid, row, since))
    due_rows.sort(key=lambda r: (r[0], r[1]))
    shown = due_rows[:limit]
    lines = FinancingLine.objects.select_related("operation", "partner").in_bulk(
        [r[1] for r in shown]
    )
    out = []
    for lapse, lid, (_, pid, affected, committed, paid), since in shown:
        finding = rules.caducity_findings(
            entries=entries.get(lid, []),
            months=months_of[pid],
            as_of=as_of,
            warn_months=warn_months,
        )
        out.append(
            CaducityLine(
                line=lines[lid],
                affected=cents_to_euros(affected),
                committed=cents_to_euros(committed),
                paid=cents_to_euros(paid),
                since=since,
                lapses_on=lapse,
                past=lapse <= as_of,
                message=finding[0].message if finding else "",
            )
        )
    return WorkList(out, len(due_rows))


# -- the dashboard's "programmed without commitment" alert: the N rows it shows ------------------


@dataclass
class StaleOperations:
    """The operations of an alert, largest first, at most the limit asked; `count` is how many
    there are in all. Rows are `aggregation.ExecutionRow`s keyed and labelled by operation, with
    the service's figures at the date (committed is 0 by definition)."""

    rows: list[ExecutionRow]
    count: int


def stale_programmed_operations(
    *,
    contract: Any,
    as_of: dt.date,
    programmed_by: dt.date,
    status: str,
    filters: dict[str, Any] | None = None,
    limit: int = 25,
) -> StaleOperations:
    """Operations in `status` whose lines under `filters` are programmed at `as_of` and already
    at `programmed_by`, with nothing committed at `as_of`: the `limit` largest (programmed at
    `as_of`, then number) and the count — one grouped query over the line states (HAVING,
    ORDER BY … LIMIT), labels for the rows shown only.

    The same figures as `aggregation.execution(group_by=("operation",), filters={…, "status":
    status})` at `as_of` and at `programmed_by` (every operation counted, as that default
    viewer does): the same line states and filters (`_normalise`, `_where`); at a past date,
    what was committed after it is taken away, line by line, from the cumulative amounts."""
    filters = {**(filters or {}), "status": status}
    ref = _ref([contract])
    f = _normalise(filters, ref)
    if f.years is not None:  # the year of what? not a question this alert asks
        raise ExecutionQueryError("le filtre « year » ne s'applique pas à cette alerte")
    if f.empty:
        return StaleOperations([], 0)
    complete = _complete(f.contract_ids, as_of)
    state = LineState._meta.db_table
    params: list[Any] = [as_of, programmed_by]
    where = " AND ".join(_where(f, params))
    grouped = (
        "SELECT s.operation_id AS op, "
        "SUM(CASE WHEN s.programmed_on <= %s THEN s.programmed ELSE 0 END) AS prog, "
        "SUM(CASE WHEN s.programmed_on <= %s THEN s.programmed ELSE 0 END) AS prog_then, "
        f"SUM(s.committed) AS c_all, SUM(s.paid) AS p_all FROM {state} s WHERE {where} "
        "GROUP BY s.operation_id"
    )
    ctes = [f"g AS ({grouped})", "cand AS (SELECT * FROM g WHERE prog <> 0 AND prog_then <> 0)"]
    if complete:
        late_c, late_p, late_join = "0", "0", ""
    else:
        committed, paid = movement_cents_sql("m")
        late_where = " AND ".join(_where(f, params))
        params.append(as_of)
        ctes.append(
            f"late AS (SELECT s.operation_id AS op, SUM({committed}) AS c, SUM({paid}) AS p "
            f"FROM {Movement._meta.db_table} m JOIN {state} s ON s.line_id = m.financing_line_id "
            f"WHERE {late_where} AND m.date > %s AND s.operation_id IN (SELECT op FROM cand) "
            "GROUP BY s.operation_id)"
        )
        late_c, late_p = "COALESCE(late.c, 0)", "COALESCE(late.p, 0)"
        late_join = "LEFT JOIN late ON late.op = cand.op "
    n = max(1, int(limit))
    ctes.append(
        f"f AS (SELECT cand.op AS op, cand.prog AS prog, cand.p_all - {late_p} AS paid "
        f"FROM cand {late_join}WHERE cand.c_all - {late_c} = 0)"
    )
    # The n-th largest amount: only the operations at or above it are joined to their number
    # (the tie-break) and label, not every stale operation.
    ctes.append(f"cut AS (SELECT prog FROM f ORDER BY prog DESC LIMIT 1 OFFSET {n - 1})")
    sql = (
        f"WITH {', '.join(ctes)} "
        "SELECT o.code, o.title, f.prog, f.paid, (SELECT COUNT(*) FROM f) "
        f"FROM f JOIN {Operation._meta.db_table} o ON o.id = f.op "
        "WHERE NOT EXISTS (SELECT 1 FROM cut) OR f.prog >= (SELECT prog FROM cut) "
        f"ORDER BY f.prog DESC, o.code LIMIT {n}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # tens of thousands of line states grouped: in memory, not in temporary files
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = [
        ExecutionRow(
            key={"operation": code},
            labels={"operation": f"{code} {title}".strip()},
            maquette=None,
            programmed=euros(int(prog)),
            committed=euros(0),
            paid=euros(int(paid)),
        )
        for code, title, prog, paid, _ in found
    ]
    return StaleOperations(rows, int(found[0][4]) if found else 0)


# -- issue 12: the State's budget chain (AE mises en place) --------------------------------------


def ae_mises_en_place(*, contract: Any, limit: int = 500) -> list[Any]:
    """The AE mises en place of a contract, newest first (programme and recorder read in the
    same query), at most `limit`."""
    from_model = AeMiseEnPlace.objects.filter(contract=contract).select_related(
        "programme", "recorded_by"
    )
    return list(from_model.order_by("-date", "-id")[:limit])


# -- end of issue 12: the State's budget chain ---------------------------------------------------


def _line_states(
    *,
    contract: Any,
    user: Any,
    operations: list[int] | None = None,
    lines: list[int] | None = None,
    partners: list[str] | None = None,
    objectives: list[str] | None = None,
) -> Any:
    states = LineState.objects.filter(contract=contract)
    if not sees_unpublished(user):  # the lines of the operations the user may see
        states = states.filter(operation__in=operation_queryset(contract=contract, user=user))
    if operations:
        states = states.filter(operation_id__in=operations)
    if lines:
        states = states.filter(line_id__in=lines)
    if partners:
        states = states.filter(partner__code__in=partners)
    if objectives:
        states = states.filter(objective__code__in=objectives)
    return states


def movement_count(
    *,
    contract: Any,
    user: Any,
    operations: list[int] | None = None,
    lines: list[int] | None = None,
    partners: list[str] | None = None,
) -> int:
    """How many movements the ledger holds for these lines of a contract, from the movement
    counts the line states keep (one row per line, not one per movement: the API's first page
    of movements). `user`: the reader (the lines of the operations they may see);
    `operations`, `lines`, `partners` (codes) narrow as the list's filters do."""
    states = _line_states(
        contract=contract, user=user, operations=operations, lines=lines, partners=partners
    )
    return int(states.aggregate(n=Coalesce(Sum("movements"), 0))["n"])


def line_count(
    *,
    contract: Any,
    user: Any,
    operations: list[int] | None = None,
    partners: list[str] | None = None,
    objectives: list[str] | None = None,
) -> int:
    """How many financing lines a contract holds, counted on the line states (which carry the
    contract: no join to the operations), narrowed as `movement_count` and by objective codes."""
    states = _line_states(
        contract=contract,
        user=user,
        operations=operations,
        partners=partners,
        objectives=objectives,
    )
    return int(states.count())
