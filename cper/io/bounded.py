"""Reading spreadsheet files into rows within declared bounds, whatever the file claims.

A few kilobytes of XLSX or ODS can declare billions of cells (a value at XFD1048576, a cell
repeated 16,384 times on a million rows, a shared-string table or a zip member a thousand
times larger than the file). Nothing here expands what a file declares: the zip's directory
is inspected first (members, uncompressed size, compression ratio), then each sheet's XML is
parsed as a stream (expat, no DTD, no entity) and only the cells that hold a value are kept;
empty rows and columns, however many the file declares, cost nothing. Reading stops with a
`LimitError` naming the limit and the value found as soon as a bound is passed: rows,
columns, cells, text, bytes (`Limits`, from the `CPER_IMPORT_MAX_*` settings).

XLSX and ODS are read here; CSV is decoded and split as a stream too. The legacy binary
formats (XLS, XLSB) are refused: their readers expand a sheet's whole area in memory.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

from django.conf import settings

XLSX_SUFFIXES = {".xlsx", ".xlsm"}
ODS_SUFFIXES = {".ods"}
LEGACY_SUFFIXES = {".xls", ".xlsb"}
TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
ACCEPTED_SUFFIXES = XLSX_SUFFIXES | ODS_SUFFIXES | TEXT_SUFFIXES
HEADER_SCAN_ROWS = 30
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
CHUNK = 1 << 16
MB = 1024 * 1024
# A zip member smaller than this is never refused for its compression ratio (a 10 KB file of
# styles can compress 100 times; only large members make a bomb).
RATIO_FLOOR = MB
# Short texts that repeat (statuses, codes, financers, dates in a CSV) are kept once.
_SHARED_TEXT_LENGTH = 64
_SHARED_TEXT_ENTRIES = 200_000


class ReadError(ValueError):
    """The file cannot be read as a table at all (format, encoding, no header row)."""


class LimitError(ReadError):
    """The file passes one of the reading bounds: the message names the setting and the value."""

    def __init__(self, message: str, *, setting: str, found: int, limit: int):
        super().__init__(message)
        self.setting, self.found, self.limit = setting, found, limit


@dataclass(frozen=True)
class Limits:
    """The bounds a file is read within; each is the setting of the same name in capitals with
    the `CPER_IMPORT_` prefix (`max_rows` → `CPER_IMPORT_MAX_ROWS`)."""

    max_bytes: int = 50 * MB
    max_uncompressed_bytes: int = 256 * MB
    max_compression_ratio: int = 100
    max_zip_members: int = 1000
    max_rows: int = 50_000
    max_columns: int = 200
    max_cells: int = 1_000_000
    max_text_bytes: int = 64 * MB

    @classmethod
    def from_settings(cls) -> Limits:
        values: dict[str, int] = {}
        if not settings.configured:
            return cls()
        for f in fields(cls):
            value = getattr(settings, f"CPER_IMPORT_{f.name.upper()}", None)
            if value is not None:
                values[f.name] = int(value)
        return cls(**values)

    @staticmethod
    def setting(name: str) -> str:
        return f"CPER_IMPORT_{name.upper()}"


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]]  # rows[i] is spreadsheet row i + 1, down to the last with a value
    encoding: str = ""
    delimiter: str = ""


def number(n: int | float) -> str:
    """`16384` → `16 384` (French thousands, narrow no-break space)."""
    return f"{n:,}".replace(",", "\u202f")


def size_text(n: int) -> str:
    """`52428800` → `50,0 Mo`; `2000` → `2,0 Ko`; `999` → `999 octets`."""
    if n >= MB:
        return f"{n / MB:.1f} Mo".replace(".", ",")
    if n >= 1024:
        return f"{n / 1024:.1f} Ko".replace(".", ",")
    return f"{number(n)} octets"


def _over(limits: Limits, name: str, found: int, what: str, unit: str = "") -> LimitError:
    limit = getattr(limits, name)
    shown = size_text if unit == "bytes" else number
    return LimitError(
        f"{what} ; la limite est {shown(limit)} ({Limits.setting(name)}).",
        setting=Limits.setting(name),
        found=found,
        limit=limit,
    )


def column_letters(n: int) -> str:
    out = ""
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(65 + rest) + out
    return out


# --------------------------------------------------------------------------------------------
# The budget every reader spends: rows, columns, cells, text
# --------------------------------------------------------------------------------------------


class Budget:
    """Counts what a reading keeps, across all the sheets of a file, and refuses the first cell
    beyond a bound. Rows are placed by their number: an empty row is not stored until a row
    below it holds a value, and then as an empty list (the numbering must stay right)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.cells = 0  # the areas of the sheets read so far
        self.text = 0
        self._shared: dict[str, str] = {}
        self._widths: dict[int, int] = {}  # id(sheet) → widest row
        self._areas: dict[int, int] = {}

    def check_position(self, sheet: str, row: int, column: int) -> None:
        # Columns first: a cell far to the right is the usual bomb (and the clearer message).
        if column > self.limits.max_columns:
            raise _over(
                self.limits,
                "max_columns",
                column,
                f"La feuille « {sheet} » a une valeur en colonne {column_letters(column)}, "
                f"soit {number(column)} colonnes",
            )
        if row > self.limits.max_rows:
            raise _over(
                self.limits,
                "max_rows",
                row,
                f"La feuille « {sheet} » a une valeur en ligne {number(row)}",
            )

    def spend_text(self, length: int) -> None:
        self.text += length
        if self.text > self.limits.max_text_bytes:
            raise _over(
                self.limits,
                "max_text_bytes",
                self.text,
                f"Le fichier contient plus de {size_text(self.limits.max_text_bytes)} de texte",
                "bytes",
            )

    def text_value(self, value: str) -> str:
        """`value`, shared with an equal short text already kept (its length was counted as
        it was read)."""
        if len(value) <= _SHARED_TEXT_LENGTH:
            kept = self._shared.get(value)
            if kept is not None:
                return kept
            if len(self._shared) < _SHARED_TEXT_ENTRIES:
                self._shared[value] = value
        return value

    def add_row(self, sheet: Sheet, number_: int, cells: list[Any]) -> None:
        """Store a row's cells (trailing blanks dropped) at its 1-based number. The area a
        sheet's rows cover (down to its last row with a value, across to its widest) is what
        `finish` makes rectangular: it is counted against the cell bound as it grows."""
        while cells and _blank(cells[-1]):
            cells.pop()
        if not cells:
            return
        self.check_position(sheet.name, number_, len(cells))
        key = id(sheet)
        width = max(self._widths.get(key, 0), len(cells))
        height = max(len(sheet.rows), number_)
        others = self.cells - self._areas.get(key, 0)  # the sheets before this one
        area = height * width
        if others + area > self.limits.max_cells:
            before = " (avec les feuilles précédentes)" if others else ""
            raise _over(
                self.limits,
                "max_cells",
                others + area,
                f"La feuille « {sheet.name} » couvre {number(height)} lignes × {number(width)} "
                f"colonnes, soit {number(others + area)} cellules{before}",
            )
        self._widths[key], self._areas[key] = width, area
        self.cells = others + area
        rows = sheet.rows
        if number_ <= len(rows):  # a row listed twice, or out of order: keep the values
            rows[number_ - 1] = cells
            return
        while len(rows) < number_ - 1:
            rows.append([])
        rows.append(cells)

    def finish(self, sheet: Sheet) -> Sheet:
        """Every row of the sheet as wide as its widest (empty cells are ``""``), as a reader
        of a rectangular sheet expects; the area was counted as it grew."""
        width = self._widths.get(id(sheet), 0)
        for row in sheet.rows:
            if len(row) < width:
                row.extend([""] * (width - len(row)))
        return sheet


