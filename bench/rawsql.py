"""The yardsticks: the same figures computed by plain SQL over the raw rows (movements, lines,
operations, transitions) on the benchmarked database, and by DuckDB over the same rows copied
into memory. Both follow the definitions of docs/finance.md: programmed = active
contractualised lines of operations in a programmed status, dated by the first programming
transition (its committee's date when it has a decision, else its UTC date); committed and paid
= signed movements on contractualised lines; amounts in integer cents.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROGRAMMED = ("programmed", "in_progress", "completed", "closed")
Figures = dict[tuple, tuple[int, int, int]]


def _dialect(vendor: str) -> dict[str, str]:
    if vendor == "postgresql":
        return {
            "date_at": "CAST(t.at AS date)",
            "date_created": "CAST(o.created_at AS date)",
            "year": "CAST(EXTRACT(YEAR FROM {d}) AS integer)",
            "month": "CAST(date_trunc('month', {d}) AS date)",
            "cents": "CAST(ROUND({x} * 100) AS BIGINT)",
            "true": "TRUE",
        }
    if vendor == "duckdb":
        return {
            "date_at": "t.at_date",
            "date_created": "o.created_date",
            "year": "CAST(year({d}) AS integer)",
            "month": "CAST(date_trunc('month', {d}) AS date)",
            "cents": "{x}",  # already cents in the copied rows
            "true": "TRUE",
        }
    return {
        "date_at": "date(t.at)",
        "date_created": "date(o.created_at)",
        "year": "CAST(strftime('%%Y', {d}) AS integer)",
        "month": "date({d}, 'start of month')",
        "cents": "CAST(ROUND({x} * 100) AS BIGINT)",
        "true": "1",
    }


def _tables(vendor: str) -> dict[str, str]:
    if vendor == "duckdb":
        return {
            "mov": "movement",
            "line": "line",
            "op": "operation",
            "obj": "objective",
            "axis": "axis",
            "partner": "partner",
            "tr": "transition",
            "dec": "decision",
            "com": "committee",
            "om": "op_markers",
            "mk": "marker",
        }
    return {
        "mov": "finance_movement",
        "line": "operations_financingline",
        "op": "operations_operation",
        "obj": "contracts_objective",
        "axis": "contracts_axis",
        "partner": "contracts_partner",
        "tr": "operations_operationtransition",
        "dec": "operations_decision",
        "com": "operations_committee",
        "om": "operations_operation_markers",
        "mk": "contracts_marker",
    }


def _params(vendor: str) -> str:
    return "?" if vendor == "duckdb" else "%s"


def queries(
    vendor: str,
    *,
    keys: Sequence[str],
    contract_id: int,
    as_of: dt.date,
    departement: str | None = None,
    marker: str | None = None,
    operation_codes: Sequence[str] | None = None,
) -> list[tuple[str, list[Any], int]]:
    """[(sql, params, number of key columns)]: the programmed query then the movements query.
    `keys` among axis, partner, year, month, operation."""
    d, t, ph = _dialect(vendor), _tables(vendor), _params(vendor)
    programmed_on = f"COALESCE(po.d, {d['date_created']})"
    key_sql = {
        "axis": "a.number",
        "partner": "p.code",
        "operation": "o.code",
    }

    def cols(day: str) -> list[str]:
        out = []
        for k in keys:
            if k == "year":
                out.append(d["year"].format(d=day))
            elif k == "month":
                out.append(d["month"].format(d=day))
            else:
                out.append(key_sql[k])
        return out

    def filters(params: list[Any]) -> str:
        out = ""
        if departement is not None:
            out += f" AND o.departement_id = {ph}"
            params.append(departement)
        if marker is not None:
            out += (
                f" AND EXISTS (SELECT 1 FROM {t['om']} om JOIN {t['mk']} mk ON mk.id = om.marker_id"
                f" WHERE om.operation_id = o.id AND mk.code = {ph})"
            )
            params.append(marker)
        if operation_codes is not None:
            out += f" AND o.code IN ({', '.join([ph] * len(operation_codes))})"
            params.extend(operation_codes)
        return out

    statuses = ", ".join(f"'{s}'" for s in PROGRAMMED)
    po = (
        f"SELECT t.operation_id AS op, MIN(COALESCE(c.date, {d['date_at']})) AS d "
        f"FROM {t['tr']} t LEFT JOIN {t['dec']} dd ON dd.id = t.decision_id "
        f"LEFT JOIN {t['com']} c ON c.id = dd.committee_id "
        f"WHERE t.to_status IN ({statuses}) GROUP BY t.operation_id"
    )
    joins = (
        f"JOIN {t['op']} o ON o.id = l.operation_id "
        f"JOIN {t['obj']} ob ON ob.id = l.objective_id JOIN {t['axis']} a ON a.id = ob.axis_id "
        f"JOIN {t['partner']} p ON p.id = l.partner_id"
    )
    out = []
    # programmed
    params: list[Any] = [contract_id, as_of]
    c = cols(programmed_on)
    select = ", ".join([*c, ""]) if c else ""
    group = f"GROUP BY {', '.join(c)}" if c else ""
    sql = (
        f"SELECT {select}SUM({d['cents'].format(x='l.amount')}) "
        f"FROM {t['line']} l {joins} LEFT JOIN ({po}) po ON po.op = o.id "
        f"WHERE o.contract_id = {ph} AND l.status = 'active' AND l.contractualised = {d['true']} "
        f"AND o.status IN ({statuses}) AND {programmed_on} <= {ph}{filters(params)} {group}"
    )
    out.append((sql, params, len(c)))
    # committed and paid
    amount = d["cents"].format(x="m.amount")
    committed = (
        f"CASE m.kind WHEN 'commitment' THEN {amount} WHEN 'decommitment' THEN -{amount} ELSE 0 END"
    )
    paid = (
        f"CASE m.kind WHEN 'payment' THEN {amount} WHEN 'payment_cancellation' THEN -{amount} "
        "ELSE 0 END"
    )
    params = [contract_id, as_of]
    c = cols("m.date")
    select = ", ".join([*c, ""]) if c else ""
    group = f"GROUP BY {', '.join(c)}" if c else ""
    sql = (
        f"SELECT {select}SUM({committed}), SUM({paid}) FROM {t['mov']} m "
        f"JOIN {t['line']} l ON l.id = m.financing_line_id {joins} "
        f"WHERE o.contract_id = {ph} AND l.contractualised = {d['true']} "
        f"AND m.date <= {ph}{filters(params)} {group}"
    )
    out.append((sql, params, len(c)))
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return dt.date.fromisoformat(value)
    return value


def combine(programmed: list[tuple], movements: list[tuple], nkeys: int) -> Figures:
    out: dict[tuple, list[int]] = {}
    for row in programmed:
        key = tuple(_norm(v) for v in row[:nkeys])
        out.setdefault(key, [0, 0, 0])[0] += int(row[nkeys] or 0)
    for row in movements:
        key = tuple(_norm(v) for v in row[:nkeys])
        acc = out.setdefault(key, [0, 0, 0])
        acc[1] += int(row[nkeys] or 0)
        acc[2] += int(row[nkeys + 1] or 0)
    return {k: (v[0], v[1], v[2]) for k, v in out.items() if any(v)}


def run_sql(cursor: Any, vendor: str, **kwargs: Any) -> Figures:
    results = []
    for sql, params, nkeys in queries(vendor, **kwargs):
        cursor.execute(sql, params)
        results.append((cursor.fetchall(), nkeys))
    return combine(results[0][0], results[1][0], results[0][1])


# -- DuckDB --------------------------------------------------------------------------------------

_EXPORTS = {
    "movement": (
        "financing_line_id BIGINT, kind VARCHAR, date DATE, amount BIGINT",
        "SELECT financing_line_id, kind, date, {cents_m} FROM finance_movement",
    ),
    "line": (
        "id BIGINT, operation_id BIGINT, partner_id BIGINT, objective_id BIGINT, amount BIGINT, "
        "status VARCHAR, contractualised BOOLEAN",
        "SELECT id, operation_id, partner_id, objective_id, {cents_l}, status, "
        "CASE WHEN contractualised THEN 'true' ELSE 'false' END FROM operations_financingline",
    ),
    "operation": (
        "id BIGINT, contract_id BIGINT, code VARCHAR, status VARCHAR, departement_id VARCHAR, "
        "created_date DATE",
        "SELECT id, contract_id, code, status, departement_id, {date_created} "
        "FROM operations_operation o",
    ),
    "objective": ("id BIGINT, axis_id BIGINT", "SELECT id, axis_id FROM contracts_objective"),
    "axis": ("id BIGINT, number INTEGER", "SELECT id, number FROM contracts_axis"),
    "partner": ("id BIGINT, code VARCHAR", "SELECT id, code FROM contracts_partner"),
    "transition": (
        "operation_id BIGINT, to_status VARCHAR, at_date DATE, decision_id BIGINT",
        "SELECT operation_id, to_status, {date_at}, decision_id "
        "FROM operations_operationtransition t",
    ),
    "decision": (
        "id BIGINT, committee_id BIGINT",
        "SELECT id, committee_id FROM operations_decision",
    ),
    "committee": ("id BIGINT, date DATE", "SELECT id, date FROM operations_committee"),
    "op_markers": (
        "operation_id BIGINT, marker_id BIGINT",
        "SELECT operation_id, marker_id FROM operations_operation_markers",
    ),
    "marker": ("id BIGINT, code VARCHAR", "SELECT id, code FROM contracts_marker"),
}


def duckdb_load(connection: Any, directory: Path) -> Any:
    """Copy the raw rows of the Django database into an in-memory DuckDB (through CSV)."""
    import duckdb

    directory.mkdir(parents=True, exist_ok=True)
    vendor = connection.vendor
    d = _dialect(vendor)
    duck = duckdb.connect()
    duck.execute(f"SET threads TO {os.cpu_count() or 1}")
    for name, (schema, select) in _EXPORTS.items():
        sql = select.format(
            cents_m=d["cents"].format(x="amount"),
            cents_l=d["cents"].format(x="amount"),
            date_created=d["date_created"],
            date_at=d["date_at"],
        ).replace("%%", "%")
        path = directory / f"{name}.csv"
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                raw = cursor.cursor
                with (
                    path.open("wb") as handle,
                    raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
                ):
                    for data in copy:
                        handle.write(data)
            else:
                raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
                raw.execute(sql)
                with path.open("w", newline="") as handle:
                    writer = csv.writer(handle)
                    while True:
                        rows = raw.fetchmany(50000)
                        if not rows:
                            break
                        writer.writerows(rows)
        columns = ", ".join(f"'{c.split()[0]}': '{c.split()[1]}'" for c in schema.split(", "))
        duck.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=false, "
            f"columns={{{columns}}}, nullstr='')"
        )
        path.unlink()  # the rows now live in DuckDB's memory
    return duck


def run_duckdb(duck: Any, **kwargs: Any) -> Figures:
    results = []
    for sql, params, nkeys in queries("duckdb", **kwargs):
        results.append((duck.execute(sql, params).fetchall(), nkeys))
    return combine(results[0][0], results[1][0], results[0][1])
