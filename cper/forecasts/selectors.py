"""Reads of the forecasts: the schedules that count (latest version of each line), the payment
credits needed for a budget year per partner and per programme, the slippage alerts, and the
section of the annual report.

The payment need and the slippage alerts are computed in the database, in integer cents (exact
on SQLite too), over the latest schedule version of each line: the actual cumulative amounts of a
line at a date are the finance summaries' cumulative cents (`LineState`, every movement whatever
its date) minus the movements dated after that date — the same figures as
`cper.finance.aggregation.line_execution`, without reading every line into Python. The pages
thus run a few queries and bring back a bounded number of rows (one per partner and programme,
at most `limit` alerts and their count) whatever the number of lines; the arithmetic follows
`cper.forecasts.figures`' definitions (its functions stay the reference, tested against these
queries).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from cper.accounts.permissions import can
from cper.contracts.models import BudgetProgramme, Contract, Partner
from cper.finance.dialect import movement_cents_sql
from cper.finance.models import LineState, Movement
from cper.finance.summaries import euros
from cper.forecasts import figures
from cper.forecasts.figures import NO_NEED, ZERO, Need, Slip
from cper.forecasts.models import LineSchedule
from cper.operations.models import FinancingLine, LineStatus, Operation, OperationStatus

# Operations whose lines no longer need credits.
_DEAD = (OperationStatus.REJECTED, OperationStatus.ABANDONED)
NO_PROGRAMME = "sans programme"


def slippage_rate() -> Decimal:
    """`CPER_FORECAST_SLIPPAGE_RATE` (a fraction, default 0.20)."""
    return Decimal(str(getattr(settings, "CPER_FORECAST_SLIPPAGE_RATE", "0.20")))


def slippage_floor() -> Decimal:
    """`CPER_FORECAST_SLIPPAGE_FLOOR` (euros, default 10 000)."""
    return Decimal(str(getattr(settings, "CPER_FORECAST_SLIPPAGE_FLOOR", "10000")))


@dataclass(frozen=True)
class ScheduleRow:
    year: int
    commitment: Decimal
    payment: Decimal


@dataclass
class Schedule:
    line_id: int
    version: int
    rows: list[ScheduleRow]
    recorded_by: Any = None
    at: dt.datetime | None = None
    line: Any = None  # the FinancingLine, when read `with_lines`

    @property
    def payments(self) -> dict[int, Decimal]:
        return {r.year: r.payment for r in self.rows}

    @property
    def commitments(self) -> dict[int, Decimal]:
        return {r.year: r.commitment for r in self.rows}

    @property
    def total_commitment(self) -> Decimal:
        return sum((r.commitment for r in self.rows), ZERO)

    @property
    def total_payment(self) -> Decimal:
        return sum((r.payment for r in self.rows), ZERO)


def current_schedules(
    *,
    line_ids: Iterable[int] | None = None,
    contract: Contract | None = None,
    operation: Any = None,
    with_lines: bool = False,
) -> dict[int, Schedule]:
    """{line id: its latest schedule} for the given lines, or every scheduled line of
    `contract` or of `operation` (`with_lines`: each schedule carries its line, with its
    partner and programme). One query (two for an operation)."""
    latest = (
        LineSchedule.objects.filter(line=OuterRef("line"))
        .order_by("-version")
        .values("version")[:1]
    )
    qs = LineSchedule.objects.filter(version=Subquery(latest)).select_related("recorded_by")
    if with_lines:
        qs = qs.select_related("line__partner", "line__programme")
    if line_ids is not None:
        qs = qs.filter(line_id__in=list(line_ids))
    if contract is not None:
        qs = qs.filter(line__operation__contract=contract)
    if operation is not None:
        # The operation's lines first: filtered through the join, PostgreSQL runs the latest-
        # version subquery over every schedule of the contract (1 s at scale M).
        lines = FinancingLine.objects.filter(operation=operation).values_list("pk", flat=True)
        qs = qs.filter(line_id__in=list(lines))
    out: dict[int, Schedule] = {}
    for r in qs.order_by("line_id", "year"):
        s = out.get(r.line_id)
        if s is None:
            s = out[r.line_id] = Schedule(r.line_id, r.version, [], r.recorded_by, r.at)
            if with_lines:
                s.line = r.line
        s.rows.append(ScheduleRow(r.year, r.planned_commitment, r.planned_payment))
    return out


# --- an operation's block -----------------------------------------------------------------


@dataclass
class LineForecast:
    line: FinancingLine
    schedule: Schedule | None
    words: tuple[str, str]
    can_edit: bool


def operation_schedules(*, operation: Any, user: Any) -> list[LineForecast]:
    """The block « Échéancier prévisionnel » of an operation's page: for who may edit lines,
    each active line of a partner with its current schedule (two queries); for readers, the
    scheduled active lines alone (one query)."""
    if can(user, "financing_line.edit"):
        lines = list(
            FinancingLine.objects.filter(
                operation=operation, status=LineStatus.ACTIVE, partner__isnull=False
            )
            .select_related("partner", "programme")
            .order_by("pk")
        )
        schedules = current_schedules(line_ids=[line.pk for line in lines])
    else:
        schedules = current_schedules(operation=operation, with_lines=True)
        lines = [
            s.line
            for s in schedules.values()
            if s.line.status == LineStatus.ACTIVE and s.line.partner_id is not None
        ]
    out = []
    for line in lines:
        line.operation = operation  # the permission reads it: no query
        out.append(
            LineForecast(
                line=line,
                schedule=schedules.get(line.pk),
                words=figures.credit_words(line.partner.budget_nature if line.partner else None),
                can_edit=can(user, "financing_line.edit", line),
            )
        )
    return out


# --- the payment credits needed -------------------------------------------------------------


@dataclass
class NeedRow:
    """A partner's (or a partner's programme's) need for the budget year."""

    partner: Partner
    programme: str  # "" for the partner's total
    programme_label: str
    need: Need
    lines: int
    unscheduled: int = 0  # the partner's active lines without a schedule (total rows only)

    @property
    def words(self) -> tuple[str, str]:
        return figures.credit_words(self.partner.budget_nature)


