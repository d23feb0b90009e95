"""Reading spreadsheets the way French finance teams write them.

XLSX and ODS are streamed from their zip, CSV decoded after detecting its encoding (UTF-8,
with or without BOM, else Windows-1252) and its separator (`;` or `,`), all within the bounds
of `cper.io.bounded` (rows, columns, cells, text, bytes: a hostile file is refused with the
limit it passes, before anything it declares is expanded). Every row keeps its sheet name and
its spreadsheet row number, so that each rejection can say where it is. Headers are matched
case- and accent-insensitively against known synonyms, then approximately (extra words,
abbreviations: `cper.io.headers`), or through a TOML mapping file; a header
block above the header row (as our exports write) is skipped by looking for the first row that
names enough known columns.

No Django here but the bounds' settings: the vocabularies are passed in by the importers.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cper.formulas import restore
from cper.io.bounded import (
    HEADER_SCAN_ROWS,
    ODS_SUFFIXES,
    XLSX_SUFFIXES,
    Budget,
    check_size,
    csv_encoding,
    read_bounded,
    read_csv_sheet,
    upload_problems,
)
from cper.io.bounded import LimitError as LimitError
from cper.io.bounded import Limits as Limits
from cper.io.bounded import ReadError as ReadError
from cper.io.bounded import Sheet as Sheet
from cper.io.headers import HeaderMatcher
from cper.money import MoneyError, to_money

SPREADSHEET_SUFFIXES = XLSX_SUFFIXES | ODS_SUFFIXES
EXCEL_EPOCH = dt.date(1899, 12, 30)
IGNORED_TARGETS = {"ignore", "ignorer", ""}


# --------------------------------------------------------------------------------------------
# Text normalisation and cell parsing
# --------------------------------------------------------------------------------------------


def normalize(text: object) -> str:
    """`« Intitulé de l'Opération »` → `intitule de l operation`: no case, accents or marks."""
    if text is None:
        return ""
    return _normalized(str(text))


@functools.lru_cache(maxsize=100_000)  # a spreadsheet repeats its financers, statuses…
def _normalized(text: str) -> str:
    raw = unicodedata.normalize("NFKD", text)
    raw = "".join(c for c in raw if not unicodedata.combining(c))
    raw = raw.lower().replace("œ", "oe").replace("æ", "ae")
    raw = re.sub(r"[^a-z0-9+]+", " ", raw)
    return raw.strip()


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: object) -> str:
    """A cell as text: numbers that are whole (codes typed as numbers) lose their `.0`. A NUL
    character (a file saved in UTF-16 read as bytes, a hostile cell) becomes U+FFFD: PostgreSQL
    refuses NUL in text, and the row is then rejected by name (« opération inconnue « OP-1� » »)
    instead of aborting the import; the replacement shows where the file was damaged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return restore(str(value).replace("\x00", "\ufffd").strip())  # `cper.formulas`


def parse_money(value: object) -> Decimal:
    """An amount cell: a number, or French/plain text (`1 234 567,89 €`, `1234567.89`)."""
    if isinstance(value, str):
        value = value.strip()
    try:
        return to_money(value)
    except MoneyError as exc:
        if isinstance(value, str):
            raise MoneyError(f"« {value} » n'est pas un montant") from exc
        raise


_DATE_FR = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+)?$")


def parse_date(value: object) -> dt.date:
    """A date cell: a spreadsheet date, `31/12/2023`, `2023-12-31` or an Excel serial."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise ValueError("date attendue")
    if isinstance(value, int | float | Decimal):
        return _from_serial(float(value), str(value))
    text = str(value).strip()
    m = _DATE_FR.match(text)
    try:
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        m = _DATE_ISO.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise ValueError(f"« {text} » n'est pas une date valide") from exc
    if re.fullmatch(r"\d{4,6}(\.\d+)?", text):
        return _from_serial(float(text), text)
    raise ValueError(f"« {text} » n'est pas une date (attendu JJ/MM/AAAA ou AAAA-MM-JJ)")


def _from_serial(serial: float, shown: str) -> dt.date:
    # Excel's serial days since 1899-12-30 (1900 leap-year bug included); plausible range only.
    if not 1 <= serial < 2958466:
        raise ValueError(f"« {shown} » n'est pas une date")
    return EXCEL_EPOCH + dt.timedelta(days=int(serial))


_TRUE = {"oui", "o", "vrai", "true", "x", "1", "yes", "y"}
_FALSE = {"non", "n", "faux", "false", "0", "no", ""}


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = normalize(cell_text(value))
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"« {cell_text(value)} » : attendu oui ou non")


def parse_year(value: object) -> int:
    text = cell_text(value)
    if not re.fullmatch(r"\d{4}", text):
        raise ValueError(f"« {text} » n'est pas une année")
    return int(text)


# --------------------------------------------------------------------------------------------
# Files into sheets of raw rows (within bounds: cper.io.bounded)
# --------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of a CSV file and the encoding found: UTF-8 (BOM or not), else Windows-1252."""
    encoding = csv_encoding(data)
    start = 3 if encoding == "utf-8-sig" else 0
    return data[start:].decode("utf-8" if start else encoding), encoding


