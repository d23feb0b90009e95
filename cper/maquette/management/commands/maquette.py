"""`cper maquette SLUG [...]` and `cper maquette diff SLUG --from V|DATE --to V|DATE`.

The amounts come from `maquette_amounts` / `maquette_diff` (selectors), as on the pages and in
the API: the command only formats them. Money is written as decimal strings in CSV and JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404
from django.utils.timezone import localdate

from cper.contracts import selectors as contract_selectors
from cper.contracts.models import Contract
from cper.formulas import InertCsvWriter
from cper.maquette import selectors
from cper.maquette.selectors import GROUP_KEYS, MaquetteQueryError
from cper.money import format_eur


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"date invalide « {text} » (attendu : AAAA-MM-JJ)") from exc


def contract_or_error(slug: str) -> Contract:
    try:
        return contract_selectors.contract_get(slug=slug)
    except Http404 as exc:
        raise CommandError(f"contrat inconnu : {slug}") from exc


def money(value: Any) -> str:
    return f"{value:.2f}"


class Labels:
    """Names for the codes of a contract (partners, axes, objectives)."""

    def __init__(self, contract: Contract):
        self.partners = {p.code: p.short_name or p.name for p in contract.partners.all()}
        self.axes = {a.number: a.title for a in contract.axes.all()}
        self.objectives = {o.code: o.title for o in contract.objectives.all()}

    def of(self, key: str, value: Any) -> str:
        if key == "partner":
            return self.partners.get(value, str(value))
        if key == "axis":
            return f"Axe {value} — {self.axes.get(value, '')}"
        if key == "objective":
            return f"{value} {self.objectives.get(value, '')}"
        return "toutes années" if value is None else str(value)


class Command(BaseCommand):
    help = (
        "Maquette financière : maquette SLUG [--as-of AAAA-MM-JJ | --version N] "
        "[--by partner,axis,objective,year] [--format text|csv|json] ; "
        "maquette diff SLUG --from V|DATE --to V|DATE [--format text|csv|json]"
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Our --version (of the maquette) replaces Django's --version (of Django).
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", nargs="+", metavar="[diff] SLUG")
        parser.add_argument("--as-of", dest="as_of", help="date AAAA-MM-JJ (défaut : aujourd'hui)")
        parser.add_argument("--version", dest="mversion", type=int, help="version N (0 = initiale)")
        parser.add_argument(
            "--by", default="partner,axis", help="regroupement : partner,axis,objective,year"
        )
        parser.add_argument("--from", dest="from_", help="diff : version ou date de départ")
        parser.add_argument("--to", dest="to", help="diff : version ou date d'arrivée")
        parser.add_argument("--format", choices=["text", "csv", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        target = options["target"]
        try:
            if target[0] == "diff":
                if len(target) != 2:
                    raise CommandError("usage : maquette diff SLUG --from V|DATE --to V|DATE")
                self._diff(contract_or_error(target[1]), options)
            else:
                if len(target) != 1:
                    raise CommandError("usage : maquette SLUG [--as-of DATE | --version N]")
                self._amounts(contract_or_error(target[0]), options)
        except MaquetteQueryError as exc:
            raise CommandError(str(exc)) from exc

    # --- cper maquette SLUG ---------------------------------------------------------------

    def _amounts(self, contract: Contract, options: dict[str, Any]) -> None:
        as_of = _date(options["as_of"]) if options["as_of"] else None
        version = options["mversion"]
        if as_of is not None and version is not None:
            raise CommandError("--as-of ou --version, pas les deux")
        group_by = [g.strip() for g in options["by"].split(",") if g.strip()]
        bad = [g for g in group_by if g not in GROUP_KEYS]
        if bad or len(set(group_by)) != len(group_by):
            raise CommandError(
                f"--by : {', '.join(bad) or 'doublon'} (attendu : {', '.join(GROUP_KEYS)})"
            )
        amounts = selectors.maquette_amounts(
            contract=contract, as_of=as_of, version=version, group_by=group_by
        )
        point = version if version is not None else as_of
        total = sum(amounts.values(), selectors.ZERO)
        labels = Labels(contract)
        envelope = selectors.envelope_in_force(contract=contract, as_of=as_of, version=version)
        amendments = [
            a.number
            for a in selectors.amendments_in_force(contract=contract, as_of=as_of, version=version)
        ]
        fmt = options["format"]
        if fmt == "json":
            rows = []
            for key, amount in amounts.items():
                row: dict[str, Any] = {}
                for g, v in zip(group_by, key, strict=True):
                    row[g] = v
                    if g != "year":
                        row[f"{g}_label"] = labels.of(g, v)
                row["amount"] = money(amount)
                rows.append(row)
            self.stdout.write(
                json.dumps(
                    {
                        "contract": contract.slug,
                        "as_of": (
                            None if version is not None else (as_of or localdate()).isoformat()
                        ),
                        "version": version,
                        "in_force": selectors.point_label(point),
                        "amendments": amendments,
                        "group_by": group_by,
                        "rows": rows,
                        "total": money(total),
                        "envelope": money(envelope),
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        elif fmt == "csv":
            writer = InertCsvWriter(self.stdout, lineterminator="\n")
            header: list[str] = []
            for g in group_by:
                header += [g] if g == "year" else [g, f"{g}_label"]
            writer.writerow([*header, "amount"])
            for key, amount in amounts.items():
                cells: list[Any] = []
                for g, v in zip(group_by, key, strict=True):
                    cells += [v if v is not None else ""] if g == "year" else [v, labels.of(g, v)]
                writer.writerow([*cells, money(amount)])
        else:
            w = self.stdout.write
            w(f"{contract.title} — maquette {selectors.point_label(point)}")
            w(
                "Avenants pris en compte : "
                + (", ".join(f"n°{n}" for n in amendments) if amendments else "aucun")
            )
            for key, amount in amounts.items():
                label = (
                    " | ".join(labels.of(g, v) for g, v in zip(group_by, key, strict=True))
                    or "Total"
                )
                w(f"  {label[:90]:<90} {format_eur(amount):>22}")
            w(f"  {'Total':<90} {format_eur(total):>22}")
            w(f"  {'Enveloppe en vigueur':<90} {format_eur(envelope):>22}")

    # --- cper maquette diff SLUG ----------------------------------------------------------

    def _diff(self, contract: Contract, options: dict[str, Any]) -> None:
        if not options["from_"] or not options["to"]:
            raise CommandError("diff : --from et --to sont obligatoires (version N ou date)")
        from_ = selectors.parse_point(options["from_"])
        to = selectors.parse_point(options["to"])
        diff = selectors.maquette_diff(contract=contract, from_=from_, to=to)
        fmt = options["format"]

        def cell(line: selectors.DiffLine) -> dict[str, Any]:
            return {
                "partner": line.partner,
                "partner_label": line.partner_name,
                "axis": line.axis,
                "objective": line.objective,
                "year": line.year,
                "before": money(line.before),
                "after": money(line.after),
                "delta": money(line.delta),
                "amendments": line.amendments,
            }

        if fmt == "json":
            payload = {
                "contract": contract.slug,
                "from": str(from_) if isinstance(from_, int) else from_.isoformat(),
                "to": str(to) if isinstance(to, int) else to.isoformat(),
                "from_label": diff.from_label,
                "to_label": diff.to_label,
                "amendments": [
                    {
                        "number": a.number,
                        "title": a.title,
                        "kind": a.kind,
                        "effective_on": a.effective_on.isoformat(),
                        "direction": "applied" if sign > 0 else "undone",
                    }
                    for a, sign in diff.amendments
                ],
                "total_before": money(diff.total_before),
                "total_after": money(diff.total_after),
                "total_delta": money(diff.total_delta),
                "by_partner": [
                    {k: v for k, v in cell(x).items() if k in _ROLL_P} for x in diff.by_partner
                ],
                "by_axis": [
                    {k: v for k, v in cell(x).items() if k in _ROLL_A} for x in diff.by_axis
                ],
                "by_partner_axis": [
                    {k: v for k, v in cell(x).items() if k in _ROLL_PA}
                    for x in diff.by_partner_axis
                ],
                "cells": [cell(x) for x in diff.cells],
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
        elif fmt == "csv":
            writer = InertCsvWriter(self.stdout, lineterminator="\n")
            writer.writerow(
                ["partner", "axis", "objective", "year", "before", "after", "delta", "amendments"]
            )
            for x in diff.cells:
                writer.writerow(
                    [
                        x.partner,
                        x.axis,
                        x.objective,
                        x.year if x.year is not None else "",
                        money(x.before),
                        money(x.after),
                        money(x.delta),
                        " ".join(str(n) for n in x.amendments),
                    ]
                )
        else:
            w = self.stdout.write
            w(f"{contract.title} — écarts de la maquette : {diff.from_label} → {diff.to_label}")
            if not diff.amendments:
                w("Aucun avenant entre ces deux points : la maquette est identique.")
            for a, sign in diff.amendments:
                verb = "appliqué" if sign > 0 else "retiré (retour en arrière)"
                w(f"  Avenant n°{a.number} — {a.title} ({a.effective_on.isoformat()}) : {verb}")
            w(
                f"Total : {format_eur(diff.total_before)} → {format_eur(diff.total_after)} "
                f"({'+' if diff.total_delta >= 0 else ''}{format_eur(diff.total_delta)})"
            )
            w("Par partenaire et par axe :")
            for x in diff.by_partner_axis:
                w(
                    f"  {x.partner_name:<20} axe {x.axis}  {format_eur(x.before):>22} → "
                    f"{format_eur(x.after):>22}  ({'+' if x.delta >= 0 else ''}"
                    f"{format_eur(x.delta)}) avenant(s) {', '.join(map(str, x.amendments))}"
                )


_ROLL_P = {"partner", "partner_label", "before", "after", "delta", "amendments"}
_ROLL_A = {"axis", "before", "after", "delta", "amendments"}
_ROLL_PA = _ROLL_P | {"axis"}
