"""`cper indicators load SLUG FILE.yaml` (the catalogue), `cper indicators import SLUG FILE`
(values from a spreadsheet: nothing written if a row is bad) and `cper indicators rollup SLUG
[--by axis|objective|departement|territory] [--at DATE] [--format text|csv|json]`."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.findings import Finding
from cper.formulas import InertCsvWriter
from cper.indicators import files, rules, selectors
from cper.indicators.services import (
    IndicatorsRefused,
    indicator_catalogue_load,
    indicator_values_record_many,
)
from cper.money import format_number


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return rules.plain(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _qty(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return format_number(value, 0 if value == value.to_integral() else 2)


class Command(BaseCommand):
    help = (
        "Indicateurs : load SLUG FICHIER.yaml (catalogue) ; import SLUG FICHIER.xlsx|ods|csv "
        "(valeurs par opération) ; rollup SLUG [--by axis|objective|departement|territory]"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["load", "import", "rollup"])
        parser.add_argument("slug", help="identifiant du contrat")
        parser.add_argument("file", nargs="?", help="fichier (load, import)")
        parser.add_argument("--by", default="contract", choices=list(selectors.GROUPINGS))
        parser.add_argument("--at", help="date de situation (AAAA-MM-JJ)")
        parser.add_argument("--format", choices=["text", "csv", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            contract = Contract.objects.get(slug=options["slug"])
        except Contract.DoesNotExist as exc:
            raise CommandError(f"contrat inconnu : {options['slug']}") from exc
        action = options["action"]
        if action in {"load", "import"} and not options.get("file"):
            raise CommandError(f"{action} : indiquez le fichier")
        if action == "load":
            self._load(contract, Path(options["file"]))
        elif action == "import":
            self._import(contract, Path(options["file"]))
        else:
            at = None
            if options.get("at"):
                try:
                    at = dt.date.fromisoformat(options["at"])
                except ValueError as exc:
                    raise CommandError(f"date invalide « {options['at']} »") from exc
            self._rollup(contract, options["by"], at, options["format"])

    def _fail(self, findings: list[Any]) -> None:
        for f in findings:
            self.stderr.write(str(f))
        raise CommandError(f"{len(findings)} problème(s) : rien n'a été enregistré")

    def _load(self, contract: Contract, path: Path) -> None:
        slug, drafts, findings = files.read_catalogue(path)
        if slug and slug != contract.slug:
            findings.append(Finding("contract", f"le fichier est celui du contrat « {slug} »"))
        if findings:
            self._fail(findings)
        try:
            report = indicator_catalogue_load(actor=Actor.cli(), contract=contract, drafts=drafts)
        except IndicatorsRefused as exc:
            self._fail(exc.findings)
        self.stdout.write(
            self.style.SUCCESS(
                f"{contract.slug} : catalogue chargé — {report.created} créé(s), "
                f"{report.updated} modifié(s), {report.unchanged} inchangé(s)"
            )
        )

    def _import(self, contract: Contract, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"fichier illisible : {exc}") from exc
        drafts, findings = files.read_values(data, path.name)
        if findings:
            self._fail(findings)
        try:
            result = indicator_values_record_many(
                actor=Actor.cli(), contract=contract, values=drafts
            )
        except IndicatorsRefused as exc:
            self._fail(exc.findings)
        self.stdout.write(
            self.style.SUCCESS(f"{contract.slug} : {len(result.values)} valeur(s) enregistrée(s)")
        )

    def _rollup(self, contract: Contract, by: str, at: dt.date | None, fmt: str) -> None:
        rollup = selectors.indicator_rollup(contract=contract, by=by, at=at)
        records: list[dict[str, Any]] = [
            {
                "groupe": r.group,
                "groupe_libelle": r.group_label,
                "indicateur": r.indicator.code,
                "intitule": r.indicator.name,
                "unite": r.unit_label,
                "agregation": r.aggregation,
                "prevu": r.planned,
                "realise": r.achieved,
                "operations": r.operations,
            }
            for r in rollup.rows
        ]
        if fmt == "json":
            data = {"contract": contract.slug, "by": by, "at": at, "rows": records}
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))
            return
        if fmt == "csv":
            writer = InertCsvWriter(self.stdout)
            columns = list(records[0]) if records else ["groupe"]
            writer.writerow(columns)
            for rec in records:
                writer.writerow(["" if rec[c] is None else str(_plain(rec[c])) for c in columns])
            return
        self.stdout.write(
            f"{contract.title} — indicateurs par {selectors.GROUPINGS[by]}"
            + (f" au {at:%d/%m/%Y}" if at else "")
        )
        for rec in records:
            self.stdout.write(
                f"{rec['groupe_libelle']} | {rec['indicateur']} | prévu {_qty(rec['prevu'])} | "
                f"réalisé {_qty(rec['realise'])} {rec['unite']} | {rec['agregation']} | "
                f"{rec['operations']} opération(s)"
            )