def _blank(value: object) -> bool:
    return value is None or value == ""


# --------------------------------------------------------------------------------------------
# Zip containers (XLSX, ODS)
# --------------------------------------------------------------------------------------------


def open_zip(stream: IO[bytes], limits: Limits) -> zipfile.ZipFile:
    """The zip of an XLSX or ODS file, once its directory is within bounds: members, total
    uncompressed size, compression ratio of each large member. Read before any member is."""
    try:
        book = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ReadError(f"classeur illisible : ce n'est pas un fichier zip valide ({exc})") from exc
    problem = zip_problem(book, limits)
    if problem:
        raise problem
    return book


def zip_problem(book: zipfile.ZipFile, limits: Limits) -> LimitError | None:
    members = book.infolist()
    if len(members) > limits.max_zip_members:
        return _over(
            limits,
            "max_zip_members",
            len(members),
            f"Le classeur contient {number(len(members))} fichiers internes",
        )
    total = sum(m.file_size for m in members)
    if total > limits.max_uncompressed_bytes:
        return _over(
            limits,
            "max_uncompressed_bytes",
            total,
            f"Le classeur décompressé pèse {size_text(total)}",
            "bytes",
        )
    for m in members:
        ratio = m.file_size // max(m.compress_size, 1)
        if m.file_size > RATIO_FLOOR and ratio > limits.max_compression_ratio:
            return _over(
                limits,
                "max_compression_ratio",
                ratio,
                f"Le fichier interne « {m.filename} » se décompresse {number(ratio)} fois "
                f"({size_text(m.compress_size)} → {size_text(m.file_size)})",
            )
    return None


