"""A movements file speaks the AP/CP chain's words: « affectation », « désaffectation » rows are
recorded as such, and a Region engagement without its affectation is refused on its row."""

from __future__ import annotations

from decimal import Decimal

from cper.finance.models import LineState, Movement
from cper.io.imports import import_movements
from tests.io.conftest import csv_file
from tests.io.test_import_rejections import (  # noqa: F401  (fixture)
    MOVEMENT_HEADER,
    programmed,
)


def test_affectation_and_desaffectation_rows_are_imported_with_their_kinds(
    hdf,
    admin_actor,
    programmed,  # noqa: F811
):
    rows = [
        MOVEMENT_HEADER,
        ["OK-1", "Région", "Affectation", "01/07/2023", "100 000,00", "CP-2023-07-01"],
        ["OK-1", "Région", "engagement", "02/07/2023", "60 000,00", "R-1"],
        ["OK-1", "Région", "Désaffectation d'AP", "01/12/2023", "40 000,00", "CP-2023-12-04"],
        ["OK-1", "Région", "mandat", "15/12/2023", "20 000,00", "M-1"],
    ]
    report = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False)
    assert report.ok, [str(r) for r in report.rejections]
    assert report.created == 4
    kinds = dict(Movement.objects.values_list("reference", "kind"))
    assert kinds == {
        "CP-2023-07-01": "affectation",
        "R-1": "commitment",
        "CP-2023-12-04": "desaffectation",
        "M-1": "payment",
    }
    line_id = Movement.objects.get(reference="R-1").financing_line_id
    state = LineState.objects.get(pk=line_id)
    # 100 000 affected − 40 000 released = 60 000, all of it committed
    assert (state.affected, state.committed, state.paid) == (6_000_000, 6_000_000, 2_000_000)


def test_a_region_engagement_without_affectation_is_refused_on_its_row(
    hdf,
    admin_actor,
    programmed,  # noqa: F811
):
    rows = [
        MOVEMENT_HEADER,
        ["OK-1", "Région", "affectation", "01/07/2023", "10 000,00", "CP-1"],
        ["OK-1", "Région", "engagement", "02/07/2023", "10 000,01", "R-1"],
    ]
    report = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False)
    assert report.created == 1 and report.rejected == 1
    message = report.rejections[0].message.replace("\xa0", " ").replace("\u202f", " ")
    assert "l'engagé (10 000,01 €) dépasserait l'AP affectée à la ligne (10 000,00 €)" in message
    # a file with a rejected row writes nothing (the import's rule), the affectation neither
    assert not Movement.objects.filter(reference__in=["CP-1", "R-1"]).exists()
    rows[2][4] = "10 000,00"
    fixed = import_movements(actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False)
    assert fixed.ok and fixed.created == 2
    assert Movement.objects.get(reference="CP-1").amount == Decimal("10000.00")
