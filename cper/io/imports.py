"""Importing operations (with their co-financing plans) and movements from spreadsheets.

Every write goes through the domain services (`cper.operations.services`,
`cper.operations.lifecycle`, `cper.finance.services`) with the importing actor, so the same
rules, permissions and audit trail apply as on the pages. The import itself only reads the
file, matches rows to what exists, and reports.

- **Idempotent**: an operation is matched on the importing partner's reference
  (`ExternalReference`), or on its number within the contract when no partner is named; a
  financing line on its financer (and reference or rank); a movement on a key derived from its
  line, nature, reference and date. The same file twice changes nothing; a corrected file
  updates what changed.
- **Dry run** by default: everything is applied inside a transaction that is then rolled back,
  so the report (created / updated / unchanged / rejected, each rejection with its sheet, row,
  column and French message) is exactly what applying would do.
- **All or nothing** by default: one rejected row and nothing is written. With `partial=True`
  the valid rows are applied (each row group in its own savepoint) and the rejected ones are
  returned as a spreadsheet with an « Erreur » column, ready to correct and re-import.
- Every run is logged in `ImportLog` (who, when, file name, SHA-256, counts).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from cper.audit.models import Via
from cper.audit.services import Actor, audit_record
from cper.contracts.models import BudgetProgramme, Contract, Objective, Partner
from cper.io import vocabulary as voc
from cper.io import writers
from cper.io.models import ImportKind, ImportLog, ImportState
from cper.io.readers import (
    Column,
    Mapping_,
    ReadError,
    Table,
    cell,
    cell_text,
    is_blank,
    locate_table,
    normalize,
    parse_bool,
    parse_date,
    parse_money,
    parse_year,
    read_file,
)
from cper.money import MoneyError, format_eur

Progress = Callable[[int, int], None]
Source = str | Path | bytes | IO[bytes]

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
_RANKING = {UNCHANGED: 0, UPDATED: 1, CREATED: 2}
MAX_REPORTED_REJECTIONS = 5000


def _worst(*outcomes: str) -> str:
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


class RowError(Exception):
    """One or more problems with a row (or a group of rows): [(column header, message)]."""

    def __init__(self, problems: list[tuple[str, str]] | str, column: str = ""):
        if isinstance(problems, str):
            problems = [(column, problems)]
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


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
        }

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
            cells = list(self.rejected_rows[number])[:width]
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


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def import_operations(
    *,
    actor: Actor,
    contract: Contract,
    source: Source,
    partner: Partner | None = None,
    mapping: Any = None,
    dry_run: bool = True,
    partial: bool = False,
    progress: Progress | None = None,
    file_name: str | None = None,
    log: ImportLog | None = None,
) -> ImportReport:
    """Import operations and their co-financing plans (long or wide layout). See the module."""
    return _run(
        kind=ImportKind.OPERATIONS,
        planner=_OperationPlanner,
        vocabulary=voc.OPERATIONS,
        actor=actor,
        contract=contract,
        source=source,
        partner=partner,
        mapping=mapping,
        dry_run=dry_run,
        partial=partial,
        progress=progress,
        file_name=file_name,
        log=log,
    )


def import_movements(
    *,
    actor: Actor,
    contract: Contract,
    source: Source,
    partner: Partner | None = None,
    mapping: Any = None,
    dry_run: bool = True,
    partial: bool = False,
    progress: Progress | None = None,
    file_name: str | None = None,
    log: ImportLog | None = None,
) -> ImportReport:
    """Import commitments, decommitments, payments and payment cancellations: one row per
    movement (a « Nature » column) or per reference with « Montant engagé » / « Montant payé »
    columns. Payments beyond commitments and the like are refused by the finance service."""
    return _run(
        kind=ImportKind.MOVEMENTS,
        planner=_MovementPlanner,
        vocabulary=voc.MOVEMENTS,
        actor=actor,
        contract=contract,
        source=source,
        partner=partner,
        mapping=mapping,
        dry_run=dry_run,
        partial=partial,
        progress=progress,
        file_name=file_name,
        log=log,
    )


def run_logged(log: ImportLog, *, actor: Actor, progress: Progress | None = None) -> ImportReport:
    """Run (again) the import a log describes, from its stored file: used by the pages."""
    fn = import_operations if log.kind == ImportKind.OPERATIONS else import_movements
    return fn(
        actor=actor,
        contract=log.contract,
        source=Path(log.stored_path),
        partner=log.partner,
        mapping=(log.report or {}).get("options", {}).get("mapping"),
        dry_run=log.dry_run,
        partial=log.partial,
        progress=progress,
        file_name=log.file_name,
        log=log,
    )


def _load_source(source: Source, file_name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, file_name or "import.csv"
    if isinstance(source, str | Path):
        path = Path(source)
        return path.read_bytes(), file_name or path.name
    data = source.read()
    name = file_name or Path(getattr(source, "name", "") or "import.csv").name
    return data, name


def _run(
    *,
    kind: str,
    planner: type[_Planner],
    vocabulary: Any,
    actor: Actor,
    contract: Contract,
    source: Source,
    partner: Partner | None,
    mapping: Any,
    dry_run: bool,
    partial: bool,
    progress: Progress | None,
    file_name: str | None,
    log: ImportLog | None,
) -> ImportReport:
    from cper.accounts.permissions import require_actor

    require_actor(actor, "import.run", contract)
    data, name = _load_source(source, file_name)
    report = ImportReport(
        kind=kind,
        file_name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        dry_run=dry_run,
        partial=partial,
    )
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    values = {
        "contract": contract,
        "kind": kind,
        "partner": partner,
        "user": user,
        "via": actor.via,
        "file_name": name[:255],
        "sha256": report.sha256,
        "size": len(data),
        "dry_run": dry_run,
        "partial": partial,
        "state": ImportState.RUNNING,
        "finished_at": None,
    }
    if log is None:
        log = ImportLog.objects.create(**values)
    else:
        for key, value in values.items():
            setattr(log, key, value)
        log.save()
    report.log = log
    options = {"mapping": mapping if isinstance(mapping, str) and "\n" in mapping else None}
    try:
        mp = Mapping_.load(mapping)
        sheets = read_file(data, name)
        directory = voc.FinancerDirectory(list(contract.partners.all()))
        table = locate_table(
            sheets,
            vocabulary,
            mapping=mp,
            is_financer=directory.is_financer if kind == ImportKind.OPERATIONS else None,
            required=("reference", "code"),
        )
    except ReadError as exc:
        report.rejections.append(Rejection("", 0, "", str(exc)))
        return _finish(report, log, contract, actor, options, state=ImportState.REFUSED)
    report.sheet, report.header_row = table.sheet, table.header_row
    report.encoding, report.delimiter = table.encoding, table.delimiter
    report.headers = [c.header for c in table.columns]
    report.rows_total = len(table.rows)
    for header in table.unknown_headers():
        if normalize(header) != normalize(voc.ERROR_COLUMN):
            report.warnings.append(f"colonne « {header} » ignorée (en-tête inconnu)")
    worker = planner(
        actor=actor,
        contract=contract,
        partner=partner,
        table=table,
        report=report,
        directory=directory,
    )
    try:
        with transaction.atomic():
            with _summaries_deferred(kind, contract):
                worker.run(progress)
            if dry_run or (report.rejections and not partial):
                transaction.set_rollback(True)
            else:
                report.applied = True
    except Exception:
        _finish(report, log, contract, actor, options, state=ImportState.FAILED)
        raise
    if dry_run:
        state = ImportState.DRY_RUN
    elif not report.applied:
        state = ImportState.REFUSED
    elif report.rejections:
        state = ImportState.PARTIAL
    else:
        state = ImportState.APPLIED
    return _finish(report, log, contract, actor, options, state=state)


def _summaries_deferred(kind: str, contract: Contract) -> Any:
    """Keep the finance summaries in step once, at the end of the file, instead of after every
    save (`cper.finance.summaries.deferred`): the services' signals otherwise resynchronise an
    operation's lines on each of its saves and transitions. Not when the contract blocks
    over-programming — that check reads the summaries, which must then be current row by row —
    nor for movements, whose lines exist already and whose summaries move incrementally."""
    import contextlib

    if kind != ImportKind.OPERATIONS or contract.over_programming == "block":
        return contextlib.nullcontext()
    try:
        from cper.finance.summaries import deferred
    except ImportError:  # pragma: no cover - the finance app is part of the project
        return contextlib.nullcontext()
    return deferred()


def _finish(
    report: ImportReport,
    log: ImportLog,
    contract: Contract,
    actor: Actor,
    options: dict[str, Any],
    *,
    state: str,
) -> ImportReport:
    report.rejections.sort(key=lambda r: (r.row, r.column))
    report.state = state
    log.state = state
    log.finished_at = timezone.now()
    log.rows_total = report.rows_total
    log.rows_done = report.rows_total
    log.created, log.updated = report.created, report.updated
    log.unchanged, log.rejected = report.unchanged, report.rejected
    log.report = {**report.as_dict(), "options": options}
    log.save()
    if state in {ImportState.APPLIED, ImportState.PARTIAL}:
        audit_record(
            actor=actor,
            action="import appliqué",
            subject=log,
            changes={
                "fichier": {"avant": None, "après": report.file_name},
                "sha256": {"avant": None, "après": report.sha256},
                "lignes": {
                    "avant": None,
                    "après": {
                        "créées": report.created,
                        "modifiées": report.updated,
                        "inchangées": report.unchanged,
                        "rejetées": report.rejected,
                    },
                },
            },
            message=report.summary(),
            contract_id=contract.pk,
        )
    return report


# --------------------------------------------------------------------------------------------
# Shared machinery
# --------------------------------------------------------------------------------------------

# Service field names → the vocabulary field whose column a message belongs to.
FIELD_COLUMNS = {
    "title": "title",
    "description": "description",
    "owner": "owner_siret",
    "name": "owner_name",
    "siret": "owner_siret",
    "rna": "owner_rna",
    "legal_category": "owner_category",
    "communes": "communes",
    "objective": "objective",
    "start_date": "start_date",
    "end_date": "end_date",
    "cost_ht": "cost_ht",
    "cost_ttc": "cost_ttc",
    "cost_base": "cost_base",
    "code": "code",
    "external_references": "reference",
    "status": "status",
    "financer_label": "financer",
    "partner": "financer",
    "financer_kind": "financer_kind",
    "contractualised": "contractualised",
    "budget_nature": "budget_nature",
    "programme": "programme",
    "year": "year",
    "external_ref": "line_ref",
    "date": "date",
    "kind": "kind",
    "reference": "movement_ref",
}


class _Planner:
    def __init__(
        self,
        *,
        actor: Actor,
        contract: Contract,
        partner: Partner | None,
        table: Table,
        report: ImportReport,
        directory: voc.FinancerDirectory,
    ):
        self.actor = actor
        self.contract = contract
        self.partner = partner
        self.table = table
        self.report = report
        self.directory = directory
        self.cols = table.field_columns()
        self.objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
        self.known_communes: dict[int, list[str]] = {}
        self.known_lines: dict[int, list[Any]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def header(self, name: str, default: str = "") -> str:
        col = self.cols.get(name)
        return col.header if col else default

    def value(self, row: list[Any], name: str) -> Any:
        v = cell(row, self.cols.get(name))
        return None if is_blank(v) else v

    def text(self, row: list[Any], name: str) -> str:
        return cell_text(self.value(row, name))

    def convert(
        self,
        row: list[Any],
        name: str,
        parser: Callable[[Any], Any],
        problems: list[tuple[str, str]],
    ) -> Any:
        raw = self.value(row, name)
        if raw is None:
            return None
        try:
            return parser(raw)
        except (ValueError, MoneyError) as exc:
            problems.append((self.header(name), str(exc)))
            return None

    def service_error(self, exc: Exception, default_column: str = "") -> RowError:
        """A service's ValidationError/PermissionDenied as problems placed on columns."""
        if isinstance(exc, RowError):
            return exc
        if isinstance(exc, ValidationError):
            problems: list[tuple[str, str]] = []
            if hasattr(exc, "error_dict"):
                for key, errors in exc.message_dict.items():
                    name = FIELD_COLUMNS.get(key)
                    column = self.header(name) if name else ""
                    for msg in errors:
                        problems.append((column or default_column, msg))
            else:
                problems = [(default_column, m) for m in exc.messages]
            return RowError(problems)
        if isinstance(exc, PermissionDenied):
            return RowError([(default_column, str(exc) or "action non autorisée")])
        if isinstance(exc, MoneyError):
            return RowError([(default_column, str(exc))])
        return RowError([(default_column, f"erreur à l'enregistrement : {exc}")])

    def guarded(self, rows: list[tuple[int, list[Any]]], fn: Callable[[], list[str]]) -> None:
        """Apply one group of rows in its own savepoint; a problem rejects the whole group."""
        sid = transaction.savepoint()
        self.undo: list[tuple[dict[Any, Any], Any]] = []
        try:
            outcomes = fn()
        except (RowError, ValidationError, PermissionDenied, MoneyError, DatabaseError) as exc:
            transaction.savepoint_rollback(sid)
            # What the group created is gone: so must be its entries in the planner's caches.
            for cache, key in self.undo:
                cache.pop(key, None)
            self.reject_group(rows, self.service_error(exc).problems)
            return
        transaction.savepoint_commit(sid)
        for outcome in outcomes:
            self.report.tally(outcome)

    def reject_group(
        self, rows: list[tuple[int, list[Any]]], problems: list[tuple[str, str]]
    ) -> None:
        """Reject a group's first row with the problems, its other rows along with it."""
        number, cells = rows[0]
        for column, message in problems:
            self.report.reject(number, column, message, cells)
        for number, cells in rows[1:]:
            self.report.reject(
                number, "", f"rejetée avec la ligne {rows[0][0]} (même opération)", cells
            )

    def remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        """Cache what a group created, forgotten again if the group is rolled back."""
        cache[key] = value
        getattr(self, "undo", []).append((cache, key))

    def tick(self, progress: Progress | None, done: int, total: int) -> None:
        """Report progress each time another 0.5 % of the rows is done (rows come by chunks,
        so `done` jumps: the step crossed is what counts, not an exact multiple)."""
        if progress is None:
            return
        step = done // max(1, total // 200)
        if done == total or step != getattr(self, "_step", None):
            self._step = step
            progress(done, total)

    def run(self, progress: Progress | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared parsers ------------------------------------------------------------------------

    def objective_of(self, raw: Any, column: str) -> Objective:
        text = cell_text(raw)
        m = re.match(r"^\s*(?:objectif\s*)?(\d+(?:\.\d+)*)", text, re.IGNORECASE)
        code = m.group(1) if m else text
        objective = self.objectives.get(code)
        if objective is None:
            known = ", ".join(sorted(self.objectives)[:30])
            raise RowError(f"objectif inconnu « {text} » (objectifs du contrat : {known})", column)
        return objective

    def financer_of(self, row: list[Any]) -> voc.Financer | None:
        kind_text = self.text(row, "financer_kind")
        kind = None
        if kind_text:
            kind = voc.FINANCER_KIND_WORDS.get(normalize(kind_text))
            if kind is None:
                raise RowError(
                    f"type de financeur inconnu « {kind_text} » (partenaire du contrat, fonds "
                    "européen, autre financement public, autofinancement, financement privé)",
                    self.header("financer_kind"),
                )
        text = self.text(row, "financer")
        if not text:
            if kind == "owner":
                return voc.Financer(kind="owner")
            if self.partner is not None:
                return voc.Financer(kind="partner", partner_id=self.partner.pk)
            return None
        financer = self.directory.resolve(text, kind)
        if financer is None:
            names = ", ".join(p.short_name or p.name for p in self.directory.partners.values())
            raise RowError(
                f"financeur inconnu « {text} » (partenaires : {names} ; ou FEDER, FSE+, "
                "Autofinancement, « Autre financement public : NOM »…)",
                self.header("financer"),
            )
        return financer

    def find_operation(self, key: str) -> Any:
        from cper.operations.models import ExternalReference, Operation

        known = getattr(self, "known", None)
        if known is not None and key in known:
            return known[key]
        if self.partner is not None:
            ref = (
                ExternalReference.objects.filter(partner=self.partner, reference=key)
                .select_related("operation")
                .first()
            )
            if ref is not None and ref.operation.contract_id == self.contract.pk:
                return ref.operation
        return Operation.objects.filter(contract=self.contract, code=key).first()

    def row_key(self, row: list[Any]) -> str:
        if self.partner is not None and "reference" in self.cols:
            return self.text(row, "reference")
        return self.text(row, "code") or self.text(row, "reference")

    def key_header(self) -> str:
        if self.partner is not None and "reference" in self.cols:
            return self.header("reference")
        return self.header("code") or self.header("reference")


def _lines_by_financer(
    operation: Any, lines: list[Any] | None = None
) -> dict[tuple[str, int | None, str], list[Any]]:
    """The operation's active lines by financer, in order (`lines`: already read)."""
    from cper.operations.models import LineStatus

    if lines is None:
        lines = list(operation.financing_lines.filter(status=LineStatus.ACTIVE).order_by("id"))
    out: dict[tuple[str, int | None, str], list[Any]] = {}
    for line in lines:
        key = voc.Financer(line.financer_kind, line.partner_id, line.financer_label).key
        out.setdefault(key, []).append(line)
    return out


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


@dataclass
class _LineSpec:
    row: int
    cells: list[Any]
    column: str  # the column the amount came from (wide) or the amount column (long)
    financer: voc.Financer
    amount: Decimal
    rank: int | None = None
    objective: Objective | None = None
    contractualised: bool | None = None
    budget_nature: str | None = None
    programme: BudgetProgramme | None = None
    year: int | None = None
    line_ref: str | None = None


@dataclass
class _OperationSpec:
    key: str
    rows: list[tuple[int, list[Any]]]
    values: dict[str, Any]
    owner: dict[str, Any]
    communes: list[str] | None
    status: str | None
    committee_date: dt.date | None
    lines: list[_LineSpec]


BUDGET_NATURES = {"ae cp": "ae_cp", "ap cp": "ap_cp", "autre": "other", "other": "other"}
LEGAL_GUESSES = (
    ("commune", "commune"),
    ("ville", "commune"),
    ("mairie", "commune"),
    ("communaute", "epci"),
    ("metropole", "epci"),
    ("agglomeration", "epci"),
    ("syndicat", "etablissement_public"),
    ("departement", "departement"),
    ("region", "region"),
    ("universite", "universite"),
    ("association", "association"),
    ("etat", "etat"),
    ("prefecture", "etat"),
    ("sa ", "entreprise"),
    ("sas", "entreprise"),
    ("sarl", "entreprise"),
)


def guess_legal_category(name: str) -> str:
    n = f"{normalize(name)} "
    for word, category in LEGAL_GUESSES:
        if n.startswith(word) or f" {word}" in n:
            return category
    return "autre"


class _OperationPlanner(_Planner):
    # New operations go through `operations.bulk` in chunks of this many operations; the class
    # attribute `batch` turns that off (tests compare both paths).
    batch = True
    chunk_size = 500

    def run(self, progress: Progress | None) -> None:
        from cper.operations.models import LegalCategory, OperationStatus, ProjectOwner
        from cper.territories.models import Commune

        table, report = self.table, self.report
        fin_cols = table.financer_columns()
        if "financer" in self.cols or ("amount" in self.cols and not fin_cols):
            report.layout = "long"
        elif fin_cols:
            report.layout = "wide"
        else:
            report.layout = "operations"
        if not self.key_header():
            what = "« Référence du partenaire »" if self.partner else "« N° d'opération »"
            report.reject(
                table.header_row, "", f"colonne obligatoire absente : {what} (identifiant de ligne)"
            )
            return
        self.statuses = {normalize(label): value for value, label in OperationStatus.choices}
        self.statuses.update({normalize(v): v for v in OperationStatus.values})
        self.statuses.update(voc.STATUS_WORDS)
        self.categories = {normalize(label): v for v, label in LegalCategory.choices}
        self.categories.update({normalize(v): v for v in LegalCategory.values})
        self.programmes = {p.code.upper(): p for p in BudgetProgramme.objects.all()}

        # Group the rows by operation; a wide layout has one row per operation.
        groups: OrderedDict[str, list[tuple[int, list[Any]]]] = OrderedDict()
        first_seen: dict[str, int] = {}
        for number, row in table.rows:
            key = self.row_key(row)
            if not key:
                report.reject(number, self.key_header(), "identifiant de l'opération absent", row)
                continue
            if report.layout != "long" and key in groups:
                report.reject(
                    number,
                    self.key_header(),
                    f"référence « {key} » en double : déjà ligne {first_seen[key]}",
                    row,
                )
                continue
            groups.setdefault(key, []).append((number, row))
            first_seen.setdefault(key, number)

        # Prefetch what the rows name: communes, owners.
        codes: set[str] = set()
        sirets: set[str] = set()
        rnas: set[str] = set()
        for rows in groups.values():
            for _, row in rows:
                codes.update(_commune_codes(self.text(row, "communes")))
                sirets.add(_ident(self.text(row, "owner_siret")))
                rnas.add(_ident(self.text(row, "owner_rna")))
        self.communes = {
            c.code: c
            for c in Commune.objects.filter(code__in=codes).select_related("departement", "epci")
        }
        # By slices: a large register names tens of thousands of owners, more than a query's
        # variables allow on SQLite.
        self.owners_siret = {
            o.siret: o
            for part in _slices(sirets - {""})
            for o in ProjectOwner.objects.filter(siret__in=part)
        }
        self.owners_rna = {
            o.rna: o
            for part in _slices(rnas - {""})
            for o in ProjectOwner.objects.filter(rna__in=part)
        }
        self.committees: dict[dt.date, Any] = {}

        total, done = len(table.rows), 0
        items = list(groups.items())
        for start in range(0, len(items), self.chunk_size):
            specs: list[_OperationSpec] = []
            for key, rows in items[start : start + self.chunk_size]:
                try:
                    specs.append(self.parse_group(key, rows))
                except RowError as err:
                    self.reject_group(rows, err.problems)
                    done += len(rows)
            self.prefetch_operations([spec.key for spec in specs])
            for spec in self.apply_batch(specs):
                self.guarded(spec.rows, lambda spec=spec: self.apply(spec))  # type: ignore[misc]
            done += sum(len(spec.rows) for spec in specs)
            self.tick(progress, done, total)

    # -- the batch path ------------------------------------------------------------------------

    def prefetch_operations(self, keys: list[str]) -> None:
        """What `find_operation` will answer for these keys, read in one or two queries."""
        from cper.operations.models import (
            ExternalReference,
            FinancingLine,
            LineStatus,
            Operation,
            OperationCommune,
        )

        self.known: dict[str, Any] = {}
        rest = set(keys)
        if self.partner is not None:
            for ref in ExternalReference.objects.filter(
                partner=self.partner, reference__in=rest
            ).select_related("operation"):
                if ref.operation.contract_id == self.contract.pk:
                    self.known[ref.reference] = ref.operation
            rest -= set(self.known)
        found = {o.code: o for o in Operation.objects.filter(contract=self.contract, code__in=rest)}
        for key in rest:
            self.known[key] = found.get(key)
        # What comparing them with the file reads: their communes and active lines.
        ids = [o.pk for o in self.known.values() if o is not None]
        self.known_communes: dict[int, list[str]] = {i: [] for i in ids}
        self.known_lines: dict[int, list[Any]] = {i: [] for i in ids}
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            for op_id, code in (
                OperationCommune.objects.filter(operation_id__in=chunk)
                .order_by("operation_id", "position")
                .values_list("operation_id", "commune_id")
            ):
                self.known_communes[op_id].append(code)
            for line in FinancingLine.objects.filter(
                operation_id__in=chunk, status=LineStatus.ACTIVE
            ).order_by("id"):
                self.known_lines[line.operation_id].append(line)

    def apply_batch(self, specs: list[_OperationSpec]) -> list[_OperationSpec]:
        """Create the chunk's new operations in one pass (`operations.bulk`); return the specs
        left for the one-by-one path: existing operations, and whatever the batch declines or
        this method does not translate (their messages come from the services)."""
        from cper.operations import bulk

        if not self.batch or not specs:
            return specs
        self.pending_owners: dict[tuple[str, str], bulk.OwnerDraft] = {}
        self.pending_committees: dict[dt.date, bulk.CommitteeDraft] = {}
        left: list[_OperationSpec] = []
        taken: list[tuple[_OperationSpec, bulk.OperationDraft]] = []
        for spec in specs:
            draft = self.draft_of(spec)
            if draft is None:
                left.append(spec)
            else:
                taken.append((spec, draft))
        if not taken:
            return left
        sid = transaction.savepoint()
        try:
            created = bulk.operations_create_many(
                actor=self.actor, contract=self.contract, drafts=[d for _, d in taken]
            )
        except DatabaseError:
            transaction.savepoint_rollback(sid)
            return specs  # one by one, each in its savepoint, to find the culprit
        transaction.savepoint_commit(sid)
        for date, committee in self.pending_committees.items():
            if committee.created is not None:
                self.committees[date] = committee.created
        for (spec, _draft), op in zip(taken, created, strict=True):
            if op is None:
                left.append(spec)
                continue
            self.known[spec.key] = op
            if op.owner.siret:
                self.owners_siret.setdefault(op.owner.siret, op.owner)
            if op.owner.rna:
                self.owners_rna.setdefault(op.owner.rna, op.owner)
            line_rows = {ls.row for ls in spec.lines}
            if self.report.layout == "long":
                for i, (number, _) in enumerate(spec.rows):
                    self.report.tally(CREATED if i == 0 or number in line_rows else UNCHANGED)
            else:
                self.report.tally(CREATED)
        return left

    def draft_of(self, spec: _OperationSpec) -> Any:
        """The batch draft of a new operation, or None to leave it to the one-by-one path."""
        from cper.operations import bulk
        from cper.operations.models import OperationStatus

        if self.known.get(spec.key) is not None:
            return None
        title, objective = spec.values.get("title"), spec.values.get("objective")
        if not title or objective is None:
            return None
        owner = self.owner_draft(spec.owner)
        if owner is None:
            return None
        communes = spec.communes or []
        first = self.communes.get(communes[0]) if communes else None
        lines = []
        for ls in spec.lines:
            financer = self.directory.for_territory(
                ls.financer,
                departement_code=first.departement_id if first else None,
                epci_siren=first.epci_id if first else None,
            )
            if financer is None:
                return None
            lines.append(bulk.LineDraft(**self.line_values(ls, financer)))
        status = spec.status or OperationStatus.DRAFT
        from cper.operations import lifecycle

        path = lifecycle.status_path(OperationStatus.DRAFT, status)
        if path is None:
            return None
        committee = None
        if any(edge.needs_decision for edge in path):
            if spec.committee_date is None:
                return None
            committee = self.committee_draft(spec.committee_date)
        values = {k: v for k, v in spec.values.items() if k != "code"}
        return bulk.OperationDraft(
            owner=owner,
            code=(spec.values.get("code") or None) if self.partner is not None else spec.key,
            communes=communes,
            external_references={self.partner: spec.key} if self.partner is not None else {},
            lines=lines,
            status=status,
            committee=committee,
            reason=f"statut repris du fichier importé « {self.report.file_name} »",
            **values,
        )

    def line_values(self, ls: _LineSpec, financer: voc.Financer) -> dict[str, Any]:
        """A file's line as `financing_line_add` (and the batch's `LineDraft`) take it."""
        return {
            "financer_kind": financer.kind,
            "amount": ls.amount,
            "partner": self.directory.partners.get(financer.partner_id)
            if financer.partner_id
            else None,
            "financer_label": financer.label,
            "objective": ls.objective,
            "contractualised": ls.contractualised,
            "budget_nature": ls.budget_nature,
            "programme": ls.programme,
            "year": ls.year,
            "external_ref": ls.line_ref or "",
        }

    def committee_draft(self, date: dt.date) -> Any:
        """The programming committee of that date: the existing one, or a draft the batch
        creates only if one of its operations is written (so a committee whose operations are
        all rejected is not left behind, as on the one-by-one path)."""
        from cper.operations import bulk
        from cper.operations.models import Committee, CommitteeKind

        if date in self.committees:
            return self.committees[date]
        if date not in self.pending_committees:
            found = Committee.objects.filter(
                contract=self.contract, kind=CommitteeKind.PROGRAMMING, date=date
            ).first()
            if found is not None:
                self.committees[date] = found
                return found
            self.pending_committees[date] = bulk.CommitteeDraft(
                kind=CommitteeKind.PROGRAMMING, date=date
            )
        return self.pending_committees[date]

    def owner_draft(self, info: dict[str, Any]) -> Any:
        """The owner as `resolve_owner` would find or create it; None when it would change an
        existing owner (or cannot tell), which the one-by-one path does with its messages."""
        from cper.operations import bulk

        siret, rna = info.get("siret"), info.get("rna")
        if not siret and not rna:
            return None
        owner: Any = (self.owners_siret.get(siret) if siret else None) or (
            self.owners_rna.get(rna) if rna else None
        )
        if owner is None:
            owner = (self.pending_owners.get(("siret", siret)) if siret else None) or (
                self.pending_owners.get(("rna", rna)) if rna else None
            )
        if owner is not None:
            if info.get("name") and info["name"] != owner.name:
                return None
            category = info.get("legal_category")
            if category and category != owner.legal_category:
                return None
            if any(info.get(key) and not getattr(owner, key) for key in ("siret", "rna")):
                return None
            return owner
        name = info.get("name") or ""
        if not name:
            return None
        owner = bulk.OwnerDraft(
            name=name,
            legal_category=info.get("legal_category")
            or ("association" if rna and not siret else None)
            or guess_legal_category(name),
            siret=siret,
            rna=rna,
        )
        if siret:
            self.pending_owners[("siret", siret)] = owner
        if rna:
            self.pending_owners[("rna", rna)] = owner
        return owner

    # -- parsing -------------------------------------------------------------------------------

    def parse_group(self, key: str, rows: list[tuple[int, list[Any]]]) -> _OperationSpec:
        problems: list[tuple[str, str]] = []
        first = rows[0][1]
        # Operation-level values: the first non-blank cell of the group; a different value on
        # another row of the same operation is an error.
        merged: dict[str, Any] = {}
        for name in (
            "code",
            "title",
            "description",
            "owner_name",
            "owner_siret",
            "owner_rna",
            "owner_category",
            "communes",
            "objective",
            "status",
            "start_date",
            "end_date",
            "cost_ht",
            "cost_ttc",
            "cost_base",
            "committee_date",
        ):
            seen: tuple[int, str] | None = None
            for number, row in rows:
                text = self.text(row, name)
                if not text:
                    continue
                if seen is None:
                    seen = (number, text)
                    merged[name] = self.value(row, name)
                elif text != seen[1] and normalize(text) != normalize(seen[1]):
                    problems.append(
                        (
                            self.header(name),
                            f"ligne {number} : « {text} » diffère de « {seen[1]} » "
                            f"(ligne {seen[0]}) pour la même opération",
                        )
                    )
        values: dict[str, Any] = {}
        row_like = _Merged(merged, self.cols)
        for name in ("title", "description"):
            if name in merged:
                values[name] = cell_text(merged[name])
        if "objective" in merged:
            try:
                values["objective"] = self.objective_of(
                    merged["objective"], self.header("objective")
                )
            except RowError as err:
                problems += err.problems
        for name in ("start_date", "end_date"):
            v = self.convert(row_like, name, parse_date, problems)
            if v is not None:
                values[name] = v
        for name in ("cost_ht", "cost_ttc"):
            v = self.convert(row_like, name, parse_money, problems)
            if v is not None:
                if v < 0:
                    problems.append((self.header(name), f"coût négatif ({format_eur(v)})"))
                values[name] = v
        if "cost_base" in merged:
            base = normalize(cell_text(merged["cost_base"]))
            if base not in {"ht", "ttc"}:
                problems.append((self.header("cost_base"), f"assiette « {base} » : HT ou TTC"))
            else:
                values["cost_base"] = base
        if "code" in merged and self.partner is not None:
            values["code"] = cell_text(merged["code"])
        status = None
        if "status" in merged:
            status = self.statuses.get(normalize(cell_text(merged["status"])))
            if status is None:
                problems.append(
                    (self.header("status"), f"statut inconnu « {cell_text(merged['status'])} »")
                )
        committee_date = self.convert(row_like, "committee_date", parse_date, problems)

        # Owner
        owner: dict[str, Any] = {}
        siret = _ident(cell_text(merged.get("owner_siret")))
        rna = _ident(cell_text(merged.get("owner_rna")))
        if siret:
            from cper.operations.rules import siret_errors

            errs = siret_errors(siret)
            if errs:
                problems += [(self.header("owner_siret"), e.message) for e in errs]
            owner["siret"] = siret
        if rna:
            from cper.operations.rules import rna_errors

            problems += [(self.header("owner_rna"), e.message) for e in rna_errors(rna)]
            owner["rna"] = rna
        if "owner_name" in merged:
            owner["name"] = cell_text(merged["owner_name"])
        if "owner_category" in merged:
            text = cell_text(merged["owner_category"])
            category = self.categories.get(normalize(text))
            if category is None:
                problems.append((self.header("owner_category"), f"catégorie inconnue « {text} »"))
            owner["legal_category"] = category

        # Communes
        communes = None
        if "communes" in merged:
            communes = _commune_codes(cell_text(merged["communes"]))
            from cper.operations.rules import commune_errors

            found = {
                c: self.communes[c].departement.region_id for c in communes if c in self.communes
            }
            problems += [
                (self.header("communes"), f.message)
                for f in commune_errors(
                    requested=communes, found=found, region_code=self.contract.region_id
                )
            ]

        # Lines
        lines: list[_LineSpec] = []
        if self.report.layout == "long":
            for number, row in rows:
                try:
                    spec = self.parse_long_line(number, row)
                except RowError as err:
                    problems += [
                        (c, f"ligne {number} : {m}" if number != rows[0][0] else m)
                        for c, m in err.problems
                    ]
                    continue
                if spec is not None:
                    lines.append(spec)
        elif self.report.layout == "wide":
            for col in self.table.financer_columns():
                raw = cell(first, col)
                if is_blank(raw):
                    continue
                try:
                    amount = parse_money(raw)
                except MoneyError as exc:
                    problems.append((col.header, str(exc)))
                    continue
                if amount < 0:
                    problems.append((col.header, f"montant négatif ({format_eur(amount)})"))
                    continue
                financer = self.directory.resolve(col.financer or "")
                assert financer is not None
                lines.append(
                    _LineSpec(rows[0][0], first, col.header, financer, amount, rank=col.rank)
                )
        # Duplicated lines within the operation (long layout).
        seen_lines: dict[tuple[Any, ...], int] = {}
        for spec in lines:
            ident = (
                (spec.financer, spec.rank, spec.line_ref) if (spec.rank or spec.line_ref) else None
            )
            if ident is None:
                continue
            if ident in seen_lines:
                problems.append(
                    (
                        spec.column,
                        f"ligne {spec.row} : même financeur et même rang/référence que la ligne "
                        f"{seen_lines[ident]} (ligne de financement en double)",
                    )
                )
            seen_lines.setdefault(ident, spec.row)
        if problems:
            raise RowError(problems)
        return _OperationSpec(key, rows, values, owner, communes, status, committee_date, lines)

    def parse_long_line(self, number: int, row: list[Any]) -> _LineSpec | None:
        problems: list[tuple[str, str]] = []
        amount = self.convert(row, "amount", parse_money, problems)
        financer = None
        try:
            financer = self.financer_of(row)
        except RowError as err:
            problems += err.problems
        if amount is None and not problems:
            if financer is None:
                return None  # an operation row without a line
            problems.append((self.header("amount"), "montant absent"))
        if amount is not None and amount < 0:
            problems.append((self.header("amount"), f"montant négatif ({format_eur(amount)})"))
        if financer is None and not problems:
            problems.append((self.header("financer", "Financeur"), "financeur absent"))
        spec_values: dict[str, Any] = {}
        rank = self.convert(row, "line_rank", lambda v: int(cell_text(v)), problems)
        if self.value(row, "line_objective") is not None:
            try:
                spec_values["objective"] = self.objective_of(
                    self.value(row, "line_objective"), self.header("line_objective")
                )
            except RowError as err:
                problems += err.problems
        spec_values["contractualised"] = self.convert(row, "contractualised", parse_bool, problems)
        nature = self.text(row, "budget_nature")
        if nature:
            spec_values["budget_nature"] = BUDGET_NATURES.get(normalize(nature))
            if spec_values["budget_nature"] is None:
                problems.append(
                    (self.header("budget_nature"), f"nature « {nature} » : AE/CP, AP/CP ou autre")
                )
        prog = self.text(row, "programme")
        if prog:
            spec_values["programme"] = self._programme(prog)
            if spec_values["programme"] is None:
                problems.append((self.header("programme"), f"programme LOLF inconnu « {prog} »"))
        spec_values["year"] = self.convert(row, "year", parse_year, problems)
        line_ref = self.text(row, "line_ref") or None
        if problems:
            raise RowError(problems)
        assert financer is not None and amount is not None
        return _LineSpec(
            number,
            row,
            self.header("amount"),
            financer,
            amount,
            rank=rank,
            line_ref=line_ref,
            **spec_values,
        )

    def _programme(self, text: str) -> BudgetProgramme | None:
        t = text.strip().upper().split(" ")[0]
        digits = re.sub(r"\D", "", t)
        for candidate in (t, f"P{digits}", digits, digits.lstrip("0")):
            if candidate and candidate in self.programmes:
                return self.programmes[candidate]
        return None

    # -- applying ------------------------------------------------------------------------------

    def apply(self, spec: _OperationSpec) -> list[str]:
        from cper.operations import services as ops

        op = self.find_operation(spec.key)
        op_outcome = UNCHANGED
        owner, owner_outcome = self.resolve_owner(spec, op)
        if op is None:
            op = self.create_operation(spec, owner)
            op_outcome = CREATED
        else:
            changes = self.operation_changes(spec, op, owner)
            if changes:
                ops.operation_update(actor=self.actor, operation=op, **changes)
                op_outcome = UPDATED
            if (
                self.partner is not None
                and not op.external_references.filter(partner=self.partner).exists()
            ):
                ops.external_reference_set(
                    actor=self.actor, operation=op, partner=self.partner, reference=spec.key
                )
                op_outcome = UPDATED
        op_outcome = _worst(op_outcome, owner_outcome)

        line_outcomes = self.apply_lines(spec, op)
        status_outcome = self.reach_status(spec, op)
        first = _worst(op_outcome, status_outcome)

        # One outcome per row: a long layout's rows are its lines.
        if self.report.layout == "long":
            outcomes = []
            by_row: dict[int, str] = {}
            for line_spec, outcome in line_outcomes:
                by_row[line_spec.row] = _worst(by_row.get(line_spec.row, UNCHANGED), outcome)
            for i, (number, _) in enumerate(spec.rows):
                o = by_row.get(number, UNCHANGED)
                outcomes.append(_worst(o, first) if i == 0 else o)
            return outcomes
        return [_worst(first, *(o for _, o in line_outcomes))]

    def resolve_owner(self, spec: _OperationSpec, op: Any) -> tuple[Any, str]:
        from cper.operations import services as ops

        info = spec.owner
        owner = None
        if info.get("siret"):
            owner = self.owners_siret.get(info["siret"])
        if owner is None and info.get("rna"):
            owner = self.owners_rna.get(info["rna"])
        if owner is None and not info.get("siret") and not info.get("rna"):
            if op is not None:
                return op.owner, UNCHANGED
            raise RowError(
                "le SIRET (ou le numéro RNA d'une association) du maître d'ouvrage est "
                "obligatoire pour créer une opération",
                self.header("owner_siret", "N° SIRET"),
            )
        if owner is None:
            name = info.get("name") or ""
            if not name:
                raise RowError(
                    "nom du maître d'ouvrage absent (nouveau maître d'ouvrage)",
                    self.header("owner_name", "Maître d'ouvrage"),
                )
            category = (
                info.get("legal_category")
                or ("association" if info.get("rna") and not info.get("siret") else None)
                or guess_legal_category(name)
            )
            owner = ops.owner_create(
                actor=self.actor,
                name=name,
                legal_category=category,
                siret=info.get("siret"),
                rna=info.get("rna"),
            )
            if owner.siret:
                self.remember(self.owners_siret, owner.siret, owner)
            if owner.rna:
                self.remember(self.owners_rna, owner.rna, owner)
            return owner, CREATED
        changes = {}
        if info.get("name") and info["name"] != owner.name:
            changes["name"] = info["name"]
        if info.get("legal_category") and info["legal_category"] != owner.legal_category:
            changes["legal_category"] = info["legal_category"]
        for key in ("siret", "rna"):
            if info.get(key) and not getattr(owner, key):
                changes[key] = info[key]
        if changes:
            ops.owner_update(actor=self.actor, owner=owner, **changes)
            return owner, UPDATED
        return owner, UNCHANGED

    def create_operation(self, spec: _OperationSpec, owner: Any) -> Any:
        from cper.operations import services as ops

        problems = []
        if not spec.values.get("title"):
            problems.append((self.header("title", "Intitulé de l'opération"), "intitulé absent"))
        if spec.values.get("objective") is None:
            problems.append((self.header("objective", "Objectif"), "objectif absent"))
        if problems:
            raise RowError(problems)
        kwargs = {k: v for k, v in spec.values.items() if k != "code"}
        code = spec.values.get("code") if self.partner is not None else spec.key
        refs = {self.partner: spec.key} if self.partner is not None else {}
        return ops.operation_create(
            actor=self.actor,
            contract=self.contract,
            owner=owner,
            code=code or None,
            communes=spec.communes or (),
            external_references=refs,
            **kwargs,
        )

    def operation_changes(self, spec: _OperationSpec, op: Any, owner: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for key, value in spec.values.items():
            if key == "code":
                continue
            if key == "objective":  # compared on ids: no query for the operation's objective
                if value.pk != op.objective_id:
                    changes[key] = value
                continue
            current = getattr(op, key)
            if (current or None) != (value or None) and not (key == "description" and not value):
                changes[key] = value
        if owner is not None and owner.pk != op.owner_id:
            changes["owner"] = owner
        if spec.communes is not None:
            current_codes = self.known_communes.get(op.pk)
            if current_codes is None:
                current_codes = list(
                    op.communes.order_by("operationcommune__position").values_list(
                        "code", flat=True
                    )
                )
            if current_codes != spec.communes:
                changes["communes"] = spec.communes
        return changes

    def apply_lines(self, spec: _OperationSpec, op: Any) -> list[tuple[_LineSpec, str]]:
        from cper.operations import services as ops

        if not spec.lines:
            return []
        existing = _lines_by_financer(op, self.known_lines.get(op.pk))
        used: set[int] = set()
        counters: dict[Any, int] = {}
        out: list[tuple[_LineSpec, str]] = []
        departement = op.departement_id
        epci = op.epci_id
        for ls in spec.lines:
            financer = self.directory.for_territory(
                ls.financer, departement_code=departement, epci_siren=epci
            )
            if financer is None:
                what = "département" if ls.financer.dynamic == "departement" else "EPCI"
                raise RowError(
                    f"« {ls.column} » : aucun {what} partenaire du contrat pour la commune de "
                    "l'opération (nommez le financeur, ex. « Part Nord »)",
                    ls.column,
                )
            candidates = existing.get(financer.key, [])
            line = None
            if ls.line_ref:
                line = next(
                    (c for c in candidates if c.external_ref == ls.line_ref and c.pk not in used),
                    None,
                )
            if line is None:
                rank = ls.rank or counters.get(financer.key, 0) + 1
                counters[financer.key] = rank
                free = [
                    c
                    for c in candidates
                    if c.pk not in used
                    and not (ls.line_ref and c.external_ref and c.external_ref != ls.line_ref)
                ]
                if ls.rank:
                    line = candidates[rank - 1] if rank <= len(candidates) else None
                    if line is not None and line.pk in used:
                        line = None
                else:
                    line = free[0] if free else None
            try:
                if line is None:
                    ops.financing_line_add(
                        actor=self.actor, operation=op, **self.line_values(ls, financer)
                    )
                    out.append((ls, CREATED))
                    continue
                used.add(line.pk)
                changes: dict[str, Any] = {}
                if line.amount != ls.amount:
                    changes["amount"] = ls.amount
                for key in ("objective", "programme"):
                    value = getattr(ls, key)
                    if value is not None and getattr(line, f"{key}_id") != value.pk:
                        changes[key] = value
                for key in ("contractualised", "budget_nature", "year"):
                    value = getattr(ls, key)
                    if value is not None and getattr(line, key) != value:
                        changes[key] = value
                if ls.line_ref is not None and line.external_ref != ls.line_ref:
                    changes["external_ref"] = ls.line_ref
                if changes:
                    ops.financing_line_update(actor=self.actor, line=line, **changes)
                    out.append((ls, UPDATED))
                else:
                    out.append((ls, UNCHANGED))
            except (ValidationError, PermissionDenied) as exc:
                err = self.service_error(exc, ls.column)
                prefix = f"ligne {ls.row} : " if ls.row != spec.rows[0][0] else ""
                raise RowError(
                    [(c if c else ls.column, f"{prefix}{m}") for c, m in err.problems]
                ) from exc
        return out

    def reach_status(self, spec: _OperationSpec, op: Any) -> str:
        """Walk the lifecycle from the operation's status to the file's, through its edges."""
        from cper.operations import lifecycle
        from cper.operations import services as ops
        from cper.operations.models import CommitteeKind, DecisionOutcome, OperationStatus

        target = spec.status
        if not target or target == op.status:
            return UNCHANGED
        path = lifecycle.status_path(op.status, target)
        column = self.header("status", "Statut")
        if path is None:
            raise RowError(
                f"transition refusée : une opération « {lifecycle.label(op.status)} » ne peut "
                f"pas passer à « {lifecycle.label(target)} »",
                column,
            )
        reason = f"statut repris du fichier importé « {self.report.file_name} »"
        for edge in path:
            if op.status == edge.target:
                continue  # a decision already moved it there
            if edge.target == OperationStatus.PROGRAMMED:
                if spec.committee_date is None:
                    raise RowError(
                        f"une opération « {lifecycle.label(target)} » a été programmée par un "
                        "comité : indiquez la date du comité de programmation (colonne « Date "
                        "du comité de programmation »)",
                        column,
                    )
                ops.decision_record(
                    actor=self.actor,
                    committee=self._committee(spec.committee_date, ops, CommitteeKind),
                    operation=op,
                    outcome=DecisionOutcome.APPROVED,
                )
            else:
                lifecycle.operation_transition(
                    actor=self.actor,
                    operation=op,
                    to_status=edge.target,
                    reason=reason if (edge.needs_reason or edge.decision_or_reason) else "",
                )
            op.refresh_from_db(fields=["status"])
        return UPDATED

    def _committee(self, date: dt.date, ops: Any, kinds: Any) -> Any:
        from cper.operations.models import Committee

        if date not in self.committees:
            found = Committee.objects.filter(
                contract=self.contract, kind=kinds.PROGRAMMING, date=date
            ).first()
            self.remember(
                self.committees,
                date,
                found
                or ops.committee_create(
                    actor=self.actor, contract=self.contract, kind=kinds.PROGRAMMING, date=date
                ),
            )
        return self.committees[date]


class _Merged(list):  # type: ignore[type-arg]
    """A pseudo-row built from a group's merged values, so `convert` can read it."""

    def __init__(self, merged: dict[str, Any], cols: dict[str, Column]):
        width = max((c.index for c in cols.values()), default=-1) + 1
        super().__init__([None] * width)
        for name, value in merged.items():
            if name in cols:
                self[cols[name].index] = value


def _slices(values: Iterable[Any], size: int = 5000) -> Iterable[list[Any]]:
    items = sorted(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ident(text: str) -> str:
    return re.sub(r"[\s.\-\u00a0\u202f]", "", text or "").upper()


def _commune_codes(text: str) -> list[str]:
    out = []
    for token in re.split(r"[\s,;/|]+", text or ""):
        token = token.strip().upper()
        if not token:
            continue
        if token.isdigit() and len(token) == 4:
            token = "0" + token  # a spreadsheet lost the leading zero
        out.append(token)
    return out


# --------------------------------------------------------------------------------------------
# Movements
# --------------------------------------------------------------------------------------------

AMOUNT_COLUMNS = (("committed", "commitment"), ("decommitted", "decommitment"), ("paid", "payment"))
KIND_LABELS = {
    "commitment": "engagement",
    "decommitment": "désengagement",
    "payment": "paiement",
    "payment_cancellation": "annulation de paiement",
}


def movement_key(line_pk: int, kind: str, reference: str, date: dt.date) -> str:
    """The idempotency key of an imported movement: same line, nature, reference and date."""
    digest = hashlib.sha256(f"{line_pk}|{kind}|{reference}|{date.isoformat()}".encode()).hexdigest()
    return f"import:{digest[:48]}"


# Rows of a movements file sent to the finance service at once (`movements_record_many`).
MOVEMENT_CHUNK = 2000

# A movement planned from a row: (idempotency key, line, nature, date, amount, reference, the
# column its messages go to, reference of the movement it cancels).
_Planned = tuple[str, Any, str, dt.date, Decimal, str, str, str]


class _MovementPlanner(_Planner):
    """Rows are parsed, then sent to `cper.finance.services.movements_record_many` by chunks of
    `chunk_size` rows (each row's movements as one group: all or none), which checks them in
    order against the ledger as the file builds it. A row holding a movement imported before
    with another amount, and a chunk the batch fails on with a database error, go through
    `movement_record` row by row (the original path, same rules and messages)."""

    chunk_size = MOVEMENT_CHUNK
    row_by_row = False  # every row through `movement_record` (the fallback; for comparison)

    def run(self, progress: Progress | None) -> None:
        report, table = self.report, self.table
        has_kind = "kind" in self.cols and "amount" in self.cols
        amount_cols = [(n, k) for n, k in AMOUNT_COLUMNS if n in self.cols]
        report.layout = "long" if has_kind else ("wide" if amount_cols else "")
        if not report.layout:
            report.reject(
                table.header_row,
                "",
                "colonnes absentes : « Nature du mouvement » et « Montant », ou « Montant "
                "engagé » / « Montant payé »",
            )
            return
        if not self.key_header():
            report.reject(table.header_row, "", "colonne absente : référence de l'opération")
            return
        self.operations: dict[str, Any] = {}
        self.lines: dict[int, dict[Any, list[Any]]] = {}
        keys_seen: dict[str, int] = {}
        total = len(table.rows)
        chunk: list[tuple[int, list[Any], list[_Planned]]] = []
        ticked = 0
        for done, (number, row) in enumerate(table.rows, start=1):
            try:
                planned = self.parse_row(number, row, has_kind, amount_cols)
            except RowError as err:
                for column, message in err.problems:
                    report.reject(number, column, message, row)
                planned = []
            # duplicates within the file
            dup = next((keys_seen[k] for k, *_ in planned if k in keys_seen), None)
            if dup is not None:
                report.reject(
                    number,
                    self.header("movement_ref"),
                    f"mouvement en double : même ligne de financement, nature, référence et "
                    f"date que la ligne {dup}",
                    row,
                )
            elif planned:
                for k, *_ in planned:
                    keys_seen[k] = number
                chunk.append((number, row, planned))
            if len(chunk) >= self.chunk_size or done == total:
                self.apply_chunk(chunk)
                chunk = []
            if not chunk:
                ticked = self.tick_through(progress, ticked, done, total)

    def tick_through(self, progress: Progress | None, before: int, done: int, total: int) -> int:
        """Report progress once rows `before + 1` to `done` are applied (every 0.5 %)."""
        step = max(1, total // 200)
        if progress is not None and (done == total or done // step > before // step):
            progress(done, total)
        return done

    def apply_chunk(self, chunk: list[tuple[int, list[Any], list[_Planned]]]) -> None:
        from cper.finance.models import Movement

        if self.row_by_row:
            for number, row, planned in chunk:
                self.guarded([(number, row)], functools.partial(self.apply_row, planned))
            return
        if not chunk:
            return
        keys = [p[0] for _, _, planned in chunk for p in planned]
        known = dict(
            Movement.objects.filter(idempotency_key__in=keys).values_list(
                "idempotency_key", "amount"
            )
        )
        targets = self.recorded_targets([p for _, _, planned in chunk for p in planned])
        batch = _MovementBatch(self, targets)
        for number, row, planned in chunk:
            if any(p[0] in known and known[p[0]] != p[4] for p in planned):
                # Imported before with another amount: the row's refusal (or that of a
                # movement before it in the row) comes from the row-by-row path, in its place.
                batch.flush()
                self.guarded([(number, row)], functools.partial(self.apply_row, planned))
                continue
            new = [p for p in planned if p[0] not in known]
            if not new:
                self.report.tally(UNCHANGED)
                continue
            try:
                batch.add(number, row, new)
            except RowError as err:
                for column, message in err.problems:
                    self.report.reject(number, column, message, row)
        batch.flush()

    def recorded_targets(self, planned: list[_Planned]) -> dict[tuple[int, str, str], list[int]]:
        """{(line, nature, reference): [movement ids]} of the recorded movements the planned
        cancellations may name (one query)."""
        from cper.finance.models import Movement
        from cper.finance.rules import CANCELS

        wanted = [(p[1].pk, CANCELS[p[2]], p[7]) for p in planned if p[7]]
        out: dict[tuple[int, str, str], list[int]] = {}
        if not wanted:
            return out
        for line_id, kind, reference, pk in (
            Movement.objects.filter(
                financing_line_id__in={w[0] for w in wanted},
                reference__in={w[2] for w in wanted},
            )
            .order_by("id")
            .values_list("financing_line_id", "kind", "reference", "pk")
        ):
            out.setdefault((line_id, kind, reference), []).append(pk)
        return out

    def apply_row(self, planned: list[_Planned]) -> list[str]:
        """One row through `movement_record` (inside `guarded`'s savepoint)."""
        from cper.finance.models import Movement
        from cper.finance.rules import CANCELS

        outcome = UNCHANGED
        for key, line, kind, date, amount, reference, column, cancels_ref in planned:
            existing = Movement.objects.filter(idempotency_key=key).first()
            if existing is not None:
                if existing.amount != amount:
                    raise RowError(
                        f"ce mouvement a déjà été importé avec le montant "
                        f"{format_eur(existing.amount)} : une correction s'enregistre "
                        "comme un nouveau mouvement (désengagement, annulation de "
                        "paiement)",
                        column,
                    )
                continue
            cancels = None
            if cancels_ref:
                found = self.recorded_targets(
                    [(key, line, kind, date, amount, "", "", cancels_ref)]
                )
                cancels = self.one_target(
                    list(found.get((line.pk, CANCELS[kind], cancels_ref), [])), kind, cancels_ref
                )
            self.record(line, kind, date, amount, reference, key, column, cancels)
            outcome = CREATED
        return [outcome]

    def one_target(self, candidates: list[Any], kind: str, reference: str) -> Any:
        """The one movement a cancellation names, or the row's refusal."""
        from cper.finance.rules import CANCELS

        what = KIND_LABELS[CANCELS[kind]]
        column = self.header("cancels_ref")
        if not candidates:
            raise RowError(f"aucun {what} « {reference} » sur cette ligne de financement", column)
        if len(candidates) > 1:
            raise RowError(
                f"{len(candidates)} {what}s portent la référence « {reference} » sur cette "
                "ligne de financement : lequel est annulé ?",
                column,
            )
        return candidates[0]

    def parse_row(
        self, number: int, row: list[Any], has_kind: bool, amount_cols: list[tuple[str, str]]
    ) -> list[_Planned]:
        problems: list[tuple[str, str]] = []
        key = self.row_key(row)
        op = None
        if not key:
            problems.append((self.key_header(), "référence de l'opération absente"))
        else:
            if key not in self.operations:
                self.operations[key] = self.find_operation(key)
            op = self.operations[key]
            if op is None:
                who = f" pour {self.partner}" if self.partner else ""
                problems.append((self.key_header(), f"opération inconnue « {key} »{who}"))
        date = self.convert(row, "date", parse_date, problems)
        if date is None and not any(c == self.header("date") for c, _ in problems):
            problems.append((self.header("date", "Date"), "date absente"))
        reference = self.text(row, "movement_ref")
        if not reference:
            problems.append(
                (
                    self.header("movement_ref", "N° EJ ou de mandat"),
                    "référence (n° EJ, de mandat) absente",
                )
            )
        amounts: list[tuple[str, Decimal, str]] = []
        if has_kind:
            kind_text = self.text(row, "kind")
            kind = voc.MOVEMENT_KINDS.get(normalize(kind_text))
            if kind is None:
                problems.append(
                    (
                        self.header("kind"),
                        f"nature inconnue « {kind_text} » (engagement, désengagement, paiement, "
                        "annulation de paiement)",
                    )
                )
            amount = self.convert(row, "amount", parse_money, problems)
            if amount is None and not any(c == self.header("amount") for c, _ in problems):
                problems.append((self.header("amount"), "montant absent"))
            if kind and amount is not None:
                amounts.append((kind, amount, self.header("amount")))
        else:
            for name, kind in amount_cols:
                amount = self.convert(row, name, parse_money, problems)
                if amount is not None and amount != 0:
                    amounts.append((kind, amount, self.header(name)))
            if not amounts and not problems:
                problems.append((self.header(amount_cols[0][0]), "aucun montant"))
        for kind, amount, column in amounts:
            if amount <= 0:
                what = KIND_LABELS[kind]
                fix = {
                    "payment": "enregistrez une annulation de paiement",
                    "commitment": "enregistrez un désengagement",
                }.get(kind, "le montant d'un mouvement est positif, sa nature donne le sens")
                problems.append(
                    (
                        column,
                        f"un {what} ne peut pas être négatif ou nul ({format_eur(amount)}) : {fix}",
                    )
                )
        cancels_ref = self.text(row, "cancels_ref")
        if cancels_ref:
            from cper.finance.rules import CANCELS, KIND_ARTICLES

            for kind, _, _ in amounts:
                if kind not in CANCELS:
                    problems.append(
                        (
                            self.header("cancels_ref"),
                            f"{KIND_ARTICLES[kind]} n'annule pas un autre mouvement",
                        )
                    )
        line = None
        if op is not None:
            try:
                line = self.line_of(op, row)
            except RowError as err:
                problems += err.problems
        if problems:
            raise RowError(problems)
        assert line is not None and date is not None
        return [
            (
                movement_key(line.pk, kind, reference, date),
                line,
                kind,
                date,
                amount,
                reference,
                col,
                cancels_ref,
            )
            for kind, amount, col in amounts
        ]

    def line_of(self, op: Any, row: list[Any]) -> Any:
        if op.pk not in self.lines:
            self.lines[op.pk] = _lines_by_financer(op)
        by_financer = self.lines[op.pk]
        financer = self.financer_of(row)
        line_ref = self.text(row, "line_ref")
        column = self.header("financer") or self.header("line_ref") or self.key_header()
        if financer is not None:
            financer = self.directory.for_territory(
                financer, departement_code=op.departement_id, epci_siren=op.epci_id
            )
        if financer is None:
            candidates = [line for lines in by_financer.values() for line in lines]
            if line_ref:
                candidates = [c for c in candidates if c.external_ref == line_ref]
            if len(candidates) != 1:
                raise RowError(
                    f"précisez le financeur : l'opération {op.code} a {len(candidates)} lignes "
                    "de financement possibles",
                    column,
                )
            return candidates[0]
        candidates = by_financer.get(financer.key, [])
        if line_ref:
            found = [c for c in candidates if c.external_ref == line_ref]
            if found:
                return found[0]
        rank_text = self.text(row, "line_rank")
        rank = int(rank_text) if rank_text.isdigit() else 1
        if not candidates:
            raise RowError(
                f"l'opération {op.code} n'a pas de ligne de financement "
                f"« {self.directory.label(financer)} »",
                column,
            )
        if rank > len(candidates):
            raise RowError(
                f"l'opération {op.code} n'a que {len(candidates)} ligne(s) "
                f"« {self.directory.label(financer)} »",
                self.header("line_rank") or column,
            )
        if not rank_text and len(candidates) > 1 and not line_ref:
            raise RowError(
                f"l'opération {op.code} a {len(candidates)} lignes "
                f"« {self.directory.label(financer)} » : précisez le rang ou la référence de la "
                "ligne",
                column,
            )
        return candidates[rank - 1]

    def record(
        self,
        line: Any,
        kind: str,
        date: dt.date,
        amount: Decimal,
        reference: str,
        key: str,
        column: str,
        cancels: int | None = None,
    ) -> None:
        from cper.finance import services as finance

        try:
            finance.movement_record(
                actor=self.actor,
                financing_line=line,
                kind=kind,
                date=date,
                amount=amount,
                reference=reference,
                idempotency_key=key,
                cancels=cancels,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise self.placed(exc, column) from exc

    def placed(self, exc: Exception, column: str) -> RowError:
        """A refusal of the finance service on the row's columns: messages about the amount
        (and those of no field) belong to the amount's column."""
        err = self.service_error(exc, column)
        return RowError(
            [(column if c in ("", self.header("amount")) else c, m) for c, m in err.problems]
        )


class _MovementBatch:
    """The rows of a chunk on their way to `movements_record_many`, each row's movements as one
    group; a cancellation names a recorded movement or an earlier draft of the batch."""

    def __init__(self, planner: _MovementPlanner, targets: dict[tuple[int, str, str], list[int]]):
        self.planner = planner
        self.targets = targets  # (line, nature, reference) → recorded movement ids
        self.drafted: dict[tuple[int, str, str], list[int]] = {}  # … → draft indexes
        self.rows: list[tuple[int, list[Any], list[_Planned], int]] = []  # …, first draft
        self.drafts: list[Any] = []

    def add(self, number: int, row: list[Any], planned: list[_Planned]) -> None:
        from cper.finance.rules import CANCELS
        from cper.finance.services import MovementDraft

        drafts = []
        for key, line, kind, date, amount, reference, _, cancels_ref in planned:
            cancels = cancels_draft = None
            if cancels_ref:
                wanted = (line.pk, CANCELS[kind], cancels_ref)
                source, value = self.planner.one_target(
                    [
                        *(("id", pk) for pk in self.targets.get(wanted, [])),
                        *(("draft", i) for i in self.drafted.get(wanted, [])),
                    ],
                    kind,
                    cancels_ref,
                )
                cancels, cancels_draft = (value, None) if source == "id" else (None, value)
            drafts.append(
                MovementDraft(
                    financing_line=line.pk,
                    kind=kind,
                    date=date,
                    amount=amount,
                    reference=reference,
                    idempotency_key=key,
                    cancels=cancels,
                    cancels_draft=cancels_draft,
                    group=number,
                )
            )
        first = len(self.drafts)
        for i, p in enumerate(planned, start=first):
            self.drafted.setdefault((p[1].pk, p[2], p[5]), []).append(i)
        self.drafts += drafts
        self.rows.append((number, row, planned, first))

    def flush(self) -> None:
        from cper.finance import services as finance

        if not self.drafts:
            return
        planner, report = self.planner, self.planner.report
        try:
            result = finance.movements_record_many(actor=planner.actor, movements=self.drafts)
        except DatabaseError:
            # The batch wrote nothing (its savepoint is rolled back): row by row instead.
            for number, row, planned, _ in self.rows:
                planner.guarded([(number, row)], functools.partial(planner.apply_row, planned))
        else:
            for number, row, planned, first in self.rows:
                outcomes = result.outcomes[first : first + len(planned)]
                cause = next(
                    (
                        (o, p)
                        for o, p in zip(outcomes, planned, strict=True)
                        if o.status == finance.REFUSED and not o.with_group
                    ),
                    None,
                )
                if cause is None:
                    created = any(o.status == finance.CREATED for o in outcomes)
                    report.tally(CREATED if created else UNCHANGED)
                    continue
                assert cause[0].error is not None
                for column, message in planner.placed(cause[0].error, cause[1][6]).problems:
                    report.reject(number, column, message, row)
            for o in result.outcomes:
                if o.status == finance.CREATED and o.movement is not None:
                    m = o.movement
                    wanted = (m.financing_line_id, m.kind, m.reference)
                    self.targets.setdefault(wanted, []).append(m.pk)
        self.drafted, self.rows, self.drafts = {}, [], []


def actor_for(user: Any) -> Actor:
    """The actor of an import run from a page: the user, through the import path."""
    return Actor(user=user, via=Via.IMPORT)
