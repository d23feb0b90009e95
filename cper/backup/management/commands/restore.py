"""`cper restore ARCHIVE [--force]`: an archive of `cper backup` back into an empty database of
the same engine, with its files (see `cper.backup.services`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.backup.archive import ArchiveError
from cper.backup.services import RestoreRefused, database_restore


class Command(BaseCommand):
    help = "Restaurer une sauvegarde (cper backup) dans une base vide du même moteur"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="archive écrite par cper backup")
        parser.add_argument(
            "--force",
            action="store_true",
            help="remplacer une base qui n'est pas vide (tout son contenu est perdu)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        archive = Path(options["archive"])
        if not archive.is_file():
            raise CommandError(f"archive introuvable : {archive}")
        try:
            report = database_restore(archive=archive, force=options["force"])
        except (ArchiveError, RestoreRefused) as exc:
            raise CommandError(f"restauration refusée : {exc}") from exc
        manifest = report.manifest
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"sauvegarde du {manifest['created_at']} (cper {manifest['cper_version']}) "
                f"restaurée : {counts} ; {report.media_files} fichier(s) ; empreintes et "
                "comptes vérifiés"
            )
        )
        for note in report.notes:
            self.stdout.write(f"attention : {note}")
