"""The data pages: exports, upload → dry-run preview → confirm, the log of a run."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cper.accounts.models import Role
from cper.io.models import ImportLog, ImportState
from cper.io.readers import read_file
from cper.operations.models import Operation
from tests.io.conftest import csv_file
from tests.io.test_import_rejections import HEADER, good_rows, mixed_rows
from tests.operations.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, hdf, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path
    client.force_login(make_user(Role.ADMINISTRATOR, username="io-admin-web"))
    return client


def url(name: str, slug: str, **kw: object) -> str:
    return reverse(f"io:{name}", kwargs={"slug": slug, **kw})


def test_index_lists_exports_and_the_import_form(staff_client, hdf):
    page = staff_client.get(url("index", hdf.slug)).content.decode()
    assert "Exports" in page and "SCDL" in page and 'name="file"' in page
    assert url("export", hdf.slug, kind="lines", fmt="ods") in page


def test_anonymous_visitor_exports_but_cannot_import(client, hdf):
    page = client.get(url("index", hdf.slug)).content.decode()
    assert 'name="file"' not in page
    response = client.post(url("import_upload", hdf.slug), {"kind": "operations"})
    assert response.status_code == 403


def upload(client, hdf, rows, **extra):  # type: ignore[no-untyped-def]
    data = {
        "kind": "operations",
        "file": SimpleUploadedFile("registre.csv", csv_file(rows)),
        **extra,
    }
    return client.post(url("import_upload", hdf.slug), data)


def test_upload_preview_confirm(staff_client, hdf):
    response = upload(staff_client, hdf, [HEADER, *good_rows()])
    assert response.status_code == 302
    preview = ImportLog.objects.get()
    assert preview.state == ImportState.DRY_RUN and preview.created == 2
    assert not Operation.objects.filter(contract=hdf).exists()
    page = staff_client.get(response["Location"]).content.decode()
    assert "Confirmer et appliquer" in page and "Rien n'a encore été écrit" in page
    done = staff_client.post(url("import_confirm", hdf.slug, pk=preview.pk))
    assert done.status_code == 302
    applied = ImportLog.objects.get(preview_of=preview)
    assert applied.state == ImportState.APPLIED and applied.via == "import"
    assert Operation.objects.filter(contract=hdf).count() == 2
    page = staff_client.get(done["Location"]).content.decode()
    assert applied.sha256 in page and "Appliqué" in page
    from cper.audit.models import AuditEntry

    entry = AuditEntry.objects.get(action="import.applied")
    assert entry.subject_id == str(applied.pk) and entry.subject_type == "cper_io.importlog"


def test_preview_shows_rejections_and_offers_the_rejected_rows(staff_client, hdf):
    response = upload(staff_client, hdf, mixed_rows())
    page = staff_client.get(response["Location"]).content.decode()
    assert "commune(s) inconnue(s) : 99999" in page
    assert "Confirmer" not in page and "tout ou rien" in page
    log = ImportLog.objects.get()
    rejects = staff_client.get(url("import_rejects", hdf.slug, pk=log.pk))
    rows = read_file(rejects.content, "r.xlsx")[0].rows
    assert rows[0][-1] == "Erreur" and len(rows) == 5


def test_partial_preview_can_be_confirmed(staff_client, hdf):
    response = upload(staff_client, hdf, mixed_rows(), partial="1")
    page = staff_client.get(response["Location"]).content.decode()
    assert "Confirmer et appliquer les lignes valides" in page
    log = ImportLog.objects.get()
    staff_client.post(url("import_confirm", hdf.slug, pk=log.pk))
    assert Operation.objects.filter(contract=hdf).count() == 2


def test_status_fragment_polls_while_running(staff_client, hdf):
    log = ImportLog.objects.create(
        contract=hdf,
        kind="operations",
        file_name="gros.csv",
        sha256="",
        state=ImportState.RUNNING,
        rows_total=1000,
        rows_done=250,  # as a background job writes it (cper.io.tasks.ProgressSink)
    )
    page = staff_client.get(url("import_status", hdf.slug, pk=log.pk)).content.decode()
    assert 'hx-trigger="every 1s"' in page and "250 / 1000" in page and "25 %" in page
    log.state = ImportState.DRY_RUN
    log.save()
    done = staff_client.get(url("import_status", hdf.slug, pk=log.pk), HTTP_HX_REQUEST="true")
    assert done["HX-Redirect"].endswith(f"/import/{log.pk}/simulation/")


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods"])
def test_export_download(staff_client, hdf, fmt):
    upload(staff_client, hdf, [HEADER, *good_rows()])
    staff_client.post(url("import_confirm", hdf.slug, pk=ImportLog.objects.get().pk))
    response = staff_client.get(url("export", hdf.slug, kind="lines", fmt=fmt) + "?departement=59")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'.{fmt}"')
    rows = read_file(response.getvalue(), f"x.{fmt}")[0].rows
    assert rows[2][1] == "departement=59"
    assert any("OK-1" in [str(c) for c in r] for r in rows)
    assert not any("OK-2" in [str(c) for c in r] for r in rows)  # Amiens is in the Somme


def test_public_export_hides_unpublished_operations(staff_client, hdf):
    upload(staff_client, hdf, [HEADER, *good_rows()])
    staff_client.post(url("import_confirm", hdf.slug, pk=ImportLog.objects.get().pk))
    staff_client.logout()  # an anonymous visitor now
    response = staff_client.get(url("export", hdf.slug, kind="operations", fmt="csv"))
    assert "OK-1" not in response.getvalue().decode("utf-8-sig")


def test_datapackage_zip(staff_client, hdf):
    response = staff_client.get(url("export_datapackage", hdf.slug))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
