"""Exports of a whole register prepared in the background (issue 14): over the threshold, an
XLSX or ODS link offers « Préparer l'export »; the job (`cper worker`) writes the file under
MEDIA_ROOT/exports with its progress; the page then offers it, to the user who asked only;
`cper io purge` deletes it after its retention period. The SCDL file and the data package are
prepared the same way."""

from __future__ import annotations

import contextlib
import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from cper.accounts.models import Role
from cper.io import exports, tasks, writers
from cper.io.models import ExportJob, ExportState
from cper.io.readers import read_file
from cper.operations.models import Operation
from tests.finance.factories import line, operation
from tests.operations.factories import make_user


def url(name: str, slug: str, **kw: object) -> str:
    return reverse(f"io:{name}", kwargs={"slug": slug, **kw})


def register_media(job: ExportJob) -> str:
    from django.conf import settings

    return str(settings.MEDIA_ROOT)


def work() -> None:
    """The body of every waiting export's job, here, inside the test's transaction (the real
    worker runs in `test_the_worker_prepares_the_export`)."""
    for job in ExportJob.objects.filter(state=ExportState.PENDING):
        # a failing job raises to its worker; the export is ended « échec » first
        with contextlib.suppress(RuntimeError):
            tasks.run_export_now(str(job.pk))


@pytest.fixture
def register(hdf, settings, tmp_path):
    """Three operations, two lines each; the threshold lowered to 4 rows, files in tmp_path."""
    settings.MEDIA_ROOT = tmp_path
    settings.CPER_EXPORT_SYNC_ROWS = 4
    for i in range(3):
        op = operation(hdf, code=f"BG-{i}")
        line(op, "etat", f"{100000 + i}.25")
        line(op, "region", "50000.00")
    return hdf


@pytest.fixture
def observer(client, hdf):
    user = make_user(Role.OBSERVER, username="exporteur")
    client.force_login(user)
    return user


def _prepare(client, slug: str, kind: str = "lines", fmt: str = "xlsx", query: str = "") -> str:
    """Ask for the export, follow « Préparer l'export »: answers the job's page address."""
    page = client.get(url("export", slug, kind=kind, fmt=fmt) + query)
    assert page.status_code == 200 and "Préparer l'export" in page.content.decode()
    assert "environ 6 lignes" in page.content.decode()
    action = url("export_prepare", slug, kind=kind, fmt=fmt) + query
    assert f'action="{action}"' in page.content.decode().replace("&amp;", "&")
    response = client.post(action)
    assert response.status_code == 302
    return response["Location"]


@pytest.mark.django_db
def test_a_large_xlsx_is_prepared_in_the_background_then_downloaded(register, client, observer):
    job_page = _prepare(client, register.slug)
    job = ExportJob.objects.get()
    assert job.state == ExportState.PENDING and job.user == observer and job.rows_total == 6
    waiting = client.get(job_page).content.decode()
    assert "En attente" in waiting and "hx-get" in waiting and "Télécharger" not in waiting

    work()

    job.refresh_from_db()
    assert job.state == ExportState.DONE and job.rows_done == 6
    assert job.stored_path.startswith(f"exports/{job.pk}/")
    assert (Path(register_media(job)) / job.stored_path).is_file()
    status = client.get(url("export_job_status", register.slug, pk=job.pk)).content.decode()
    assert "hx-get" not in status  # polling stops
    assert "6 ligne(s)" in status and "Télécharger" in status
    download = client.get(url("export_download", register.slug, pk=job.pk))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    prepared = read_file(b"".join(download.streaming_content), "x.xlsx")[0].rows
    # the same rows as the export built here and now, to the cent
    (sheet,) = exports.build("lines", register, user=observer)
    direct = read_file(writers.render([sheet], "xlsx"), "y.xlsx")[0].rows
    assert [r for r in prepared if r[0] != "Généré le"] == [
        r for r in direct if r[0] != "Généré le"
    ]
    amounts = sorted(str(r[19]) for r in prepared if str(r[0]).startswith("BG-"))
    assert "100002.25" in amounts and amounts.count("50000.0") == 3
    index = client.get(url("index", register.slug)).content.decode()
    assert "Vos exports préparés" in index and "lines.xlsx" in index
    # the XLSX link opens a page (it may offer « Préparer l'export »), the CSV one downloads
    assert f'href="{url("export", register.slug, kind="lines", fmt="xlsx")}">' in index
    assert f'href="{url("export", register.slug, kind="lines", fmt="csv")}" download>' in index


