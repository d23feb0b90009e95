"""Operations' contractualised totals (`OperationTotal`): the sum of each operation's active
contractualised lines, in cents, one row per operation, so that the register sorts by amount
along an index. Kept by `lines_sync` for the operations of the lines it syncs (and the
operations it is given), recomputed by `rebuild`, compared by `verify`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

from cper.finance.dialect import sql_dialect
from cper.finance.models import OperationTotal
from cper.operations.models import FinancingLine, LineStatus, Operation

CHUNK = 5000


def _expected_sql(where: str, gone: list[int], params: list[Any]) -> str:
    """SELECT operation id, contract id, cents for the operations matching `where` (on `o`),
    every operation present (0 without lines); lines in `gone` (about to be deleted) left out."""
    true = sql_dialect()["true"]
    params.append(LineStatus.ACTIVE.value)
    skip = ""
    if gone:
        skip = f" AND l.id NOT IN ({', '.join(['%s'] * len(gone))})"
        params.extend(gone)
    return (
        "SELECT o.id, o.contract_id, COALESCE(SUM(CAST(ROUND(l.amount * 100) AS BIGINT)), 0) "
        f"FROM {Operation._meta.db_table} o "
        f"LEFT JOIN {FinancingLine._meta.db_table} l ON l.operation_id = o.id "
        f"AND l.status = %s AND l.contractualised = {true}{skip} "
        f"WHERE {where} GROUP BY o.id, o.contract_id"
    )


def totals_sync(operation_ids: Iterable[int], *, gone: Iterable[int] = ()) -> None:
    """Recompute the totals of these operations (rows replaced; a deleted operation's row goes
    with it by cascade); `gone` lines are about to be deleted and no longer count."""
    ids = sorted(set(operation_ids))
    skipped = sorted(set(gone))
    table = OperationTotal._meta.db_table
    with connection.cursor() as cursor:
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            # bounded by the first and last id too: an index slice even without statistics
            bounds = [chunk[0], chunk[-1]]
            cursor.execute(
                f"DELETE FROM {table} WHERE operation_id IN ({marks}) "
                "AND operation_id BETWEEN %s AND %s",
                [*chunk, *bounds],
            )
            params: list[Any] = []
            select = _expected_sql(f"o.id IN ({marks}) AND o.id BETWEEN %s AND %s", skipped, params)
            cursor.execute(
                f"INSERT INTO {table} (operation_id, contract_id, contractualised) {select}",
                [*params, *chunk, *bounds],  # the join's parameters come before the WHERE's
            )


def totals_rebuild(contract_id: int) -> None:
    """Recompute the totals of every operation of a contract."""
    table = OperationTotal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE contract_id = %s", [contract_id])
        params: list[Any] = []
        select = _expected_sql("o.contract_id = %s", [], params)
        cursor.execute(
            f"INSERT INTO {table} (operation_id, contract_id, contractualised) {select}",
            [*params, contract_id],
        )


def totals_differences(contract_id: int) -> list[tuple[int, int | None, int]]:
    """[(operation id, stored cents or None when the row is missing, expected cents)] where the
    stored totals of a contract differ from their recomputation."""
    params: list[Any] = []
    select = _expected_sql("o.contract_id = %s", [], params)
    with connection.cursor() as cursor:
        cursor.execute(select, [*params, contract_id])
        expected = {row[0]: int(row[2]) for row in cursor.fetchall()}
    stored = dict(
        OperationTotal.objects.filter(contract_id=contract_id).values_list(
            "operation_id", "contractualised"
        )
    )
    return [
        (op, stored.get(op), cents)
        for op, cents in sorted(expected.items())
        if stored.get(op) != cents
    ] + [(op, cents, 0) for op, cents in sorted(stored.items()) if op not in expected]
