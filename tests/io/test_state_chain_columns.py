"""The State's Chorus columns in files (issue 12): the lines export writes « BOP » and
« Activité » beside « Programme LOLF », an import reads them back, and a contractualised State
line without programme goes in with a warning naming the column."""

from __future__ import annotations

import pytest

from cper.contracts.models import BudgetProgramme
from cper.io import exports, writers
from cper.io.imports import import_operations
from cper.operations.models import FinancingLine
from tests.finance import factories as F
from tests.io.test_round_trip import twin  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def test_bop_and_activity_go_out_and_come_back(hdf, twin, admin_actor):  # type: ignore[no-untyped-def]  # noqa: F811
    op = F.operation(hdf, objective="4.2", code="CH-001", status="draft", programmed_on=None)
    F.line(
        op, "etat", "120000.00", budget_nature="ae_cp",
        programme=BudgetProgramme.objects.get(code="P150"), bop="0150-HDF",
        activity="015004020101",
    )  # fmt: skip
    F.line(op, "etat", "30000.00", budget_nature="ae_cp")  # no programme: a warning
    sheets = exports.build("lines", hdf, user=admin_actor.user)
    header = [c.label for c in sheets[0].columns]
    assert header[header.index("Programme LOLF") + 1 : header.index("Programme LOLF") + 3] == [
        "BOP",
        "Activité",
    ]
    report = import_operations(
        actor=admin_actor,
        contract=twin,
        source=writers.render(sheets, "csv"),
        file_name="lignes.csv",
        dry_run=False,
    )
    assert report.ok, [str(r) for r in report.rejections]
    lines = FinancingLine.objects.filter(operation__contract=twin, operation__code="CH-001")
    assert {(x.programme_id is not None, x.bop, x.activity) for x in lines} == {
        (True, "0150-HDF", "015004020101"),
        (False, None, None),
    }
    assert any(
        "colonne « Programme LOLF »" in w and "programme LOLF" in w for w in report.warnings
    ), report.warnings
