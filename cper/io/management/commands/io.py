"""`cper io purge [--days N] [--export-days N] [--dry-run]`: deletes uploaded import files past
their retention period (`CPER_UPLOAD_RETENTION_DAYS`, 30 days by default) and the files of the
exports prepared in the background past theirs (`CPER_EXPORT_RETENTION_DAYS`, 7 days). `cper
worker` also does it daily; without a worker, run it from cron or a systemd timer (docs/io.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.models import Via
from cper.audit.services import Actor
from cper.io.services import exports_purge, uploads_purge


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
        purge.add_argument(
            "--export-days",
            type=int,
            default=None,
            help="durée de conservation des exports préparés, en jours "
            "(défaut : CPER_EXPORT_RETENTION_DAYS, 7)",
        )
        purge.add_argument("--dry-run", action="store_true", help="lister sans rien supprimer")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options.get("days")
        if days is not None and days < 0:
            raise CommandError("--days : un nombre de jours positif ou nul")
        export_days = options.get("export_days")
        if export_days is not None and export_days < 0:
            raise CommandError("--export-days : un nombre de jours positif ou nul")
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
        prepared = exports_purge(
            actor=Actor(user=None, via=Via.CLI),
            older_than=dt.timedelta(days=export_days) if export_days is not None else None,
            dry_run=options["dry_run"],
        )
        for path in prepared.files:
            self.stdout.write(f"{'à supprimer' if options['dry_run'] else 'supprimé'} : {path}")
        size = f"{prepared.bytes / 1_048_576:.1f}".replace(".", ",")
        verb = "à supprimer" if options["dry_run"] else "supprimé(s)"
        self.stdout.write(f"Exports préparés : {len(prepared.files)} fichier(s) {verb} ({size} Mo)")
