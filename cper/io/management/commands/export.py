"""`cper export operations|lines|movements|execution SLUG [--as-of DATE] [--by DIM,…]
[--filter k=v,…] --format csv|xlsx|ods --output FICHIER`;
`cper export scdl SLUG [--partner CODE] [--as-of DATE] --output FICHIER`;
`cper export datapackage SLUG [--as-of DATE] --output DOSSIER`;
`cper export full --output DOSSIER|F.zip` (every contract, in open formats: `export_full`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.io import datapackage, exports, scdl, writers
from cper.io.cli import OPERATOR, contract_arg, date_arg, partner_arg


class Command(BaseCommand):
    help = "Exporter : operations | lines | movements | execution | scdl | datapackage"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=[*exports.EXPORT_KINDS, "scdl", "datapackage", "full"])
        parser.add_argument("slug", nargs="?", help="le contrat (sauf pour full)")
        parser.add_argument("--as-of", help="date de situation (JJ/MM/AAAA ou AAAA-MM-JJ)")
        parser.add_argument("--by", default="", help="regroupement de l'exécution : axis,partner…")
        parser.add_argument("--filter", default="", help="filtres k=v,… (departement=59,…)")
        parser.add_argument("--format", choices=writers.FORMATS, help="défaut : selon --output")
        parser.add_argument("--partner", help="SCDL : le partenaire attribuant (défaut : tous)")
        parser.add_argument("--output", "-o", required=True)
        parser.add_argument(
            "--public",
            action="store_true",
            help="seulement les opérations publiées (ce que voit le public)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "full":
            # The whole database in open formats: the backup app's command (by name, so that
            # io does not import backup).
            call_command("export_full", output=options["output"], stdout=self.stdout)
            return
        if not options["slug"]:
            raise CommandError("indiquez le contrat (SLUG)")
        contract = contract_arg(options["slug"])
        as_of = date_arg(options["as_of"])
        user = None if options["public"] else OPERATOR
        output = Path(options["output"])
        what = options["what"]
        if what == "scdl":
            partner = partner_arg(contract, options["partner"])
            try:
                n = scdl.export(contract, output, partner=partner, as_of=as_of, user=user)
            except scdl.ScdlError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(self.style.SUCCESS(f"{output} : {n} subvention(s) au format SCDL"))
            if missing := scdl.missing_sirets(contract, partner):
                self.stderr.write(self.style.WARNING(scdl.missing_siret_message(missing)))
            return
        if what == "datapackage":
            counts = datapackage.export(contract, output, as_of=as_of, user=user)
            detail = ", ".join(f"{k} {v}" for k, v in counts.items())
            self.stdout.write(self.style.SUCCESS(f"{output}/datapackage.json : {detail}"))
            return
        try:
            filters = exports.parse_filters(options["filter"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        group_by = [d.strip() for d in options["by"].split(",") if d.strip()]
        if as_of and what in ("operations", "lines"):
            self.stderr.write(
                "attention : --as-of ne vaut que pour les mouvements et l'exécution ; le "
                "registre est exporté tel qu'il est aujourd'hui"
            )
        fmt = options["format"] or writers.guess_format(output)
        try:
            sheets = exports.build(
                what, contract, user=user, filters=filters, as_of=as_of, group_by=group_by
            )
        except ValueError as exc:  # unknown filter or dimension (French message)
            raise CommandError(str(exc)) from exc
        try:
            writers.write(sheets, fmt, output)
        except writers.ExportTooLarge as exc:  # nothing left behind: the file is written last
            raise CommandError(str(exc)) from exc
        rows = sum(s.written for s in sheets)
        self.stdout.write(self.style.SUCCESS(f"{output} : {rows} ligne(s), format {fmt}"))
