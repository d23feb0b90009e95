"""Reading a schedules spreadsheet (XLSX, ODS or CSV, within bounds) into drafts for
`schedules_replace_many`: one row per line and year.

Columns: « n° d'opération », « partenaire » (the partner's code), « ligne » (the financing
line's number, needed only when the operation has two active lines of that partner), « année »,
« engagement prévu » (AE or AP), « paiement prévu » (CP). The rows of one line make its whole
new schedule. Problems are findings naming the row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cper.contracts.models import Contract
from cper.findings import ERROR, Finding
from cper.forecasts.services import ScheduleDraft
from cper.indicators.files import read_table
from cper.io.readers import cell_text, is_blank, parse_money, parse_year
from cper.money import MoneyError
from cper.operations.models import FinancingLine, LineStatus

COLUMNS = {
    "operation": ("n° d'opération", "numéro d'opération", "n° opération", "opération"),
    "partner": ("partenaire", "code partenaire", "financeur"),
    "line": ("ligne", "n° de ligne", "ligne de financement"),
    "year": ("année", "exercice"),
    "commitment": ("engagement prévu", "ae prévues", "ap prévues", "ae/ap prévues"),
    "payment": ("paiement prévu", "cp prévus"),
}
REQUIRED = ("operation", "year", "commitment", "payment")


def _amount(value: Any, label: str, n: int, findings: list[Finding], key: str) -> Decimal:
    if is_blank(value):
        return Decimal("0.00")
    try:
        return parse_money(value)
    except MoneyError as exc:
        findings.append(Finding(key, f"{label} : {exc}", ERROR, n))
        return Decimal("0.00")


def read_schedules(
    data: bytes, filename: str, contract: Contract
) -> tuple[list[ScheduleDraft], list[Finding]]:
    """The schedules of a spreadsheet, one draft per line, and the problems found."""
    rows, findings = read_table(data, filename, COLUMNS, REQUIRED)
    codes = {cell_text(r.get("operation")) for _, r in rows}
    candidates: dict[tuple[str, str], list[int]] = {}
    by_id: dict[int, tuple[str, str]] = {}
    for pk, code, partner in (
        FinancingLine.objects.filter(
            operation__contract=contract,
            operation__code__in=codes,
            status=LineStatus.ACTIVE,
            partner__isnull=False,
        )
        .order_by("pk")
        .values_list("pk", "operation__code", "partner__code")
    ):
        candidates.setdefault((code, partner), []).append(pk)
        by_id[pk] = (code, partner)
    grouped: dict[int, list[tuple[int, Decimal, Decimal]]] = {}
    first_row: dict[int, int] = {}
    for n, r in rows:
        code, partner = cell_text(r.get("operation")), cell_text(r.get("partner"))
        line_text = cell_text(r.get("line"))
        line_id: int | None = None
        if line_text:
            if not line_text.isdigit() or by_id.get(int(line_text), ("", ""))[0] != code:
                findings.append(
                    Finding("line", f"ligne « {line_text} » inconnue pour « {code} »", ERROR, n)
                )
                continue
            line_id = int(line_text)
        else:
            found = candidates.get((code, partner), [])
            if len(found) != 1:
                why = (
                    "aucune ligne active" if not found else "plusieurs lignes (précisez « ligne »)"
                )
                findings.append(
                    Finding(
                        "operation",
                        f"opération « {code} », partenaire « {partner} » : {why}",
                        ERROR,
                        n,
                    )
                )
                continue
            line_id = found[0]
        try:
            year = parse_year(r.get("year"))
        except ValueError as exc:
            findings.append(Finding("year", str(exc), ERROR, n))
            continue
        commitment = _amount(r.get("commitment"), "engagement prévu", n, findings, "commitment")
        payment = _amount(r.get("payment"), "paiement prévu", n, findings, "payment")
        grouped.setdefault(line_id, []).append((year, commitment, payment))
        first_row.setdefault(line_id, n)
    drafts = [
        ScheduleDraft(line=pk, rows=tuple(rs), line_no=first_row[pk]) for pk, rs in grouped.items()
    ]
    return drafts, findings
