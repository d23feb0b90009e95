"""`cper contract load|list|show|check`: the contract as data, from the command line.

A face, like the other commands of this app: it calls `cper.loading` (which writes across the
contracts, maquette and finance apps), so it lives above them rather than in the contracts app,
which `cper.loading` imports."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from cper.audit.services import Actor
from cper.checks import BLOCKING, has_blocking, run_checks
from cper.contracts import selectors
from cper.contracts.loader import ContractFileError
from cper.loading import contract_load
from cper.money import format_eur


class Command(BaseCommand):
    help = "Contrats : load FICHIER | list | show SLUG [--format text|json] | check SLUG"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="charger ou mettre à jour un contrat depuis son fichier")
        load.add_argument("file")
        sub.add_parser("list", help="lister les contrats")
        show = sub.add_parser("show", help="afficher un contrat")
        show.add_argument("slug")
        show.add_argument("--format", choices=["text", "json"], default="text")
        check = sub.add_parser("check", help="rapport de cohérence (code 1 si bloquant)")
        check.add_argument("slug")
        check.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _contract(self, slug: str) -> Any:
        try:
            return selectors.contract_get(slug=slug)
        except Http404 as exc:
            raise CommandError(f"contrat inconnu : {slug}") from exc

    def _load(self, options: dict[str, Any]) -> None:
        try:
            contract, report = contract_load(path=options["file"], actor=Actor.cli())
        except ContractFileError as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(f"attention : {warning}")
        verdict = "mis à jour" if report.changed else "déjà à jour, rien n'a changé"
        self.stdout.write(self.style.SUCCESS(f"{contract.slug} : {verdict} ({report.summary()})"))

    def _list(self, options: dict[str, Any]) -> None:
        for c in selectors.contract_list():
            self.stdout.write(
                f"{c.slug}\t{c.title}\t{c.start_year}-{c.end_year}\t{format_eur(c.envelope, 0)}"
            )

    def _show(self, options: dict[str, Any]) -> None:
        contract = self._contract(options["slug"])
        data = selectors.contract_as_dict(contract=contract)
        if options["format"] == "json":
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        w = self.stdout.write
        w(f"{data['title']} ({data['slug']})")
        w(f"Région {data['region']['name']} — {data['period']['start']}-{data['period']['end']}")
        w(f"Enveloppe : {format_eur(contract.envelope, 0)} ({data['envelope']['provenance']})")
        if data["signature"]["date"]:
            w(f"Signé le {data['signature']['date']} à {data['signature']['place']}")
        if len(data["volets"]) > 1:  # issue 12
            w("Volets :")
            for v in data["volets"]:
                envelope = v["envelope"]["amount"]
                amount = format_eur(Decimal(envelope), 0) if envelope is not None else "—"
                brought = f", avenant n°{v['amendment']}" if v["amendment"] else ""
                w(
                    f"   {v['title']} ({v['period']['start']}-{v['period']['end']}{brought}) : "
                    f"enveloppe {amount}, axes {', '.join(str(n) for n in v['axes'])}"
                )
        w("")
        for axis in data["axes"]:
            share = (
                f"{axis['stated_share']} %" if axis["stated_share"] else (axis["share_note"] or "—")
            )
            w(f"Axe {axis['number']} — {axis['title']} [{share}]")
            for o in axis["objectives"]:
                w(f"   {o['code']}  {o['title']}")
        w("")
        w("Signataires :")
        for p in data["partners"]:
            ident = p["siren"] or p["insee_code"] or "—"
            w(f"   {p['code']:<18} {p['name']} (SIREN/INSEE {ident})")

    def _check(self, options: dict[str, Any]) -> None:
        contract = self._contract(options["slug"])
        findings = run_checks(contract)
        if options["format"] == "json":
            self.stdout.write(
                json.dumps([f.as_dict() for f in findings], ensure_ascii=False, indent=2)
            )
        else:
            for f in findings:
                self.stdout.write(f"[{f.level.label}] {f.message}")
            blocking = sum(1 for f in findings if f.level == BLOCKING)
            self.stdout.write(f"{len(findings)} constat(s), dont {blocking} bloquant(s).")
        if has_blocking(findings):
            raise SystemExit(1)
