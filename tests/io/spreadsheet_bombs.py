"""Hostile spreadsheets built in memory, for the tests of the reading bounds: each is a few
kilobytes that a naive reader expands into gigabytes (issue 15, item 1).

`xlsx` writes a minimal workbook by hand (the writers would never produce these files); every
builder returns the file's bytes."""

from __future__ import annotations

import io
import zipfile

_OOXML = "http://schemas.openxmlformats.org"
_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_REL = f"{_OOXML}/officeDocument/2006/relationships"

HEADER = ["Numéro", "Intitulé", "Coût total HT"]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'  # noqa: E501
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPES}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPES}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPES}.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Opérations" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_row(number: int, values: list[object]) -> str:
    """One `<row>` of inline strings and numbers, from column A."""
    cells = []
    for i, value in enumerate(values):
        ref = f"{column_letters(i + 1)}{number}"
        if isinstance(value, int | float):
            cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        else:
            cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{_esc(str(value))}</t></is></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


def column_letters(n: int) -> str:
    out = ""
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(65 + rest) + out
    return out


def xlsx(
    sheet_data: str,
    *,
    dimension: str | None = None,
    shared_strings: bytes | None = None,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """A workbook of one sheet « Opérations » whose `<sheetData>` is `sheet_data`."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{sheet_data}</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr(
            "xl/sharedStrings.xml",
            shared_strings
            or b'<?xml version="1.0" encoding="UTF-8"?><sst '
            b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" '
            b'uniqueCount="0"/>',
        )
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def far_cell() -> bytes:
    """A header row and one cell at XFD1048576, the last cell of a sheet (2 KB)."""
    data = inline_row(1, HEADER) + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    return xlsx(data, dimension="A1:XFD1048576")


def declared_area() -> bytes:
    """A header row and a declared dimension of A1:ZZ100000 (702 × 100,000 cells), nothing
    else: what a file declares without holding it must cost nothing."""
    return xlsx(inline_row(1, HEADER), dimension="A1:ZZ100000")


def shared_strings(count: int = 300_000, length: int = 400) -> bytes:
    """A shared-string table of `count` strings of `length` characters, each cell of a long
    sheet pointing at them: highly compressible, ≈ `count × length` bytes once read."""
    text = "x" * length
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?><sst '
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{count}" uniqueCount="{count}">' + f"<si><t>{text}</t></si>" * count + "</sst>"
    ).encode()
    rows = inline_row(1, HEADER) + "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{n}</v></c></row>' for n in range(2, 2002)
    )
    return xlsx(rows, shared_strings=sst)


def zip_member(size: int = 1_000_000_000) -> bytes:
    """A valid small sheet plus one member of `size` zeros (≈ 4 MB compressed per GB)."""
    body = inline_row(1, HEADER) + inline_row(2, ["OP-1", "Médiathèque", 1000])
    out = io.BytesIO(xlsx(body))
    with (
        zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
        z.open("xl/media/image1.bin", "w", force_zip64=True) as member,
    ):
        chunk = bytes(1 << 20)
        for _ in range(size // len(chunk)):
            member.write(chunk)
    return out.getvalue()


def large_csv(size: int) -> bytes:
    """A CSV of operations of about `size` bytes."""
    line = "OP-{:07d};Médiathèque de la commune;1000,00\r\n"
    head = ";".join(HEADER) + "\r\n"
    count = size // len(line.format(0).encode()) + 1
    return (head + "".join(line.format(n) for n in range(count))).encode()


def trailing_empty_rows(body: list[list[object]], empty: int = 5000, width: int = 20) -> bytes:
    """A normal register as Excel saves it after formatting: `empty` styled but empty rows
    declared below the data, and a dimension that covers them."""
    rows = "".join(inline_row(n, values) for n, values in enumerate(body, start=1))
    last = len(body)
    for n in range(last + 1, last + empty + 1):
        cells = "".join(f'<c r="{column_letters(i)}{n}" s="1"/>' for i in range(1, width + 1))
        rows += f'<row r="{n}" spans="1:{width}" s="1" customFormat="1">{cells}</row>'
    return xlsx(rows, dimension=f"A1:{column_letters(width)}{last + empty}")


def declared_area_with_value() -> bytes:
    """A header row and one value at ZZ100000, the corner of the area it declares."""
    data = inline_row(1, HEADER) + '<row r="100000"><c r="ZZ100000"><v>1</v></c></row>'
    return xlsx(data, dimension="A1:ZZ100000")


def declared_shared_strings(count: int = 3_000_000) -> bytes:
    """A shared-string table that declares `count` strings (and holds three)."""
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?><sst '
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{count}" uniqueCount="{count}"><si><t>a</t></si><si><t>b</t></si>'
        "<si><t>c</t></si></sst>"
    ).encode()
    return xlsx(inline_row(1, HEADER), shared_strings=sst)


def distinct_shared_strings(count: int) -> bytes:
    """`count` different shared strings, no declared count: each must be counted as read."""
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?><sst '
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + "".join(f"<si><t>texte {n}</t></si>" for n in range(count))
        + "</sst>"
    ).encode()
    return xlsx(inline_row(1, HEADER), shared_strings=sst)


_ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def ods_row(values: list[object], *, repeated: int = 1, tail: int = 0) -> str:
    """One `<table:table-row>` of strings and numbers, `tail` empty cells after them (as
    LibreOffice writes a row up to the sheet's last column)."""
    cells = []
    for value in values:
        if isinstance(value, int | float):
            cells.append(
                f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        else:
            cells.append(
                f'<table:table-cell office:value-type="string"><text:p>{_esc(str(value))}'
                "</text:p></table:table-cell>"
            )
    if tail:
        cells.append(f'<table:table-cell table:number-columns-repeated="{tail}"/>')
    attr = f' table:number-rows-repeated="{repeated}"' if repeated > 1 else ""
    return f"<table:table-row{attr}>{''.join(cells)}</table:table-row>"


def ods(rows: str) -> bytes:
    """An ODS workbook of one table « Opérations » whose rows are `rows`."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODS_NS}>'
        '<office:body><office:spreadsheet><table:table table:name="Opérations">'
        f"{rows}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
    return out.getvalue()


def ods_repeated_columns(rows: int = 1_048_575) -> bytes:
    """A header row, then a value repeated over all 16,384 columns of a row, that row repeated
    `rows` times: the whole sheet, 17 billion cells, in 300 bytes of XML."""
    cell = (
        '<table:table-cell table:number-columns-repeated="16384" office:value-type="float" '
        'office:value="1"><text:p>1</text:p></table:table-cell>'
    )
    repeat = f' table:number-rows-repeated="{rows}"' if rows > 1 else ""
    return ods(ods_row(HEADER) + f"<table:table-row{repeat}>{cell}</table:table-row>")


def ods_repeated_rows() -> bytes:
    """A header row, then one row of values repeated 1,048,575 times."""
    return ods(ods_row(HEADER) + ods_row(["OP-1", "Médiathèque", 1000], repeated=1_048_575))
