"""Spreadsheet bombs (issue 15, item 1): each hostile file, built here, is refused with a French
message naming the limit and the value found, while the test process's memory stays bounded
(measured around the reading); the import ends « refusé » with that reason, `cper import`
exits 1 with it, and a crashed import ends « échec » with its reason. A real register with
thousands of declared empty rows still imports."""

from __future__ import annotations

import gc
import io
import resource
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from cper.io.imports import import_operations
from cper.io.imports.operations import OperationPlanner
from cper.io.models import ImportLog, ImportState
from cper.io.readers import LimitError, Limits, ReadError, read_file, upload_errors
from cper.operations.models import Operation
from tests.io import spreadsheet_bombs as bombs
from tests.io.conftest import csv_file, sheet_file
from tests.io.test_import_rejections import HEADER, good_rows

MB = 1024 * 1024


@contextmanager
def memory() -> Iterator[dict[str, int]]:
    """The peak of Python allocations (tracemalloc) and the growth of the process's peak
    resident memory (native allocations included) while the block runs."""
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KB on Linux
    tracemalloc.start()
    out: dict[str, int] = {}
    try:
        yield out
    finally:
        out["python"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before


BOMBS: dict[str, tuple[Callable[[], bytes], str, str, str]] = {
    # name: (builder, file name, setting named, value named in the message)
    "cell at XFD1048576": (
        bombs.far_cell,
        "x.xlsx",
        "CPER_IMPORT_MAX_COLUMNS",
        "colonne XFD, soit 16\u202f384 colonnes",
    ),
    "value at ZZ100000": (
        bombs.declared_area_with_value,
        "x.xlsx",
        "CPER_IMPORT_MAX_COLUMNS",
        "702 colonnes",
    ),
    "shared strings, compressed": (
        bombs.shared_strings,
        "x.xlsx",
        "CPER_IMPORT_MAX_COMPRESSION_RATIO",
        "sharedStrings.xml",
    ),
    "shared strings, declared": (
        bombs.declared_shared_strings,
        "x.xlsx",
        "CPER_IMPORT_MAX_CELLS",
        "3\u202f000\u202f000 textes partagés",
    ),
    "zip member of 300 MB": (
        lambda: bombs.zip_member(300 * MB),
        "x.xlsx",
        "CPER_IMPORT_MAX_UNCOMPRESSED_BYTES",
        "Mo",
    ),
    "CSV of 51 MB": (
        lambda: bombs.large_csv(51 * MB),
        "x.csv",
        "CPER_IMPORT_MAX_BYTES",
        "51,0 Mo",
    ),
    "ODS cell repeated on 16,384 columns × 1,048,575 rows": (
        bombs.ods_repeated_columns,
        "x.ods",
        "CPER_IMPORT_MAX_COLUMNS",
        "16\u202f384 colonnes",
    ),
    "ODS row repeated 1,048,575 times": (
        bombs.ods_repeated_rows,
        "x.ods",
        "CPER_IMPORT_MAX_ROWS",
        "1\u202f048\u202f576",
    ),
}


@pytest.fixture(scope="module")
def bomb_files() -> dict[str, bytes]:
    return {name: builder() for name, (builder, *_) in BOMBS.items()}


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_bomb_is_refused_by_name_within_bounded_memory(name, bomb_files):
    _, file_name, setting, found = BOMBS[name]
    data = bomb_files[name]
    with memory() as used, pytest.raises(LimitError) as refused:
        read_file(data, file_name, limits=Limits())
    message = str(refused.value)
    assert setting in message and found in message, message
    assert "; la limite est" in message
    assert used["python"] < 20 * MB, used
    assert used["rss"] < 100 * MB, used


def test_the_refusal_reads_like_the_brief():
    with pytest.raises(LimitError) as refused:
        read_file(bombs.ods_repeated_columns(), "x.ods", limits=Limits())
    assert str(refused.value) == (
        "La feuille « Opérations » a une valeur en colonne XFD, soit 16\u202f384 colonnes ; "
        "la limite est 200 (CPER_IMPORT_MAX_COLUMNS)."
    )


def test_the_bounds_come_from_the_settings(settings):
    settings.CPER_IMPORT_MAX_CELLS = 1000
    with pytest.raises(LimitError, match="CPER_IMPORT_MAX_CELLS"):
        read_file(bombs.distinct_shared_strings(1500), "x.xlsx")  # no declared count
    settings.CPER_IMPORT_MAX_CELLS = 2000
    assert read_file(bombs.distinct_shared_strings(1500), "x.xlsx")[0].rows[0][0] == "Numéro"


def test_rows_and_text_bounds_on_csv(settings):
    settings.CPER_IMPORT_MAX_ROWS = 100
    rows = [HEADER, *([good_rows()[0]] * 150)]
    with pytest.raises(LimitError, match=r"ligne 101 ; la limite est 100 \(CPER_IMPORT_MAX_ROWS"):
        read_file(csv_file(rows), "x.csv")
    settings.CPER_IMPORT_MAX_ROWS = 50_000
    settings.CPER_IMPORT_MAX_TEXT_BYTES = 1000
    with pytest.raises(LimitError, match="CPER_IMPORT_MAX_TEXT_BYTES"):
        read_file(csv_file(rows), "x.csv")


def test_a_line_of_thousands_of_separators_is_refused_before_it_is_split():
    data = ("Numéro;Intitulé\r\n" + "x;" * 1_000_000 + "\r\n").encode()
    with memory() as used, pytest.raises(LimitError, match="CPER_IMPORT_MAX_COLUMNS"):
        read_file(data, "x.csv", limits=Limits())
    assert used["python"] < 20 * MB, used


def test_declared_area_and_empty_repeats_cost_nothing():
    # What a file declares (a dimension, LibreOffice's empty columns and rows to the sheet's
    # end) is not expanded: only the cells holding a value are kept.
    with memory() as used:
        sheet = read_file(bombs.declared_area(), "x.xlsx", limits=Limits())[0]
        ods = read_file(
            bombs.ods(
                bombs.ods_row(bombs.HEADER, tail=16_381)
                + bombs.ods_row(["OP-1", "Médiathèque", 1000], tail=16_381)
                + '<table:table-row table:number-rows-repeated="1048574">'
                '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
            ),
            "x.ods",
            limits=Limits(),
        )[0]
    assert sheet.rows == [bombs.HEADER]
    assert ods.rows == [bombs.HEADER, ["OP-1", "Médiathèque", 1000.0]]
    assert used["python"] < 5 * MB, used


def test_xml_entities_are_refused():
    # A DTD is how an XML bomb expands (« billion laughs »); no spreadsheet needs one.
    dtd = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(bombs.xlsx(bombs.inline_row(1, HEADER)))) as src,
        zipfile.ZipFile(out, "w") as dst,
    ):
        for info in src.infolist():
            payload = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, rest = payload.split(b"?>", 1)
                payload = head + b"?>" + dtd + rest
            dst.writestr(info.filename, payload)
    with pytest.raises(ReadError, match="DTD"):
        read_file(out.getvalue(), "x.xlsx", limits=Limits())


