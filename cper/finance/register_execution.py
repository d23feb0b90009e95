"""The finance app's side of `cper.operations.execution`: what the register's services and rules
ask of the execution (summary upkeep, the ledger's floor under a line, programmed against the
maquette), provided when Django starts (`FinanceConfig.ready`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection

from cper.contracts.models import Contract
from cper.db import ids_in
from cper.finance import aggregation, summaries
from cper.finance.models import Movement, OperationTotal
from cper.finance.vocabulary import AFFECTATION_KINDS
from cper.operations.execution import LedgerFloor
from cper.operations.models import Operation


def _peaks(
    days_by_line: dict[int, dict[dt.date, int]],
) -> dict[int, tuple[int, int, dt.date | None]]:
    """{line: (running total, highest running total, the day it was reached)}, one day's
    movements taken together (as the ledger's rules and `cper contract check` read them)."""
    out: dict[int, tuple[int, int, dt.date | None]] = {}
    for line_id, days in days_by_line.items():
        running = peak = 0
        peak_day: dt.date | None = None
        for day in sorted(days):
            running += days[day]
            if running > peak:
                peak, peak_day = running, day
        out[line_id] = (running, peak, peak_day)
    return out


class FinanceExecution:
    """`cper.operations.execution.Execution`, kept by the summaries and read from the ledger."""

    def lines_sync(
        self, *, line_ids: Iterable[int] | None = None, operation_ids: Iterable[int] | None = None
    ) -> None:
        summaries.lines_sync(line_ids=line_ids, operation_ids=operation_ids)

    def totals_sync(self, operation_ids: Iterable[int]) -> None:
        summaries.totals_sync(operation_ids)

    def totals_kept(self, contract: Contract) -> bool:
        with connection.cursor() as cursor:  # one round trip, two index counts
            cursor.execute(
                f"SELECT (SELECT COUNT(*) FROM {Operation._meta.db_table} WHERE contract_id = %s) "
                f"- (SELECT COUNT(*) FROM {OperationTotal._meta.db_table} WHERE contract_id = %s)",
                [contract.pk, contract.pk],
            )
            row = cursor.fetchone()
        return row is not None and row[0] == 0

    def ledger_floors(self, line_ids: Iterable[int]) -> dict[int, LedgerFloor]:
        committed: dict[int, dict[dt.date, int]] = {}
        affected: dict[int, dict[dt.date, int]] = {}
        for line_id, day, kind, amount in Movement.objects.filter(
            ids_in("financing_line_id", line_ids)
        ).values_list("financing_line_id", "date", "kind", "amount"):
            value = summaries.cents(amount)
            c, _ = summaries.signed(kind, value)
            days = committed.setdefault(line_id, {})
            days[day] = days.get(day, 0) + c
            if kind in AFFECTATION_KINDS:
                days = affected.setdefault(line_id, {})
                days[day] = days.get(day, 0) + summaries.signed_affected(kind, value)
        peaks = _peaks(affected)
        out: dict[int, LedgerFloor] = {}
        for line_id, (running, peak, peak_day) in _peaks(committed).items():
            a_peak: Decimal | None = None
            a_day: dt.date | None = None
            if line_id in peaks:
                _, p, a_day = peaks[line_id]
                a_peak = summaries.euros(p)
            out[line_id] = LedgerFloor(
                committed=summaries.euros(running),
                committed_peak=summaries.euros(peak),
                committed_peak_day=peak_day,
                affected_peak=a_peak,
                affected_peak_day=a_day,
            )
        return out

    def maquette_and_programmed(
        self,
        *,
        contract: Contract,
        partner_codes: Iterable[str],
        objective_codes: Iterable[str],
        as_of: dt.date,
    ) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        # The aggregation service itself, so that pages, rules and reports agree.
        result = aggregation.execution(
            contract=contract,
            as_of=as_of,
            group_by=("partner", "objective"),
            filters={"partner": list(partner_codes), "objective": list(objective_codes)},
        )
        return {
            (str(r.key["partner"]), str(r.key["objective"])): (
                Decimal(r.maquette or 0),
                Decimal(r.programmed or 0),
            )
            for r in result.rows
        }