def _member(book: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return book.getinfo(name)
    except KeyError:
        return None


class _Stream:
    """An expat parser fed from a zip member by chunks; namespaces resolved (`uri name`). No
    DTD is accepted: a spreadsheet never needs one, and entities are how XML bombs expand."""

    def __init__(self) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.buffer_size = CHUNK
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._doctype
        self.parser = parser

    @staticmethod
    def _doctype(*_: Any) -> None:
        raise ReadError("classeur illisible : déclaration DTD ou entité refusée")

    def feed(self, book: zipfile.ZipFile, name: str) -> None:
        try:
            with book.open(name) as member:
                while chunk := member.read(CHUNK):
                    self.parser.Parse(chunk, False)
            self.parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise ReadError(f"classeur illisible : {name} : XML invalide ({exc})") from exc
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
            raise ReadError(f"classeur illisible : {name} : {exc}") from exc


_LOCAL_NAMES: dict[str, str] = {}


def _local(name: str) -> str:
    """`uri c` → `c` (names seen once are kept: a sheet repeats a handful of tags)."""
    local = _LOCAL_NAMES.get(name)
    if local is None:
        local = name.rpartition(" ")[2]
        if len(_LOCAL_NAMES) < 10_000:
            _LOCAL_NAMES[name] = local
    return local


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------

_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# Excel's built-in number formats that show a date or a time.
_DATE_FORMAT_IDS = {*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)}
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


def is_date_format(code: str) -> bool:
    """`dd/mm/yyyy`, `[$-40C]d mmmm yyyy` → True; `# ##0,00 "€"` → False."""
    return bool(re.search(r"[dmyhs]", _FORMAT_NOISE.sub("", code.lower())))


_COLUMNS: dict[str, int] = {}


def _column_of(ref: str) -> int:
    """`AB12` → 28; 0 if `ref` is not a cell reference. Letters seen are kept (a sheet has
    few columns, and this runs for every cell)."""
    letters = ref.rstrip("0123456789")
    col = _COLUMNS.get(letters)
    if col is None:
        m = _CELL_REF.fullmatch(ref.upper())
        if not m:
            return 0
        col = 0
        for ch in m.group(1):
            col = col * 26 + ord(ch) - 64
        if len(_COLUMNS) < 20_000:
            _COLUMNS[letters] = col
    return col


