"""Trigram indexes (PostgreSQL's pg_trgm) for the register's text search (`q=`): operation
titles and numbers, owners' names, on the very expressions Django's `icontains` writes
(`UPPER(col::text) LIKE UPPER('%…%')`), so a search is an index scan instead of a read of the
whole register. PostgreSQL only: SQLite has no such index (the search reads the register).

Creating the extension needs the right to (superuser or a trusted extension): without it the
indexes are skipped with a warning, the search still answers, only slower."""

import warnings

from django.db import DatabaseError, migrations, transaction

INDEXES = [
    ("operation_title_trgm", "operations_operation", "title"),
    ("operation_code_trgm", "operations_operation", "code"),
    ("owner_name_trgm", "operations_projectowner", "name"),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:
            warnings.warn(f"pg_trgm indisponible, recherche sans index : {exc}", stacklevel=1)
            return
        for name, table, column in INDEXES:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
            )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, _, _ in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("operations", "0002_provenance_transition_date")]

    operations = [migrations.RunPython(create, drop)]
