"""`cper io purge [--days N] [--dry-run]`: deletes uploaded import files past their retention
period (`CPER_UPLOAD_RETENTION_DAYS`, 30 days by default). `cper worker` also does it daily;
without a worker, run it from cron or a systemd timer (docs/io.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.models import Via
from cper.audit.services import Actor
from cper.io.services import uploads_purge


class Command(BaseCommand):
    help = "Entretien des fichiers importés : `cper io purge`"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        purge = sub.add_parser(
            "purge", help="supprimer les fichiers importés plus anciens que la durée de rétention"
        )
        purge.add_argument(
            "--days",
            type=int,
            default=None,
            help="durée de rétention en jours (défaut : CPER_UPLOAD_RETENTION_DAYS, 30)",
        )
        purge.add_argument("--dry-run", action="store_true", help="lister sans rien supprimer")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options.get("days")
        if days is not None and days < 0:
            raise CommandError("--days : un nombre de jours positif ou nul")
        result = uploads_purge(
            actor=Actor(user=None, via=Via.CLI),
            older_than=dt.timedelta(days=days) if days is not None else None,
            dry_run=options["dry_run"],
        )
        for path in result.files:
            self.stdout.write(f"{'à supprimer' if options['dry_run'] else 'supprimé'} : {path}")
        summary = result.summary()
        if options["dry_run"]:
            summary = "Simulation : " + summary.replace("supprimé(s)", "à supprimer")
        self.stdout.write(summary)