def test_legacy_binary_workbooks_are_refused_with_the_way_out():
    with pytest.raises(ReadError, match=r"\.xlsx ou \.ods"):
        read_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "ancien.xls")


# --------------------------------------------------------------------------------------------
# Before a file is stored: upload_errors
# --------------------------------------------------------------------------------------------


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def test_upload_errors_accepts_a_register_and_leaves_it_at_its_start():
    for fmt in ("xlsx", "ods"):
        file = upload(f"registre.{fmt}", sheet_file([HEADER, *good_rows()], fmt))
        assert upload_errors(file) == []
        assert file.tell() == 0
    assert upload_errors(upload("registre.csv", csv_file([HEADER, *good_rows()]))) == []


def test_upload_errors_names_size_extension_and_zip_problems(settings, bomb_files):
    bomb = upload("bombe.xlsx", bomb_files["zip member of 300 MB"])
    assert "CPER_IMPORT_MAX_UNCOMPRESSED_BYTES" in upload_errors(bomb)[0]
    compressed = upload("b.xlsx", bomb_files["shared strings, compressed"])
    assert "CPER_IMPORT_MAX_COMPRESSION_RATIO" in upload_errors(compressed)[0]
    assert "format non reconnu" in upload_errors(upload("x.pdf", b"%PDF-1.4"))[0]
    assert ".xlsx ou .ods" in upload_errors(upload("x.xls", b"\xd0\xcf\x11\xe0"))[0]
    assert "illisible" in upload_errors(upload("x.xlsx", b"pas un zip"))[0]
    settings.CPER_IMPORT_MAX_BYTES = 1000
    assert upload_errors(upload("gros.csv", b"x" * 2000)) == [
        "Le fichier pèse 2,0 Ko ; la limite est 1\u202f000 octets (CPER_IMPORT_MAX_BYTES)."
    ]


