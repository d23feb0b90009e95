"""`cper import` and `cper export` from the command line."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cper.io.models import ImportLog
from cper.io.readers import read_file
from cper.operations.models import Operation
from tests.io.conftest import SIRET_A, csv_file
from tests.io.test_import_rejections import HEADER, good_rows, mixed_rows

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_dry_run_then_apply(hdf, tmp_path, capsys):
    path = tmp_path / "registre.csv"
    path.write_bytes(csv_file([HEADER, *good_rows()]))
    out, _ = run("import", "operations", str(path), "--contract", hdf.slug, "--dry-run")
    assert "2 créée(s)" in out and "rien n'a été écrit" in out
    assert not Operation.objects.filter(contract=hdf).exists()
    assert "2/2 lignes" in capsys.readouterr().err  # the progress bar
    out, _ = run("import", "operations", str(path), "--contract", hdf.slug)
    assert "appliqué" in out
    assert Operation.objects.filter(contract=hdf).count() == 2
    log = ImportLog.objects.filter(dry_run=False).get()
    assert log.via == "cli" and log.file_name == "registre.csv"


def test_import_refused_exits_1_and_partial_writes_the_rejects(hdf, tmp_path):
    path = tmp_path / "registre.csv"
    path.write_bytes(csv_file(mixed_rows()))
    with pytest.raises(SystemExit) as exc:
        run("import", "operations", str(path), "--contract", hdf.slug, "--no-progress")
    assert exc.value.code == 1
    assert not Operation.objects.filter(contract=hdf).exists()
    out, _ = run(
        "import", "operations", str(path), "--contract", hdf.slug, "--partial", "--no-progress"
    )
    rejects = tmp_path / "registre-rejets.xlsx"
    assert rejects.exists() and "registre-rejets.xlsx" in out
    rows = read_file(rejects.read_bytes(), rejects.name)[0].rows
    assert len(rows) == 5 and rows[0][-1] == "Erreur"


def test_import_unknown_partner_or_contract(hdf, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a;b\n")
    with pytest.raises(CommandError, match="partenaire inconnu"):
        run("import", "operations", str(path), "--contract", hdf.slug, "--partner", "zz")
    with pytest.raises(CommandError, match="contrat inconnu"):
        run("import", "operations", str(path), "--contract", "nope")


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods"])
@pytest.mark.parametrize("kind", ["operations", "lines", "movements", "execution"])
def test_exports(hdf, tmp_path, kind, fmt):
    run("import", "operations", _registry(tmp_path), "--contract", hdf.slug, "--no-progress")
    output = tmp_path / f"out.{fmt}"
    args = [
        "export",
        kind,
        hdf.slug,
        "--format",
        fmt,
        "--output",
        str(output),
        "--as-of",
        "31/12/2024",
    ]
    if kind == "execution":
        args += ["--by", "axis,partner", "--filter", "departement=59"]
    out, _ = run(*args)
    assert output.exists() and "ligne(s)" in out
    rows = read_file(output.read_bytes(), output.name)[0].rows
    assert rows[0][0] == "Contrat" and hdf.slug in rows[0][1]
    as_of = "31/12/2024" if kind in ("movements", "execution") else None
    if as_of:  # « Situation au »; the register itself is exported as it is today
        assert rows[3][1] == as_of


def test_execution_export_reads_the_aggregation_service(hdf, tmp_path):
    from decimal import Decimal

    from cper.finance.aggregation import execution

    run("import", "operations", _registry(tmp_path), "--contract", hdf.slug, "--no-progress")
    output = tmp_path / "exec.xlsx"
    run("export", "execution", hdf.slug, "--by", "partner", "--output", str(output))
    rows = read_file(output.read_bytes(), output.name)[0].rows
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Partenaire")
    body = {r[0]: r for r in rows[header_at + 1 :]}
    expected = {r.labels["partner"]: r for r in execution(contract=hdf, group_by=("partner",)).rows}
    for label, row in expected.items():
        assert Decimal(str(body[label][2])) == row.programmed
    assert Decimal(str(body["Total"][2])) == Decimal("800000")


def test_export_bad_filter_is_a_command_error(hdf, tmp_path):
    with pytest.raises(CommandError):
        run(
            "export",
            "operations",
            hdf.slug,
            "--filter",
            "nimporte=1",
            "--output",
            str(tmp_path / "x.csv"),
        )


def test_scdl_command_names_the_partners_without_siret_and_exports_the_others(hdf, tmp_path):
    out, err = run("export", "scdl", hdf.slug, "--output", str(tmp_path / "s.csv"))
    assert "subvention(s) au format SCDL" in out
    assert "SIRET de l'attribuant inconnu pour : État (etat)" in err
    assert "CPER_SCDL_SIRET" in err  # how to set it
    with pytest.raises(CommandError, match="SIRET de l'attribuant inconnu pour : État"):
        run("export", "scdl", hdf.slug, "--partner", "etat", "--output", str(tmp_path / "e.csv"))


def _registry(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "registre.csv"
    path.write_bytes(csv_file([HEADER, *good_rows()]))
    assert SIRET_A in path.read_text()
    return str(path)
