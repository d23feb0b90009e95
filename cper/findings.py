"""The one type every rule of the project returns: a `Finding`.

A rule is a plain function that looks at values and returns findings, never raises (as in
beancount's `ops/validation.py`). A finding names *where* the problem is — a form field, an
import column, a key path of a contract file, or a check code — so that each face (page, import
report, API answer, `cper contract check`) shows it next to the right input; its level says
whether it blocks the write (`ERROR`), is shown without blocking (`WARNING`) or only informs.
`line` is the line of a data file the finding comes from, when there is one.

No Django here: the rules of every app import this module and nothing else of the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """How much a finding weighs. Values are stable identifiers; `label` is what people read."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {Level.ERROR: "bloquant", Level.WARNING: "avertissement", Level.INFO: "information"}

ERROR = Level.ERROR
WARNING = Level.WARNING
INFO = Level.INFO


@dataclass(frozen=True)
class Finding:
    """A problem found by a rule: where it is, a French message, its level."""

    field: str
    message: str
    level: Level = ERROR
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.level == ERROR

    @property
    def where(self) -> str:
        """The field, key path or check code (the name the contract loader and checks use)."""
        return self.field

    @property
    def code(self) -> str:
        return self.field

    def __str__(self) -> str:
        at = f"ligne {self.line}, " if self.line else ""
        return f"{at}{self.field} : {self.message}" if self.field else f"{at}{self.message}"

    def as_dict(self) -> dict[str, str]:
        """The shape of `cper contract check --format json`."""
        return {"niveau": self.level.label, "code": self.field, "message": self.message}


def errors_only(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == ERROR]


def as_error_dict(findings: Iterable[Finding]) -> dict[str, list[str]]:
    """{field: [messages]} for the errors, the shape of `ValidationError(dict)`."""
    out: dict[str, list[str]] = {}
    for f in findings:
        if f.level == ERROR:
            out.setdefault(f.field, []).append(f.message)
    return out
