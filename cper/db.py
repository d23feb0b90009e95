"""Shared model building blocks: money fields, the provenance of a figure, and the one way the
batch services append many rows to a table (and update many rows by key)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

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


def update_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Set `fields` of existing rows of `model`, each row given as (primary key, *values in
    `fields` order, prepared for the database as for `insert_rows`). PostgreSQL: one
    `UPDATE … FROM unnest(…)` per 5,000 rows, one array per column cast to its column's type (a
    statement of a few placeholders, which the driver parses once; a `VALUES` list of 2,000 rows
    was parsed again at each call, most of the time of a register's partner decisions);
    elsewhere one `executemany` of the single-row UPDATE (SQLite runs it in process). What a
    batch service does instead of one ORM `update()` per row: a register's partner decisions
    change the state of tens of thousands of lines."""
    if not rows:
        return
    opts = model._meta
    assert opts.pk is not None
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    pk = quote(str(opts.pk.column))
    targets = [opts.get_field(name) for name in fields]
    columns = [quote(str(f.column)) for f in targets]  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            sets = ", ".join(f"{c} = %s" for c in columns)
            cursor.executemany(
                f"UPDATE {table} SET {sets} WHERE {pk} = %s", [(*r[1:], r[0]) for r in rows]
            )
            return
        casts = [opts.pk.db_type(connection)] + [f.db_type(connection) for f in targets]  # type: ignore[union-attr]
        arrays = ", ".join(f"%s::{cast}[]" for cast in casts)
        names = ", ".join(["k", *(f"v{i}" for i in range(len(columns)))])
        sets = ", ".join(f"{c} = v.v{i}" for i, c in enumerate(columns))
        sql = (
            f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({names}) "
            f"WHERE {table}.{pk} = v.k"
        )
        for i in range(0, len(rows), _UPDATE_CHUNK):
            chunk = rows[i : i + _UPDATE_CHUNK]
            cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])


_UPDATE_CHUNK = 5000


# The fields whose Python value is already the database's (text, numbers, booleans, a related
# row's id): `insert_objects` passes them as they are; the others (decimals, dates, JSON…) go
# through the field's `get_db_prep_save`, as the ORM prepares them.
_PLAIN_FIELDS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "EmailField",
        "ForeignKey",
        "IntegerField",
        "OneToOneField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
    }
)


def insert_objects(objs: Sequence[models.Model], *, ids: bool = True) -> None:
    """Insert new instances of one model (auto primary key not set) with the values
    `bulk_create` would write — `auto_now(_add)` dates set, a related object's id taken,
    decimals and dates prepared by their field — without the ORM's per-value compilation
    (most of a batch service's time at tens of thousands of rows). `ids`: one multi-row
    `INSERT … RETURNING` per batch sets each object's new id, in order (as `bulk_create` relies
    on); without, the rows are appended by `insert_rows` (COPY on PostgreSQL). The objects are
    then saved instances (`_state.adding` false). No signals, as `bulk_create`."""
    if not objs:
        return
    model = type(objs[0])
    opts = model._meta
    pk = opts.pk
    assert pk is not None and getattr(pk, "db_returning", False), model  # an auto primary key
    fields = [f for f in opts.concrete_fields if f is not pk and not f.generated]
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    # One time for the batch's `auto_now(_add)` fields (as each object's `pre_save` sets it).
    now = timezone.now()
    stamps = [
        (f.attname, now if isinstance(f, models.DateTimeField) else timezone.localdate(now))
        for f in stamped
    ]
    related: list[Any] = [f for f in fields if f.is_relation]  # foreign keys (cached objects)
    prep = [None if f.get_internal_type() in _PLAIN_FIELDS else f.get_db_prep_save for f in fields]
    # Dates and times repeat (the batch's time, a committee's day): each prepared once.
    memo: list[dict[Any, Any] | None] = [
        {} if isinstance(f, models.DateField | models.TimeField) else None for f in fields
    ]
    attnames = [f.attname for f in fields]
    columns = [str(f.column) for f in fields]
    pk_column = str(pk.column)
    rows: list[tuple[Any, ...]] = []
    for obj in objs:
        for attname, stamp in stamps:
            setattr(obj, attname, stamp)
        for f in related:
            if getattr(obj, f.attname) is None and f.is_cached(obj):
                target = f.get_cached_value(obj)
                if target is not None:
                    if target.pk is None:
                        raise ValueError(f"{model.__name__}.{f.name} : objet lié non enregistré")
                    setattr(obj, f.attname, target.pk)
        row = []
        for p, m, a in zip(prep, memo, attnames, strict=True):
            value = obj.__dict__[a]
            if p is not None and value is not None:
                if m is None:
                    value = p(value, connection)
                elif value in m:
                    value = m[value]
                else:
                    value = m[value] = p(value, connection)
            row.append(value)
        rows.append(tuple(row))
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    if not ids:
        insert_rows(opts.db_table, columns, rows)
    elif connection.vendor == "postgresql":
        # The ids drawn from the table's sequence (as the inserts would draw them, safe beside
        # other writers), then the rows with their ids in one COPY: a multi-row INSERT is
        # several times slower to send.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [opts.db_table, pk_column, len(rows)],
            )
            new_ids = sorted(row[0] for row in cursor.fetchall())
        for obj, new_id in zip(objs, new_ids, strict=True):
            setattr(obj, pk.attname, new_id)
        insert_rows(
            opts.db_table,
            [pk_column, *columns],
            [(new_id, *row) for new_id, row in zip(new_ids, rows, strict=True)],
        )
    else:
        names = ", ".join(quote(c) for c in columns)
        one = f"({', '.join(['%s'] * len(fields))})"
        size = max(1, min(1000, connection.ops.bulk_batch_size(fields, objs)))
        with connection.cursor() as cursor:
            for i in range(0, len(rows), size):
                chunk = rows[i : i + size]
                cursor.execute(
                    f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(chunk))} "
                    f"RETURNING {quote(pk_column)}",
                    [v for row in chunk for v in row],
                )
                for obj, (new_id,) in zip(objs[i : i + size], cursor.fetchall(), strict=True):
                    setattr(obj, pk.attname, new_id)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


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


def ids_in(field: str, ids: Iterable[int]) -> Q:
    """`field IN (ids)`, bounded by the ids' smallest and largest too. A batch works on sorted,
    mostly adjacent ids: the bounds let the database read that slice of the field's index,
    which it cannot tell from a list of thousands of values (without statistics — a table
    filled in the same transaction — it scans the whole table for each list instead: the
    demonstration at scale L read a million partner decisions for each 20,000 lines)."""
    values = sorted(set(ids))
    if not values:
        return Q(**{f"{field}__in": []})
    return Q(**{f"{field}__in": values, f"{field}__gte": values[0], f"{field}__lte": values[-1]})
