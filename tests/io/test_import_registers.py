"""Importing a register kept in a partner's own layout: title rows above the headers, headers
with extra words and abbreviations, everyday statuses, no committee dates (a takeover of the
decisions taken before cper), French amounts, and bad rows each rejected once with its reason."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from cper.io.imports import import_operations
from cper.money import format_eur
from cper.operations.models import (
    Committee,
    Decision,
    ExternalReference,
    FinancingLine,
    Operation,
    OperationStatus,
)
from tests.io.conftest import test_siret

pytestmark = pytest.mark.django_db

HEADERS = [
    "N° dossier",
    "Intitulé du projet (libellé court)",
    "Raison sociale du MO",
    "N° SIRET du MO",
    "Code INSEE commune",
    "Obj. CPER",
    "Statut opé.",
    "Coût total HT (€)",
    "Montant Région",
    "Montant FEDER",
]

GOOD = [
    # dossier, title, owner, siret, commune, objective, status, cost, region, feder
    ("R-001", "Pôle gare de Lille", "Ville de Lille", 11, "59350", "2.2", "Programmé",
     "1 234 567,89 €", "400 000,00 €", "200 000"),
    ("R-002", "Médiathèque d'Amiens", "Ville d'Amiens", 12, "80021", "2.3", "programmée",
     "800 000 €", "300 000", ""),
    ("R-003", "Maison de santé d'Arras", "Ville d'Arras", 13, "62041", "2.3", "EN COURS",
     "650 000,00", "250 000,50 €", "100 000 €"),
    ("R-004", "Halle de Saint-Quentin", "Ville de Saint-Quentin", 14, "02691", "2.2",
     "Terminé", "500 000", "150 000", ""),
    ("R-005", "Friche de Beauvais", "Ville de Beauvais", 15, "60057", "2.4", "Ajourné",
     "300 000", "100 000", ""),
    ("R-006", "Tiers-lieu de Lille", "Association Lilloise", 16, "59350", "2.2", "Abandonné",
     "90 000", "40 000", ""),
]  # fmt: skip

# Each bad row has exactly one problem; the expected column and words of its reason.
BAD = [
    (("R-101", "Bad SIRET", "Ville de Lille", "12345678901234", "59350", "2.2", "Programmé",
      "100 000", "50 000", ""), "N° SIRET du MO", "SIRET"),
    (("R-102", "Commune inconnue", "Ville de Lille", 21, "99999", "2.2", "Programmé",
      "100 000", "50 000", ""), "Code INSEE commune", "99999"),
    (("R-103", "Montant en texte", "Ville de Lille", 22, "59350", "2.2", "Programmé",
      "100 000", "à confirmer", ""), "Montant Région", "n'est pas un montant"),
    (("R-001", "Doublon", "Ville de Lille", 23, "59350", "2.2", "Programmé",
      "100 000", "50 000", ""), "N° dossier", "en double"),
    (("R-105", "Montant négatif", "Ville de Lille", 24, "59350", "2.2", "Programmé",
      "100 000", "-50 000,00 €", ""), "Montant Région", "négatif"),
    (("R-106", "Objectif inconnu", "Ville de Lille", 25, "59350", "9.9", "Programmé",
      "100 000", "50 000", ""), "Obj. CPER", "objectif inconnu"),
]  # fmt: skip

TAKEOVER_DAY = dt.date(2022, 12, 31)


def _cells(row: tuple[object, ...]) -> list[object]:
    cells = list(row)
    if isinstance(cells[3], int):
        cells[3] = test_siret(cells[3])  # a valid test SIRET, its SIREN too
    return cells


def register_file() -> bytes:
    """The register as a partner keeps it: two title lines and a blank one above the
    headers; good rows first, then the bad ones (the duplicate repeats R-001)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Suivi CPER"
    sheet.append(["Registre des opérations du CPER — Région Hauts-de-France"])
    sheet.append(["Extraction du 15/03/2024, service des politiques contractuelles"])
    sheet.append([])
    sheet.append(HEADERS)
    for row in GOOD:
        sheet.append(_cells(row))
    for row, _, _ in BAD:
        sheet.append(_cells(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


BAD_ROWS = {5 + len(GOOD) + i: (column, words) for i, (_, column, words) in enumerate(BAD)}


def _run(hdf, actor, **options):  # type: ignore[no-untyped-def]
    return import_operations(
        actor=actor,
        contract=hdf,
        source=register_file(),
        file_name="registre-region.xlsx",
        partner=hdf.partners.get(code="region"),
        **options,
    )


def test_dry_run_rejects_each_bad_row_once_with_its_reason(hdf, admin_actor):
    report = _run(hdf, admin_actor, dry_run=True, partial=True, programmed_on=TAKEOVER_DAY)

    assert (report.sheet, report.header_row, report.layout) == ("Suivi CPER", 4, "wide")
    by_row: dict[int, list[tuple[str, str]]] = {}
    for r in report.rejections:
        by_row.setdefault(r.row, []).append((r.column, r.message))
    assert set(by_row) == set(BAD_ROWS), by_row
    for row, (column, words) in BAD_ROWS.items():
        [(col, message)] = by_row[row]
        assert col == column and words in message, (row, col, message)
    assert report.created == len(GOOD)
    assert not Operation.objects.filter(contract=hdf).exists()  # a dry run writes nothing


def test_dry_run_shows_the_headers_it_matched_and_the_rows_it_will_write(hdf, admin_actor):
    report = _run(hdf, admin_actor, dry_run=True, partial=True, programmed_on=TAKEOVER_DAY)

    matched = {m["header"]: (m["field"], m["score"]) for m in report.matches}
    assert matched["N° dossier"] == ("reference", None)  # a known header: exact
    assert matched["Intitulé du projet (libellé court)"][0] == "title"
    assert matched["Raison sociale du MO"][0] == "owner_name"
    assert matched["N° SIRET du MO"][0] == "owner_siret"
    assert matched["Code INSEE commune"][0] == "communes"
    assert matched["Obj. CPER"][0] == "objective"
    assert matched["Statut opé."][0] == "status"
    assert matched["Coût total HT (€)"][0] == "cost_ht"
    assert matched["Intitulé du projet (libellé court)"][1] < 1  # approximate: flagged
    assert {m["header"] for m in report.matches if not m["field"]} == {
        "Montant Région",
        "Montant FEDER",
    }
    assert not report.warnings

    preview = report.as_dict()["preview"]
    assert [p["row"] for p in preview] == [5, 6, 7, 8, 9, 10]
    first = preview[0]["values"]
    assert first["Référence du partenaire"] == "R-001"
    assert first["N° d'opération"].startswith("OP-")  # the contract's own number
    assert first["Statut"] == "programmée"
    assert first["Décision"] == "Reprise de l'existant — décisions antérieures au 31/12/2022"
    assert first["Financement"] == (
        f"Région {format_eur(Decimal('400000'))} ; FEDER {format_eur(Decimal('200000'))}"
    )
    assert [p["values"]["Statut"] for p in preview] == [
        "programmée",
        "programmée",
        "en cours",
        "achevée",
        "ajournée",
        "abandonnée",
    ]


def test_without_the_takeover_date_programmed_rows_are_refused_not_invented(hdf, admin_actor):
    report = _run(hdf, admin_actor, dry_run=True, partial=True)

    refused = {r.row for r in report.rejections if "--programmed-on" in r.message}
    assert refused == {5, 6, 7, 8}  # programmed, in progress, completed: a decision is needed
    assert not Committee.objects.filter(contract=hdf).exists()


def test_partial_takeover_creates_exactly_the_good_rows_and_again_nothing(hdf, admin_actor):
    report = _run(hdf, admin_actor, dry_run=False, partial=True, programmed_on=TAKEOVER_DAY)

    assert report.applied and report.created == len(GOOD) and report.rejected == len(BAD)
    region = hdf.partners.get(code="region")
    refs = dict(
        ExternalReference.objects.filter(partner=region).values_list("reference", "operation")
    )
    assert sorted(refs) == [row[0] for row in GOOD]
    ops = {o.pk: o for o in Operation.objects.filter(contract=hdf)}
    assert len(ops) == len(GOOD) and all(o.code.startswith("OP-") for o in ops.values())
    statuses = {ref: ops[pk].status for ref, pk in refs.items()}
    assert statuses == {
        "R-001": OperationStatus.PROGRAMMED,
        "R-002": OperationStatus.PROGRAMMED,
        "R-003": OperationStatus.IN_PROGRESS,
        "R-004": OperationStatus.COMPLETED,
        "R-005": OperationStatus.ADJOURNED,
        "R-006": OperationStatus.ABANDONED,
    }
    first = ops[refs["R-001"]]
    assert first.cost_ht == Decimal("1234567.89")
    assert sorted(
        FinancingLine.objects.filter(operation=first).values_list("financer_label", "amount")
    ) == [("", Decimal("400000.00")), ("FEDER", Decimal("200000.00"))]
    # One takeover committee, marked as such, holds the decisions of the programmed rows.
    [committee] = Committee.objects.filter(contract=hdf)
    assert committee.date == TAKEOVER_DAY
    assert committee.title == "Reprise de l'existant — décisions antérieures au 31/12/2022"
    assert sorted(
        Decision.objects.filter(committee=committee).values_list("operation", flat=True)
    ) == sorted(refs[r] for r in ("R-001", "R-002", "R-003", "R-004"))

    again = _run(hdf, admin_actor, dry_run=False, partial=True, programmed_on=TAKEOVER_DAY)
    assert again.created == 0 and again.updated == 0 and again.unchanged == len(GOOD)
    assert again.rejected == len(BAD)
    assert Operation.objects.filter(contract=hdf).count() == len(GOOD)
    assert Committee.objects.filter(contract=hdf).count() == 1


def test_command_line_takeover_and_its_dry_run_report(hdf, tmp_path: Path):
    path = tmp_path / "registre.xlsx"
    path.write_bytes(register_file())
    common = ["operations", str(path), "--contract", hdf.slug, "--partner", "region"]
    out = io.StringIO()
    with pytest.raises(SystemExit):  # rejections in a dry run: exit code 1
        call_command(
            "import", *common, "--dry-run", "--programmed-on", "31/12/2022", "--no-progress",
            stdout=out,
        )  # fmt: skip
    text = out.getvalue()
    assert "« N° SIRET du MO » → N° SIRET (rapproché" in text
    assert '"Obj. CPER" = "objective"' in text  # the mapping to correct a match
    assert "ligne 5 (créée)" in text and "Reprise de l'existant" in text
    assert f"ligne {5 + len(GOOD)}, colonne « N° SIRET du MO »" in text
    assert not Operation.objects.exists()

    out = io.StringIO()
    call_command(
        "import", *common, "--partial", "--programmed-on", "31/12/2022", "--no-progress",
        "--rejects", str(tmp_path / "rejets.xlsx"), stdout=out,
    )  # fmt: skip
    assert Operation.objects.filter(contract=hdf).count() == len(GOOD)
    assert (tmp_path / "rejets.xlsx").is_file()


def test_a_takeover_date_to_come_is_refused(hdf, tmp_path: Path):
    path = tmp_path / "registre.xlsx"
    path.write_bytes(register_file())
    with pytest.raises(CommandError, match="à venir"):
        call_command(
            "import", "operations", str(path), "--contract", hdf.slug,
            "--programmed-on", "31/12/2099", "--no-progress",
        )  # fmt: skip


def test_an_existing_operation_taken_over_as_programmed_joins_the_takeover_committee(
    hdf, admin_actor
):
    submitted = [list(HEADERS), _cells(GOOD[1])]
    submitted[1][6] = "Déposée"
    region = hdf.partners.get(code="region")

    def run(rows):  # type: ignore[no-untyped-def]
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        return import_operations(
            actor=admin_actor,
            contract=hdf,
            source=buffer.getvalue(),
            file_name="r.xlsx",
            partner=region,
            dry_run=False,
            programmed_on=TAKEOVER_DAY,
        )

    assert run(submitted).created == 1
    assert not Committee.objects.exists()  # nothing programmed: no takeover recorded
    programmed = [list(HEADERS), _cells(GOOD[1])]
    report = run(programmed)
    assert report.updated == 1, [str(r) for r in report.rejections]
    op = Operation.objects.get(contract=hdf)
    assert op.status == OperationStatus.PROGRAMMED
    decision = Decision.objects.get(operation=op)
    assert decision.committee.title.startswith("Reprise de l'existant")
    assert decision.committee.date == TAKEOVER_DAY
