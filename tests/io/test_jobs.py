"""Background imports: a large upload waits for `cper worker`, which runs it with its progress
readable from other connections; a job that fails ends its import « échec » with the reason;
uploads are purged after their retention period; only the author of a simulation (or an
administrator) confirms it. The web restart itself is in `test_jobs_servers.py`."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from cper.accounts.models import Role
from cper.io import tasks
from cper.io.imports import OperationPlanner
from cper.io.models import ImportLog, ImportState
from cper.operations.models import Operation
from tests.io.conftest import SIRET_A, SIRET_B, csv_file
from tests.io.test_import_rejections import HEADER, good_rows
from tests.operations.factories import make_user

COMMUNES = ["59350", "80021", "62041", "02691", "60057"]


def register(n: int) -> list[list[object]]:
    """An operations register of `n` valid rows (one operation a row, State and Region)."""
    return [
        HEADER,
        *(
            [
                f"JOB-{i:05d}",
                f"Opération {i}",
                "Ville de Lille" if i % 2 else "Ville d'Amiens",
                SIRET_A if i % 2 else SIRET_B,
                COMMUNES[i % len(COMMUNES)],
                "2.2",
                "programmée",
                "15/03/2023",
                "100000",
                "40000",
                "10000",
            ]
            for i in range(n)
        ),
    ]


def url(name: str, slug: str, **kw: object) -> str:
    return reverse(f"io:{name}", kwargs={"slug": slug, **kw})


@pytest.fixture
def queued(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Every upload goes to the queue (the database backend, as in production)."""
    settings.MEDIA_ROOT = tmp_path
    settings.CPER_IMPORT_BACKGROUND_BYTES = 10
    assert settings.TASKS["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"


def upload(client, slug, rows, name="registre.csv", **extra):  # type: ignore[no-untyped-def]
    data = {"kind": "operations", "file": SimpleUploadedFile(name, csv_file(rows)), **extra}
    return client.post(url("import_upload", slug), data)


def work() -> None:
    """What `cper worker` does, until the queue is empty."""
    call_command("worker", "--once", "--no-purge", verbosity=0)


# --- the queue and the worker ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_waits_for_the_worker_which_runs_it(client, hdf, queued):
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))
    response = upload(client, hdf.slug, [HEADER, *good_rows()])
    log = ImportLog.objects.get()
    assert log.state == ImportState.PENDING and log.job_id
    job = DBTaskResult.objects.get(id=log.job_id)
    assert job.status == TaskResultStatus.READY
    page = client.get(response["Location"]).content.decode()
    assert "En attente" in page and 'hx-trigger="every 1s"' in page
    assert "Confirmer" not in page

    work()

    log.refresh_from_db()
    assert log.state == ImportState.DRY_RUN and log.created == 2
    assert log.rows_done == log.rows_total == 2
    job.refresh_from_db()
    assert job.status == TaskResultStatus.SUCCESSFUL
    status = client.get(url("import_status", hdf.slug, pk=log.pk), HTTP_HX_REQUEST="true")
    assert status["HX-Redirect"].endswith(f"/import/{log.pk}/simulation/")
    assert "Confirmer et appliquer" in client.get(response["Location"]).content.decode()

    # The confirmation is a job too; the worker applies it.
    done = client.post(url("import_confirm", hdf.slug, pk=log.pk))
    applied = ImportLog.objects.get(preview_of=log)
    assert applied.state == ImportState.PENDING
    assert not Operation.objects.filter(contract=hdf).exists()
    work()
    applied.refresh_from_db()
    assert applied.state == ImportState.APPLIED
    assert Operation.objects.filter(contract=hdf).count() == 2
    assert "Appliqué" in client.get(done["Location"]).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_job_writes_its_progress_where_other_connections_read_it(
    client, hdf, queued, monkeypatch
):
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))
    upload(client, hdf.slug, register(300))
    log = ImportLog.objects.get()
    seen: list[tuple[str, int, int]] = []
    write = tasks.ProgressSink.write

    def observed(sink: tasks.ProgressSink, done: int, total: int) -> None:
        write(sink, done, total)
        threading.Thread(target=look, args=(sink.log_id,)).start()  # another connection
        time.sleep(0.05)  # let it read while the import goes on (and holds its transaction)

    def look(pk: int) -> None:
        try:
            if connection.vendor == "postgresql":
                other = ImportLog.objects.get(pk=pk)  # committed rows only
            else:
                # The in-memory SQLite test database locks its tables to other connections
                # while the import writes: read the progress file alone, as a web process does
                # next to the log it reads (the file database of test_jobs_servers.py).
                other = ImportLog(pk=pk, state=ImportState.RUNNING)
            seen.append((other.state, *tasks.progress_of(other)))
        finally:
            connection.close()

    monkeypatch.setattr(tasks.ProgressSink, "write", observed)
    monkeypatch.setattr(OperationPlanner, "chunk_size", 50)  # six chunks, six ticks
    work()
    time.sleep(0.2)
    log.refresh_from_db()
    assert log.state == ImportState.DRY_RUN and log.rows_done == log.rows_total == 300
    running = [(done, total) for state, done, total in seen if state == ImportState.RUNNING]
    assert any(0 < done < 300 and total == 300 for done, total in running), seen
    assert [d for d, _ in running] == sorted(d for d, _ in running)  # it only moves forward
    assert not tasks.progress_path(log.pk).exists()  # the job cleans up after itself


