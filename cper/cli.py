"""The `cper` console script: a thin front to Django's management commands.

`cper contract load FILE` is `manage.py contract load FILE`; `cper --help` lists every command.
A command run on a database that was never migrated (or lags behind the code) ends with a
French sentence naming `cper migrate`, not a traceback about a missing table.
"""

from __future__ import annotations

import os
import sys

# Django's own commands that work on an unmigrated database (or say so themselves).
_BEFORE_MIGRATE = {"help", "migrate", "makemigrations", "showmigrations", "sqlmigrate", "check"}


def _pending_migrations() -> int:
    """How many migrations the database still lacks (0 if it cannot even be asked)."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except Exception:  # the database is unreachable: the original error says more
        return 0


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError, ProgrammingError

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        args = ["help"]
    try:
        execute_from_command_line(["cper", *args])
    except (OperationalError, ProgrammingError):
        if args[0] in _BEFORE_MIGRATE:
            raise
        pending = _pending_migrations()
        if not pending:
            raise
        sys.stderr.write(
            f"La base de données n'est pas à jour ({pending} migration(s) à appliquer) : "
            "lancez d'abord `cper migrate` (ou `make setup`).\n"
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
