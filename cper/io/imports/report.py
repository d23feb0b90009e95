"""What an import run reports: the outcome of each row (created, updated, unchanged), the
rejections placed on their sheet, row and column with their French message, the counts kept in
`ImportLog`, and the rejected rows as a spreadsheet with an « Erreur » column to correct and
re-import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cper.formulas import restore
from cper.io import vocabulary as voc
from cper.io import writers
from cper.io.models import ImportLog, ImportState

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
_RANKING = {UNCHANGED: 0, UPDATED: 1, CREATED: 2}
MAX_REPORTED_REJECTIONS = 5000
PREVIEW_ROWS = 10
OUTCOME_LABELS = {CREATED: "créée", UPDATED: "modifiée", UNCHANGED: "inchangée"}


def column_matches(
    table: Any, vocabulary: Any, directory: voc.FinancerDirectory | None = None
) -> list[dict[str, Any]]:
    """How the located table's headers were understood: each header with the field it feeds
    (label and name), the financer of a wide layout's column, and the score of an approximate
    match (None when the header is a known one, or given by a mapping)."""
    out = []
    for c in table.columns:
        if not c.header:
            continue
        if c.field:
            label = vocabulary.label(c.field) if c.field in vocabulary.fields else c.field
            out.append({"header": c.header, "field": c.field, "label": label, "score": c.score})
        elif c.financer:
            rank = f", ligne {c.rank}" if c.rank > 1 else ""
            out.append(
                {
                    "header": c.header,
                    "field": "",
                    "label": f"ligne de financement : {_financer_name(c.financer, directory)}"
                    f"{rank}",
                    "score": None,
                }
            )
    return out


def _financer_name(text: str, directory: voc.FinancerDirectory | None) -> str:
    financer = directory.resolve(text) if directory is not None else None
    if financer is None:
        return f"« {text} »"
    if financer.dynamic:
        what = "département" if financer.dynamic == "departement" else "EPCI"
        return f"{what} de l'opération"
    return directory.label(financer) if directory is not None else text


def worst(*outcomes: str) -> str:
    """The outcome of a row from those of its parts: created over updated over unchanged."""
    return max(outcomes, key=lambda o: _RANKING[o])


@dataclass(frozen=True)
class Rejection:
    sheet: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.sheet}, ligne {self.row}" if self.row else self.sheet or "fichier"
        col = f", colonne « {self.column} »" if self.column else ""
        return f"{where}{col} : {self.message}"


@dataclass
class ImportReport:
    kind: str
    file_name: str
    sha256: str
    dry_run: bool
    partial: bool
    layout: str = ""
    sheet: str = ""
    header_row: int = 0
    encoding: str = ""
    delimiter: str = ""
    rows_total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    applied: bool = False
    state: str = ImportState.RUNNING
    log: ImportLog | None = None
    headers: list[str] = field(default_factory=list)
    rejected_rows: dict[int, list[Any]] = field(default_factory=dict)  # row number → cells
    # How each header was understood: [{header, field, label, score}] (score None: exact).
    matches: list[dict[str, Any]] = field(default_factory=list)
    # The first rows as they will be written: [{row, outcome, values: {label: text}}].
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        rows = {(r.sheet, r.row) for r in self.rejections if r.row}
        return len(rows) or (1 if self.rejections else 0)

    @property
    def ok(self) -> bool:
        return not self.rejections

    def tally(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def reject(self, row: int, column: str, message: str, cells: list[Any] | None = None) -> None:
        self.rejections.append(Rejection(self.sheet, row, column, message))
        if cells is not None and row:
            self.rejected_rows[row] = cells

    def summary(self) -> str:
        verb = "simulation" if self.dry_run else ImportState(self.state).label
        return (
            f"{verb} : {self.rows_total} ligne(s) — {self.created} créée(s), "
            f"{self.updated} modifiée(s), {self.unchanged} inchangée(s), "
            f"{self.rejected} rejetée(s)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file_name": self.file_name,
            "sha256": self.sha256,
            "layout": self.layout,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "dry_run": self.dry_run,
            "partial": self.partial,
            "applied": self.applied,
            "state": self.state,
            "rows_total": self.rows_total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejections": [
                {"sheet": r.sheet, "row": r.row, "column": r.column, "message": r.message}
                for r in self.rejections[:MAX_REPORTED_REJECTIONS]
            ],
            "warnings": self.warnings,
            "matches": self.matches,
            "mapping_toml": self.mapping_toml() if self.matches else "",
            "preview": sorted(self.preview, key=lambda p: p["row"]),
        }

    def add_preview(self, row: int, outcome: str, values: dict[str, str]) -> None:
        """Keep one of the first `PREVIEW_ROWS` rows as it will be written."""
        if len(self.preview) < PREVIEW_ROWS:
            self.preview.append(
                {"row": row, "outcome": OUTCOME_LABELS.get(outcome, outcome), "values": values}
            )

    def mapping_toml(self) -> str:
        """The headers' matches as a mapping file (`--mapping`): edit a line to correct one."""
        lines = ["[columns]"]
        for m in self.matches:
            if m.get("field"):
                header = m["header"].replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'"{header}" = "{m["field"]}"')
        return "\n".join(lines) + "\n"

    def rejected_sheet(self) -> writers.Sheet:
        """The rejected rows as they were, with an « Erreur » column: correct and re-import."""
        messages: dict[int, list[str]] = {}
        for r in self.rejections:
            if r.row in self.rejected_rows:
                col = f"{r.column} : " if r.column else ""
                messages.setdefault(r.row, []).append(f"{col}{r.message}")
        width = len(self.headers)
        rows = []
        for number in sorted(self.rejected_rows):
            # The file's own text (an exported apostrophe taken away): the writers neutralise it.
            cells = [restore(c) if isinstance(c, str) else c for c in self.rejected_rows[number]]
            cells = cells[:width]
            cells += [None] * (width - len(cells))
            rows.append([*cells, " | ".join(messages.get(number, []))])
        columns = [writers.Col(h or f"Colonne {i + 1}") for i, h in enumerate(self.headers)]
        return writers.Sheet(
            name=self.sheet or "Rejets",
            columns=[*columns, writers.Col(voc.ERROR_COLUMN)],
            rows=rows,
        )

    def rejected_file(self, fmt: str = "xlsx") -> bytes:
        return writers.render([self.rejected_sheet()], fmt)
