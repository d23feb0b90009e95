"""`cper execution SLUG [--as-of DATE] [--by k1,k2] [--filter k=v,…] [--format text|csv|json]`
and `cper execution rebuild-summaries [SLUG]`: the execution figures from the command line."""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.finance import aggregation
from cper.formulas import InertCsvWriter
from cper.money import format_eur, format_percent

REBUILD = "rebuild-summaries"
# The State's execution by LOLF programme (`--by programme[,bop,year]`): AE/CP words.
PROGRAMME_MEASURES = (
    ("contractualised", "contractualisé"),
    ("ae_delegated", "AE mises en place"),
    ("ae_committed", "AE engagées"),
    ("cp_paid", "CP payés"),
    ("ae_commitment_rate", "AE engagées / mises en place (%)"),
    ("cp_payment_rate", "CP payés / AE engagées (%)"),
)
MEASURES = (
    ("maquette", "maquette"),
    ("programmed", "programmé"),
    ("committed", "engagé"),
    ("paid", "payé"),
    ("programming_rate", "taux de programmation (%)"),
    ("commitment_rate", "taux d'engagement (%)"),
    ("payment_rate", "taux de paiement (%)"),
    ("remaining_to_pay", "reste à payer"),
)


def parse_filters(text: str | None) -> dict[str, Any]:
    """`departement=59,marker=emploi` → {"departement": "59", "marker": "emploi"}; a key given
    twice (or values joined by `|`) gives a list; axis and year values become numbers."""
    out: dict[str, Any] = {}
    if not text:
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise CommandError(f"filtre « {part} » : attendu clé=valeur")
        key, _, value = part.partition("=")
        key = key.strip()
        values: list[Any] = [v.strip() for v in value.split("|") if v.strip()]
        if key in {"axis", "year"}:
            try:
                values = [int(v) for v in values]
            except ValueError as exc:
                raise CommandError(f"filtre « {key} » : nombre attendu") from exc
        if key in out:
            previous = out[key] if isinstance(out[key], list) else [out[key]]
            out[key] = [*previous, *values]
        else:
            out[key] = values[0] if len(values) == 1 else values
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class Command(BaseCommand):
    help = (
        "Exécution d'un contrat : SLUG [--as-of AAAA-MM-JJ] [--by axis,partner,year] "
        "[--filter departement=59,marker=…] [--format text|csv|json] ; "
        "ou rebuild-summaries [SLUG]"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="identifiant du contrat, ou rebuild-summaries")
        parser.add_argument("slug", nargs="?", help="(rebuild-summaries) contrat, tous par défaut")
        parser.add_argument("--as-of", dest="as_of", help="date de situation (AAAA-MM-JJ)")
        parser.add_argument("--by", default="", help="regroupements séparés par des virgules")
        parser.add_argument("--filter", dest="filters", default="", help="clé=valeur,…")
        parser.add_argument("--format", choices=["text", "csv", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["target"] == REBUILD:
            self._rebuild(options.get("slug"))
            return
        if options.get("slug"):
            raise CommandError(f"argument inattendu : {options['slug']}")
        contract = self._contract(options["target"])
        as_of = None
        if options.get("as_of"):
            try:
                as_of = dt.date.fromisoformat(options["as_of"])
            except ValueError as exc:
                raise CommandError(f"date invalide « {options['as_of']} » (AAAA-MM-JJ)") from exc
        group_by = tuple(k.strip() for k in options["by"].split(",") if k.strip())
        if aggregation.programme_keys(group_by) and not options["filters"]:
            # The State's table by LOLF programme (issue 12): its own measures.
            try:
                table = aggregation.programme_execution(
                    contract=contract, as_of=as_of, group_by=group_by
                )
            except aggregation.ExecutionQueryError as exc:
                raise CommandError(str(exc)) from exc
            getattr(self, f"_programmes_{options['format']}")(table)
            return
        try:
            result = aggregation.execution(
                contract=contract,
                as_of=as_of,
                group_by=group_by,
                filters=parse_filters(options["filters"]),
            )
        except aggregation.ExecutionQueryError as exc:
            raise CommandError(str(exc)) from exc
        getattr(self, f"_{options['format']}")(result)

    def _contract(self, slug: str) -> Contract:
        try:
            return Contract.objects.get(slug=slug)
        except Contract.DoesNotExist as exc:
            raise CommandError(f"contrat inconnu : {slug}") from exc

    def _rebuild(self, slug: str | None) -> None:
        from cper.finance.services import summaries_rebuild

        contracts = [self._contract(slug)] if slug else list(Contract.objects.order_by("slug"))
        for contract in contracts:
            report = summaries_rebuild(actor=Actor.cli(), contract=contract)
            self.stdout.write(
                self.style.SUCCESS(
                    f"{contract.slug} : agrégats reconstruits — {report.lines} lignes, "
                    f"{report.cells} cellules, {report.seconds:.1f} s"
                )
            )

    # -- output ----------------------------------------------------------------------------------

    def _records(self, result: aggregation.ExecutionResult) -> list[dict[str, Any]]:
        out = []
        for row, is_total in [*((r, False) for r in result.rows), (result.total, True)]:
            rec: dict[str, Any] = {}
            for k in result.group_by:
                rec[k] = "total" if is_total else row.key.get(k)
                rec[f"{k}_libelle"] = "Total" if is_total else row.labels.get(k, "")
            for name, _ in MEASURES:
                rec[name] = getattr(row, name)
            out.append(rec)
        return out

    def _json(self, result: aggregation.ExecutionResult) -> None:
        data = {
            "contract": result.contract.slug if result.contract else None,
            "as_of": result.as_of.isoformat(),
            "group_by": list(result.group_by),
            "filters": result.filters,
            "rows": [
                {
                    "key": r.key,
                    "labels": r.labels,
                    **{name: _plain(getattr(r, name)) for name, _ in MEASURES},
                }
                for r in result.rows
            ],
            "total": {name: _plain(getattr(result.total, name)) for name, _ in MEASURES},
        }
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))

    def _csv(self, result: aggregation.ExecutionResult) -> None:
        records = self._records(result)
        columns = [c for k in result.group_by for c in (k, f"{k}_libelle")] + [
            name for name, _ in MEASURES
        ]
        writer = InertCsvWriter(self.stdout if hasattr(self.stdout, "write") else sys.stdout)
        lines: list[list[str]] = [columns]
        for rec in records:
            lines.append(["" if rec[c] is None else str(_plain(rec[c])) for c in columns])
        for line in lines:
            writer.writerow(line)

    def _text(self, result: aggregation.ExecutionResult) -> None:
        w = self.stdout.write
        title = result.contract.title if result.contract else "consolidation"
        w(f"{title} — situation au {result.as_of:%d/%m/%Y}")
        if result.filters:
            w("Filtres : " + ", ".join(f"{k}={v}" for k, v in result.filters.items()))
        # Without grouping, the figures are the total alone, under one label column.
        columns = list(result.group_by) or [""]
        rows = [(r, False) for r in result.rows] if result.group_by else []
        headers = [
            *columns,
            "maquette",
            "programmé",
            "engagé",
            "payé",
            "prog. %",
            "eng. %",
            "payé %",
            "reste à payer",
        ]
        table = []
        for row, is_total in [*rows, (result.total, True)]:
            labels = (
                ["Total", *[""] * (len(columns) - 1)]
                if is_total
                else [row.labels.get(k, str(row.key.get(k))) for k in result.group_by]
            )
            table.append(
                [
                    *labels,
                    format_eur(row.maquette),
                    format_eur(row.programmed),
                    format_eur(row.committed),
                    format_eur(row.paid),
                    format_percent(row.programming_rate),
                    format_percent(row.commitment_rate),
                    format_percent(row.payment_rate),
                    format_eur(row.remaining_to_pay),
                ]
            )
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *table, strict=True)]
        n = len(columns)

        def fmt(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(widths[i]) if i < n else c.rjust(widths[i]) for i, c in enumerate(cells)
            )

        w(fmt(headers))
        w("  ".join("-" * x for x in widths))
        for line in table[:-1]:
            w(fmt(line))
        if result.group_by:
            w("  ".join("-" * x for x in widths))
        w(fmt(table[-1]))

    # -- the State's execution by programme ------------------------------------------------------

    def _programme_records(self, table: aggregation.ProgrammeExecution) -> list[dict[str, Any]]:
        out = []
        for row, is_total in [*((r, False) for r in table.rows), (table.total, True)]:
            rec: dict[str, Any] = {}
            for k in table.group_by:
                rec[k] = "total" if is_total else row.key.get(k)
                rec[f"{k}_libelle"] = "Total" if is_total else row.labels.get(k, "")
            for name, _ in PROGRAMME_MEASURES:
                rec[name] = getattr(row, name)
            out.append(rec)
        return out

    def _programmes_json(self, table: aggregation.ProgrammeExecution) -> None:
        data = {
            "contract": table.contract.slug,
            "as_of": table.as_of.isoformat(),
            "group_by": list(table.group_by),
            "measures": dict(PROGRAMME_MEASURES),
            "rows": [
                {
                    "key": r.key,
                    "labels": r.labels,
                    **{name: _plain(getattr(r, name)) for name, _ in PROGRAMME_MEASURES},
                }
                for r in table.rows
            ],
            "total": {name: _plain(getattr(table.total, name)) for name, _ in PROGRAMME_MEASURES},
        }
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))

    def _programmes_csv(self, table: aggregation.ProgrammeExecution) -> None:
        columns = [c for k in table.group_by for c in (k, f"{k}_libelle")] + [
            name for name, _ in PROGRAMME_MEASURES
        ]
        writer = InertCsvWriter(self.stdout if hasattr(self.stdout, "write") else sys.stdout)
        writer.writerow(columns)
        for rec in self._programme_records(table):
            writer.writerow(["" if rec[c] is None else str(_plain(rec[c])) for c in columns])

    def _programmes_text(self, table: aggregation.ProgrammeExecution) -> None:
        w = self.stdout.write
        w(f"{table.contract.title} — exécution par programme LOLF au {table.as_of:%d/%m/%Y}")
        headers = [*table.group_by, *(label for _, label in PROGRAMME_MEASURES)]
        lines = []
        for row, is_total in [*((r, False) for r in table.rows), (table.total, True)]:
            keys = (
                ["Total", *[""] * (len(table.group_by) - 1)]
                if is_total
                else [row.labels.get(k, "") for k in table.group_by]
            )
            lines.append(
                [
                    *keys,
                    format_eur(row.contractualised),
                    format_eur(row.ae_delegated),
                    format_eur(row.ae_committed),
                    format_eur(row.cp_paid),
                    format_percent(row.ae_commitment_rate),
                    format_percent(row.cp_payment_rate),
                ]
            )
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines, strict=True)]
        n = len(table.group_by)

        def fmt(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(widths[i]) if i < n else c.rjust(widths[i]) for i, c in enumerate(cells)
            )

        w(fmt(headers))
        w("  ".join("-" * x for x in widths))
        for line in lines[:-1]:
            w(fmt(line))
        w("  ".join("-" * x for x in widths))
        w(fmt(lines[-1]))
