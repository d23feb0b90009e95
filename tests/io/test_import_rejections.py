"""Bad rows are rejected one by one with their sheet, row, column and a French message; an
all-or-nothing import leaves the database unchanged; a partial one applies the valid rows and
returns the rejected ones ready to correct and re-import."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cper.finance.models import Movement
from cper.io.imports import import_movements, import_operations
from cper.io.models import ImportLog, ImportState
from cper.io.readers import read_file
from cper.operations.models import FinancingLine, Operation, ProjectOwner
from tests.io.conftest import SIRET_A, SIRET_B, SIRET_C, csv_file, sheet_file

pytestmark = pytest.mark.django_db

HEADER = [
    "N° d'opération",
    "Intitulé de l'opération",
    "Maître d'ouvrage",
    "N° SIRET",
    "Code INSEE",
    "Objectif",
    "Statut",
    "Date du comité de programmation",
    "Coût total HT",
    "Part État",
    "Part Région",
]


def good_rows() -> list[list[object]]:
    return [
        [
            "OK-1",
            "Gare de Lille",
            "Ville de Lille",
            SIRET_A,
            "59350",
            "2.2",
            "programmée",
            "15/03/2023",
            "1000000",
            "400000",
            "100000",
        ],
        [
            "OK-2",
            "Théâtre d'Amiens",
            "Ville d'Amiens",
            SIRET_B,
            "80021",
            "2.3",
            "programmée",
            "2023-03-15",
            "800000",
            "300000",
            "",
        ],
    ]


def mixed_rows() -> list[list[object]]:
    return [
        HEADER,
        *good_rows(),
        ["BAD-1", "Commune inconnue", "Ville X", SIRET_C, "99999", "2.2", "", "", "1000", "10", ""],
        [
            "BAD-2",
            "SIRET faux",
            "Ville Y",
            "12345678901234",
            "59350",
            "2.2",
            "",
            "",
            "1000",
            "10",
            "",
        ],
        [
            "BAD-3",
            "Montant en texte",
            "Ville de Lille",
            SIRET_A,
            "59350",
            "2.2",
            "",
            "",
            "1000",
            "beaucoup",
            "",
        ],
        ["OK-1", "Doublon", "Ville de Lille", SIRET_A, "59350", "2.2", "", "", "1000", "10", ""],
    ]


def db_state() -> tuple[int, int, int, int]:
    return (
        Operation.objects.count(),
        FinancingLine.objects.count(),
        ProjectOwner.objects.count(),
        Movement.objects.count(),
    )


def messages(report) -> dict[int, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    out: dict[int, list[tuple[str, str]]] = {}
    for r in report.rejections:
        out.setdefault(r.row, []).append((r.column, r.message))
    return out


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_mixed_bad_operation_rows_are_rejected_and_nothing_is_written(hdf, admin_actor, fmt):
    data = sheet_file(mixed_rows(), fmt) if fmt != "csv" else csv_file(mixed_rows())
    before = db_state()
    report = import_operations(
        actor=admin_actor, contract=hdf, source=data, file_name=f"registre.{fmt}", dry_run=False
    )
    assert not report.applied
    assert report.state == ImportState.REFUSED
    assert db_state() == before  # all or nothing
    got = messages(report)
    assert set(got) == {4, 5, 6, 7}  # header on row 1: rows 2 and 3 are good
    assert got[4] == [("Code INSEE", "commune(s) inconnue(s) : 99999")]
    assert got[5][0][0] == "N° SIRET" and "clé de contrôle" in got[5][0][1]
    assert got[6] == [("Part État", "« beaucoup » n'est pas un montant")]
    assert got[7] == [("N° d'opération", "référence « OK-1 » en double : déjà ligne 2")]
    assert {r.sheet for r in report.rejections} == {
        "Opérations" if fmt == "xlsx" else "registre.csv"
    }
    assert (report.created, report.rejected) == (2, 4)
    assert ImportLog.objects.get(pk=report.log.pk).rejected == 4


def test_partial_import_applies_valid_rows_and_returns_the_rejected_ones(hdf, admin_actor):
    report = import_operations(
        actor=admin_actor,
        contract=hdf,
        source=sheet_file(mixed_rows()),
        file_name="r.xlsx",
        dry_run=False,
        partial=True,
    )
    assert report.applied and report.state == ImportState.PARTIAL
    assert set(Operation.objects.filter(contract=hdf).values_list("code", flat=True)) == {
        "OK-1",
        "OK-2",
    }
    assert Operation.objects.get(code="OK-1").status == "programmed"
    rejected = read_file(report.rejected_file("xlsx"), "rejets.xlsx")[0].rows
    assert rejected[0][-1] == "Erreur" and rejected[0][:-1] == HEADER
    assert [r[0] for r in rejected[1:]] == ["BAD-1", "BAD-2", "BAD-3", "OK-1"]
    assert "99999" in rejected[1][-1]
    # corrected, the rejected file imports: the error column is ignored
    fixed = [list(r) for r in rejected]
    fixed[1][4], fixed[2][3], fixed[3][9] = "59009", SIRET_C, "10"
    fixed = [fixed[0], fixed[1], fixed[2], fixed[3]]  # the duplicate row is dropped
    again = import_operations(
        actor=admin_actor,
        contract=hdf,
        source=sheet_file(fixed),
        file_name="corrige.xlsx",
        dry_run=False,
    )
    assert again.ok, [str(r) for r in again.rejections]
    assert again.created == 3
    assert any("Erreur" in w for w in again.warnings) is False


MOVEMENT_HEADER = ["N° d'opération", "Financeur", "Nature du mouvement", "Date", "Montant", "N° EJ"]


@pytest.fixture
def programmed(hdf, admin_actor):  # type: ignore[no-untyped-def]
    rows = [HEADER, *good_rows()]
    report = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections]
    return report


def test_movements_import_and_idempotency(hdf, admin_actor, programmed):
    rows = [
        MOVEMENT_HEADER,
        ["OK-1", "État", "engagement", "01/06/2023", "300 000,00", "2100000001"],
        ["OK-1", "État", "paiement", "2023-09-30", "100000", "MDT-1"],
        # the Region affects AP before it commits (AP/CP chain)
        ["OK-1", "Région", "affectation d'AP", "01/07/2023", "100000", "CP-R-1"],
        ["OK-1", "Région", "engagement", "01/07/2023", "100000", "R-1"],
        ["OK-2", "État", "engagement", "45108", "300000", "2100000002"],  # an Excel serial date
    ]
    report = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False)
    assert report.ok, [str(r) for r in report.rejections]
    assert report.created == 5
    assert Movement.objects.get(reference="CP-R-1").kind == "affectation"
    m = Movement.objects.get(reference="2100000002")
    assert m.date.isoformat() == "2023-07-01" and m.amount == Decimal("300000.00")
    assert m.via == "import"
    again = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False)
    assert (again.created, again.unchanged, again.rejected) == (0, 5, 0)
    assert Movement.objects.count() == 5
    # A changed amount for an imported movement is refused: the ledger is append-only.
    rows[1][4] = "310000"
    changed = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows))
    assert changed.rejected == 1 and "correction" in changed.rejections[0].message


def test_mixed_bad_movement_rows_are_rejected_and_nothing_is_written(hdf, admin_actor, programmed):
    rows = [
        MOVEMENT_HEADER,
        ["OK-1", "État", "engagement", "01/06/2023", "300000", "2100000001"],
        ["OK-1", "État", "paiement", "01/07/2023", "-5000", "MDT-0"],  # negative payment
        ["OK-1", "État", "paiement", "01/08/2023", "350000", "MDT-1"],  # beyond commitment
        ["OK-1", "État", "paiement", "01/09/2023", "12 000 €", "MDT-2"],
        ["INCONNUE", "État", "paiement", "01/09/2023", "1", "MDT-3"],
        ["OK-1", "État", "paiement", "01/09/2023", "2000", "MDT-2"],  # duplicate of row 5
    ]
    before = db_state()
    report = import_movements(
        actor=admin_actor,
        contract=hdf,
        source=sheet_file(rows),
        file_name="chorus.xlsx",
        dry_run=False,
    )
    assert db_state() == before
    got = messages(report)
    assert set(got) == {3, 4, 6, 7}
    assert got[3][0][0] == "Montant" and "paiement ne peut pas être négatif" in got[3][0][1]
    assert got[4][0][0] == "Montant" and "engagé" in got[4][0][1]  # the finance rule's message
    assert got[6] == [("N° d'opération", "opération inconnue « INCONNUE »")]
    assert got[7][0][0] == "N° EJ" and "double" in got[7][0][1]
    assert report.created == 2  # what applying would have created


def test_dry_run_of_movements_sees_earlier_rows(hdf, admin_actor, programmed):
    """A payment is checked against the commitment of an earlier row of the same file."""
    rows = [
        MOVEMENT_HEADER,
        ["OK-2", "État", "engagement", "01/06/2023", "300000", "2100000009"],
        ["OK-2", "État", "paiement", "01/07/2023", "300000", "MDT-9"],
    ]
    report = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows))
    assert report.ok and report.created == 2 and Movement.objects.count() == 0
