"""Importing operations and their financing plans: layouts, idempotency, rejections."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cper.io.imports import import_operations
from cper.io.models import ImportLog, ImportState
from cper.operations.models import ExternalReference, FinancingLine, Operation, ProjectOwner
from tests.io.conftest import SIRET_A, SIRET_B, csv_file, sheet_file

pytestmark = pytest.mark.django_db

WIDE_HEADER = [
    "N° d'opération",
    "Intitulé de l'opération",
    "Maître d'ouvrage",
    "N° SIRET",
    "Code INSEE",
    "Objectif",
    "Coût total HT",
    "Part État",
    "Part Région",
    "Département",
    "FEDER",
]


def wide_rows() -> list[list[object]]:
    return [
        WIDE_HEADER,
        [
            "IMP-1",
            "Pôle d'échanges de Lille",
            "Ville de Lille",
            SIRET_A,
            "59350",
            "2.2",
            "1 000 000,00 €",
            "300 000,00",
            "200000",
            "100 000",
            "150 000,50",
        ],
        [
            "IMP-2",
            "Médiathèque d'Amiens",
            "Commune d'Amiens",
            SIRET_B,
            "80021",
            "2.3",
            "500000",
            "250000",
            "",
            "",
            "",
        ],
    ]


def snapshot() -> dict[str, object]:
    return {
        "operations": sorted(
            Operation.objects.values_list("code", "title", "cost_ht", "objective__code")
        ),
        "lines": sorted(
            (str(x[0]), str(x[1]), x[2], x[3], x[4])
            for x in FinancingLine.objects.values_list(
                "operation__code", "partner__code", "financer_label", "financer_kind", "amount"
            )
        ),
        "owners": ProjectOwner.objects.count(),
    }


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods"])
def test_wide_layout_creates_operations_and_lines(hdf, admin_actor, fmt):
    data = csv_file(wide_rows()) if fmt == "csv" else sheet_file(wide_rows(), fmt)
    report = import_operations(
        actor=admin_actor, contract=hdf, source=data, file_name=f"ops.{fmt}", dry_run=False
    )
    assert report.ok, report.rejections
    assert report.layout == "wide"
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    op = Operation.objects.get(contract=hdf, code="IMP-1")
    assert op.cost_ht == Decimal("1000000.00")
    assert op.departement_id == "59"
    lines = {
        (line.partner.code if line.partner else line.financer_label): line.amount
        for line in op.financing_lines.select_related("partner")
    }
    assert lines == {
        "etat": Decimal("300000.00"),
        "region": Decimal("200000.00"),
        "dep-59": Decimal("100000.00"),  # « Département » = the operation's département
        "FEDER": Decimal("150000.50"),
    }
    log = ImportLog.objects.get(pk=report.log.pk)
    assert log.state == ImportState.APPLIED and log.created == 2 and len(log.sha256) == 64


def test_same_file_twice_changes_nothing_and_a_corrected_file_updates(hdf, admin_actor):
    data = csv_file(wide_rows())
    import_operations(actor=admin_actor, contract=hdf, source=data, dry_run=False)
    before = snapshot()
    again = import_operations(actor=admin_actor, contract=hdf, source=data, dry_run=False)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 0)
    assert snapshot() == before
    rows = wide_rows()
    rows[2][7] = "260000"  # Part État of IMP-2 corrected
    fixed = import_operations(actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False)
    assert (fixed.created, fixed.updated, fixed.unchanged) == (0, 1, 1)
    line = FinancingLine.objects.get(operation__code="IMP-2", partner__code="etat")
    assert line.amount == Decimal("260000.00")


def test_dry_run_reports_without_writing(hdf, admin_actor):
    before = snapshot()
    report = import_operations(actor=admin_actor, contract=hdf, source=csv_file(wide_rows()))
    assert report.dry_run and report.created == 2 and not report.applied
    assert snapshot() == before
    assert ImportLog.objects.get(pk=report.log.pk).state == ImportState.DRY_RUN


def test_partner_references_identify_rows(hdf, admin_actor):
    partner = hdf.partners.get(code="region")
    rows = [["Référence du dossier", *WIDE_HEADER[1:]]] + [
        [f"REG-{i}", *r[1:]] for i, r in enumerate(wide_rows()[1:], start=1)
    ]
    report = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file(rows), partner=partner, dry_run=False
    )
    assert report.ok, report.rejections
    ref = ExternalReference.objects.get(partner=partner, reference="REG-1")
    assert ref.operation.title == "Pôle d'échanges de Lille"
    again = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file(rows), partner=partner, dry_run=False
    )
    assert again.unchanged == 2
