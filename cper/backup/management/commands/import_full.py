"""`cper import_full DOSSIER|FICHIER.zip`: rebuild an empty database from `cper export_full`,
through the services (see `cper.backup.services.full_import`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.services import Actor
from cper.backup.services import RestoreRefused, full_import
from cper.contracts.loader import ContractFileError


class Command(BaseCommand):
    help = "Reconstruire une base vide depuis un export complet (cper export_full)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="dossier ou fichier .zip écrit par cper export_full")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["source"])
        if not source.exists():
            raise CommandError(f"export introuvable : {source}")
        try:
            report = full_import(source=source, actor=Actor.cli())
        except (RestoreRefused, ContractFileError, ValidationError, ValueError) as exc:
            raise CommandError(f"reprise refusée : {exc}") from exc
        for slug in report.contracts:
            self.stdout.write(f"{slug} : opérations — {report.operations[slug]}")
            self.stdout.write(f"{slug} : mouvements — {report.movements[slug]}")
        self.stdout.write(
            self.style.SUCCESS(
                f"base reconstruite : {len(report.contracts)} contrat(s), {report.users} "
                f"compte(s) (mot de passe à réinitialiser) ; journal d'audit d'origine gardé "
                f"dans {report.audit_copy}"
            )
        )
