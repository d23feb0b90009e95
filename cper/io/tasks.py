"""Background jobs of the io app (django-tasks, database backend): run by `cper worker`.

- `run_import`: a large upload started on the pages (simulation or confirmation). The job is
  a row of the database, so it outlives the web process that enqueued it; the log carries the
  state, and the progress the job writes as it goes, so any web process shows it. A job that
  raises ends its log « échec » with the reason.
- `purge_uploads`: deletes uploaded files past their retention period, then enqueues itself
  for the next day (`cper worker` makes sure one is waiting).
- `run_export`: an export of a whole register (XLSX, ODS, SCDL, data package) asked on the
  pages: written under MEDIA_ROOT/exports by chunks (openpyxl write-only, CSV streamed), its
  rows written so far recorded as it goes; the page polls it, then offers the file.
- `recover_interrupted`: a worker killed outright (out of memory, SIGKILL) cannot end its
  import; the next `cper worker` started on the same host ends it « échec » (each worker's id
  names its host and process, `worker_id`), so no import stays « en cours » for ever.

Progress. The import runs in one transaction, which keeps its writes to itself until it ends;
the progress is written beside it. On PostgreSQL, through a second connection that commits at
once (`cper.io.services.import_progress_record`). SQLite has a single writer — the import
holds it — so there the progress goes to a small file next to the uploads, which every process
of the (single) server reads. Either way it is throttled: at most every 0.5 % of the rows, and
at least every 2 s while rows move.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import time
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from cper.audit.models import Via
from cper.audit.services import Actor
from cper.io import datapackage, exports, scdl, writers
from cper.io.imports import actor_for, run_logged
from cper.io.models import ExportJob, ImportLog, ImportState
from cper.io.services import (
    export_folder,
    export_job_fail,
    export_job_finish,
    export_job_progress,
    export_job_start,
    exports_purge,
    import_fail,
    import_progress_record,
    upload_folder,
    uploads_purge,
)

logger = logging.getLogger(__name__)

PROGRESS_STEP = 0.005  # a write for every 0.5 % of the rows …
PROGRESS_WAIT = 2.0  # … or every 2 s, whichever comes first
SYSTEM = Actor(user=None, via=Via.SYSTEM)


def progress_path(log_id: int) -> Path:
    return upload_folder() / "progress" / f"{log_id}.json"


class ProgressSink:
    """The `progress(done, total)` callback of a job's import: writes where every process
    reads (see the module), throttled."""

    def __init__(self, log_id: int, *, step: float | None = None, wait: float | None = None):
        self.log_id = log_id
        self.step = PROGRESS_STEP if step is None else step
        self.wait = PROGRESS_WAIT if wait is None else wait
        self.last_done, self.last_at = -1, 0.0
        self._side: BaseDatabaseWrapper | None = None
        self.on_postgresql = connection.vendor == "postgresql"

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        moved = done - self.last_done
        if done < total and moved < max(1, total * self.step) and now - self.last_at < self.wait:
            return
        if moved <= 0 and now - self.last_at < self.wait:
            return
        self.last_done, self.last_at = done, now
        try:
            self.write(done, total)
        except (DatabaseError, OSError):  # a hint only: the import goes on
            logger.warning("progression de l'import %s non écrite", self.log_id, exc_info=True)

    def write(self, done: int, total: int) -> None:
        if self.on_postgresql:
            if self._side is None:
                self._side = connections.create_connection(connection.alias)
            import_progress_record(
                connection=self._side, log_id=self.log_id, done=done, total=total
            )
            return
        path = progress_path(self.log_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"done": done, "total": total}), encoding="utf-8")
        temporary.replace(path)  # atomic: a reader sees the old figures or the new ones

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None
        progress_path(self.log_id).unlink(missing_ok=True)


def progress_of(log: ImportLog) -> tuple[int, int]:
    """(rows done, rows in the file) of a log as the pages show it: the log's own figures, or
    while it runs on SQLite, the job's progress file."""
    done, total = log.rows_done, log.rows_total
    if not log.is_finished:
        try:
            data = json.loads(progress_path(log.pk).read_text(encoding="utf-8"))
            if int(data["done"]) >= done:
                done, total = int(data["done"]), int(data["total"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return done, total


def failure_reason(error: BaseException) -> str:
    """The French reason a failed import shows."""
    if isinstance(error, PermissionDenied):
        return f"Import refusé : {error}"
    if isinstance(error, KeyboardInterrupt | SystemExit):
        return "Import interrompu : le traitement en arrière-plan (cper worker) a été arrêté."
    return f"Échec inattendu de l'import ({type(error).__name__}) : {error}"


def run_import_now(log_id: int) -> str:
    """Run a pending logged import to its end, here (the body of the `run_import` job). A log
    that is no longer pending (a job run twice) is left as it is. Answers the log's state."""
    log = ImportLog.objects.select_related("contract", "partner", "user").filter(pk=log_id).first()
    if log is None:
        return "absent"
    if log.state != ImportState.PENDING:
        return str(log.state)
    sink = ProgressSink(log_id)
    try:
        report = run_logged(log, actor=actor_for(log.user), progress=sink)
    except BaseException as exc:  # the page must show an end, whatever happened
        import_fail(log_id=log_id, reason=failure_reason(exc))
        raise
    finally:
        sink.close()
    return str(report.state)


@task()
def run_import(log_id: int) -> str:
    """The background job of a large upload (see `run_import_now`)."""
    return run_import_now(log_id)


def enqueue_import(log_id: int) -> str:
    """Create the job of a logged import; answers its id (`cper.io.services.import_enqueue`)."""
    return str(run_import.enqueue(log_id).id)


# --- exports prepared in the background ---------------------------------------------------


EXPORT_PROGRESS_WAIT = 1.0  # seconds between two progress writes


def _export_file(job: ExportJob, folder: Path, progress: writers.Progress) -> tuple[Path, int]:
    """Write the export of `job` into `folder`; answers the file and its rows."""
    params = job.params or {}
    user = job.user or AnonymousUser()
    as_of = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    contract = job.contract
    if job.kind == "scdl":
        partner = None
        if params.get("partner"):
            partner = contract.partners.filter(code=params["partner"]).first()
        suffix = f"-{partner.code}" if partner else ""
        path = folder / f"{contract.slug}-subventions-scdl{suffix}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            written = scdl.write_csv(
                scdl.iter_grants(contract, partner=partner, as_of=as_of, user=user), handle
            )
        return path, written
    if job.kind == "datapackage":
        path = folder / f"{contract.slug}-datapackage.zip"
        with TemporaryDirectory(dir=folder) as tmp:
            counts = datapackage.export(contract, tmp, as_of=as_of, user=user)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for item in sorted(Path(tmp).iterdir()):
                    archive.write(item, arcname=f"{contract.slug}/{item.name}")
        return path, sum(counts.values())
    sheets = exports.build(
        job.kind,
        contract,
        user=user,
        filters=params.get("filters") or {},
        as_of=as_of,
        group_by=params.get("group_by") or [],
    )
    path = folder / exports.file_name(job.kind, contract, job.fmt, as_of)
    writers.write(sheets, job.fmt, path, progress=progress)
    return path, sum(s.written for s in sheets)


def run_export_now(job_id: str) -> str:
    """Prepare a waiting export to its end, here (the body of the `run_export` job): its file
    under MEDIA_ROOT/exports/<id>/. An export no longer waiting is left as it is. Answers the
    export's state."""
    job = ExportJob.objects.select_related("contract", "user").filter(pk=job_id).first()
    if job is None:
        return "absent"
    if not export_job_start(job_id=job_id):
        return str(job.state)
    folder = export_folder() / str(job.pk)
    folder.mkdir(parents=True, exist_ok=True)
    last = [0.0]

    def progress(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= EXPORT_PROGRESS_WAIT:
            last[0] = now
            export_job_progress(job_id=job_id, done=done)

    try:
        path, rows = _export_file(job, folder, progress)
    except writers.ExportTooLarge as exc:  # refused by the format: said as it is
        export_job_fail(job_id=job_id, reason=f"Export refusé : {exc}.")
        return "failed"
    except BaseException as exc:  # the page must show an end, whatever happened
        export_job_fail(job_id=job_id, reason=f"Échec de l'export ({type(exc).__name__}) : {exc}")
        raise
    export_job_finish(
        job_id=job_id,
        stored_path=str(path.relative_to(Path(settings.MEDIA_ROOT))),
        file_name=path.name,
        size=path.stat().st_size,
        rows=rows,
    )
    return "done"


@task()
def run_export(job_id: str) -> str:
    """The background job of an export asked on the pages (see `run_export_now`)."""
    return run_export_now(job_id)


def enqueue_export(job_id: str) -> str:
    """Create the job of a recorded export; answers its id (`cper.io.services.export_job_open`)."""
    return str(run_export.enqueue(job_id).id)


PURGE_EVERY = dt.timedelta(days=1)


def purge_waiting() -> bool:
    """Whether a purge job is already waiting for its time."""
    return DBTaskResult.objects.filter(
        task_path=purge_uploads.module_path, status=TaskResultStatus.READY
    ).exists()


def schedule_purge(*, after: dt.timedelta = dt.timedelta(0)) -> bool:
    """Enqueue the daily purge unless one waits already; answers whether it enqueued."""
    if purge_waiting():
        return False
    purge_uploads.using(run_after=timezone.now() + after).enqueue()
    return True


@task()
def purge_uploads() -> dict[str, Any]:
    """Delete the uploads and prepared exports past their retention periods, then come back
    tomorrow."""
    result = uploads_purge(actor=SYSTEM)
    logger.info("purge des fichiers importés : %s", result.summary())
    prepared = exports_purge(actor=SYSTEM)
    logger.info("purge des exports préparés : %s fichier(s)", len(prepared.files))
    schedule_purge(after=PURGE_EVERY)
    return {
        "files": len(result.files) + len(prepared.files),
        "bytes": result.bytes + prepared.bytes,
    }


class Interrupted(Exception):
    """The worker running a job stopped without ending it."""


def worker_id() -> str:
    """A worker's id, as `db_worker` records it on the jobs it claims: host, process, and a
    random part (a process id is reused in time)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(worker: str, own: str) -> bool:
    """Whether `worker` (an id of `worker_id`) ran on this host in a process now gone."""
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid_text.isdigit() or worker == own:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # this process took the dead one's number
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def recover_interrupted(*, own: str = "") -> list[int]:
    """End « échec » the imports whose job's worker, on this host, died while running it; the
    jobs end failed too. Answers the logs' ids. Run by `cper worker` as it starts."""
    ended = []
    running = DBTaskResult.objects.filter(
        task_path=run_import.module_path, status=TaskResultStatus.RUNNING
    )
    for job in running:
        if not job.worker_ids or not _dead_here(str(job.worker_ids[-1]), own):
            continue
        error = Interrupted(
            "Import interrompu : le traitement en arrière-plan (cper worker) s'est arrêté "
            "brutalement pendant l'import (mémoire épuisée ou arrêt forcé). Relancez l'import."
        )
        log = ImportLog.objects.filter(job_id=str(job.id)).first()
        if log is not None and not log.is_finished:
            import_fail(log_id=log.pk, reason=str(error))
            ended.append(log.pk)
        job.set_failed(error)
    # An export whose worker died: ended « échec », the page then offers to prepare it again.
    for job in DBTaskResult.objects.filter(
        task_path=run_export.module_path, status=TaskResultStatus.RUNNING
    ):
        if job.worker_ids and _dead_here(str(job.worker_ids[-1]), own):
            for export in ExportJob.objects.filter(job_id=str(job.id)):
                export_job_fail(
                    job_id=str(export.pk),
                    reason="Export interrompu : le traitement en arrière-plan s'est arrêté.",
                )
            job.set_failed(Interrupted("Export interrompu"))
    return ended
