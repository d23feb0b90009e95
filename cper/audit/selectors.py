"""Reads of the audit trail that other apps need."""

from __future__ import annotations

from django.db import connection

from cper.audit.models import AuditEntry

# How far back `trail_version` counts the entries (see there).
_RECENT = 1000


def trail_version() -> tuple[int, int, int]:
    """A version of everything the services wrote: it moves whenever an audited write commits.

    Every write that can change a figure goes through a service that appends to the trail in
    its transaction, so the trail moves with every such write. Its last id alone is not enough
    on PostgreSQL: a transaction holding an older id may commit after a newer one (the id was
    taken before, the row appears after), leaving the last id unchanged. So the version is the
    last id, the smallest and the number of the last `_RECENT` committed entries: when such a
    late entry commits among them, it pushes the smallest out (or adds to the number). One
    backward walk of `_RECENT` index entries, whatever the size of the trail (a bound computed
    from the last id would be a parameter the planner cannot use: a full scan at scale M)."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:  # read on every cached page: one short query
        cursor.execute(
            f"SELECT COALESCE(MAX(id), 0), COALESCE(MIN(id), 0), COUNT(*) "
            f"FROM (SELECT id FROM {table} ORDER BY id DESC LIMIT %s) recent",
            [_RECENT],
        )
        last, first, count = cursor.fetchone()
    return int(last), int(first), int(count)
