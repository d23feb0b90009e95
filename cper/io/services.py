"""The io app's writes around background imports: a large upload handed to a job, the job's
progress and its failure, and the purge of uploaded files after their retention period.

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

from cper.audit.services import Actor
from cper.io.models import ImportLog, ImportState


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
