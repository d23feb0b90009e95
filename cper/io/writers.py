"""Writing tables to CSV, XLSX and ODS with French headers and typed cells.

A `Sheet` is a header block (contract, filters, date, generation time), then one header row of
French labels, then rows whose cells keep their Python types: Decimal and int become numbers,
dates become dates (in XLSX and ODS; `JJ/MM/AAAA` in CSV, which French spreadsheets read as
dates), booleans `oui`/`non`. The importers skip the header block, so every export reads back.

Every text cell (header block, column labels, rows) is made inert (`cper.formulas`): a text
that a spreadsheet would evaluate gets an apostrophe in CSV and is a string cell — never a
formula — in XLSX and ODS; numbers and dates are written as numbers and dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from cper.formulas import active, neutralise, typed_text

FORMATS = ("csv", "xlsx", "ods")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}

MONEY = "money"
NUMBER = "number"
INTEGER = "integer"
DATE = "date"
TEXT = "text"
BOOL = "bool"
PERCENT = "percent"  # a ratio in percent (45.2), written as a number


@dataclass(frozen=True)
class Col:
    label: str
    kind: str = TEXT
    width: int = 0  # characters; 0 = by kind


class Rows:
    """Rows produced on demand, again at each reading: `make()` answers a fresh iterator (a
    generator reading the database by chunks), so that a sheet is written in several formats
    without ever holding its rows in memory."""

    def __init__(self, make: Callable[[], Iterator[Sequence[Any]]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return self._make()


@dataclass
class Sheet:
    name: str
    columns: list[Col]
    rows: Iterable[Sequence[Any]]
    meta: list[tuple[str, str]] = field(default_factory=list)  # the header block
    # Rows written so far: `rows` may be a generator, read once, whose length nobody knows.
    written: int = 0

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]


def _csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if type(value) is str:  # the most frequent cell first: exports write millions of them
        return neutralise(value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Decimal | float):
        return f"{value:f}".replace(".", ",") if isinstance(value, Decimal) else str(value)
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def write_csv(sheet: Sheet, out: IO[str], *, header_block: bool = True) -> None:
    """`;`-separated, decimal comma: what a French spreadsheet opens as numbers and dates."""
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    if header_block and sheet.meta:
        for key, value in sheet.meta:
            writer.writerow([neutralise(key), neutralise(value)])
        writer.writerow([])
    writer.writerow([neutralise(label) for label in sheet.labels])
    kinds = [c.kind for c in sheet.columns]
    sheet.written = 0
    for row in sheet.rows:
        writer.writerow([_csv_value(v, k) for v, k in zip(row, kinds, strict=False)])
        sheet.written += 1


BOM = b"\xef\xbb\xbf"  # the BOM Excel wants
CSV_ROWS_PER_CHUNK = 500


class _Pending:
    """A text sink that a generator empties: where `csv.writer` writes between two chunks."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> bytes:
        data = "".join(self.parts).encode("utf-8")
        self.parts.clear()
        return data


def iter_csv(sheet: Sheet, *, rows_per_chunk: int | None = None) -> Iterator[bytes]:
    """The bytes of `csv_bytes(sheet)`, in chunks: the BOM, header block and column labels
    first, then every `rows_per_chunk` rows, as `sheet.rows` produces them — what a streaming
    response sends, so the first bytes leave before the last row is read."""
    pending = _Pending()
    writer = csv.writer(pending, delimiter=";", lineterminator="\r\n")
    if sheet.meta:
        for key, value in sheet.meta:
            writer.writerow([neutralise(key), neutralise(value)])
        writer.writerow([])
    writer.writerow([neutralise(label) for label in sheet.labels])
    yield BOM + pending.take()
    kinds = [c.kind for c in sheet.columns]
    every = rows_per_chunk or CSV_ROWS_PER_CHUNK
    waiting = sheet.written = 0
    for row in sheet.rows:
        writer.writerow([_csv_value(v, k) for v, k in zip(row, kinds, strict=False)])
        sheet.written += 1
        waiting += 1
        if waiting >= every:
            yield pending.take()
            waiting = 0
    if waiting:
        yield pending.take()


def csv_bytes(sheet: Sheet) -> bytes:
    return b"".join(iter_csv(sheet))


_XLSX_FORMATS = {
    MONEY: "#,##0.00",
    NUMBER: "#,##0.00",
    PERCENT: "0.00",
    INTEGER: "0",
    DATE: "DD/MM/YYYY",
}
_WIDTHS = {MONEY: 16, NUMBER: 14, PERCENT: 10, INTEGER: 10, DATE: 12, BOOL: 8, TEXT: 24}


