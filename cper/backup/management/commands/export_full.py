"""`cper export_full --output DOSSIER|FICHIER.zip`: the whole instance in open formats (contract
YAML, registers, ledger, audit trail, accounts without passwords), from which
`cper import_full` rebuilds a database (see `cper.backup.openexport`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.backup.openexport import full_export


class Command(BaseCommand):
    help = "Export complet en formats ouverts (YAML, CSV, JSON lines) avec datapackage.json"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", "-o", required=True, help="dossier (vide ou nouveau) ou fichier .zip"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"])
        try:
            report = full_export(output=output)
        except FileExistsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{output} : {len(report.contracts)} contrat(s) ({', '.join(report.contracts)}), "
                f"{report.users} compte(s) sans mot de passe, {report.audit_entries} entrée(s) "
                f"du journal d'audit, {report.files} fichier(s) décrits par datapackage.json"
            )
        )
