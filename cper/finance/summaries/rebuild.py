"""Recomputation of a contract's summaries from the register and the ledger, in SQL (the
dialect's differences: `cper.finance.dialect`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from cper.db import insert_rows
from cper.finance.dialect import movement_affected_cents_sql, movement_cents_sql, sql_dialect
from cper.finance.models import ExecutionCell, LineState, LineTag, Movement, OperationTotal
from cper.operations.models import FinancingLine, Operation

from .snapshots import (
    BASE,
    CELL_DIMS,
    DEPARTEMENT,
    EPCI,
    LEDGER_FIELDS,
    MARKER,
    MONTHLY_DIMS,
    STATE_FIELDS,
    TERRITORY,
    snapshots_compute,
)
from .totals import totals_rebuild

NO_LEDGER: tuple[Any, ...] = (0, 0, 0, 0, None, None)  # a line without movements

# -- recomputation from the ledger --------------------------------------------------------------


_STAGE_DAY = "cper_stage_day"
_STAGE_TAG = "cper_stage_tag"
_STAGE_EPCI = "cper_stage_epci"
_STAGES = (_STAGE_DAY, _STAGE_TAG, _STAGE_EPCI)


def _stage(cursor: Any, contract_id: int) -> None:
    """Temporary tables of a contract's counted amounts: per partner × objective × département
    × day, per EPCI × partner × objective × month, and per tag × partner × objective × day
    (one pass over the movements each)."""
    d = sql_dialect()
    state = LineState._meta.db_table
    mov = Movement._meta.db_table
    tag = LineTag._meta.db_table
    committed, paid = movement_cents_sql("m")
    for name in _STAGES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    union = f"""
            SELECT m.financing_line_id AS line_id, m.date AS day, CAST(0 AS BIGINT) AS p,
                   {committed} AS c, {paid} AS pd
            FROM {mov} m
            UNION ALL
            SELECT line_id, programmed_on, programmed, 0, 0 FROM {state}
            WHERE contract_id = %s AND counted = {d["true"]} AND programmed <> 0
              AND programmed_on IS NOT NULL
    """
    month = d["month"].format(d="x.day")
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_STAGE_EPCI} AS
        SELECT s.partner_id AS partner_id, s.objective_id AS objective_id,
               s.epci AS epci, {month} AS day,
               SUM(x.p) AS p, SUM(x.c) AS c, SUM(x.pd) AS pd
        FROM ({union}) x
        JOIN {state} s ON s.line_id = x.line_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]} AND s.epci <> ''
        GROUP BY s.partner_id, s.objective_id, s.epci, {month}
        """,
        [contract_id, contract_id],
    )
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_STAGE_DAY} AS
        SELECT s.partner_id AS partner_id, s.objective_id AS objective_id,
               s.departement AS departement, x.day AS day,
               SUM(x.p) AS p, SUM(x.c) AS c, SUM(x.pd) AS pd
        FROM (
            SELECT m.financing_line_id AS line_id, m.date AS day, CAST(0 AS BIGINT) AS p,
                   {committed} AS c, {paid} AS pd
            FROM {mov} m
            UNION ALL
            SELECT line_id, programmed_on, programmed, 0, 0 FROM {state}
            WHERE contract_id = %s AND counted = {d["true"]} AND programmed <> 0
              AND programmed_on IS NOT NULL
        ) x
        JOIN {state} s ON s.line_id = x.line_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]}
        GROUP BY s.partner_id, s.objective_id, s.departement, x.day
        """,
        [contract_id, contract_id],
    )
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {_STAGE_TAG} AS
        SELECT t.kind AS dim, t.value AS value, s.partner_id AS partner_id,
               s.objective_id AS objective_id, m.date AS day,
               CAST(0 AS BIGINT) AS p, SUM({committed}) AS c, SUM({paid}) AS pd
        FROM {tag} t
        JOIN {state} s ON s.line_id = t.state_id
        JOIN {mov} m ON m.financing_line_id = t.state_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]}
        GROUP BY t.kind, t.value, s.partner_id, s.objective_id, m.date
        """,
        [contract_id],
    )
    cursor.execute(
        f"""
        INSERT INTO {_STAGE_TAG} (dim, value, partner_id, objective_id, day, p, c, pd)
        SELECT t.kind, t.value, s.partner_id, s.objective_id, s.programmed_on,
               SUM(s.programmed), 0, 0
        FROM {tag} t JOIN {state} s ON s.line_id = t.state_id
        WHERE s.contract_id = %s AND s.counted = {d["true"]} AND s.programmed <> 0
          AND s.programmed_on IS NOT NULL
        GROUP BY t.kind, t.value, s.partner_id, s.objective_id, s.programmed_on
        """,
        [contract_id],
    )