Progress = Callable[[int], None]  # rows written so far, called now and then by the writers
PROGRESS_EVERY = 1000


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(sheets, buffer)
    return buffer.getvalue()


def write_xlsx(
    sheets: Sequence[Sheet], out: IO[bytes] | str | Path, *, progress: Progress | None = None
) -> None:
    """An XLSX workbook to `out`, by openpyxl's write-only mode: rows are streamed to the
    file as `sheet.rows` produces them, so memory does not grow with the register."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def cell(ws: Any, value: Any) -> WriteOnlyCell:
        if isinstance(value, bool):
            value = "oui" if value else "non"
        if not isinstance(value, str):
            return WriteOnlyCell(ws, value=value)
        c = WriteOnlyCell(ws, value=typed_text(value))
        # openpyxl makes a text beginning with "=" a formula (and "#N/A" an error): a text
        # is always a string cell; the quote prefix keeps it text when someone edits it.
        c.data_type = "s"
        if active(value):
            c.quotePrefix = True
        return c

    for sheet in sheets:
        ws = book.create_sheet(title=_sheet_title(sheet.name))
        for i, col in enumerate(sheet.columns, start=1):
            width = col.width or max(_WIDTHS.get(col.kind, 16), min(len(col.label) + 2, 40))
            ws.column_dimensions[get_column_letter(i)].width = width
        if sheet.meta:
            for key, value in sheet.meta:
                k = cell(ws, key)
                k.font = bold
                ws.append([k, cell(ws, value)])
            ws.append([])
        header = []
        for label in sheet.labels:
            c = cell(ws, label)
            c.font = bold
            header.append(c)
        ws.append(header)
        kinds = [c.kind for c in sheet.columns]
        sheet.written = 0
        for row in sheet.rows:
            cells = []
            for value, kind in zip(row, kinds, strict=False):
                c = cell(ws, value)
                if value is not None and kind in _XLSX_FORMATS:
                    c.number_format = _XLSX_FORMATS[kind]
                cells.append(c)
            ws.append(cells)
            sheet.written += 1
            if progress is not None and sheet.written % PROGRESS_EVERY == 0:
                progress(sum(s.written for s in sheets))
    book.save(out)


def _sheet_title(name: str) -> str:
    for bad in "[]:*?/\\":
        name = name.replace(bad, " ")
    return name[:31] or "Feuille"


# odfpy holds every cell as a tree of Python objects until the document is written: about
# 1.8 kB a cell, measured (200,000 cells: 380 MB). Over this many cells an ODS export is refused
# with a message, before it takes the memory of the server (scale M's register: over 4 GB).
ODS_MAX_CELLS = 150_000


class ExportTooLarge(ValueError):
    """An export the format cannot write within bounded memory (its message says which format
    to choose instead)."""


def ods_max_cells() -> int:
    from django.conf import settings

    return int(getattr(settings, "CPER_EXPORT_ODS_MAX_CELLS", ODS_MAX_CELLS))


def ods_bytes(sheets: Sequence[Sheet], *, progress: Progress | None = None) -> bytes:
    """An ODS document. odfpy builds the whole document in memory before writing it: for a
    whole register, XLSX (streamed) is the lighter format; over `ods_max_cells()` cells,
    `ExportTooLarge`."""
    limit = ods_max_cells()
    cells = 0
    from odf import number as onum
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.style import Style, TableColumnProperties, TextProperties
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    # Data styles: dates as JJ/MM/AAAA, amounts with two decimals and grouped thousands.
    date_style = onum.DateStyle(name="cper-date")
    date_style.addElement(onum.Day(style="long"))
    date_style.addElement(onum.Text(text="/"))
    date_style.addElement(onum.Month(style="long"))
    date_style.addElement(onum.Text(text="/"))
    date_style.addElement(onum.Year(style="long"))
    doc.automaticstyles.addElement(date_style)
    money_style = onum.NumberStyle(name="cper-money")
    money_style.addElement(onum.Number(decimalplaces="2", minintegerdigits="1", grouping="true"))
    doc.automaticstyles.addElement(money_style)
    date_cell = Style(name="cper-cell-date", family="table-cell", datastylename="cper-date")
    money_cell = Style(name="cper-cell-money", family="table-cell", datastylename="cper-money")
    bold = Style(name="cper-bold", family="table-cell")
    bold.addElement(TextProperties(fontweight="bold"))
    for s in (date_cell, money_cell, bold):
        doc.automaticstyles.addElement(s)
    col_styles: dict[int, Style] = {}

    def col_style(width: int) -> Style:
        if width not in col_styles:
            st = Style(name=f"cper-col-{width}", family="table-column")
            st.addElement(TableColumnProperties(columnwidth=f"{width * 0.21:.2f}cm"))
            doc.automaticstyles.addElement(st)
            col_styles[width] = st
        return col_styles[width]

    def text_cell(value: str, style: Style | None = None) -> TableCell:
        # office:value-type string: never evaluated; the text is kept as it is.
        value = typed_text(value)
        tc = (
            TableCell(valuetype="string", stylename=style)
            if style
            else TableCell(valuetype="string")
        )
        tc.addElement(P(text=value))
        return tc

    for sheet in sheets:
        table = Table(name=_sheet_title(sheet.name))
        for col in sheet.columns:
            width = col.width or max(_WIDTHS.get(col.kind, 16), min(len(col.label) + 2, 40))
            table.addElement(TableColumn(stylename=col_style(width)))
        if sheet.meta:
            for key, value in sheet.meta:
                tr = TableRow()
                tr.addElement(text_cell(key, bold))
                tr.addElement(text_cell(value))
                table.addElement(tr)
            table.addElement(TableRow())
        tr = TableRow()
        for label in sheet.labels:
            tr.addElement(text_cell(label, bold))
        table.addElement(tr)
        kinds = [c.kind for c in sheet.columns]
        sheet.written = 0
        for row in sheet.rows:
            cells += len(kinds)
            if cells > limit:
                raise ExportTooLarge(
                    f"export ODS limité à {limit:,} cellules".replace(",", "\u202f")
                    + " (le document est construit en mémoire) : choisissez XLSX, qui a le "
                    "même contenu, ou CSV"
                )
            tr = TableRow()
            for value, kind in zip(row, kinds, strict=False):
                tr.addElement(_ods_cell(value, kind, text_cell, date_cell, money_cell))
            table.addElement(tr)
            sheet.written += 1
            if progress is not None and sheet.written % PROGRESS_EVERY == 0:
                progress(sum(s.written for s in sheets))
        doc.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    doc.write(buffer)
    return buffer.getvalue()


def _ods_cell(value: Any, kind: str, text_cell: Any, date_cell: Any, money_cell: Any) -> Any:
    from odf.table import TableCell
    from odf.text import P

    if value is None or value == "":
        return TableCell()
    if isinstance(value, bool):
        return text_cell("oui" if value else "non")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        tc = TableCell(valuetype="date", datevalue=value.isoformat(), stylename=date_cell)
        tc.addElement(P(text=value.strftime("%d/%m/%Y")))
        return tc
    if isinstance(value, dt.datetime):
        return text_cell(value.strftime("%d/%m/%Y %H:%M"))
    if isinstance(value, Decimal | int | float):
        text = f"{value:f}" if isinstance(value, Decimal) else str(value)
        tc = (
            TableCell(valuetype="float", value=text, stylename=money_cell)
            if kind in (MONEY, NUMBER)
            else TableCell(valuetype="float", value=text)
        )
        tc.addElement(P(text=text.replace(".", ",")))
        return tc
    return text_cell(str(value))


def render(sheets: Sequence[Sheet], fmt: str) -> bytes:
    """The bytes of an export; CSV holds one sheet (the first)."""
    if fmt == "csv":
        return csv_bytes(sheets[0])
    if fmt == "xlsx":
        return xlsx_bytes(sheets)
    if fmt == "ods":
        return ods_bytes(sheets)
    raise ValueError(f"format inconnu : {fmt} (csv, xlsx ou ods)")


def write(
    sheets: Sequence[Sheet], fmt: str, path: str | Path, *, progress: Progress | None = None
) -> Path:
    """Write an export to `path`; CSV and XLSX are streamed to the file as rows come."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with path.open("wb") as handle:
            for chunk in iter_csv(sheets[0]):
                handle.write(chunk)
                if progress is not None:
                    progress(sheets[0].written)
    elif fmt == "xlsx":
        write_xlsx(sheets, path, progress=progress)
    elif fmt == "ods":
        path.write_bytes(ods_bytes(sheets, progress=progress))
    else:
        raise ValueError(f"format inconnu : {fmt} (csv, xlsx ou ods)")
    return path


def guess_format(path: str | Path, default: str = "csv") -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else default