# --------------------------------------------------------------------------------------------
# Through the import: the log, the command line
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["cell at XFD1048576", "value at ZZ100000", "zip member of 300 MB"]
)
def test_an_imported_bomb_ends_refused_with_its_reason(hdf, admin_actor, name, bomb_files):
    _, file_name, setting, _ = BOMBS[name]
    with memory() as used:
        report = import_operations(
            actor=admin_actor,
            contract=hdf,
            source=bomb_files[name],
            file_name=file_name,
            dry_run=False,
        )
    assert used["rss"] < 100 * MB, used
    log = ImportLog.objects.get(pk=report.log.pk)
    assert log.state == ImportState.REFUSED and log.finished_at is not None
    assert setting in log.report["rejections"][0]["message"]
    assert not Operation.objects.filter(contract=hdf).exists()


@pytest.mark.django_db
def test_a_file_over_the_size_bound_is_not_even_read(hdf, admin_actor, tmp_path, settings):
    settings.CPER_IMPORT_MAX_BYTES = 10_000
    path = tmp_path / "gros.csv"
    path.write_bytes(bombs.large_csv(20_000))
    report = import_operations(actor=admin_actor, contract=hdf, source=path, dry_run=False)
    log = ImportLog.objects.get(pk=report.log.pk)
    assert log.state == ImportState.REFUSED and log.size == path.stat().st_size
    assert "CPER_IMPORT_MAX_BYTES" in log.report["rejections"][0]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "setting"),
    [("cell at XFD1048576", "CPER_IMPORT_MAX_COLUMNS"), ("CSV of 51 MB", "CPER_IMPORT_MAX_BYTES")],
)
def test_cper_import_exits_1_with_the_reason(hdf, tmp_path, bomb_files, name, setting):
    path = tmp_path / BOMBS[name][1]
    path.write_bytes(bomb_files[name])
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(
            "import",
            "operations",
            str(path),
            "--contract",
            hdf.slug,
            "--no-progress",
            stdout=out,
            stderr=err,
        )
    assert exited.value.code == 1
    assert setting in err.getvalue() and "erreur :" in err.getvalue()
    assert "refusé" in out.getvalue()
    assert ImportLog.objects.get().state == ImportState.REFUSED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "said"),
    [(RuntimeError("boum"), "erreur inattendue (RuntimeError : boum)"), (MemoryError(), "mémoire")],
)
def test_a_crash_while_reading_ends_failed_with_its_reason(
    hdf, admin_actor, monkeypatch, error, said
):
    def crash(*args, **kwargs):
        raise error

    monkeypatch.setattr("cper.io.imports.run.read_file", crash)
    report = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file([HEADER, *good_rows()]), dry_run=False
    )
    log = ImportLog.objects.get(pk=report.log.pk)
    assert log.state == ImportState.FAILED and log.finished_at is not None
    assert "pendant la lecture du fichier" in log.report["error"] and said in log.report["error"]
    assert said in report.rejections[0].message


@pytest.mark.django_db
def test_a_crash_while_planning_ends_failed_and_writes_nothing(hdf, admin_actor, monkeypatch):
    real_run = OperationPlanner.run

    def crash_after_writing(self, progress=None):
        real_run(self, progress)  # the rows are written, then the run breaks
        raise RuntimeError("coupure")

    monkeypatch.setattr(OperationPlanner, "run", crash_after_writing)
    report = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file([HEADER, *good_rows()]), dry_run=False
    )
    log = ImportLog.objects.get(pk=report.log.pk)
    assert log.state == ImportState.FAILED and "coupure" in log.report["error"]
    assert "rien n'a été écrit" in log.report["error"]
    assert not Operation.objects.filter(contract=hdf).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_a_register_with_5000_declared_empty_rows_imports(hdf, admin_actor, fmt):
    body = [HEADER, *good_rows()]
    if fmt == "xlsx":
        data = bombs.trailing_empty_rows(body, empty=5000, width=20)
    else:  # LibreOffice: empty cells to the last column, empty styled rows below the data
        rows = "".join(bombs.ods_row(r, tail=1024 - len(r)) for r in body)
        rows += (
            '<table:table-row table:number-rows-repeated="5000">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        )
        data = bombs.ods(rows)
    with memory() as used:
        report = import_operations(
            actor=admin_actor, contract=hdf, source=data, file_name=f"r.{fmt}", dry_run=False
        )
    assert report.ok, report.rejections
    assert (report.rows_total, report.created) == (len(good_rows()), len(good_rows()))
    assert ImportLog.objects.get(pk=report.log.pk).state == ImportState.APPLIED
    assert Operation.objects.filter(contract=hdf).count() == len(good_rows())
    assert used["python"] < 50 * MB, used