@pytest.mark.django_db
def test_a_small_filtered_xlsx_stays_synchronous(register, client, observer, settings):
    settings.CPER_EXPORT_SYNC_ROWS = 5000
    response = client.get(url("export", register.slug, kind="lines", fmt="xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"] == writers.CONTENT_TYPES["xlsx"]
    assert not ExportJob.objects.exists()


@pytest.mark.django_db
def test_an_ods_too_large_for_memory_is_refused_with_what_to_choose_instead(
    register, client, observer, settings, tmp_path
):
    # the register's lines sheet: 6 rows; 50 cells let the header through, not the rows
    settings.CPER_EXPORT_ODS_MAX_CELLS = 50
    _prepare(client, register.slug, fmt="ods")
    work()
    job = ExportJob.objects.get()
    assert job.state == ExportState.FAILED and not job.stored_path
    assert job.error.startswith("Export refusé : export ODS limité à 50 cellules")
    assert "choisissez XLSX" in job.error
    status = client.get(url("export_job_status", register.slug, pk=job.pk)).content.decode()
    assert "export ODS limité à 50 cellules" in status
    # the same register in XLSX, prepared the same way, is written
    _prepare(client, register.slug, fmt="xlsx")
    work()
    assert ExportJob.objects.get(fmt="xlsx").state == ExportState.DONE
    # the command line says the same, and leaves no file
    out = tmp_path / "lignes.ods"
    with pytest.raises(CommandError, match="export ODS limité à 50 cellules"):
        call_command("export", "lines", register.slug, "--output", str(out))
    assert not out.exists()
    settings.CPER_EXPORT_SYNC_ROWS = 5000  # a direct download says it too
    direct = client.get(url("export", register.slug, kind="lines", fmt="ods"))
    assert direct.status_code == 400 and "limité à 50 cellules" in direct.content.decode()
    settings.CPER_EXPORT_ODS_MAX_CELLS = 10_000  # within the limit: written
    assert writers.render(exports.build("lines", register, user=observer), "ods")[:2] == b"PK"


@pytest.mark.django_db
def test_only_who_asked_sees_and_downloads_a_prepared_export(register, client, observer):
    _prepare(client, register.slug, fmt="ods")
    work()
    job = ExportJob.objects.get()
    assert job.state == ExportState.DONE and job.file_name.endswith(".ods")
    own = client.get(url("export_download", register.slug, pk=job.pk))
    assert own.status_code == 200
    client.force_login(make_user(Role.OBSERVER, username="autre"))
    for name in ("export_job", "export_job_status", "export_download"):
        assert client.get(url(name, register.slug, pk=job.pk)).status_code == 404
    client.logout()
    assert client.get(url("export_download", register.slug, pk=job.pk)).status_code == 404


@pytest.mark.django_db
def test_an_anonymous_export_holds_public_data_and_is_reached_by_its_link(register, client):
    Operation.objects.filter(code="BG-0").update(published=True)
    client.post(url("export_prepare", register.slug, kind="operations", fmt="xlsx"))
    work()
    job = ExportJob.objects.get()
    assert job.user is None and job.state == ExportState.DONE
    data = b"".join(client.get(url("export_download", register.slug, pk=job.pk)).streaming_content)
    codes = [r[0] for r in read_file(data, "x.xlsx")[0].rows if str(r[0]).startswith("BG-")]
    assert codes == ["BG-0"]  # the published operation only


@pytest.mark.django_db
def test_the_job_records_its_progress_as_it_writes(register, client, observer, monkeypatch):
    monkeypatch.setattr(writers, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(tasks, "EXPORT_PROGRESS_WAIT", 0)
    seen: list[int] = []
    original = tasks.export_job_progress

    def recording(*, job_id: str, done: int) -> None:
        original(job_id=job_id, done=done)
        seen.append(ExportJob.objects.get(pk=job_id).rows_done)  # read back: written at once

    monkeypatch.setattr(tasks, "export_job_progress", recording)
    _prepare(client, register.slug)
    work()
    assert seen == [2, 4, 6]
    assert ExportJob.objects.get().state == ExportState.DONE


@pytest.mark.django_db
def test_a_failed_job_says_why(register, client, observer, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disque plein")

    monkeypatch.setattr(tasks.writers, "write", broken)
    job_page = _prepare(client, register.slug)
    work()
    job = ExportJob.objects.get()
    assert job.state == ExportState.FAILED
    page = client.get(job_page).content.decode()
    assert "disque plein" in page and "Télécharger" not in page


@pytest.mark.django_db
def test_an_unknown_filter_is_refused_before_anything_is_prepared(register, client, observer):
    response = client.post(
        url("export_prepare", register.slug, kind="lines", fmt="xlsx") + "?couleur=bleu"
    )
    assert response.status_code == 400 and "couleur" in response.content.decode()
    assert not ExportJob.objects.exists()
    assert (
        client.get(url("export_prepare", register.slug, kind="lines", fmt="xlsx")).status_code
        == 405
    )
    wrong = client.post(url("export_prepare", register.slug, kind="scdl", fmt="xlsx"))
    assert wrong.status_code == 404


@pytest.mark.django_db
def test_the_data_package_is_prepared_in_the_background(register, client, observer):
    index = client.get(url("index", register.slug)).content.decode()
    assert url("export_prepare", register.slug, kind="datapackage", fmt="zip") in index
    client.post(url("export_prepare", register.slug, kind="datapackage", fmt="zip"))
    work()
    job = ExportJob.objects.get()
    assert job.state == ExportState.DONE, job.error
    data = b"".join(client.get(url("export_download", register.slug, pk=job.pk)).streaming_content)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert f"{register.slug}/datapackage.json" in names
    # the temporary folder of the CSV files is gone: only the archive stays
    folder = (Path(register_media(job)) / job.stored_path).parent
    assert [p.name for p in folder.iterdir()] == [job.file_name]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address, kind, fmt",
    [("export_scdl", "scdl", "csv"), ("export_datapackage", "datapackage", "zip")],
)
def test_the_direct_address_of_a_large_whole_register_file_offers_to_prepare_it(
    register, client, observer, settings, address, kind, fmt
):
    settings.CPER_EXPORT_SYNC_ROWS = 2  # the register holds 3 operations
    page = client.get(url(address, register.slug))
    text = page.content.decode()
    assert page.status_code == 200 and "text/html" in page["Content-Type"]
    assert "environ 3 opérations" in text and "tout de suite" not in text
    action = url("export_prepare", register.slug, kind=kind, fmt=fmt)
    assert f'action="{action}"' in text
    client.post(action)
    work()
    job = ExportJob.objects.get()
    assert (job.kind, job.fmt, job.state) == (kind, fmt, ExportState.DONE), job.error
    settings.CPER_EXPORT_SYNC_ROWS = 3  # at the threshold: built while the visitor waits
    direct = client.get(url(address, register.slug))
    assert direct["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_io_purge_deletes_prepared_exports_past_their_retention(
    register, client, observer, settings
):
    settings.CPER_EXPORT_RETENTION_DAYS = 7
    _prepare(client, register.slug)
    work()
    old = ExportJob.objects.get()
    path = Path(settings.MEDIA_ROOT) / old.stored_path
    eight_days_ago = time.time() - 8 * 86400
    os.utime(path, (eight_days_ago, eight_days_ago))
    _prepare(client, register.slug)
    work()
    recent = ExportJob.objects.exclude(pk=old.pk).get()
    out = io.StringIO()
    call_command("io", "purge", "--dry-run", stdout=out)
    assert "Exports préparés : 1 fichier(s) à supprimer" in out.getvalue() and path.exists()
    out = io.StringIO()
    call_command("io", "purge", stdout=out)
    assert "Exports préparés : 1 fichier(s) supprimé(s)" in out.getvalue()
    assert not path.exists()
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.stored_path == "" and recent.stored_path != ""
    assert (Path(settings.MEDIA_ROOT) / recent.stored_path).is_file()
    gone = client.get(url("export_job", register.slug, pk=old.pk)).content.decode()
    assert "supprimé après sa durée de conservation" in gone
    assert client.get(url("export_download", register.slug, pk=old.pk)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_worker_prepares_the_export(register, client, observer):
    """The job is a row of the database: `cper worker` (run once) takes it and prepares it."""
    _prepare(client, register.slug)
    job = ExportJob.objects.get()
    assert job.job_id
    call_command("worker", "--once", "--no-purge", verbosity=0)
    job.refresh_from_db()
    assert job.state == ExportState.DONE and job.rows_done == 6
    assert client.get(url("export_download", register.slug, pk=job.pk)).status_code == 200
