"""`cper amendment list SLUG` and `cper amendment show SLUG N`: the amendments of a contract."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.maquette import selectors
from cper.maquette.management.commands.maquette import contract_or_error, money
from cper.maquette.models import Amendment
from cper.money import format_eur


def _d(value: Any) -> str | None:
    return value.isoformat() if value else None


class Command(BaseCommand):
    help = "Avenants : list SLUG [--format text|json] | show SLUG N [--format text|json]"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="les avenants d'un contrat, dans l'ordre")
        listing.add_argument("slug")
        listing.add_argument("--format", choices=["text", "json"], default="text")
        show = sub.add_parser("show", help="un avenant : ses changements et ce qu'il change")
        show.add_argument("slug")
        show.add_argument("number", type=int)
        show.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        contract = contract_or_error(options["slug"])
        if options["action"] == "list":
            self._list(contract, options)
        else:
            self._show(contract, options)

    def _list(self, contract: Any, options: dict[str, Any]) -> None:
        items = selectors.amendment_list(contract=contract)
        if options["format"] == "json":
            payload = [
                {
                    "number": s.amendment.number,
                    "title": s.amendment.title,
                    "kind": s.amendment.kind,
                    "adopted_on": _d(s.amendment.adopted_on),
                    "signed_on": _d(s.amendment.signed_on),
                    "effective_on": _d(s.amendment.effective_on),
                    "provenance": s.amendment.provenance,
                    "net": money(s.total),
                    "added": money(s.added),
                    "removed": money(s.removed),
                    "lines": s.lines,
                }
                for s in items
            ]
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        if not items:
            self.stdout.write(f"{contract.slug} : aucun avenant.")
        for s in items:
            a = s.amendment
            self.stdout.write(
                f"n°{a.number}\t{a.effective_on.isoformat()}\t{a.get_kind_display()}\t"
                f"{format_eur(s.total)}\t{a.title}"
            )

    def _show(self, contract: Any, options: dict[str, Any]) -> None:
        try:
            detail = selectors.amendment_detail(contract=contract, number=options["number"])
        except Amendment.DoesNotExist as exc:
            raise CommandError(f"avenant inconnu : n°{options['number']}") from exc
        a = detail.amendment
        if options["format"] == "json":
            payload = {
                "number": a.number,
                "title": a.title,
                "kind": a.kind,
                "adopted_on": _d(a.adopted_on),
                "signed_on": _d(a.signed_on),
                "effective_on": _d(a.effective_on),
                "decision_ref": a.decision_ref,
                "rationale": a.rationale,
                "provenance": a.provenance,
                "source": a.source,
                "envelope_before": money(detail.envelope_before),
                "envelope_after": money(detail.envelope_after),
                "by_partner": [
                    {"partner": x.partner, "delta": money(x.delta)} for x in detail.diff.by_partner
                ],
                "by_axis": [{"axis": x.axis, "delta": money(x.delta)} for x in detail.diff.by_axis],
                "by_note": [{"note": n, "amount": money(v)} for n, v in detail.by_note],
                "changes": [
                    {
                        "partner": line.partner.code,
                        "objective": line.objective.code,
                        "year": line.year,
                        "amount": money(line.amount),
                        "note": line.note,
                        "budget_nature": line.budget_nature,
                        "programme": line.programme.code if line.programme else None,
                        "provenance": line.provenance,
                    }
                    for line in detail.lines
                ],
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        w = self.stdout.write
        w(f"Avenant n°{a.number} — {a.title}")
        w(f"Nature : {a.get_kind_display()} ; provenance : {a.provenance}")
        w(
            f"Adopté le {_d(a.adopted_on) or '—'} ; signé le {_d(a.signed_on) or '—'} ; "
            f"en vigueur le {a.effective_on.isoformat()}"
        )
        if a.decision_ref:
            w(f"Décision : {a.decision_ref}")
        if a.rationale:
            w(f"Motifs : {a.rationale}")
        w(f"Enveloppe : {format_eur(detail.envelope_before)} → {format_eur(detail.envelope_after)}")
        w("Par partenaire :")
        for x in detail.diff.by_partner:
            w(f"  {x.partner_name:<24} {format_eur(x.delta):>22}")
        w("Par axe :")
        for x in detail.diff.by_axis:
            w(f"  axe {x.axis:<20} {format_eur(x.delta):>22}")
        if any(n != "—" for n, _ in detail.by_note):
            w("Par note (mode…) :")
            for note, amount in detail.by_note:
                w(f"  {note:<24} {format_eur(amount):>22}")
        w(f"{len(detail.lines)} ligne(s) de changement (partenaire / objectif / année).")
