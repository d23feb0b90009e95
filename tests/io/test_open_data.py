"""Open data: the SCDL subventions 2.1.1 export (checked by the official validator,
`validata-table`, in its own venv) and the Frictionless data package."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from cper.io import datapackage, scdl
from cper.io.cli import OPERATOR
from cper.io.imports import import_movements, import_operations
from tests.conftest import ROOT
from tests.io.conftest import SIRET_A, SIRET_B, csv_file, test_siret

pytestmark = pytest.mark.django_db

VALIDATA_PYTHON = Path(
    os.environ.get("CPER_VALIDATA_PYTHON", ROOT / "var" / "validata-venv" / "bin" / "python")
)
# Test values only (Luhn-valid, built from a counter): the real SIRETs are set in the contract
# file or the CPER_SCDL_SIRET setting by whoever runs the export.
TEST_SIRETS = {
    code: test_siret(800 + i)
    for i, code in enumerate(
        [
            "etat",
            "region",
            "dep-02",
            "dep-59",
            "dep-60",
            "dep-62",
            "dep-80",
            "mel",
            "amiens-metropole",
        ]
    )
}


@pytest.fixture
def sirets(settings):  # type: ignore[no-untyped-def]
    settings.CPER_SCDL_SIRET = TEST_SIRETS
    return TEST_SIRETS


@pytest.fixture
def register(hdf, admin_actor):  # type: ignore[no-untyped-def]
    ops = [
        [
            "N° d'opération",
            "Intitulé de l'opération",
            "Maître d'ouvrage",
            "N° SIRET",
            "N° RNA",
            "Code INSEE",
            "Objectif",
            "Statut",
            "Date du comité de programmation",
            "Coût total HT",
            "Début prévu",
            "Fin prévue",
            "Part État",
            "Part Région",
            "FEDER",
        ],
        [
            "OD-1",
            "Gare de Lille",
            "Ville de Lille",
            SIRET_A,
            "",
            "59350",
            "2.2",
            "en cours",
            "15/03/2023",
            "1000000",
            "01/04/2023",
            "31/12/2025",
            "400000",
            "100000",
            "200000",
        ],
        [
            "OD-2",
            "Théâtre d'Amiens",
            "Ville d'Amiens",
            SIRET_B,
            "",
            "80021",
            "2.3",
            "programmée",
            "15/03/2023",
            "",
            "",
            "",
            "300000",
            "",
            "",
        ],
        [
            "OD-3",
            "Jardins",
            "Association Les Jardins",
            "",
            "W595012345",
            "02408",
            "1.3",
            "brouillon",
            "",
            "50000",
            "",
            "",
            "20000",
            "",
            "",
        ],
    ]
    report = import_operations(actor=admin_actor, contract=hdf, source=csv_file(ops), dry_run=False)
    assert report.ok, [str(r) for r in report.rejections]
    movements = [
        ["N° d'opération", "Financeur", "Nature du mouvement", "Date", "Montant", "N° EJ"],
        ["OD-1", "État", "engagement", "01/06/2023", "400000", "2100000001"],
        ["OD-1", "État", "paiement", "30/09/2023", "100000", "M-1"],
        ["OD-1", "État", "paiement", "15/02/2024", "100000", "M-2"],
        ["OD-2", "État", "engagement", "01/06/2023", "300000", "2100000002"],
        ["OD-2", "État", "paiement", "01/12/2023", "300000", "M-3"],
    ]
    report = import_movements(
        actor=admin_actor, contract=hdf, source=csv_file(movements), dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections]
    return hdf


def test_scdl_rows_follow_the_plan_and_the_payments(register, sirets):
    rows = {
        (r.values["idAttribuant"], r.values["referenceDecision"]): r.values
        for r in scdl.grants(register, user=OPERATOR)
    }
    state = rows[(sirets["etat"], "OD-1")]
    assert state["nomAttribuant"] == "État"
    assert state["montant"] == "400000.00"
    assert state["pourcentageSubvention"] == "0.4"
    assert state["notificationUE"] == "oui"  # a FEDER line in the plan
    assert state["datesPeriodeVersement"] == "2023-09-30/2024-02-15"
    assert state["conditionsVersement"] == "échelonné"
    assert state["dateConvention"] == "2023-03-15"
    assert state["idBeneficiaire"] == SIRET_A
    theatre = rows[(sirets["etat"], "OD-2")]
    assert theatre["pourcentageSubvention"] == "1"  # no eligible cost known: sole beneficiary
    assert theatre["datesPeriodeVersement"] == "2023-12-01"
    assert theatre["conditionsVersement"] == "unique"
    assert theatre["notificationUE"] == "non"
    assert (sirets["region"], "OD-1") in rows
    assert not any(ref == "OD-3" for _, ref in rows)  # a draft is not a grant
    only = scdl.grants(register, partner=register.partners.get(code="region"), user=OPERATOR)
    assert [r.values["referenceDecision"] for r in only] == ["OD-1"]


def test_scdl_leaves_out_and_names_the_partners_whose_siret_is_unknown(register, settings):
    settings.CPER_SCDL_SIRET = {}  # only the contract file's SIRETs: none for the State
    rows = scdl.grants(register, user=OPERATOR)
    attributing = {r.values["nomAttribuant"] for r in rows}
    assert "État" not in attributing and "Région Hauts-de-France" in attributing
    missing = scdl.missing_sirets(register)
    assert [p.code for p in missing] == ["etat", "amiens-metropole"]
    assert "État (etat)" in scdl.missing_siret_message(missing)
    with pytest.raises(scdl.ScdlError, match="SIRET de l'attribuant inconnu pour : État"):
        scdl.grants(register, partner=register.partners.get(code="etat"), user=OPERATOR)


def test_scdl_csv_has_the_schema_header(register, sirets):
    data = scdl.render_csv(scdl.grants(register, user=OPERATOR)).decode("utf-8")
    header = next(csv.reader(io.StringIO(data)))
    assert header == [f["name"] for f in scdl.schema()["fields"]]


def validata(path: Path) -> dict:  # type: ignore[type-arg]
    if not VALIDATA_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"validata-table absent ({VALIDATA_PYTHON}) : .ci/run doit l'installer")
        pytest.skip(
            f"validata-table absent ({VALIDATA_PYTHON}) : "
            "python3.11 -m venv var/validata-venv && "
            "var/validata-venv/bin/pip install validata-table"
        )
    result = subprocess.run(
        [
            str(VALIDATA_PYTHON),
            "-c",
            "import sys; from validata_core.domain.cli import cli; sys.exit(cli())",
            "--schema",
            str(scdl.SCHEMA_PATH),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=path.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_scdl_export_passes_the_official_validator(register, sirets, tmp_path):
    path = tmp_path / "subventions.csv"
    n = scdl.export(register, path, user=OPERATOR)
    assert n == 3
    report = validata(path)
    assert report["stats"]["errors"] == 0, report["errors"][:5]
    assert report["valid"] is True


def test_scdl_of_demo_data_passes_the_official_validator(hdf, sirets, tmp_path):
    call_command("demo", "--operations", "120", "--no-users", stdout=io.StringIO())
    path = tmp_path / "subventions-demo.csv"
    n = scdl.export(hdf, path, user=OPERATOR)
    assert n > 0
    report = validata(path)
    assert report["stats"]["errors"] == 0, report["errors"][:5]


def test_datapackage_is_valid_under_frictionless(register, tmp_path):
    from frictionless import validate

    counts = datapackage.export(register, tmp_path / "paquet", user=OPERATOR)
    assert counts["operations"] == 3 and counts["mouvements"] == 5
    assert counts["lignes_financement"] == 5
    report = validate(str(tmp_path / "paquet" / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]
    descriptor = json.loads((tmp_path / "paquet" / "datapackage.json").read_text())
    assert [r["name"] for r in descriptor["resources"]] == [
        "maquette",
        "operations",
        "lignes_financement",
        "mouvements",
    ]
    rows = list(csv.DictReader((tmp_path / "paquet" / "lignes_financement.csv").open()))
    assert {Decimal(r["montant"]) for r in rows if r["operation"] == "OD-1"} == {
        Decimal("400000.00"),
        Decimal("100000.00"),
        Decimal("200000.00"),
    }


def test_datapackage_command(register, tmp_path):
    call_command(
        "export",
        "datapackage",
        register.slug,
        "--output",
        str(tmp_path / "p"),
        stdout=io.StringIO(),
    )
    from frictionless import validate

    assert validate(str(tmp_path / "p" / "datapackage.json")).valid


def test_scdl_prepared_in_the_background_has_the_bytes_of_the_direct_file(
    register, sirets, settings, tmp_path, monkeypatch
):
    """By chunks of one operation (`SCDL_CHUNK`), the job's file is the direct download's."""
    from cper.audit.services import Actor
    from cper.io import tasks
    from cper.io.models import ExportJob, ExportState
    from cper.io.services import export_job_open
    from cper.operations.models import Operation

    settings.MEDIA_ROOT = tmp_path
    # an anonymous visitor's export (the job runs as its requester): published operations
    Operation.objects.filter(contract=register).update(published=True)
    direct = scdl.render_csv(scdl.grants(register, user=None))
    monkeypatch.setattr(scdl, "SCDL_CHUNK", 1)
    job = export_job_open(
        actor=Actor.system(),
        contract=register,
        kind="scdl",
        fmt="csv",
        params={},
        rows_total=0,
        enqueue=lambda job_id: "test",
    )
    tasks.run_export_now(str(job.pk))
    job = ExportJob.objects.get(pk=job.pk)
    assert job.state == ExportState.DONE and job.rows_done == direct.count(b"\n") - 1 > 0
    assert (tmp_path / job.stored_path).read_bytes() == direct


def test_scdl_file_is_written_whole_or_not_at_all(register, sirets, tmp_path, monkeypatch):
    path = tmp_path / "subventions.csv"
    path.write_text("le fichier d'hier\n", encoding="utf-8")
    rows = scdl.iter_grants

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        yield from list(rows(*args, **kwargs))[:1]
        raise RuntimeError("connexion perdue")

    monkeypatch.setattr(scdl, "iter_grants", broken)
    with pytest.raises(RuntimeError):
        scdl.export(register, path, user=OPERATOR)
    assert path.read_text(encoding="utf-8") == "le fichier d'hier\n"  # yesterday's file kept
    assert [p.name for p in tmp_path.iterdir()] == ["subventions.csv"]  # nothing left beside


def test_scdl_rows_are_the_same_whatever_the_chunk_of_operations(register, sirets, monkeypatch):
    whole = scdl.render_csv(scdl.grants(register, user=OPERATOR))
    monkeypatch.setattr(scdl, "SCDL_CHUNK", 1)
    assert scdl.render_csv(scdl.grants(register, user=OPERATOR)) == whole
    assert whole.count(b"\n") == 4  # the header and the three grants