def detect_delimiter(text: str) -> str:
    """`;`, `,` or tab: the one that splits the first lines most consistently."""
    lines = [ln for ln in text.splitlines()[:HEADER_SCAN_ROWS] if ln.strip()][:HEADER_SCAN_ROWS]
    best, best_score = ";", -1
    for delim in (";", ",", "\t"):
        counts = [len(next(csv.reader([ln], delimiter=delim))) - 1 for ln in lines]
        if not counts or max(counts) == 0:
            continue
        widest = max(counts)
        score = sum(1 for c in counts if c == widest) * 1000 + widest
        if score > best_score:
            best, best_score = delim, score
    return best


def read_csv(data: bytes, name: str = "CSV", limits: Limits | None = None) -> Sheet:
    """One CSV file as a sheet named `name`, within `limits`."""
    limits = limits or Limits.from_settings()
    check_size(len(data), limits)
    return read_csv_sheet(data, name, Budget(limits), detect_delimiter)


def read_file(data: bytes, filename: str, *, limits: Limits | None = None) -> list[Sheet]:
    """Every sheet of a workbook, or the one sheet of a CSV file, as raw rows — read within
    `limits` (default: the `CPER_IMPORT_MAX_*` settings); `LimitError` names the one passed."""
    return read_bounded(data, filename, limits or Limits.from_settings(), detect_delimiter)


def upload_errors(uploaded_file: Any, *, limits: Limits | None = None) -> list[str]:
    """Why an uploaded file cannot be imported, before it is stored (empty: go on): its size,
    its extension (.xlsx, .xlsm, .ods, .csv, .txt, .tsv), and for a workbook its zip
    directory (members, uncompressed size, compression ratio). French messages, each naming
    the limit passed. Takes a Django `UploadedFile` or any binary file with a `name`."""
    return upload_problems(uploaded_file, limits or Limits.from_settings())


# --------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str  # the French header our exports write
    synonyms: tuple[str, ...] = ()


class Vocabulary:
    """Known columns of one kind of file: canonical field name → French synonyms."""

    def __init__(self, fields: Iterable[FieldSpec]):
        self.fields = {f.name: f for f in fields}
        self._index: dict[str, str] = {}
        for f in self.fields.values():
            for text in (f.label, *f.synonyms, f.name):
                self._index.setdefault(normalize(text), f.name)
        # Headers written with extra words or abbreviations: `cper.io.headers`.
        self.matcher = HeaderMatcher(
            {f.name: [normalize(t) for t in (f.label, *f.synonyms)] for f in self.fields.values()}
        )

    def match(self, header: object) -> str | None:
        return self._index.get(normalize(header))

    def label(self, name: str) -> str:
        return self.fields[name].label


@dataclass
class Mapping_:
    """A TOML mapping file: headers the vocabulary does not know, sheet and header row.

    ```toml
    [options]
    sheet = "Opérations"      # feuille à lire (défaut : la première qui a des en-têtes connus)
    header_row = 3            # ligne des en-têtes (défaut : détectée)
    [columns]                 # en-tête du fichier = champ (voir docs/io.md)
    "Nom du projet" = "title"
    "Part CD59" = "financer:dep-59"
    [financers]               # en-tête d'une colonne de financeur (format large) = financeur
    "Fonds européens" = "FEDER"
    ```
    """

    columns: dict[str, str] = field(default_factory=dict)  # normalised header → field
    financers: dict[str, str] = field(default_factory=dict)  # normalised header → financer
    sheet: str | None = None
    header_row: int | None = None

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | None) -> Mapping_:
        if source is None:
            return cls()
        if isinstance(source, Mapping):
            data = dict(source)
        else:
            if isinstance(source, Path) or (
                "\n" not in source and "=" not in source and Path(source).is_file()
            ):
                text = Path(source).read_text(encoding="utf-8")
            else:
                text = str(source)
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ReadError(f"fichier de correspondance invalide : {exc}") from exc
        options = data.get("options", {}) or {}
        columns = data.get("columns", data.get("colonnes", {})) or {}
        financers = data.get("financers", data.get("financeurs", {})) or {}
        mapping = cls(
            sheet=options.get("sheet", options.get("feuille")),
            header_row=options.get("header_row", options.get("ligne_entete")),
        )
        for header, target in columns.items():
            target = str(target)
            if target.startswith(("financer:", "financeur:")):
                mapping.financers[normalize(header)] = target.split(":", 1)[1]
            else:
                mapping.columns[normalize(header)] = target
        for header, target in financers.items():
            mapping.financers[normalize(header)] = str(target)
        return mapping


@dataclass
class Column:
    index: int
    header: str  # as written in the file
    field: str | None = None  # canonical field
    financer: str | None = None  # for wide layouts: the financer text (header or mapping)
    rank: int = 1  # "Part État (2)": the second line of that financer
    score: float | None = None  # an approximate match (`cper.io.headers`): its score


