"""The SQL dialect of the finance queries: the few expressions that differ between PostgreSQL and
SQLite, shared by the summaries' recomputation and the aggregation service."""

from __future__ import annotations

from django.db import connection


def sql_dialect() -> dict[str, str]:
    """SQL fragments that differ between the two databases, `{d}` standing for a date
    expression: the first day of its month, of its year, its year; and true."""
    if connection.vendor == "postgresql":
        return {
            "month": "CAST(date_trunc('month', {d}) AS date)",
            "year_start": "CAST(date_trunc('year', {d}) AS date)",
            "year": "CAST(EXTRACT(YEAR FROM {d}) AS integer)",
            "true": "TRUE",
        }
    return {
        "month": "date({d}, 'start of month')",
        "year_start": "date({d}, 'start of year')",
        "year": "CAST(strftime('%%Y', {d}) AS integer)",
        "true": "1",
    }


def movement_cents_sql(alias: str = "m") -> tuple[str, str]:
    """SQL expressions of a movement's signed committed and paid cents (exact on SQLite too)."""
    amount = f"CAST(ROUND({alias}.amount * 100) AS BIGINT)"
    committed = (
        f"CASE {alias}.kind WHEN 'commitment' THEN {amount} "
        f"WHEN 'decommitment' THEN -{amount} ELSE 0 END"
    )
    paid = (
        f"CASE {alias}.kind WHEN 'payment' THEN {amount} "
        f"WHEN 'payment_cancellation' THEN -{amount} ELSE 0 END"
    )
    return committed, paid


def movement_affected_cents_sql(alias: str = "m") -> str:
    """SQL expression of a movement's signed net affected cents (AP affectée)."""
    amount = f"CAST(ROUND({alias}.amount * 100) AS BIGINT)"
    return (
        f"CASE {alias}.kind WHEN 'affectation' THEN {amount} "
        f"WHEN 'desaffectation' THEN -{amount} ELSE 0 END"
    )
