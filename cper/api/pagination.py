"""Keyset pagination: a stable order ending with the primary key, and an opaque cursor.

A page is "the `limit` rows after the cursor's row in that order", so rows inserted or removed
elsewhere never shift a page and deep pages cost what the first one costs.

The total count of the filtered list is given on the first page only (no cursor); the next
pages carry `count: null`. Counting is a scan of every matching row: done on each page, it made
a page of the movements cost as much as the whole ledger (issue 14), and a client walking the
pages already has the total from the first one. Where the summaries keep the total (the number
of movements of each line), the first page takes it from them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

from cper.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass
class Page:
    items: list[Any]
    count: int | None  # on the first page only
    next_cursor: str | None


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, dt.date) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
        or not isinstance(values[-1], int)
        or any("\x00" in v for v in values if isinstance(v, str))
    ):
        raise ApiError(400, "curseur_invalide", "Curseur de pagination invalide.", "cursor")
    return values


def _after(order: tuple[str, ...], values: list[Any]) -> Q:
    """Rows strictly after `values` in the ascending order `order` (lexicographic). The
    leading field's `>=` is implied by the rest, and said: with it the database reads the
    index on that field from the cursor on, instead of testing the OR on every row."""
    condition = Q()
    for i, field in enumerate(order):
        step = Q(**{f"{field}__gt": values[i]})
        for prev, value in zip(order[:i], values[:i], strict=True):
            step &= Q(**{prev: value})
        condition |= step
    if len(order) > 1:
        condition &= Q(**{f"{order[0]}__gte": values[0]})
    return condition


def keyset_page(
    queryset: QuerySet[Any],
    *,
    order: tuple[str, ...],
    cursor: str | None,
    limit: int,
    count: Callable[[], int] | None = None,
) -> Page:
    """`order` names ascending fields and ends with "pk" (or another unique field); the
    count is taken on the first page only (`cursor` empty), by `count` when given (a total the
    summaries keep, equal to `queryset.count()`), else by counting `queryset`."""
    total = None if cursor else (count() if count is not None else queryset.count())
    rows = queryset.order_by(*order)
    if cursor:
        try:
            rows = rows.filter(_after(order, _decode(cursor, len(order))))
        except (ValueError, TypeError, ValidationError) as exc:  # a value of the wrong type
            raise ApiError(
                400, "curseur_invalide", "Curseur de pagination invalide.", "cursor"
            ) from exc
    items = list(rows[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last: Model = items[-1]
        next_cursor = _encode([getattr(last, f) for f in order])
    return Page(items=items, count=total, next_cursor=next_cursor)