@dataclass
class Table:
    """One sheet with its header row located and its columns identified."""

    sheet: str
    header_row: int  # 1-based
    columns: list[Column]
    rows: list[tuple[int, list[Any]]]  # (1-based row number, cells) below the header row
    encoding: str = ""
    delimiter: str = ""

    def field_columns(self) -> dict[str, Column]:
        out: dict[str, Column] = {}
        for c in self.columns:
            if c.field and c.field not in out:
                out[c.field] = c
        return out

    def financer_columns(self) -> list[Column]:
        return [c for c in self.columns if c.financer]

    def unknown_headers(self) -> list[str]:
        return [c.header for c in self.columns if c.header and not c.field and not c.financer]


_RANK = re.compile(r"^(.*?)\s*\((\d+)\)\s*$")
_FINANCER_PREFIX = re.compile(
    r"^(part|montant|participation|financement|subvention|contribution|apport)\s+(de\s+l\s+|du\s+|de\s+la\s+|des\s+|de\s+|d\s+)?"
)


def split_rank(header: str) -> tuple[str, int]:
    """`Part État (2)` → (`Part État`, 2)."""
    m = _RANK.match(header.strip())
    if m:
        return m.group(1), int(m.group(2))
    return header.strip(), 1


def financer_text(header: str) -> tuple[str, int]:
    """`Part État (2)` → (`etat`, 2): the financer named by a wide column and its rank."""
    rank = 1
    m = _RANK.match(header.strip())
    if m:
        header, rank = m.group(1), int(m.group(2))
    text = normalize(header)
    text = _FINANCER_PREFIX.sub("", text).strip()
    return text, rank


def locate_table(
    sheets: list[Sheet],
    vocabulary: Vocabulary,
    *,
    mapping: Mapping_ | None = None,
    is_financer: Any = None,
    required: Iterable[str] = (),
) -> Table:
    """Find the sheet and the header row, then identify each column.

    `is_financer(text) -> bool` tells whether a header names a financer (wide layout).
    """
    mapping = mapping or Mapping_()
    candidates = sheets
    if mapping.sheet:
        candidates = [s for s in sheets if normalize(s.name) == normalize(mapping.sheet)]
        if not candidates:
            names = ", ".join(s.name for s in sheets)
            raise ReadError(f"feuille « {mapping.sheet} » absente (feuilles : {names})")
    required = set(required)
    best: tuple[int, Sheet, int] | None = None
    for sheet in candidates:
        if mapping.header_row:
            rows_to_scan = [mapping.header_row - 1]
        else:
            rows_to_scan = list(range(min(HEADER_SCAN_ROWS, len(sheet.rows))))
        for i in rows_to_scan:
            if i >= len(sheet.rows):
                continue
            cols = _identify(sheet.rows[i], vocabulary, mapping, is_financer)
            fields = {c.field for c in cols if c.field}
            score = len(fields) + len([c for c in cols if c.financer])
            if required and not (required & fields):
                score = min(score, 1)
            if score >= 2 and (best is None or score > best[0]):
                best = (score, sheet, i)
                if not mapping.header_row and score >= max(3, len(required)):
                    break
        if best and best[1] is sheet:
            break  # the first sheet that has a header row wins
    if best is None:
        raise ReadError(
            "aucune ligne d'en-têtes reconnue dans les premières lignes du fichier "
            "(ajoutez un fichier de correspondance TOML pour vos en-têtes)"
        )
    _, sheet, i = best
    columns = _identify(sheet.rows[i], vocabulary, mapping, is_financer)
    body = [
        (n + 1, row)
        for n, row in enumerate(sheet.rows[i + 1 :], start=i + 1)
        if any(not is_blank(v) for v in row)
    ]
    return Table(
        sheet=sheet.name,
        header_row=i + 1,
        columns=columns,
        rows=body,
        encoding=sheet.encoding,
        delimiter=sheet.delimiter,
    )


def _identify(
    header_cells: list[Any], vocabulary: Vocabulary, mapping: Mapping_, is_financer: Any
) -> list[Column]:
    columns = []
    for index, cell in enumerate(header_cells):
        header = cell_text(cell)
        col = Column(index=index, header=header)
        key = normalize(header)
        if not key:
            columns.append(col)
            continue
        if key in mapping.columns:
            target = mapping.columns[key]
            col.field = None if target in IGNORED_TARGETS else target
        elif key in mapping.financers:
            col.financer = mapping.financers[key]
        elif (name := vocabulary.match(header)) is not None:
            col.field = name
        elif is_financer is not None:
            base, rank = split_rank(header)
            if is_financer(base):
                col.financer, col.rank = base, rank
        columns.append(col)
    # The headers left, matched approximately (no two columns on one field).
    left = [
        (c.index, key)
        for c in columns
        if (key := normalize(c.header)) and not (c.field or c.financer or key in mapping.columns)
    ]
    if left:
        taken = {c.field for c in columns if c.field}
        for m in vocabulary.matcher.assign(left, taken):
            columns[m.index].field, columns[m.index].score = m.field, m.score
    return columns


def cell(row: list[Any], column: Column | None) -> Any:
    if column is None or column.index >= len(row):
        return None
    value = row[column.index]
    return value.strip() if isinstance(value, str) else value
