"""`cper backup --output FICHIER.tar.gz`: the database and the stored files in one archive, with
a manifest (see `cper.backup.services`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.backup.archive import ArchiveError
from cper.backup.services import ENGINE_LABELS, backup_create


class Command(BaseCommand):
    help = "Sauvegarder la base et les fichiers déposés dans une archive (tar.gz) avec manifeste"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", "-o", required=True, help="archive à écrire (ex. cper-2026-11-29.tar.gz)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"])
        try:
            report = backup_create(output=output)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        manifest = report.manifest
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in manifest["counts"].items())
        files = sum(1 for n in manifest["members"] if n.startswith("fichiers/"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{output} : base {ENGINE_LABELS[manifest['engine']]} ({counts}) et "
                f"{files} fichier(s) ; manifeste avec l'empreinte sha256 de chaque membre"
            )
        )
