"""The io app's writes around background imports: a large upload handed to a job, the job's
progress and its failure, and the purge of uploaded files after their retention period; and the
same around exports prepared in the background (`ExportJob`): opened from the pages, started,
advanced, ended by the job, their files purged after `CPER_EXPORT_RETENTION_DAYS`.

Neither writes an audit entry: they keep files and their bookkeeping, not the register.

The import run itself (`cper.io.imports.run`) writes the log it records; these functions write
what happens around it, from the pages, from `cper worker` and from `cper io purge`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.io.models import ExportJob, ExportState, ImportLog, ImportState


def upload_folder() -> Path:
    """Where the pages keep uploaded files (under MEDIA_ROOT) until they are purged."""
    return Path(settings.MEDIA_ROOT) / "imports"


@transaction.atomic
def import_enqueue(*, actor: Actor, log: ImportLog, enqueue: Callable[[int], str]) -> ImportLog:
    """Hand a logged import to a background job: the log waits « en attente » with the job's
    id. `enqueue(log_id)` creates the job and returns its id; in the same transaction, so a
    worker never sees a job whose log is not yet pending."""
    del actor  # the job runs as the log's user, checked again by the import itself
    log.state = ImportState.PENDING
    log.save(update_fields=["state"])
    log.job_id = str(enqueue(log.pk))[:64]
    log.save(update_fields=["job_id"])
    return log


def import_fail(*, log_id: int, reason: str) -> None:
    """The run of a log ended on an error: the log ends « échec » with the reason, keeping the
    options of its report (the page shows `report.error`)."""
    log = ImportLog.objects.filter(pk=log_id).first()
    if log is None:
        return
    log.state = ImportState.FAILED
    log.finished_at = log.finished_at or timezone.now()
    log.report = {**(log.report or {}), "error": reason}
    log.save(update_fields=["state", "finished_at", "report"])


def import_progress_record(
    *, connection: BaseDatabaseWrapper, log_id: int, done: int, total: int
) -> bool:
    """Write a running import's progress through `connection`, a connection of its own: the
    import's transaction keeps its writes to itself until it ends, this one commits at once so
    every web process reads it. Never waits on a locked row (the progress is only a hint);
    answers whether the row was written. PostgreSQL only (SQLite has a single writer)."""
    table = connection.ops.quote_name(ImportLog._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET rows_done = %s, rows_total = %s WHERE id = "
            f"(SELECT id FROM {table} WHERE id = %s AND state = %s FOR UPDATE SKIP LOCKED)",
            [done, total, log_id, ImportState.RUNNING.value],
        )
        return bool(cursor.rowcount)


@dataclass
class Purge:
    """What `uploads_purge` deleted (or would delete, in a dry run)."""

    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    logs: int = 0

    def summary(self) -> str:
        size = f"{self.bytes / 1_048_576:.1f}".replace(".", ",")
        return (
            f"{len(self.files)} fichier(s) supprimé(s) ({size} Mo), "
            f"{self.logs} import(s) concerné(s)"
        )


@transaction.atomic
def uploads_purge(
    *, actor: Actor, older_than: dt.timedelta | None = None, dry_run: bool = False
) -> Purge:
    """Delete the uploaded files older than the retention period (`CPER_UPLOAD_RETENTION_DAYS`)
    whose imports are finished, and files no log names. A log keeps its name, fingerprint and
    report; it only loses its file (its rejected rows can no longer be downloaded, a preview
    no longer confirmed). An import still waiting or running keeps its file, whatever its age."""
    del actor  # bookkeeping of files, not of the register: no audit entry
    if older_than is None:
        older_than = dt.timedelta(days=settings.CPER_UPLOAD_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    folder = upload_folder()
    out = Purge()
    if not folder.is_dir():
        return out
    active = {ImportState.PENDING, ImportState.RUNNING}
    named: dict[str, list[ImportLog]] = {}
    for log in ImportLog.objects.exclude(stored_path="").only("pk", "state", "stored_path"):
        named.setdefault(str(Path(log.stored_path).resolve()), []).append(log)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        if dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC) >= cutoff:
            continue
        logs = named.get(str(path.resolve()), [])
        if any(log.state in active for log in logs):
            continue
        out.files.append(path)
        out.bytes += stat.st_size
        out.logs += len(logs)
        if dry_run:
            continue
        for log in logs:
            log.stored_path = ""
            log.save(update_fields=["stored_path"])
        path.unlink(missing_ok=True)
    return out


# --- exports prepared in the background -------------------------------------------------------


def export_folder() -> Path:
    """Where prepared exports are written (under MEDIA_ROOT, never served as static files: a
    file is downloaded through `cper.io.views.export_download`, which checks who asks)."""
    return Path(settings.MEDIA_ROOT) / "exports"


def export_retention() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "CPER_EXPORT_RETENTION_DAYS", 7)))


@transaction.atomic
def export_job_open(
    *,
    actor: Actor,
    contract: Contract,
    kind: str,
    fmt: str,
    params: dict[str, object],
    rows_total: int,
    enqueue: Callable[[str], str],
) -> ExportJob:
    """Record an export to prepare and hand it to a background job (`enqueue(job_id)` creates
    the job and answers its id), in one transaction: a worker never sees a job without its
    row. The export is built later as `actor.user` (the public's exports hold published data
    only: the selectors' rule)."""
    require_actor(actor, "export.run")
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    job = ExportJob.objects.create(
        contract=contract,
        user=user,
        kind=kind,
        fmt=fmt,
        params=params,
        rows_total=max(0, rows_total),
    )
    job.job_id = str(enqueue(str(job.pk)))[:64]
    job.save(update_fields=["job_id"])
    return job


def export_job_start(*, job_id: str) -> bool:
    """A waiting export begins; answers False when it is no longer waiting (a job run twice)."""
    return bool(
        ExportJob.objects.filter(pk=job_id, state=ExportState.PENDING).update(
            state=ExportState.RUNNING, started_at=timezone.now()
        )
    )


def export_job_progress(*, job_id: str, done: int) -> None:
    """Rows written so far (autocommit: every web process reads it at once)."""
    ExportJob.objects.filter(pk=job_id, state=ExportState.RUNNING).update(rows_done=done)


def export_job_finish(
    *, job_id: str, stored_path: str, file_name: str, size: int, rows: int
) -> None:
    ExportJob.objects.filter(pk=job_id).update(
        state=ExportState.DONE,
        finished_at=timezone.now(),
        stored_path=stored_path,
        file_name=file_name,
        size=size,
        rows_done=rows,
    )


def export_job_fail(*, job_id: str, reason: str) -> None:
    ExportJob.objects.filter(pk=job_id).exclude(state=ExportState.DONE).update(
        state=ExportState.FAILED, finished_at=timezone.now(), error=reason
    )


@transaction.atomic
def exports_purge(
    *, actor: Actor, older_than: dt.timedelta | None = None, dry_run: bool = False
) -> Purge:
    """Delete the prepared exports' files older than the retention period
    (`CPER_EXPORT_RETENTION_DAYS`, 7 days by default), and files no export names; an export
    still waiting or in preparation keeps its folder. Its row stays (who asked what, when),
    without its file: the page then offers to prepare it again."""
    del actor  # bookkeeping of files, not of the register: no audit entry
    cutoff = timezone.now() - (export_retention() if older_than is None else older_than)
    folder = export_folder()
    out = Purge()
    if not folder.is_dir():
        return out
    busy = {
        str(pk)
        for pk in ExportJob.objects.filter(
            state__in=[ExportState.PENDING, ExportState.RUNNING]
        ).values_list("pk", flat=True)
    }
    named = {
        str((Path(settings.MEDIA_ROOT) / path).resolve()): pk
        for pk, path in ExportJob.objects.exclude(stored_path="").values_list("pk", "stored_path")
    }
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.parent.name in busy:
            continue
        stat = path.stat()
        if dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC) >= cutoff:
            continue
        out.files.append(path)
        out.bytes += stat.st_size
        job = named.get(str(path.resolve()))
        out.logs += job is not None
        if dry_run:
            continue
        if job is not None:
            ExportJob.objects.filter(pk=job).update(stored_path="")
        path.unlink(missing_ok=True)
        if path.parent != folder and not any(path.parent.iterdir()):
            path.parent.rmdir()
    return out
