"""`cper ae add SLUG --programme P112 --year 2023 --amount 1500000 --date 2023-02-01
--reference NOTIF-1 [--bop 0112-DR59] [--withdrawal --note motif] [--illustrative]` and
`cper ae list SLUG [--format text|csv|json]`: the State's AE mises en place (credits delegated
to the region per LOLF programme, BOP and exercice), recorded beside the contract."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.db import Provenance
from cper.finance.models import AeKind
from cper.finance.selectors import ae_mises_en_place
from cper.finance.services import AeDraft, AeRefused, ae_mise_en_place_record
from cper.formulas import InertCsvWriter
from cper.money import format_eur

COLUMNS = ("date", "programme", "bop", "exercice", "nature", "montant", "reference", "note")


class Command(BaseCommand):
    help = "AE mises en place de l'État : add SLUG --programme … | list SLUG [--format …]"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["add", "list"])
        parser.add_argument("slug", help="identifiant du contrat")
        parser.add_argument("--programme", help="programme LOLF (P112…)")
        parser.add_argument("--bop", help="BOP (code Chorus)")
        parser.add_argument("--year", type=int, help="exercice")
        parser.add_argument("--amount", help="montant en euros (1234567.89)")
        parser.add_argument("--date", help="date de la notification (AAAA-MM-JJ)")
        parser.add_argument("--reference", default="", help="référence de la notification")
        parser.add_argument("--note", default="", help="note (motif d'un retrait)")
        parser.add_argument("--withdrawal", action="store_true", help="un retrait d'AE")
        parser.add_argument(
            "--illustrative", action="store_true", help="montant inventé (démonstration)"
        )
        parser.add_argument("--format", choices=["text", "csv", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            contract = Contract.objects.get(slug=options["slug"])
        except Contract.DoesNotExist as exc:
            raise CommandError(f"contrat inconnu : {options['slug']}") from exc
        if options["action"] == "add":
            self._add(contract, options)
        else:
            self._list(contract, options["format"])

    def _add(self, contract: Contract, options: dict[str, Any]) -> None:
        missing = [k for k in ("programme", "year", "amount", "date") if not options.get(k)]
        if missing:
            raise CommandError("indiquez " + ", ".join(f"--{k}" for k in missing))
        try:
            day = dt.date.fromisoformat(options["date"])
        except ValueError as exc:
            raise CommandError(f"date invalide « {options['date']} » (AAAA-MM-JJ)") from exc
        draft = AeDraft(
            programme=options["programme"],
            bop=options.get("bop"),
            year=options["year"],
            amount=options["amount"],
            date=day,
            reference=options["reference"],
            kind=AeKind.WITHDRAWAL if options["withdrawal"] else AeKind.DELEGATION,
            note=options["note"],
            provenance=Provenance.ILLUSTRATIVE if options["illustrative"] else Provenance.OFFICIAL,
        )
        try:
            made = ae_mise_en_place_record(actor=Actor.cli(), contract=contract, draft=draft)
        except AeRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{made.get_kind_display()} enregistrée : {made.programme.code}"
                f"{' / ' + made.bop if made.bop else ''}, exercice {made.year}, "
                f"{format_eur(made.amount)}"
            )
        )

    def _list(self, contract: Contract, fmt: str) -> None:
        rows = [
            {
                "date": r.date.isoformat(),
                "programme": r.programme.code,
                "bop": r.bop or "",
                "exercice": r.year,
                "nature": r.kind,
                "montant": str(r.signed_amount),
                "reference": r.reference,
                "note": r.note,
            }
            for r in ae_mises_en_place(contract=contract)
        ]
        if fmt == "json":
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if fmt == "csv":
            writer = InertCsvWriter(self.stdout if hasattr(self.stdout, "write") else sys.stdout)
            writer.writerow(list(COLUMNS))
            for rec in rows:
                writer.writerow([str(rec[c]) for c in COLUMNS])
            return
        self.stdout.write(f"{contract.title} — AE mises en place ({len(rows)})")
        for rec in rows:
            self.stdout.write(
                f"{rec['date']}  {rec['programme']:<5} {rec['bop'] or '—':<16} "
                f"{rec['exercice']}  {format_eur(rec['montant']):>20}  {rec['reference']}"
                + (f"  ({rec['note']})" if rec["note"] else "")
            )
