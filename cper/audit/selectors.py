"""Reads of the audit trail that other apps need."""

from __future__ import annotations

from django.db import connection

from cper.audit.models import AuditEntry

# How far back `trail_version` counts the entries (see there).
_RECENT = 1000


def trail_version() -> tuple[int, int]:
    """A version of everything the services wrote: it moves whenever an audited write commits.

    Every write that can change a figure goes through a service that appends to the trail in
    its transaction, so the trail's last id moves with every such write. The last id alone is
    not enough on PostgreSQL: a transaction holding an older id may commit after a newer one
    (the id was taken before, the rows appear after), leaving the last id unchanged. So the
    version is the last id and the number of committed entries among the last `_RECENT` ids:
    when the late transaction commits, that number grows. Two index reads, whatever the size
    of the trail."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:  # one round trip: this is read on every cached page
        cursor.execute(
            f"SELECT m, (SELECT COUNT(*) FROM {table} WHERE id > m - %s) "
            f"FROM (SELECT COALESCE(MAX(id), 0) AS m FROM {table}) last",
            [_RECENT],
        )
        last, recent = cursor.fetchone()
    return int(last), int(recent)