def test_progress_is_written_every_half_percent_or_two_seconds(monkeypatch):
    sink = tasks.ProgressSink(1)
    writes: list[int] = []
    monkeypatch.setattr(sink, "write", lambda done, total: writes.append(done))
    for done in range(1, 10_001):
        sink(done, 10_000)
    assert 190 <= len(writes) <= 201 and writes[-1] == 10_000
    # Slow rows: a write every two seconds even below the step.
    clock = iter([100.0, 100.5, 102.6, 103.0])
    monkeypatch.setattr(tasks.time, "monotonic", lambda: next(clock))
    slow = tasks.ProgressSink(2)
    slow_writes: list[int] = []
    monkeypatch.setattr(slow, "write", lambda done, total: slow_writes.append(done))
    for done in (1, 2, 3, 4):
        slow(done, 1_000_000)
    assert slow_writes == [1, 3]


@pytest.mark.django_db(transaction=True)
def test_a_job_that_fails_ends_the_import_failed_with_its_reason(client, hdf, queued):
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))
    response = upload(client, hdf.slug, [HEADER, *good_rows()])
    lost = ImportLog.objects.get()
    Path(lost.stored_path).unlink()  # the file went missing before the worker got to it
    # Another user's import, whose right to import is withdrawn while the job waits.
    instructor = make_user(Role.INSTRUCTOR, "etat", username="jobs-instructeur")
    client.force_login(instructor)
    upload(client, hdf.slug, [row[:-1] for row in [HEADER, *good_rows()]])
    demoted = ImportLog.objects.get(user=instructor)
    instructor.role = Role.OBSERVER
    instructor.save()

    work()

    lost.refresh_from_db()
    assert lost.state == ImportState.FAILED and lost.finished_at is not None
    assert lost.report["error"].startswith("Échec inattendu de l'import (FileNotFoundError)")
    assert DBTaskResult.objects.get(id=lost.job_id).status == TaskResultStatus.FAILED
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin-2"))
    page = client.get(response["Location"]).content.decode()
    assert "Échec" in page and "FileNotFoundError" in page and "hx-trigger" not in page
    demoted.refresh_from_db()
    assert demoted.state == ImportState.FAILED
    assert demoted.report["error"].startswith("Import refusé : Vous n'avez pas le droit")


@pytest.mark.django_db(transaction=True)
def test_the_worker_keeps_one_daily_purge_waiting(hdf, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    old = tmp_path / "imports" / "ancien.csv"
    old.parent.mkdir()
    old.write_text("x")
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    call_command("worker", "--once", verbosity=0)
    assert not old.exists()
    waiting = DBTaskResult.objects.filter(
        task_path=tasks.purge_uploads.module_path, status=TaskResultStatus.READY
    )
    assert waiting.count() == 1
    assert waiting.get().run_after > timezone.now() + dt.timedelta(hours=23)
    call_command("worker", "--once", verbosity=0)  # another worker starts: still one
    assert waiting.count() == 1


# --- the purge ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_purge_deletes_old_uploads_of_finished_imports_only(hdf, settings, tmp_path, capsys):
    settings.MEDIA_ROOT = tmp_path
    folder = tmp_path / "imports"
    folder.mkdir()
    ancient = time.time() - 31 * 86400

    def stored(name: str, state: str, age: float | None = ancient) -> tuple[Path, ImportLog]:
        path = folder / name
        path.write_bytes(b"x" * 1000)
        if age:
            os.utime(path, (age, age))
        log = ImportLog.objects.create(
            contract=hdf, kind="operations", file_name=name, sha256="", state=state,
            stored_path=str(path),
        )  # fmt: skip
        return path, log

    done_path, done_log = stored("fini.csv", ImportState.DRY_RUN)
    waiting_path, _ = stored("attente.csv", ImportState.PENDING)
    recent_path, _ = stored("recent.csv", ImportState.APPLIED, age=None)
    orphan = folder / "orphelin.csv"
    orphan.write_bytes(b"y")
    os.utime(orphan, (ancient, ancient))

    call_command("io", "purge", "--dry-run")
    assert "Simulation : 2 fichier(s) à supprimer" in capsys.readouterr().out
    assert done_path.exists() and orphan.exists()

    call_command("io", "purge")
    assert "2 fichier(s) supprimé(s)" in capsys.readouterr().out
    assert not done_path.exists() and not orphan.exists()
    assert waiting_path.exists() and recent_path.exists()
    done_log.refresh_from_db()
    assert done_log.stored_path == "" and done_log.file_name == "fini.csv"

    call_command("io", "purge", "--days", "0")
    assert not recent_path.exists() and waiting_path.exists()


# --- who confirms (issue 15, item 8) -----------------------------------------------------------


@pytest.mark.django_db
def test_only_the_author_of_a_simulation_or_an_administrator_confirms_it(
    client, hdf, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    author = make_user(Role.INSTRUCTOR, "etat", username="jobs-auteur")
    other = make_user(Role.INSTRUCTOR, "etat", username="jobs-autre")
    state_only = [row[:-1] for row in [HEADER, *good_rows()]]  # the State's lines only
    client.force_login(author)
    upload(client, hdf.slug, state_only)
    preview = ImportLog.objects.get()
    assert preview.state == ImportState.DRY_RUN  # small: run within the request

    client.force_login(other)
    page = client.get(url("import_preview", hdf.slug, pk=preview.pk)).content.decode()
    assert "Seul l'auteur de cette simulation (jobs-auteur)" in page
    assert "Confirmer et appliquer" not in page
    refused = client.post(url("import_confirm", hdf.slug, pk=preview.pk), follow=True)
    assert "Seul l&#x27;auteur de la simulation (jobs-auteur)" in refused.content.decode()
    assert not ImportLog.objects.filter(preview_of=preview).exists()
    assert not Operation.objects.filter(contract=hdf).exists()

    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))
    page = client.get(url("import_preview", hdf.slug, pk=preview.pk)).content.decode()
    assert "Confirmer et appliquer" in page
    client.post(url("import_confirm", hdf.slug, pk=preview.pk))
    assert ImportLog.objects.get(preview_of=preview).state == ImportState.APPLIED

    client.force_login(author)  # the author confirms their own (a second simulation)
    upload(client, hdf.slug, state_only)
    mine = ImportLog.objects.filter(user=author, dry_run=True).latest("pk")
    client.post(url("import_confirm", hdf.slug, pk=mine.pk))
    assert ImportLog.objects.get(preview_of=mine).state == ImportState.APPLIED


