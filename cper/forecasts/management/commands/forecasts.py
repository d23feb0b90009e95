"""`cper forecasts need SLUG --year 2027 [--format text|csv|json]` (the payment credits needed
per partner and per programme), `cper forecasts alerts SLUG [--at DATE]` (slippage) and
`cper forecasts import SLUG FILE` (schedules from a spreadsheet: nothing written if a row is
bad)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.forecasts import files, selectors
from cper.forecasts.services import ScheduleRefused, schedules_replace_many
from cper.formulas import InertCsvWriter
from cper.money import format_eur


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class Command(BaseCommand):
    help = (
        "Prévisions : need SLUG --year AAAA [--format text|csv|json] (besoin en CP) ; "
        "alerts SLUG [--at AAAA-MM-JJ] (retards) ; import SLUG FICHIER (échéanciers)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["need", "alerts", "import"])
        parser.add_argument("slug", help="identifiant du contrat")
        parser.add_argument("file", nargs="?", help="(import) fichier .xlsx, .ods ou .csv")
        parser.add_argument("--year", type=int, help="(need) année budgétaire N+1")
        parser.add_argument("--at", help="(alerts) date de situation, aujourd'hui par défaut")
        parser.add_argument("--format", choices=["text", "csv", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            contract = Contract.objects.get(slug=options["slug"])
        except Contract.DoesNotExist as exc:
            raise CommandError(f"contrat inconnu : {options['slug']}") from exc
        action = options["action"]
        if action == "import":
            if not options.get("file"):
                raise CommandError("import : indiquez le fichier")
            self._import(contract, Path(options["file"]))
        elif action == "need":
            year = options.get("year") or timezone.localdate().year + 1
            self._need(contract, year, options["format"])
        else:
            at = None
            if options.get("at"):
                try:
                    at = dt.date.fromisoformat(options["at"])
                except ValueError as exc:
                    raise CommandError(f"date invalide « {options['at']} »") from exc
            self._alerts(contract, at, options["format"])

    def _import(self, contract: Contract, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"fichier illisible : {exc}") from exc
        drafts, findings = files.read_schedules(data, path.name, contract)
        if not findings:
            try:
                result = schedules_replace_many(
                    actor=Actor.cli(), contract=contract, schedules=drafts
                )
            except ScheduleRefused as exc:
                findings = exc.findings
        if findings:
            for f in findings:
                self.stderr.write(str(f))
            raise CommandError(f"{len(findings)} problème(s) : rien n'a été enregistré")
        self.stdout.write(
            self.style.SUCCESS(
                f"{contract.slug} : {len(result.versions)} échéancier(s) enregistré(s)"
            )
        )

    def _need(self, contract: Contract, year: int, fmt: str) -> None:
        needs = selectors.payment_needs(contract=contract, year=year)

        def rec(r: selectors.NeedRow) -> dict[str, Any]:
            return {
                "partenaire": r.partner.code,
                "partenaire_libelle": r.partner.name,
                "nature": r.partner.get_budget_nature_display(),
                "programme": r.programme or None,
                "cp_prevus_n1": r.need.next_year,
                "report": r.need.carried,
                "besoin": r.need.total,
                "lignes": r.lines,
            }

        partners = [rec(r) for r in needs.partners]
        programmes = [rec(r) for r in needs.programmes]
        if fmt == "json":
            data = {
                "contract": contract.slug,
                "year": year,
                "paid_as_of": needs.paid_as_of,
                "partners": partners,
                "programmes": programmes,
                "total": {
                    "cp_prevus_n1": needs.total.next_year,
                    "report": needs.total.carried,
                    "besoin": needs.total.total,
                },
            }
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))
            return
        if fmt == "csv":
            writer = InertCsvWriter(self.stdout)
            columns = ["partenaire", "programme", "cp_prevus_n1", "report", "besoin", "lignes"]
            writer.writerow(columns)
            for r in programmes:
                writer.writerow(["" if r[c] is None else str(_plain(r[c])) for c in columns])
            return
        w = self.stdout.write
        w(f"{contract.title} — besoin en crédits de paiement pour {year}")
        w(f"(paiements connus au {needs.paid_as_of:%d/%m/%Y})")
        for n in needs.partners:
            w(
                f"{n.partner.name} : {format_eur(n.need.total)} = CP prévus {year} "
                f"{format_eur(n.need.next_year)} + report {format_eur(n.need.carried)} "
                f"({n.lines} ligne(s))"
            )
            for p in needs.programmes:
                if p.partner.pk == n.partner.pk and p.programme:
                    w(f"    {p.programme_label} : {format_eur(p.need.total)}")
        w(f"Total : {format_eur(needs.total.total)}")

    def _alerts(self, contract: Contract, at: dt.date | None, fmt: str) -> None:
        alerts = selectors.slippage_alerts(contract=contract, at=at, limit=1000)
        records = [
            {
                "operation": a.line.operation.code,
                "ligne": a.line.pk,
                "partenaire": a.line.partner.code if a.line.partner else None,
                "sur": a.slip.what,
                "prevu_cumule": a.slip.planned,
                "realise_cumule": a.slip.actual,
                "ecart": a.slip.gap,
            }
            for a in alerts.rows
        ]
        if fmt == "json":
            data = {"contract": contract.slug, "at": alerts.at, "count": alerts.count}
            data["rows"] = records
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))
            return
        if fmt == "csv":
            writer = InertCsvWriter(self.stdout)
            columns = list(records[0]) if records else ["operation"]
            writer.writerow(columns)
            for r in records:
                writer.writerow(["" if r[c] is None else str(_plain(r[c])) for c in columns])
            return
        self.stdout.write(f"{contract.title} — retards au {alerts.at:%d/%m/%Y} : {alerts.count}")
        for a in alerts.rows:
            self.stdout.write(
                f"{a.line.operation.code} · {a.line.partner} · {a.what_label} : prévu "
                f"{format_eur(a.slip.planned)}, réalisé {format_eur(a.slip.actual)}, "
                f"écart {format_eur(a.slip.gap)}"
            )
