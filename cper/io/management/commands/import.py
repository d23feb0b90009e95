"""`cper import operations|movements FICHIER [--contract SLUG] [--partner CODE] [--mapping F]
[--dry-run] [--partial] [--programmed-on DATE] [--user NOM] [--rejects FICHIER]`: spreadsheets
in, through the services; `cper import template operations|movements --output F`: a blank file
to fill in, with the headers, their help and drop-down lists."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cper.accounts.models import User
from cper.audit.models import Via
from cper.audit.services import Actor
from cper.io.cli import contract_arg, partner_arg
from cper.io.imports import import_movements, import_operations, template
from cper.io.readers import parse_date


class ProgressBar:
    """A one-line progress bar on stderr (redrawn at most ten times a second)."""

    def __init__(self, stream: Any, label: str):
        self.stream, self.label, self.last = stream, label, 0.0
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / total) if total else width
        rate = done / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"lignes ({rate:,.0f}/s)".replace(",", " ")
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = "Importer des opérations (et leurs plans de financement) ou des mouvements"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["operations", "movements", "template"])
        parser.add_argument(
            "file", help="fichier à importer ; pour template : operations|movements"
        )
        parser.add_argument("--output", help="template : fichier XLSX à écrire")
        parser.add_argument(
            "--programmed-on",
            help="reprise d'un registre : date (JJ/MM/AAAA) des décisions antérieures qui ont "
            "programmé les opérations sans date de comité",
        )
        parser.add_argument("--contract", help="identifiant du contrat (défaut : le seul chargé)")
        parser.add_argument("--partner", help="code du partenaire dont le fichier vient")
        parser.add_argument("--mapping", help="fichier TOML de correspondance des en-têtes")
        parser.add_argument(
            "--dry-run", action="store_true", help="simuler : rapport sans rien écrire"
        )
        parser.add_argument(
            "--partial",
            action="store_true",
            help="appliquer les lignes valides et écrire les lignes rejetées dans un fichier",
        )
        parser.add_argument(
            "--rejects", help="fichier des lignes rejetées (défaut : FICHIER-rejets.xlsx)"
        )
        parser.add_argument("--user", help="nom de l'utilisateur au nom duquel importer")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        contract = contract_arg(options["contract"])
        if options["what"] == "template":
            self._template(contract, options["file"], options["output"])
            return
        partner = partner_arg(contract, options["partner"])
        programmed_on = self._programmed_on(options["programmed_on"], options["what"])
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"fichier introuvable : {path}")
        actor = self._actor(options["user"])
        fn = import_operations if options["what"] == "operations" else import_movements
        progress = None
        if not options["no_progress"]:
            progress = ProgressBar(sys.stderr, f"import {path.name}")
        mapping = Path(options["mapping"]) if options["mapping"] else None
        if mapping is not None and not mapping.is_file():
            raise CommandError(f"fichier de correspondance introuvable : {mapping}")
        extra: dict[str, Any] = {"programmed_on": programmed_on} if programmed_on else {}
        try:
            report = fn(
                actor=actor,
                contract=contract,
                source=path,
                partner=partner,
                mapping=mapping,
                dry_run=options["dry_run"],
                partial=options["partial"],
                progress=progress,
                **extra,
            )
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(f"attention : {warning}")
        for rejection in report.rejections[:200]:
            if not rejection.row:  # the whole file: refused on a bound, unreadable, or failed
                self.stderr.write(self.style.ERROR(f"erreur : {rejection.message}"))
            self.stdout.write(f"rejet — {rejection}")
        if len(report.rejections) > 200:
            self.stdout.write(f"… et {len(report.rejections) - 200} autres rejets")
        layout = {
            "long": "une ligne par ligne de financement ou mouvement",
            "wide": "une ligne par opération, une colonne par financeur",
        }.get(report.layout, report.layout)
        if report.sheet:
            self.stdout.write(
                f"feuille « {report.sheet} », en-têtes ligne {report.header_row}"
                f"{f', format {layout}' if layout else ''}"
            )
        if report.dry_run:
            self._explain(report)
        if report.partial and report.rejected_rows:
            target = Path(options["rejects"] or path.with_name(f"{path.stem}-rejets.xlsx"))
            fmt = target.suffix.lstrip(".").lower()
            target.write_bytes(
                report.rejected_file(fmt if fmt in {"csv", "xlsx", "ods"} else "xlsx")
            )
            self.stdout.write(f"lignes rejetées écrites dans {target} (colonne « Erreur »)")
        summary = report.summary()
        if report.dry_run:
            self.stdout.write(self.style.WARNING(summary + " — rien n'a été écrit"))
        elif report.applied:
            self.stdout.write(self.style.SUCCESS(summary))
        else:
            self.stdout.write(self.style.ERROR(summary + " — rien n'a été écrit (tout ou rien)"))
        if report.rejections and not (report.partial and report.applied):
            raise SystemExit(1)

    def _explain(self, report: Any) -> None:
        """A dry run's reading of the file: each header and the field it feeds (approximate
        matches flagged, to confirm or correct with --mapping), then the first rows as they
        will be written."""
        if report.matches:
            self.stdout.write("en-têtes reconnus (en-tête du fichier → champ) :")
            for m in report.matches:
                how = f" (rapproché, score {m['score']:.2f})" if m["score"] is not None else ""
                self.stdout.write(f"  « {m['header']} » → {m['label']}{how}")
            if any(m["score"] is not None for m in report.matches):
                self.stdout.write(
                    "  pour corriger un rapprochement : un fichier --mapping (TOML), par exemple :"
                )
                for line in report.mapping_toml().splitlines():
                    self.stdout.write(f"    {line}")
        if report.preview:
            self.stdout.write(f"aperçu des {len(report.preview)} premières lignes écrites :")
            for p in sorted(report.preview, key=lambda p: p["row"]):
                values = " | ".join(f"{k} : {v}" for k, v in p["values"].items() if v)
                self.stdout.write(f"  ligne {p['row']} ({p['outcome']}) — {values}")

    def _programmed_on(self, text: str | None, what: str) -> dt.date | None:
        if not text:
            return None
        if what != "operations":
            raise CommandError("--programmed-on ne vaut que pour un import d'opérations")
        try:
            day = parse_date(text)
        except ValueError as exc:
            raise CommandError(f"--programmed-on : {exc}") from exc
        if day > timezone.localdate():
            raise CommandError(
                f"--programmed-on : le {day:%d/%m/%Y} est à venir ; les décisions reprises "
                "ont été prises avant aujourd'hui"
            )
        return day

    def _template(self, contract: Any, kind: str, output: str | None) -> None:
        if kind not in template.KINDS:
            raise CommandError(f"modèle inconnu « {kind} » : operations ou movements")
        target = Path(output or template.file_name(contract, kind))
        target.write_bytes(template.build(contract, kind))
        self.stdout.write(self.style.SUCCESS(f"modèle d'import écrit dans {target}"))

    def _actor(self, username: str | None) -> Actor:
        if not username:
            # The operator on the server: trusted like every `cper` command (see
            # cper.accounts.permissions.require_actor); the import log says so.
            return Actor(user=None, via=Via.CLI)

        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"utilisateur inconnu : {username}")
        return Actor(user=user, via=Via.IMPORT)
