"""`cper closing create|list|show|diff SLUG …`: arrêter the execution of a contract at a date,
list the closings, show one (totals by axis and by partner, French format) and reconcile it with
what is known today for the same date."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.audit.services import Actor
from cper.closings import figures as F
from cper.closings import selectors
from cper.closings.models import Closing
from cper.closings.services import ClosingRefused, closing_create
from cper.contracts.models import Contract
from cper.money import format_eur

SHOWN = ("axis", "partner")  # what `show` prints, in this order (the report's first pages)
MEASURE_LABELS = {
    "maquette": "maquette",
    "programmed": "programmé",
    "committed": "engagé",
    "paid": "payé",
}


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"date invalide « {text} » (AAAA-MM-JJ)") from exc


def contract_or_error(slug: str) -> Contract:
    try:
        return Contract.objects.get(slug=slug)
    except Contract.DoesNotExist as exc:
        raise CommandError(f"contrat inconnu : {slug}") from exc


def closing_or_error(contract: Contract, at: str, label: str | None) -> Closing:
    try:
        return selectors.closing_get(contract=contract, at=parse_date(at), label=label)
    except Closing.DoesNotExist as exc:
        raise CommandError(str(exc) or f"aucun arrêté au {at}") from exc


def show_lines(closing: Closing) -> list[str]:
    """The text of `cper closing show`: the totals by axis and by partner, in French format
    (the annual report prints the same strings)."""
    out = [
        f"{closing} — {closing.contract.title}",
        f"arrêté le {closing.created_at:%d/%m/%Y %H:%M} par "
        f"{closing.created_by or 'le système'} ; empreinte SHA-256 {closing.digest}",
    ]
    for grouping in SHOWN:
        out.append("")
        out.append(F.GROUPING_LABELS[grouping])
        rows = F.rows_of(closing.figures, grouping)
        total = F.total_of(closing.figures, grouping)
        for row in [*rows, *([total] if total else [])]:
            label = row.label if row is not total else "Total"
            cells = [f"{MEASURE_LABELS[m]} {format_eur(row.amount(m))}" for m in F.MEASURES]
            out.append(f"  {label}\t" + "\t".join(cells))
    return out


def _plain(row: F.FigureRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        **{m: (None if row.amount(m) is None else str(row.amount(m))) for m in F.MEASURES},
    }


class Command(BaseCommand):
    help = (
        "Arrêtés : create SLUG --at AAAA-MM-JJ [--label TEXTE] | list SLUG | "
        "show SLUG --at AAAA-MM-JJ | diff SLUG --at AAAA-MM-JJ  [--format text|json|csv]"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="arrêter la situation d'exécution à une date")
        create.add_argument("slug")
        create.add_argument("--at", required=True, help="date d'arrêté (AAAA-MM-JJ)")
        create.add_argument("--label", default="", help="libellé (pour arrêter de nouveau)")
        listing = sub.add_parser("list", help="les arrêtés d'un contrat")
        listing.add_argument("slug")
        listing.add_argument("--format", choices=["text", "json", "csv"], default="text")
        for name, text in (
            ("show", "un arrêté : totaux par axe et par partenaire"),
            ("diff", "rapprochement : ce qui a changé pour cette date depuis l'arrêté"),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("slug")
            p.add_argument("--at", required=True, help="date d'arrêté (AAAA-MM-JJ)")
            p.add_argument("--label", default=None, help="libellé de l'arrêté")
            p.add_argument("--format", choices=["text", "json", "csv"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        contract = contract_or_error(options["slug"])
        getattr(self, f"_{options['action']}")(contract, options)

    # -- create ----------------------------------------------------------------------------------

    def _create(self, contract: Contract, options: dict[str, Any]) -> None:
        try:
            closing = closing_create(
                actor=Actor.cli(),
                contract=contract,
                at=parse_date(options["at"]),
                label=options["label"],
            )
        except ClosingRefused as exc:
            raise CommandError(str(exc)) from exc
        total = F.total_of(closing.figures)
        assert total is not None
        self.stdout.write(
            self.style.SUCCESS(
                f"{contract.slug} : {closing} — programmé {format_eur(total.programmed)}, "
                f"engagé {format_eur(total.committed)}, payé {format_eur(total.paid)} ; "
                f"empreinte {closing.digest}"
            )
        )

    # -- list ------------------------------------------------------------------------------------

    def _list(self, contract: Contract, options: dict[str, Any]) -> None:
        items = selectors.closing_list(contract=contract)
        records: list[dict[str, Any]] = []
        for c in items:
            total = F.total_of(c.figures)
            records.append(
                {
                    "at": c.at.isoformat(),
                    "label": c.label,
                    "created_at": c.created_at.isoformat(),
                    "created_by": str(c.created_by) if c.created_by else None,
                    "digest": c.digest,
                    **({m: str(total.amount(m)) for m in F.MEASURES[1:]} if total else {}),
                }
            )
        fmt = options["format"]
        if fmt == "json":
            self.stdout.write(json.dumps(records, ensure_ascii=False, indent=2))
            return
        if fmt == "csv":
            self._csv(records)
            return
        if not items:
            self.stdout.write(f"{contract.slug} : aucun arrêté.")
        for c, r in zip(items, records, strict=True):
            amounts = "\t".join(
                f"{MEASURE_LABELS[m]} {format_eur(Decimal(str(r[m])) if r.get(m) else None)}"
                for m in F.MEASURES[1:]
            )
            self.stdout.write(f"{c.at:%d/%m/%Y}\t{c.label or '—'}\t{amounts}\t{c.digest[:12]}")

    def _csv(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        writer = csv.DictWriter(self.stdout, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)

    # -- show ------------------------------------------------------------------------------------

    def _show(self, contract: Contract, options: dict[str, Any]) -> None:
        closing = closing_or_error(contract, options["at"], options["label"])
        fmt = options["format"]
        if fmt == "text":
            if not selectors.digest_ok(closing):
                self.stderr.write("ATTENTION : les chiffres ne correspondent plus à l'empreinte")
            for line in show_lines(closing):
                self.stdout.write(line)
            return
        records = []
        for grouping in ("total", *SHOWN):
            for row in F.rows_of(closing.figures, grouping):
                records.append({"grouping": grouping, **_plain(row)})
        if fmt == "json":
            payload = {
                "contract": contract.slug,
                "at": closing.at.isoformat(),
                "label": closing.label,
                "digest": closing.digest,
                "digest_ok": selectors.digest_ok(closing),
                "rows": records,
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        self._csv(
            [
                {"grouping": r["grouping"], "key": json.dumps(r["key"]), "label": r["label"]}
                | {m: r[m] for m in F.MEASURES}
                for r in records
            ]
        )

    # -- diff ------------------------------------------------------------------------------------

    def _diff(self, contract: Contract, options: dict[str, Any]) -> None:
        closing = closing_or_error(contract, options["at"], options["label"])
        rec = selectors.reconciliation(closing=closing)
        fmt = options["format"]
        if fmt in {"json", "csv"}:
            rows = [
                {
                    "grouping": name,
                    "key": d.key,
                    "label": d.label,
                    **{f"{m}_frozen": str(d._get(d.frozen, m)) for m in F.MEASURES},
                    **{f"{m}_today": str(d._get(d.today, m)) for m in F.MEASURES},
                    **{f"{m}_gap": str(d.gap(m)) for m in F.MEASURES},
                }
                for name in selectors.RECONCILED
                for d in rec.changed(name)
            ]
            if fmt == "csv":
                self._csv([r | {"key": json.dumps(r["key"])} for r in rows])
                return
            payload = {
                "contract": contract.slug,
                "at": closing.at.isoformat(),
                "label": closing.label,
                "unchanged": rec.unchanged,
                "differences": rows,
                "movements": [
                    {
                        "id": c.movement.pk,
                        "operation": c.operation_code,
                        "partner": c.partner,
                        "axis": c.axis,
                        "kind": c.movement.kind,
                        "date": c.movement.date.isoformat(),
                        "recorded_at": c.movement.recorded_at.isoformat(),
                        "amount": str(c.movement.amount),
                        "reference": c.movement.reference,
                    }
                    for c in rec.movements
                ],
                "lines": [
                    {"id": c.line.pk, "operation": c.line.operation.code, "what": c.what}
                    for c in rec.lines
                ],
                "transitions": [
                    {
                        "operation": t.operation.code,
                        "from": t.from_status,
                        "to": t.to_status,
                        "at": t.at.isoformat(),
                    }
                    for t in rec.transitions
                ],
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        w = self.stdout.write
        w(f"{closing} — rapprochement avec la situation connue aujourd'hui pour cette date")
        if rec.unchanged:
            w("Aucun changement depuis l'arrêté.")
            return
        for name in selectors.RECONCILED:
            changed = rec.changed(name)
            if not changed:
                continue
            w("")
            w(F.GROUPING_LABELS[name])
            for d in changed:
                cells = [
                    f"{MEASURE_LABELS[m]} {format_eur(d._get(d.frozen, m))} → "
                    f"{format_eur(d._get(d.today, m))} ({_signed(d.gap(m))})"
                    for m in F.MEASURES
                    if d.gap(m)
                ]
                w(f"  {d.label}\t" + "\t".join(cells))
        if rec.movements:
            w("")
            w("Mouvements datés avant l'arrêté, enregistrés après")
            for c in rec.movements:
                m = c.movement
                w(
                    f"  {m.date:%d/%m/%Y}\t{m.get_kind_display()}\t{format_eur(m.amount)}\t"
                    f"{c.operation_code}\t{c.partner}\taxe {c.axis}\t{m.reference}\t"
                    f"enregistré le {m.recorded_at:%d/%m/%Y %H:%M}"
                )
        if rec.lines:
            w("")
            w("Lignes de financement créées, modifiées ou annulées depuis l'arrêté")
            for lc in rec.lines:
                who = lc.line.partner or lc.line.financer_label
                w(f"  {lc.line.operation.code}\t{who}\t{lc.what}")
        if rec.transitions:
            w("")
            w("Changements de statut enregistrés après l'arrêté, datés avant")
            for t in rec.transitions:
                w(f"  {t.operation.code}\t{t.from_status} → {t.to_status}\t{t.at:%d/%m/%Y}")


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + format_eur(value)


__all__ = ["Command", "closing_or_error", "contract_or_error", "parse_date", "show_lines"]