@dataclass
class Needs:
    contract: Contract
    year: int
    paid_as_of: dt.date
    partners: list[NeedRow] = field(default_factory=list)
    programmes: list[NeedRow] = field(default_factory=list)
    unscheduled: dict[int, int] = field(default_factory=dict)  # {partner id: active lines}

    @property
    def total(self) -> Need:
        return sum((r.need for r in self.partners), NO_NEED)


def _line_scope(contract: Contract, partner: Partner | None) -> tuple[str, list[Any]]:
    """SQL CTE `latest` (line_id, version): the latest schedule version of each active line of
    a partner of `contract` (or of `partner`) whose operation is neither rejected nor
    abandoned — the lines whose schedule counts."""
    sql = (
        f"latest AS (SELECT s.line_id, MAX(s.version) AS version FROM {_t(LineSchedule)} s "
        f"JOIN {_t(FinancingLine)} l ON l.id = s.line_id "
        f"JOIN {_t(Operation)} o ON o.id = l.operation_id "
        "WHERE o.contract_id = %s AND l.status = %s AND l.partner_id IS NOT NULL "
        f"AND o.status NOT IN ({', '.join(['%s'] * len(_DEAD))})"
    )
    params: list[Any] = [contract.pk, str(LineStatus.ACTIVE), *(str(x) for x in _DEAD)]
    if partner is not None:
        sql += " AND l.partner_id = %s"
        params.append(partner.pk)
    return sql + " GROUP BY s.line_id)", params


def _t(model: Any) -> str:
    return str(model._meta.db_table)


def _cents(column: str) -> str:
    # Schedules are NUMERIC, stored as floating point by SQLite: rounded to integer cents
    # before any sum, as the finance queries do (`cper.finance.dialect`).
    return f"CAST(ROUND({column} * 100) AS BIGINT)"


def _actual_sql() -> str:
    """SQL CTE `late` (line_id, c, p): the committed and paid cents of the movements dated
    after the date, per scheduled line (to take off the summaries' cumulative cents)."""
    committed, paid = movement_cents_sql("m")
    return (
        f"late AS (SELECT m.financing_line_id AS line_id, SUM({committed}) AS c, "
        f"SUM({paid}) AS p FROM {_t(Movement)} m "
        "JOIN latest v ON v.line_id = m.financing_line_id "
        "WHERE m.date > %s GROUP BY m.financing_line_id)"
    )