def _unstage(cursor: Any) -> None:
    for name in _STAGES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _expected_cells_sql(contract_id: int, grain: str, dim: str) -> tuple[str, list[Any]]:
    """SELECT of the cells of one grain and dimension, recomputed from the staged ledger
    (`_stage` first)."""
    d = sql_dialect()
    if dim in (MARKER, TERRITORY):
        source, day, where = _STAGE_TAG, "e.day", f"WHERE e.dim = '{dim}'"
        dim_sql, value_sql = f"'{dim}'", "e.value"
    elif dim == EPCI:  # staged by month
        source, day, where = _STAGE_EPCI, "e.day", ""
        dim_sql, value_sql = f"'{EPCI}'", "e.epci"
    else:
        source, day = _STAGE_DAY, "e.day"
        if dim == BASE:
            dim_sql, value_sql, where = "''", "''", ""
        else:
            dim_sql, value_sql, where = (
                f"'{DEPARTEMENT}'",
                "e.departement",
                ("WHERE e.departement <> ''"),
            )
    period = {"Y": d["year_start"], "M": d["month"], "D": "{d}"}[grain].format(d=day)
    year = d["year"].format(d=day)
    group = ", ".join(x for x in (value_sql if dim else "", period, year) if x)
    sql = f"""
        SELECT {int(contract_id)} AS contract_id, '{grain}' AS grain, {dim_sql} AS dim,
               {value_sql} AS value, {period} AS period, {year} AS year,
               e.partner_id AS partner_id, e.objective_id AS objective_id,
               SUM(e.p) AS programmed, SUM(e.c) AS committed, SUM(e.pd) AS paid
        FROM {source} e
        {where}
        GROUP BY {group}, e.partner_id, e.objective_id
        HAVING SUM(e.p) <> 0 OR SUM(e.c) <> 0 OR SUM(e.pd) <> 0
    """
    return sql, []


def _rollup_sql(
    contract_id: int, source: str, target: str, dims: Sequence[str], table: str = ""
) -> str:
    """SELECT of the cells of grain `target` summed from those of grain `source` (in the
    cells' table, or in `table` laid out like it)."""
    d = sql_dialect()
    table = table or ExecutionCell._meta.db_table
    period = {"Y": d["year_start"], "M": d["month"]}[target].format(d="period")
    dim_list = ", ".join(f"'{x}'" for x in dims)
    return f"""
        SELECT contract_id, '{target}', dim, value, {period}, year, partner_id, objective_id,
               SUM(programmed), SUM(committed), SUM(paid)
        FROM {table}
        WHERE contract_id = {int(contract_id)} AND grain = '{source}' AND dim IN ({dim_list})
        GROUP BY contract_id, dim, value, {period}, year, partner_id, objective_id
        HAVING SUM(programmed) <> 0 OR SUM(committed) <> 0 OR SUM(paid) <> 0
    """


_CELL_COLUMNS = (
    "contract_id, grain, dim, value, period, year, partner_id, objective_id, "
    "programmed, committed, paid"
)


