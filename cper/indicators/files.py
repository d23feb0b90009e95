"""Reading the indicators' files into drafts for the services: the catalogue (YAML) and the
values spreadsheet (XLSX, ODS or CSV, read within bounds by `cper.io.readers`).

`read_table` finds the header row of a simple one-table sheet by its column names (accents and
case ignored) and returns each row as {column key: cell} with its row number; the forecasts'
import reads its spreadsheet with it too. A problem is a `Finding` naming the row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from cper.findings import ERROR, Finding
from cper.indicators.services import IndicatorDraft, ValueDraft
from cper.io.bounded import ReadError
from cper.io.readers import cell_text, is_blank, normalize, parse_date, read_file

HEADER_SCAN = 20


def parse_quantity(value: object) -> Decimal | None:
    """A quantity cell: a number, or text in French (`1 234,5`) or plain (`1234.5`) notation;
    None when blank. Floats are read through their shortest repr (no binary noise)."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("nombre attendu")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    text = re.sub(r"[\s\u00a0\u202f]", "", str(value)).replace(",", ".")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        raise ValueError(f"« {value} » n'est pas un nombre")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the regex
        raise ValueError(f"« {value} » n'est pas un nombre") from exc


def read_table(
    data: bytes, filename: str, columns: Mapping[str, Sequence[str]], required: Sequence[str]
) -> tuple[list[tuple[int, dict[str, Any]]], list[Finding]]:
    """The rows of the first sheet whose header names the `required` columns. `columns` maps
    each key to its accepted header names (normalised). Returns ([(row number, {key: cell})],
    findings); a file that cannot be read, or without such a header, is one finding."""
    try:
        sheets = read_file(data, filename)
    except ReadError as exc:
        return [], [Finding("fichier", str(exc))]
    aliases = {normalize(a): key for key, names in columns.items() for a in names}
    for sheet in sheets:
        for index, row in enumerate(sheet.rows[:HEADER_SCAN]):
            found = {aliases[normalize(c)]: i for i, c in enumerate(row) if normalize(c) in aliases}
            if all(k in found for k in required):
                out = []
                for n, cells in enumerate(sheet.rows[index + 1 :], start=index + 2):
                    if not cells or all(is_blank(c) for c in cells):
                        continue
                    out.append(
                        (n, {k: cells[i] if i < len(cells) else None for k, i in found.items()})
                    )
                return out, []
    names = ", ".join(f"« {columns[k][0]} »" for k in required)
    return [], [Finding("fichier", f"aucune ligne d'en-tête avec les colonnes {names}")]


# --- the values spreadsheet -----------------------------------------------------------------

VALUE_COLUMNS = {
    "operation": ("n° d'opération", "numéro d'opération", "n° opération", "opération"),
    "indicator": ("code indicateur", "indicateur", "code de l'indicateur"),
    "planned": ("prévu", "valeur prévue"),
    "achieved": ("réalisé", "valeur réalisée"),
    "date": ("date", "date de la valeur"),
    "source": ("source",),
}
VALUE_REQUIRED = ("operation", "indicator", "date")


def read_values(data: bytes, filename: str) -> tuple[list[ValueDraft], list[Finding]]:
    """The values of a spreadsheet (columns: n° d'opération, code indicateur, prévu, réalisé,
    date, source) as drafts, and the cells that cannot be read (named with their row)."""
    rows, findings = read_table(data, filename, VALUE_COLUMNS, VALUE_REQUIRED)
    drafts: list[ValueDraft] = []
    for n, r in rows:
        bad = False
        figures: dict[str, Decimal | None] = {}
        for key, label in (("planned", "prévu"), ("achieved", "réalisé")):
            try:
                figures[key] = parse_quantity(r.get(key))
            except ValueError as exc:
                findings.append(Finding(key, f"{label} : {exc}", ERROR, n))
                bad = True
        day: dt.date | None = None
        if is_blank(r.get("date")):
            findings.append(Finding("date", "date manquante", ERROR, n))
            bad = True
        else:
            try:
                day = parse_date(r["date"])
            except ValueError as exc:
                findings.append(Finding("date", str(exc), ERROR, n))
                bad = True
        code = cell_text(r.get("operation"))
        indicator = cell_text(r.get("indicator"))
        if not code:
            findings.append(Finding("operation", "n° d'opération manquant", ERROR, n))
            bad = True
        if not indicator:
            findings.append(Finding("indicator", "code indicateur manquant", ERROR, n))
            bad = True
        if bad:
            continue
        drafts.append(
            ValueDraft(
                operation=code,
                indicator=indicator,
                planned=figures["planned"],
                achieved=figures["achieved"],
                date=day,
                source=cell_text(r.get("source"))[:300],
                line=n,
            )
        )
    return drafts, findings


# --- the catalogue (YAML) -------------------------------------------------------------------


def _quantity(value: Any, where: str, findings: list[Finding]) -> Decimal | None:
    try:
        return parse_quantity(value)
    except ValueError as exc:
        findings.append(Finding(where, str(exc)))
        return None


def read_catalogue(path: Path) -> tuple[str | None, list[IndicatorDraft], list[Finding]]:
    """(the contract's slug the file names, the drafts, the findings) of a catalogue file:

    contract: SLUG
    indicators:
      - {code, name, kind: output|result, unit, objectives: [codes],
         baseline: {value, year}, target_2027, provenance, source}
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return None, [], [Finding("fichier", f"fichier illisible : {exc}")]
    if not isinstance(doc, dict) or not isinstance(doc.get("indicators"), list):
        return None, [], [Finding("indicators", "liste « indicators » attendue")]
    findings: list[Finding] = []
    drafts: list[IndicatorDraft] = []
    for i, item in enumerate(doc["indicators"], start=1):
        where = f"indicators[{i}]"
        if not isinstance(item, dict):
            findings.append(Finding(where, "un indicateur est un dictionnaire"))
            continue
        baseline = item.get("baseline") or {}
        year = baseline.get("year")
        drafts.append(
            IndicatorDraft(
                code=str(item.get("code") or "").strip(),
                name=str(item.get("name") or "").strip(),
                kind=str(item.get("kind") or ""),
                unit=str(item.get("unit") or ""),
                objectives=tuple(str(o) for o in item.get("objectives") or ()),
                baseline_value=_quantity(baseline.get("value"), f"{where}.baseline", findings),
                baseline_year=int(year) if year is not None else None,
                target_2027=_quantity(item.get("target_2027"), f"{where}.target_2027", findings),
                provenance=str(item.get("provenance") or "illustrative"),
                source=str(item.get("source") or "")[:500],
            )
        )
    slug = doc.get("contract")
    return (str(slug) if slug else None), drafts, findings