def payment_needs(*, contract: Contract, year: int, today: dt.date | None = None) -> Needs:
    """« Besoin en CP pour `year` » per partner and per (partner, programme): over the partner's
    active scheduled lines (operations neither rejected nor abandoned), the planned payments of
    `year` plus the shortfall carried from the years before (planned payments up to `year` − 1
    minus payments dated ≤ 31/12/(`year` − 1) as known `today`, when positive; per line).
    Grouped in the database: four queries whatever the number of lines."""
    today = today or timezone.localdate()
    paid_as_of = min(today, dt.date(year - 1, 12, 31))
    scope, params = _line_scope(contract, None)
    pp = _cents("s.planned_payment")
    sql = (
        f"WITH {scope}, "
        "plan AS (SELECT s.line_id, "
        f"SUM(CASE WHEN s.year = %s THEN {pp} ELSE 0 END) AS next_year, "
        f"SUM(CASE WHEN s.year < %s THEN {pp} ELSE 0 END) AS due "
        f"FROM {_t(LineSchedule)} s "
        "JOIN latest v ON v.line_id = s.line_id AND v.version = s.version "
        f"GROUP BY s.line_id), {_actual_sql()}, "
        "per_line AS (SELECT l.partner_id, l.programme_id, pl.next_year, "
        "pl.due - (COALESCE(st.paid, 0) - COALESCE(late.p, 0)) AS short "
        f"FROM plan pl JOIN {_t(FinancingLine)} l ON l.id = pl.line_id "
        f"LEFT JOIN {_t(LineState)} st ON st.line_id = pl.line_id "
        "LEFT JOIN late ON late.line_id = pl.line_id) "
        "SELECT partner_id, programme_id, COUNT(*), SUM(next_year), "
        "SUM(CASE WHEN short > 0 THEN short ELSE 0 END) "
        "FROM per_line GROUP BY partner_id, programme_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, year, year, paid_as_of])
        groups = cursor.fetchall()
    programmes = {
        p.pk: p for p in BudgetProgramme.objects.filter(pk__in={g[1] for g in groups if g[1]})
    }
    partners = {p.pk: p for p in Partner.objects.filter(contract=contract)}
    per_partner: dict[int, NeedRow] = {}
    per_programme: dict[tuple[int, str], NeedRow] = {}
    for partner_id, programme_id, n, next_year, carried in groups:
        partner = partners[partner_id]
        need = Need(euros(int(next_year or 0)), euros(int(carried or 0)))
        row = per_partner.setdefault(partner.pk, NeedRow(partner, "", "", NO_NEED, 0))
        row.need, row.lines = row.need + need, row.lines + n
        programme = programmes.get(programme_id) if programme_id else None
        code = programme.code if programme else ""
        label = str(programme) if programme else NO_PROGRAMME
        prow = per_programme.setdefault(
            (partner.pk, code), NeedRow(partner, code, label, NO_NEED, 0)
        )
        prow.need, prow.lines = prow.need + need, prow.lines + n
    unscheduled = dict.fromkeys(per_partner, 0)
    for pid, n in (
        FinancingLine.objects.filter(
            operation__contract=contract,
            status=LineStatus.ACTIVE,
            partner__isnull=False,
            schedule_rows__isnull=True,
        )
        .exclude(operation__status__in=_DEAD)
        .values_list("partner_id")
        .annotate(n=Count("pk", distinct=True))
    ):
        unscheduled[pid] = n
        if pid in per_partner:
            per_partner[pid].unscheduled = n
    order = {pk: (p.position, p.code) for pk, p in partners.items()}
    return Needs(
        contract=contract,
        year=year,
        paid_as_of=paid_as_of,
        partners=sorted(per_partner.values(), key=lambda r: order[r.partner.pk]),
        programmes=sorted(
            per_programme.values(),
            key=lambda r: (order[r.partner.pk], r.programme == "", r.programme),
        ),
        unscheduled=unscheduled,
    )


# --- slippage -------------------------------------------------------------------------------


@dataclass
class Alert:
    line: FinancingLine
    slip: Slip
    words: tuple[str, str]

    @property
    def what_label(self) -> str:
        commitment, payment = self.words
        return (
            f"engagements ({commitment})"
            if self.slip.what == "commitment"
            else f"paiements ({payment})"
        )


@dataclass
class Alerts:
    at: dt.date
    rate: Decimal
    floor: Decimal
    rows: list[Alert]
    count: int


def slippage_alerts(
    *,
    contract: Contract,
    at: dt.date | None = None,
    partner: Partner | None = None,
    limit: int = 100,
) -> Alerts:
    """The scheduled lines whose cumulative commitments or payments at `at` fall behind their
    schedule by more than the settings' rate and floor (`figures.slippage`), largest gap
    first; at most `limit` rows, `count` says how many there are."""
    at = at or timezone.localdate()
    rate, floor = slippage_rate(), slippage_floor()
    # The years fully elapsed at `at` (`figures.planned_cumulative`).
    last_complete = at.year if (at.month, at.day) == (12, 31) else at.year - 1
    # gap > floor and gap > rate × planned, in integers: gap_c > ⌊floor × 100⌋ and
    # gap × den > planned × num with rate = num / den (exact, no float).
    floor_cents = int((floor * 100).to_integral_value(rounding=ROUND_FLOOR))
    num, den = rate.as_integer_ratio()
    scope, params = _line_scope(contract, partner)
    pc, pp = _cents("s.planned_commitment"), _cents("s.planned_payment")
    sql = (
        f"WITH {scope}, "
        "plan AS (SELECT s.line_id, "
        f"SUM(CASE WHEN s.year <= %s THEN {pc} ELSE 0 END) AS c, "
        f"SUM(CASE WHEN s.year <= %s THEN {pp} ELSE 0 END) AS p "
        f"FROM {_t(LineSchedule)} s "
        "JOIN latest v ON v.line_id = s.line_id AND v.version = s.version "
        f"GROUP BY s.line_id), {_actual_sql()}, "
        "cumul AS (SELECT pl.line_id, pl.c AS planned_c, pl.p AS planned_p, "
        "COALESCE(st.committed, 0) - COALESCE(late.c, 0) AS actual_c, "
        "COALESCE(st.paid, 0) - COALESCE(late.p, 0) AS actual_p "
        f"FROM plan pl LEFT JOIN {_t(LineState)} st ON st.line_id = pl.line_id "
        "LEFT JOIN late ON late.line_id = pl.line_id), "
        "slips AS (SELECT line_id, 'commitment' AS what, planned_c AS planned, "
        "actual_c AS actual FROM cumul UNION ALL "
        "SELECT line_id, 'payment' AS what, planned_p, actual_p FROM cumul) "
        "SELECT line_id, what, planned, actual, COUNT(*) OVER () FROM slips "
        "WHERE planned - actual > 0 AND planned - actual > %s "
        "AND (planned - actual) * %s > planned * %s "
        "ORDER BY planned - actual DESC, line_id, what LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                *params,
                last_complete,
                last_complete,
                at,
                floor_cents,
                den,
                num,
                max(limit, 1),
            ],
        )
        found = cursor.fetchall()
    count = found[0][4] if found else 0
    lines = FinancingLine.objects.filter(pk__in={r[0] for r in found}).select_related(
        "partner", "programme", "operation"
    )
    by_pk = {line.pk: line for line in lines}
    rows = []
    for line_id, what, planned, actual, _ in found[: max(limit, 0)]:
        line = by_pk[line_id]
        words = figures.credit_words(line.partner.budget_nature if line.partner else None)
        rows.append(Alert(line, Slip(what, euros(int(planned)), euros(int(actual))), words))
    return Alerts(at=at, rate=rate, floor=floor, rows=rows, count=int(count))