def _day(value: Any) -> dt.date | None:
    """A date read by a raw cursor (SQLite gives its text, a truncation may give a datetime)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _cumulative(
    contract_id: int, lines: tuple[int, int] | None = None
) -> dict[int, tuple[Any, ...]]:
    """{line: (committed, paid, net affected cents, number of movements, last payment's date,
    first affectation's or commitment's date)} of a contract's movements — a state's
    LEDGER_FIELDS; `lines`: only the lines whose ids lie in that closed range."""
    committed, paid = movement_cents_sql("m")
    affected = movement_affected_cents_sql("m")
    mov = Movement._meta.db_table
    line = FinancingLine._meta.db_table

    op = Operation._meta.db_table
    sql = f"""
        SELECT m.financing_line_id, SUM({committed}), SUM({paid}), SUM({affected}), COUNT(*),
               MAX(CASE WHEN m.kind = 'payment' THEN m.date END),
               MIN(CASE WHEN m.kind IN ('affectation', 'commitment') THEN m.date END)
        FROM {mov} m JOIN {line} l ON l.id = m.financing_line_id
        JOIN {op} o ON o.id = l.operation_id
        WHERE o.contract_id = %s {"AND m.financing_line_id BETWEEN %s AND %s" if lines else ""}
        GROUP BY m.financing_line_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [contract_id, *(lines or ())])
        return {
            row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4]), _day(row[5]), _day(row[6]))
            for row in cursor.fetchall()
        }


@dataclass
class RebuildReport:
    lines: int
    cells: int
    seconds: float


def rebuild(contract: Any) -> RebuildReport:
    """Recompute the summaries of one contract from the register and the ledger."""
    import time

    started = time.perf_counter()
    table = ExecutionCell._meta.db_table
    state_table = LineState._meta.db_table
    tag_table = LineTag._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # big aggregations and sorts: in memory rather than in temporary files
            cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(f"DELETE FROM {table} WHERE contract_id = %s", [contract.pk])
        cursor.execute(
            f"DELETE FROM {tag_table} WHERE state_id IN "
            f"(SELECT line_id FROM {state_table} WHERE contract_id = %s)",
            [contract.pk],
        )
        cursor.execute(f"DELETE FROM {state_table} WHERE contract_id = %s", [contract.pk])
        snaps = snapshots_compute(contract_ids=[contract.pk])
        cumulative = _cumulative(contract.pk)
        states: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        for lid, snap in snaps.items():
            ledger = cumulative.get(lid, NO_LEDGER)
            states.append(
                (
                    lid,
                    # in the order of STATE_FIELDS
                    snap.contract_id,
                    snap.operation_id,
                    snap.partner_id,
                    snap.objective_id,
                    snap.departement,
                    snap.epci,
                    snap.status,
                    snap.counted,
                    snap.programmed,
                    snap.programmed_on,
                    *ledger,
                )
            )
            tag_rows.extend((lid, k, v) for k, v in sorted(snap.tags))
        insert_rows(
            state_table,
            ("line_id", *STATE_FIELDS, *LEDGER_FIELDS),
            states,
        )
        insert_rows(tag_table, ("state_id", "kind", "value"), tag_rows)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {state_table}")
            cursor.execute(f"ANALYZE {tag_table}")
        _stage(cursor, contract.pk)
        for dim in (BASE, *CELL_DIMS):
            grain = "M" if dim in MONTHLY_DIMS else "D"
            sql, params = _expected_cells_sql(contract.pk, grain, dim)
            cursor.execute(f"INSERT INTO {table} ({_CELL_COLUMNS}) {sql}", params)
        _unstage(cursor)
        totals_rebuild(contract.pk)
        cursor.execute(
            f"INSERT INTO {table} ({_CELL_COLUMNS}) "
            + _rollup_sql(
                contract.pk, "D", "M", [d for d in (BASE, *CELL_DIMS) if d not in MONTHLY_DIMS]
            )
        )
        cursor.execute(
            f"INSERT INTO {table} ({_CELL_COLUMNS}) "
            + _rollup_sql(contract.pk, "M", "Y", [BASE, *CELL_DIMS])
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (LineState, LineTag, ExecutionCell, OperationTotal):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    count = ExecutionCell.objects.filter(contract_id=contract.pk).count()
    return RebuildReport(len(snaps), count, time.perf_counter() - started)