def _rels(book: zipfile.ZipFile, path: str, limits: Limits) -> dict[str, tuple[str, str]]:
    """Relationship id → (type, target path in the zip) of the part `path`."""
    folder, base = posixpath.split(path)
    rels_path = posixpath.join(folder, "_rels", f"{base}.rels")
    out: dict[str, tuple[str, str]] = {}
    if _member(book, rels_path) is None:
        return out

    def start(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            full = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            out[attrs.get("Id", "")] = (attrs.get("Type", ""), posixpath.normpath(full))

    stream = _Stream()
    stream.parser.StartElementHandler = start
    stream.feed(book, rels_path)
    return out


class _Workbook:
    """What an XLSX workbook says about its parts: sheets, shared strings, date styles."""

    def __init__(self, book: zipfile.ZipFile, limits: Limits):
        root = _rels(book, "", limits)
        main = next(
            (t for typ, t in root.values() if typ.endswith("/officeDocument")), "xl/workbook.xml"
        )
        if _member(book, main) is None:
            raise ReadError("classeur illisible : pas de classeur Excel (xl/workbook.xml)")
        rels = _rels(book, main, limits)
        self.sheets: list[tuple[str, str]] = []  # (name, part)
        self.date1904 = False
        sheet_ids: list[tuple[str, str]] = []

        def start(name: str, attrs: dict[str, str]) -> None:
            local = _local(name)
            if local == "sheet":
                sheet_ids.append((attrs.get("name", ""), attrs.get(f"{_NS_R} id", "")))
            elif local == "workbookPr":
                self.date1904 = attrs.get("date1904", "").lower() in {"1", "true"}

        stream = _Stream()
        stream.parser.StartElementHandler = start
        stream.feed(book, main)
        for name, rid in sheet_ids:
            typ, target = rels.get(rid, ("", ""))
            if typ.endswith("/worksheet") and _member(book, target) is not None:
                self.sheets.append((name, target))
        self.shared_path = next(
            (t for typ, t in rels.values() if typ.endswith("/sharedStrings")), None
        )
        styles = next((t for typ, t in rels.values() if typ.endswith("/styles")), None)
        self.date_styles = self._date_styles(book, styles) if styles else set()

    @staticmethod
    def _date_styles(book: zipfile.ZipFile, path: str) -> set[int]:
        if _member(book, path) is None:
            return set()
        custom: dict[int, str] = {}
        formats: list[int] = []
        depth = {"cellXfs": False}

        def start(name: str, attrs: dict[str, str]) -> None:
            local = _local(name)
            if local == "numFmt":
                with contextlib.suppress(ValueError):
                    custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
            elif local == "cellXfs":
                depth["cellXfs"] = True
            elif local == "xf" and depth["cellXfs"]:
                try:
                    formats.append(int(attrs.get("numFmtId", "0")))
                except ValueError:
                    formats.append(0)

        def end(name: str) -> None:
            if _local(name) == "cellXfs":
                depth["cellXfs"] = False

        stream = _Stream()
        stream.parser.StartElementHandler = start
        stream.parser.EndElementHandler = end
        stream.feed(book, path)
        return {
            i
            for i, fmt in enumerate(formats)
            if (is_date_format(custom[fmt]) if fmt in custom else fmt in _DATE_FORMAT_IDS)
        }


def _shared_strings(book: zipfile.ZipFile, path: str | None, budget: Budget) -> list[str]:
    """The shared-string table, its declared count checked before it is read, each string
    counted against the cell and text bounds as it is read."""
    if path is None or _member(book, path) is None:
        return []
    limits = budget.limits
    strings: list[str] = []
    parts: list[str] = []
    state = {"in_t": False, "skip": 0, "size": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "sst":
            # The declared number of distinct strings, refused before one is read (`count`,
            # the number of cells using them, may be larger in a sound file).
            declared = attrs.get("uniqueCount", "")
            if declared.isdigit() and int(declared) > limits.max_cells:
                raise _over(
                    limits,
                    "max_cells",
                    int(declared),
                    f"Le classeur déclare {number(int(declared))} textes partagés",
                )
        elif local == "t":
            state["in_t"] = True
        elif local in {"rPh", "phoneticPr"}:
            state["skip"] += 1

    def end(name: str) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = False
        elif local in {"rPh", "phoneticPr"}:
            state["skip"] -= 1
        elif local == "si":
            text = "".join(parts).replace("\x00", "\ufffd")
            parts.clear()
            state["size"] = 0
            strings.append(text)
            if len(strings) > limits.max_cells:
                raise _over(
                    limits,
                    "max_cells",
                    len(strings),
                    f"Le classeur contient plus de {number(limits.max_cells)} textes partagés",
                )

    def chars(data: str) -> None:
        if state["in_t"] and not state["skip"]:
            parts.append(data)
            budget.spend_text(len(data))

    stream = _Stream()
    stream.parser.StartElementHandler = start
    stream.parser.EndElementHandler = end
    stream.parser.CharacterDataHandler = chars
    stream.feed(book, path)
    return strings


def _excel_date(serial: float, date1904: bool) -> dt.date | dt.datetime | float:
    if date1904:
        serial += 1462
    if not 0 <= serial < 2958466:  # outside Excel's calendar: leave the number
        return serial
    moment = EXCEL_EPOCH + dt.timedelta(milliseconds=round(serial * 86_400_000))
    return moment.date() if moment.time() == dt.time(0) else moment


def _iso_date(text: str) -> Any:
    try:
        moment = dt.datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return text
    return moment.date() if moment.time() == dt.time(0) else moment


def read_xlsx_sheets(book: zipfile.ZipFile, budget: Budget) -> list[Sheet]:
    workbook = _Workbook(book, budget.limits)
    shared = _shared_strings(book, workbook.shared_path, budget)
    return [
        _read_xlsx_sheet(book, name, part, workbook, shared, budget)
        for name, part in workbook.sheets
    ]


def _read_xlsx_sheet(
    book: zipfile.ZipFile,
    name: str,
    part: str,
    workbook: _Workbook,
    shared: list[str],
    budget: Budget,
) -> Sheet:
    sheet = Sheet(name=name, rows=[])
    date_styles, date1904 = workbook.date_styles, workbook.date1904
    # The state of the parse: the row and column being read, the current cell's attributes
    # and the text of its <v> or inline <t> elements.
    row_number, column = 0, 0
    cells: list[Any] = []
    kind, style = "", 0
    parts: list[str] = []
    collecting = False
    has_value = False
    skip = 0

    max_rows, max_columns = budget.limits.max_rows, budget.limits.max_columns
    max_text = budget.limits.max_text_bytes
    local_names = _LOCAL_NAMES

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal row_number, column, cells, kind, style, collecting, has_value, skip
        local = local_names.get(tag) or _local(tag)
        if local == "c":
            ref = attrs.get("r")
            column = (_column_of(ref) if ref else 0) or column + 1
            kind = attrs.get("t", "n")
            s = attrs.get("s", "0")
            style = int(s) if s.isdigit() else 0
            has_value = False
            parts.clear()
        elif local == "v" or (local == "t" and kind == "inlineStr" and not skip):
            collecting, has_value = True, True
        elif local == "rPh":
            skip += 1
        elif local == "row":
            r = attrs.get("r", "")
            row_number = int(r) if r.isdigit() else row_number + 1
            column = 0
            cells = []

    def end(tag: str) -> None:
        nonlocal collecting, skip, cells
        local = local_names.get(tag) or _local(tag)
        if local == "v" or local == "t":
            collecting = False
        elif local == "c":
            if not has_value:
                return
            value = _xlsx_value(kind, "".join(parts), style)
            if value == "" or value is None:
                return
            if row_number > max_rows or column > max_columns:
                budget.check_position(name, row_number, column)
            while len(cells) < column - 1:
                cells.append("")
            if len(cells) >= column:  # a column listed twice or out of order
                cells[column - 1] = value
            else:
                cells.append(value)
        elif local == "row":
            if cells:
                budget.add_row(sheet, row_number, cells)
            cells = []
        elif local == "rPh":
            skip -= 1

    def chars(data: str) -> None:
        if collecting:
            parts.append(data)
            budget.text += len(data)
            if budget.text > max_text:
                budget.spend_text(0)

    def _xlsx_value(kind: str, text: str, style: int) -> Any:
        if kind == "s":
            try:
                return shared[int(text)]
            except (ValueError, IndexError):
                return ""
        if kind in {"inlineStr", "str"}:
            return budget.text_value(text.replace("\x00", "\ufffd"))
        if kind == "b":
            return text.strip() in {"1", "true"}
        if kind == "e":
            return budget.text_value(text)
        if kind == "d":
            return _iso_date(text.strip())
        text = text.strip()
        if not text:
            return ""
        try:
            value = float(text)
        except ValueError:
            return budget.text_value(text)
        if style in date_styles:
            return _excel_date(value, date1904)
        return value

    stream = _Stream()
    stream.parser.StartElementHandler = start
    stream.parser.EndElementHandler = end
    stream.parser.CharacterDataHandler = chars
    stream.feed(book, part)
    return budget.finish(sheet)


# --------------------------------------------------------------------------------------------
# ODS
# --------------------------------------------------------------------------------------------

_NS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_NS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_NS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def read_ods_sheets(book: zipfile.ZipFile, budget: Budget) -> list[Sheet]:
    if _member(book, "content.xml") is None:
        raise ReadError("classeur illisible : pas de contenu OpenDocument (content.xml)")
    sheets: list[Sheet] = []
    sheet: Sheet | None = None
    row_number = 0  # rows before the current one
    row_repeat = 1
    column = 0  # columns before the current cell
    cells: list[Any] = []
    value: Any = None
    repeat = 1
    parts: list[str] = []
    paragraphs = 0
    in_cell = False
    skip = 0  # inside an annotation (a comment), whose text is not the cell's

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal sheet, row_number, row_repeat, column, cells, value, repeat, paragraphs
        nonlocal in_cell, skip
        uri, _, local = tag.rpartition(" ")
        if uri == _NS_TABLE:
            if local == "table":
                title = attrs.get(f"{_NS_TABLE} name", f"Feuille{len(sheets) + 1}")
                sheet = Sheet(name=title, rows=[])
                sheets.append(sheet)
                row_number = 0
            elif local == "table-row":
                row_repeat = _count(attrs.get(f"{_NS_TABLE} number-rows-repeated"))
                column, cells = 0, []
            elif local in {"table-cell", "covered-table-cell"}:
                repeat = _count(attrs.get(f"{_NS_TABLE} number-columns-repeated"))
                value = _ods_value(attrs)
                in_cell, paragraphs = True, 0
                parts.clear()
        elif uri == _NS_OFFICE and local == "annotation":
            skip += 1
        elif uri == _NS_TEXT and in_cell and not skip:
            if local == "p":
                if paragraphs:
                    parts.append("\n")
                paragraphs += 1
            elif local == "s":
                parts.append(" " * min(_count(attrs.get(f"{_NS_TEXT} c")), 1000))
            elif local == "tab":
                parts.append("\t")
            elif local == "line-break":
                parts.append("\n")

    def end(tag: str) -> None:
        nonlocal row_number, column, cells, in_cell, skip, value
        uri, _, local = tag.rpartition(" ")
        if uri == _NS_TABLE and sheet is not None:
            if local in {"table-cell", "covered-table-cell"}:
                in_cell = False
                cell = value
                if cell is None and parts:
                    cell = "".join(parts)
                if isinstance(cell, str):
                    cell = budget.text_value(cell.replace("\x00", "\ufffd"))
                if not _blank(cell):
                    # A repeated value is expanded only within the column bound.
                    budget.check_position(sheet.name, row_number + 1, column + repeat)
                    cells.extend([""] * (column - len(cells)))
                    cells.extend([cell] * repeat)
                column += repeat
                value = None
            elif local == "table-row":
                if cells:
                    last = row_number + row_repeat
                    budget.check_position(sheet.name, last, len(cells))
                    for n in range(row_number + 1, last + 1):
                        budget.add_row(sheet, n, list(cells))
                row_number += row_repeat
                cells = []
        elif uri == _NS_OFFICE and local == "annotation":
            skip -= 1

    def chars(data: str) -> None:
        if in_cell and not skip and paragraphs:
            parts.append(data)
            budget.spend_text(len(data))

    stream = _Stream()
    stream.parser.StartElementHandler = start
    stream.parser.EndElementHandler = end
    stream.parser.CharacterDataHandler = chars
    stream.feed(book, "content.xml")
    return [budget.finish(sheet) for sheet in sheets]


def _count(text: str | None) -> int:
    if not text:
        return 1
    try:
        return max(1, int(text))
    except ValueError:
        return 1


def _ods_value(attrs: dict[str, str]) -> Any:
    """The typed value of an ODS cell from its attributes; None: take the cell's text."""
    kind = attrs.get(f"{_NS_OFFICE} value-type")
    if kind in {"float", "percentage", "currency"}:
        try:
            return float(attrs.get(f"{_NS_OFFICE} value", ""))
        except ValueError:
            return None
    if kind == "date":
        return _iso_date(attrs.get(f"{_NS_OFFICE} date-value", ""))
    if kind == "boolean":
        return attrs.get(f"{_NS_OFFICE} boolean-value", "").lower() == "true"
    if kind == "string" and f"{_NS_OFFICE} string-value" in attrs:
        return attrs[f"{_NS_OFFICE} string-value"]
    return None


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def csv_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252, else Latin-1 (every byte maps): found
    by decoding the bytes by chunks, without keeping the text."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            view = memoryview(data)
            for i in range(0, len(data), MB):
                decoder.decode(view[i : i + MB])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _csv_lines(text: IO[str], delimiter: str, name: str, budget: Budget) -> Iterator[str]:
    """The lines of a CSV file, each split by the csv module only once its separators are
    within bounds: trailing separators (a spreadsheet's empty columns) are dropped first, and a
    line of thousands of fields is refused before it becomes a list."""
    most = 10 * budget.limits.max_columns  # quoted separators inside a field count here too
    for n, line in enumerate(text, start=1):
        if line.count(delimiter) > budget.limits.max_columns:
            end = line[len(line.rstrip("\r\n")) :]
            line = line.rstrip("\r\n").rstrip(delimiter + " \t") + end
            found = line.count(delimiter) + 1
            if found > most:
                raise _over(
                    budget.limits,
                    "max_columns",
                    found,
                    f"La ligne {number(n)} de « {name} » compte {number(found)} colonnes",
                )
        yield line


def read_csv_sheet(data: bytes, name: str, budget: Budget, detect: Callable[[str], str]) -> Sheet:
    encoding = csv_encoding(data)
    head = data[: 64 * 1024].decode(encoding, errors="ignore")
    delimiter = detect(head)
    sheet = Sheet(name=name, rows=[], encoding=encoding, delimiter=delimiter)
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    reader = csv.reader(_csv_lines(text, delimiter, name, budget), delimiter=delimiter)
    try:
        for number_, row in enumerate(reader, start=1):
            if any(row):  # rows of separators only (`;;;;`) cost nothing
                budget.spend_text(sum(map(len, row)))
                budget.add_row(sheet, number_, [budget.text_value(v) for v in row])
    except csv.Error as exc:
        raise ReadError(f"fichier CSV illisible, ligne {reader.line_num} : {exc}") from exc
    return budget.finish(sheet)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def kind_of(data_head: bytes, filename: str) -> str:
    """`xlsx`, `ods`, `csv` or `legacy`, from the name and the first bytes."""
    suffix = Path(filename).suffix.lower()
    if suffix in LEGACY_SUFFIXES or data_head[:4] == b"\xd0\xcf\x11\xe0":
        return "legacy"
    if suffix in ODS_SUFFIXES:
        return "ods"
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    if data_head[:2] == b"PK":
        return "zip"
    if suffix in TEXT_SUFFIXES or not suffix:
        return "csv"
    return "unknown"


LEGACY_MESSAGE = (
    "format Excel 97-2003 (.xls, .xlsb) ou classeur protégé par un mot de passe : "
    "enregistrez-le au format .xlsx ou .ods, sans mot de passe"
)


def unknown_format(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return f"format non reconnu : « {suffix} » (attendu .xlsx, .ods ou .csv)"


def check_size(size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise _over(limits, "max_bytes", size, f"Le fichier pèse {size_text(size)}", "bytes")


def read_bounded(
    data: bytes, filename: str, limits: Limits, detect: Callable[[str], str]
) -> list[Sheet]:
    check_size(len(data), limits)
    kind = kind_of(data[:8], filename)
    if kind == "legacy":
        raise ReadError(LEGACY_MESSAGE)
    if kind == "unknown":
        raise ReadError(unknown_format(filename))
    budget = Budget(limits)
    if kind == "csv":
        return [read_csv_sheet(data, Path(filename).name or "CSV", budget, detect)]
    book = open_zip(io.BytesIO(data), limits)
    with book:
        if kind == "zip":
            kind = "ods" if _member(book, "content.xml") is not None else "xlsx"
        if kind == "ods":
            return read_ods_sheets(book, budget)
        return read_xlsx_sheets(book, budget)


def upload_problems(upload: Any, limits: Limits) -> list[str]:
    """What refuses an uploaded file before it is stored: its size, its extension, and for a
    workbook its zip directory. The file is left at its start."""
    name = str(getattr(upload, "name", "") or "")
    size = getattr(upload, "size", None)
    problems: list[str] = []
    if size is not None:
        try:
            check_size(int(size), limits)
        except LimitError as exc:
            return [str(exc)]
    suffix = Path(name).suffix.lower()
    if suffix in LEGACY_SUFFIXES:
        return [LEGACY_MESSAGE]
    if suffix not in ACCEPTED_SUFFIXES:
        return [unknown_format(name)]
    try:
        upload.seek(0)
        head = upload.read(8)
        upload.seek(0)
        if head[:4] == b"\xd0\xcf\x11\xe0":
            return [LEGACY_MESSAGE]
        if suffix in XLSX_SUFFIXES | ODS_SUFFIXES:
            try:
                book = zipfile.ZipFile(upload)
            except (zipfile.BadZipFile, OSError, ValueError):
                return [f"classeur illisible : « {name} » n'est pas un classeur {suffix} valide"]
            problem = zip_problem(book, limits)
            if problem:
                problems.append(str(problem))
    finally:
        upload.seek(0)
    return problems


def iter_rows(sheet: Sheet) -> Iterator[tuple[int, list[Any]]]:
    """(1-based row number, cells) of the rows that hold a value."""
    for n, row in enumerate(sheet.rows, start=1):
        if row:
            yield n, row