# --- what cannot be read is refused before it is stored ----------------------------------------


@pytest.mark.django_db
def test_an_upload_that_cannot_be_read_is_refused_before_it_is_stored(
    client, hdf, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))
    for name, data, message in [
        ("registre.xlsx", b"pas un classeur", "classeur illisible : « registre.xlsx »"),
        ("registre.exe", b"MZ", "format non reconnu : « .exe »"),
    ]:
        response = client.post(
            url("import_upload", hdf.slug),
            {"kind": "operations", "file": SimpleUploadedFile(name, data)},
            follow=True,
        )
        page = response.content.decode()
        assert response.redirect_chain[-1][0] == url("index", hdf.slug)
        assert 'class="fr-alert fr-alert--error' in page and message in page
    assert not ImportLog.objects.exists()
    assert not (tmp_path / "imports").exists() or not any((tmp_path / "imports").iterdir())


@pytest.mark.django_db
def test_a_small_import_that_crashes_in_the_request_ends_failed_with_its_reason(
    client, hdf, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))

    def crash(log, **_):  # type: ignore[no-untyped-def]
        raise MemoryError("plus de mémoire")

    monkeypatch.setattr("cper.io.views.run_logged", crash)
    response = upload(client, hdf.slug, [HEADER, *good_rows()])
    log = ImportLog.objects.get()
    assert log.state == ImportState.FAILED
    page = client.get(response["Location"]).content.decode()
    assert "L&#x27;import a échoué" in page or "L'import a échoué" in page
    assert "Échec inattendu de l&#x27;import (MemoryError) : plus de mémoire" in page


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_died_is_ended_failed_by_the_next_worker(client, hdf, queued):
    client.force_login(make_user(Role.ADMINISTRATOR, username="jobs-admin"))
    response = upload(client, hdf.slug, [HEADER, *good_rows()])
    log = ImportLog.objects.get()
    # A worker of this host claimed the job, started the import, then was killed outright.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = DBTaskResult.objects.get(id=log.job_id)
    job.claim(f"{socket.gethostname()[:40]}:{dead.pid}:0000")
    ImportLog.objects.filter(pk=log.pk).update(state=ImportState.RUNNING)
    # Another host's worker's job is not this host's to judge.
    upload(client, hdf.slug, [HEADER, *good_rows()])
    elsewhere = ImportLog.objects.latest("pk")
    DBTaskResult.objects.get(id=elsewhere.job_id).claim("autre-serveur:1:0000")
    ImportLog.objects.filter(pk=elsewhere.pk).update(state=ImportState.RUNNING)

    work()

    log.refresh_from_db()
    assert log.state == ImportState.FAILED
    assert log.report["error"].startswith("Import interrompu : le traitement en arrière-plan")
    job.refresh_from_db()
    assert job.status == TaskResultStatus.FAILED
    assert "Import interrompu" in client.get(response["Location"]).content.decode()
    elsewhere.refresh_from_db()
    assert elsewhere.state == ImportState.RUNNING