# --- the annual report --------------------------------------------------------------------


def report_section(*, contract: Contract, at: dt.date) -> dict[str, Any]:
    """The forecasts of the annual execution report closed at `at` (year N = at.year): the
    payment credits needed for N+1 per partner and per programme, and the slippage alerts at
    `at`. Plain data, French labels, Decimal values.

    {"titre": str, "date": date, "annee_besoin": int, "note": str,
     "besoins": [{"partenaire", "nature", "cp_n1", "report", "besoin", "lignes",
                  "lignes_sans_echeancier"}],
     "besoins_par_programme": [{"partenaire", "programme", "cp_n1", "report", "besoin",
                                "lignes"}],
     "total": {"cp_n1", "report", "besoin"},
     "retards": [{"operation", "intitule", "partenaire", "sur", "prevu_cumule",
                  "realise_cumule", "ecart", "ecart_pct"}],
     "retards_total": int}
    """
    year = at.year + 1
    needs = payment_needs(contract=contract, year=year, today=at)
    alerts = slippage_alerts(contract=contract, at=at, limit=50)
    return {
        "titre": "Prévisions : besoin en crédits de paiement et retards",
        "date": at,
        "annee_besoin": year,
        "note": (
            f"Besoin en CP pour {year} : paiements prévus en {year} aux échéanciers des lignes "
            f"actives, plus le retard de paiement cumulé au 31/12/{year - 1} (prévu − payé, "
            "s'il est positif)."
        ),
        "besoins": [
            {
                "partenaire": r.partner.name,
                "nature": r.partner.get_budget_nature_display(),
                "cp_n1": r.need.next_year,
                "report": r.need.carried,
                "besoin": r.need.total,
                "lignes": r.lines,
                "lignes_sans_echeancier": needs.unscheduled.get(r.partner.pk, 0),
            }
            for r in needs.partners
        ],
        "besoins_par_programme": [
            {
                "partenaire": r.partner.name,
                "programme": r.programme_label,
                "cp_n1": r.need.next_year,
                "report": r.need.carried,
                "besoin": r.need.total,
                "lignes": r.lines,
            }
            for r in needs.programmes
        ],
        "total": {
            "cp_n1": needs.total.next_year,
            "report": needs.total.carried,
            "besoin": needs.total.total,
        },
        "retards": [
            {
                "operation": a.line.operation.code,
                "intitule": a.line.operation.title,
                "partenaire": str(a.line.partner),
                "sur": a.what_label,
                "prevu_cumule": a.slip.planned,
                "realise_cumule": a.slip.actual,
                "ecart": a.slip.gap,
                "ecart_pct": a.slip.gap_rate,
            }
            for a in alerts.rows
        ],
        "retards_total": alerts.count,
    }
