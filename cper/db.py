"""Shared model building blocks: money fields, the provenance of a figure, and the one way the
batch services append many rows to a table."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from django.db import connection, models

from cper.money import DECIMAL_PLACES, MAX_DIGITS


class MoneyField(models.DecimalField):
    """Euros with cents, stored exactly (NUMERIC on PostgreSQL, decimal text on SQLite)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key, default in (("max_digits", MAX_DIGITS), ("decimal_places", DECIMAL_PLACES)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs


class Provenance(models.TextChoices):
    OFFICIAL = "official", "officiel"
    ILLUSTRATIVE = "illustrative", "illustratif"


class Sourced(models.Model):
    """A figure that says whether it is the contract's (official, with its source) or invented."""

    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.ILLUSTRATIVE
    )
    source = models.CharField("source", max_length=500, blank=True)

    class Meta:
        abstract = True


class AppendOnlyQuerySet(models.QuerySet):
    """The rows of an append-only model are never updated nor deleted, even in bulk: both raise
    the model's `immutable` exception (which says, in French, what to record instead)."""

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise self.model.immutable()

    def delete(self):  # type: ignore[no-untyped-def]
        raise self.model.immutable()


class AppendOnly(models.Model):
    """A record that is appended and never edited nor deleted (movements of the ledger, AE mises
    en place, closings): a correction is a new record. Subclasses name their `immutable`
    exception."""

    immutable: ClassVar[type[Exception]]

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise self.immutable()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise self.immutable()


def insert_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Append `rows` (values already prepared for the database, in `columns` order) to `table`,
    in the given order (ids follow it). PostgreSQL: one COPY, the rows streamed in one command
    (`executemany` would send and bind each row); elsewhere `executemany` by chunks; one row is
    a plain INSERT. The driver's errors become Django's (`IntegrityError`…), as through the
    cursor. Used by the batch services for the append-only tables (movements, audit trail,
    summaries) — the tables where a batch writes tens of thousands of rows."""
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > 1:
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
            return
        for i in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[i : i + 5000])


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration of a large batch (an import, the
    demo): each chunk builds tens of thousands of objects that live until it is written, which
    sets off full collections over the whole process again and again (about a quarter of the
    demo's time), and the batch services make no cycles that need collecting early. Reference
    counting still frees everything; the collector runs again when the batch ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
