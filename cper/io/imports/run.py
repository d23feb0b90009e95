"""Running an import: the entry points (`import_operations`, `import_movements`, and
`run_logged` for the pages), reading the file and locating its table, the transaction around
the planner (a dry run or a refused file rolled back, `partial` keeping the valid rows), and
the run's `ImportLog` with its audit entry when something was applied."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.models import Via
from cper.audit.services import Actor, audit_record
from cper.contracts.models import Contract, Partner
from cper.db import collector_paused
from cper.finance import summaries
from cper.io import vocabulary as voc
from cper.io.imports.movements import MovementPlanner
from cper.io.imports.operations import OperationPlanner
from cper.io.imports.planner import Planner, Progress
from cper.io.imports.report import ImportReport, Rejection, column_matches
from cper.io.models import ImportKind, ImportLog, ImportState
from cper.io.readers import (
    LimitError,
    Limits,
    Mapping_,
    ReadError,
    locate_table,
    normalize,
    read_file,
)
from cper.io.readers import check_size as check_file_size

Source = str | Path | bytes | IO[bytes]
logger = logging.getLogger(__name__)


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
    limits: Limits | None = None,
    programmed_on: dt.date | None = None,
) -> ImportReport:
    """Import operations and their co-financing plans (long or wide layout). See the module.
    `programmed_on`: taking over a register, the date of the decisions that programmed its
    operations without a committee date (recorded as a takeover, `operations.takeover_title`)."""
    return _run(
        kind=ImportKind.OPERATIONS,
        planner=OperationPlanner,
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
        limits=limits,
        programmed_on=programmed_on,
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
    limits: Limits | None = None,
) -> ImportReport:
    """Import commitments, decommitments, payments and payment cancellations: one row per
    movement (a « Nature » column) or per reference with « Montant engagé » / « Montant payé »
    columns. Payments beyond commitments and the like are refused by the finance service."""
    return _run(
        kind=ImportKind.MOVEMENTS,
        planner=MovementPlanner,
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
        limits=limits,
    )


def run_logged(log: ImportLog, *, actor: Actor, progress: Progress | None = None) -> ImportReport:
    """Run (again) the import a log describes, from its stored file: used by the pages."""
    options = (log.report or {}).get("options", {})
    common: dict[str, Any] = {
        "actor": actor,
        "contract": log.contract,
        "source": Path(log.stored_path),
        "partner": log.partner,
        "mapping": options.get("mapping"),
        "dry_run": log.dry_run,
        "partial": log.partial,
        "progress": progress,
        "file_name": log.file_name,
        "log": log,
    }
    if log.kind != ImportKind.OPERATIONS:
        return import_movements(**common)
    day = options.get("programmed_on")
    return import_operations(**common, programmed_on=dt.date.fromisoformat(day) if day else None)


def _load_source(source: Source, file_name: str | None, limits: Limits) -> tuple[bytes, str, int]:
    """The file's bytes, its name and its size; a file over `CPER_IMPORT_MAX_BYTES` is not read
    beyond the limit (its bytes are then empty: it is refused on its size)."""
    if isinstance(source, bytes):
        return source, file_name or "import.csv", len(source)
    if isinstance(source, str | Path):
        path = Path(source)
        size = path.stat().st_size
        data = path.read_bytes() if size <= limits.max_bytes else b""
        return data, file_name or path.name, size
    data = source.read(limits.max_bytes + 1)
    name = file_name or Path(getattr(source, "name", "") or "import.csv").name
    if len(data) > limits.max_bytes:
        return b"", name, len(data)
    return data, name, len(data)


def _run(
    *,
    kind: str,
    planner: type[Planner],
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
    limits: Limits | None,
    programmed_on: dt.date | None = None,
) -> ImportReport:
    require_actor(actor, "import.run", contract)
    # The reading bounds (`CPER_IMPORT_MAX_*`); a trusted caller (a restore of the
    # application's own backup, a bench) may pass wider ones.
    limits = limits or Limits.from_settings()
    data, name, size = _load_source(source, file_name, limits)
    report = ImportReport(
        kind=kind,
        file_name=name,
        sha256=hashlib.sha256(data).hexdigest() if data or not size else "",
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
        "size": size,
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
    options = {
        "mapping": mapping if isinstance(mapping, str) and "\n" in mapping else None,
        "programmed_on": programmed_on.isoformat() if programmed_on else None,
    }
    try:
        check_file_size(size, limits)
        mp = Mapping_.load(mapping)
        sheets = read_file(data, name, limits=limits)
        del data  # the rows are read: the file's bytes need not stay for the whole run
        directory = voc.FinancerDirectory(list(contract.partners.all()))
        table = locate_table(
            sheets,
            vocabulary,
            mapping=mp,
            is_financer=directory.is_financer if kind == ImportKind.OPERATIONS else None,
            required=("reference", "code"),
        )
        del sheets
    except ReadError as exc:  # LimitError included: a bound passed, named in the message
        report.rejections.append(Rejection("", 0, "", str(exc)))
        return _finish(report, log, contract, actor, options, state=ImportState.REFUSED)
    except Exception as exc:  # the run must end, with a reason, whatever the file held
        return _failed(report, log, contract, actor, options, exc, "la lecture du fichier")
    report.sheet, report.header_row = table.sheet, table.header_row
    report.encoding, report.delimiter = table.encoding, table.delimiter
    report.headers = [c.header for c in table.columns]
    report.matches = column_matches(table, vocabulary, directory)
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
        programmed_on=programmed_on,
    )
    try:
        with transaction.atomic():
            with _summaries_deferred(kind, contract), collector_paused():
                worker.run(progress)
            if dry_run or (report.rejections and not partial):
                transaction.set_rollback(True)
            else:
                report.applied = True
    except Exception as exc:  # rolled back: nothing was written; the log says why
        report.applied = False
        return _failed(report, log, contract, actor, options, exc, "le traitement des lignes")
    if dry_run:
        state = ImportState.DRY_RUN
    elif not report.applied:
        state = ImportState.REFUSED
    elif report.rejections:
        state = ImportState.PARTIAL
    else:
        state = ImportState.APPLIED
    return _finish(report, log, contract, actor, options, state=state)


def _failed(
    report: ImportReport,
    log: ImportLog,
    contract: Contract,
    actor: Actor,
    options: dict[str, Any],
    exc: BaseException,
    stage: str,
) -> ImportReport:
    """End a run that an unexpected error stopped: the log is « échec » with the reason in
    French (the traceback goes to the server's log), and nothing was written."""
    logger.exception("import %s (%s) : échec pendant %s", log.pk, report.file_name, stage)
    reason = failure_reason(exc, stage)
    report.rejections.append(Rejection("", 0, "", reason))
    return _finish(report, log, contract, actor, options, state=ImportState.FAILED, error=reason)


def failure_reason(exc: BaseException, stage: str) -> str:
    """`MemoryError` → « l'import s'est arrêté pendant la lecture du fichier : mémoire
    insuffisante… »: what a user reads of an unexpected error."""
    if isinstance(exc, MemoryError):
        what = "mémoire insuffisante (réduisez le fichier ou découpez-le)"
    elif isinstance(exc, LimitError):
        what = str(exc)
    else:
        what = f"erreur inattendue ({type(exc).__name__} : {exc})"
    return f"l'import s'est arrêté pendant {stage} : {what} ; rien n'a été écrit"


def _summaries_deferred(kind: str, contract: Contract) -> Any:
    """Keep the finance summaries in step once, at the end of the file, instead of after every
    write (`cper.finance.summaries.deferred`): the register's services otherwise resynchronise
    an operation's lines on each of its writes and transitions. Not when the contract blocks
    over-programming — that check reads the summaries, which must then be current chunk by
    chunk — nor for movements, whose lines exist already and whose summaries move
    incrementally."""
    if kind != ImportKind.OPERATIONS or contract.over_programming == "block":
        return contextlib.nullcontext()
    return summaries.deferred()


def _finish(
    report: ImportReport,
    log: ImportLog,
    contract: Contract,
    actor: Actor,
    options: dict[str, Any],
    *,
    state: str,
    error: str = "",
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
    if error:
        log.report["error"] = error  # shown above the report on the import's page
    log.save()
    if state in {ImportState.APPLIED, ImportState.PARTIAL}:
        audit_record(
            actor=actor,
            action=AuditAction.IMPORT_APPLIED,
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


def actor_for(user: Any) -> Actor:
    """The actor of an import run from a page: the user, through the import path."""
    return Actor(user=user, via=Via.IMPORT)


def import_log_open(
    *,
    actor: Actor,
    contract: Contract,
    kind: str,
    partner: Any,
    file_name: str,
    stored_path: str,
    partial: bool,
    dry_run: bool = True,
    sha256: str = "",
    options: dict[str, Any] | None = None,
    preview_of: ImportLog | None = None,
) -> ImportLog:
    """The log of an import asked for on the pages, before it runs: a simulation of an uploaded
    file, or the confirmation of a simulation (`preview_of`). `run_logged` fills it in."""
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    return ImportLog.objects.create(
        contract=contract,
        kind=kind,
        partner=partner,
        user=user,
        file_name=file_name[:255],
        sha256=sha256,
        dry_run=dry_run,
        partial=partial,
        stored_path=stored_path,
        preview_of=preview_of,
        report={"options": options or {}},
    )
