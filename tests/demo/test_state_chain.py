"""The demo's State budget chain chapter: BOP and activity on the State's lines with a
programme, AE mises en place (illustrative) covering what each programme × BOP × year
committed, written through the services, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.contracts.models import BudgetProgramme
from cper.demo.state_chain import state_chain_demo
from cper.finance import aggregation
from cper.finance.models import AeMiseEnPlace
from tests.finance import factories as F

pytestmark = pytest.mark.django_db


def test_state_chain_chapter_sets_bops_and_covers_commitments(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf, objective="4.2")
    p150 = BudgetProgramme.objects.get(code="P150")
    line = F.line(op, "etat", "900000.00", budget_nature="ae_cp", programme=p150)
    F.line(op, "region", "100000.00")
    F.record(line, "commitment", dt.date(2022, 4, 1), "400000.00")
    F.record(line, "commitment", dt.date(2023, 4, 1), "100000.00")

    summary = state_chain_demo(contract=hdf, seed=7, scale="S")

    line.refresh_from_db()
    assert (line.bop, line.activity) == ("0150-HDF", "015004020101")
    assert "1 lignes avec BOP" in summary and "2 mises en place" in summary
    assert set(AeMiseEnPlace.objects.values_list("provenance", flat=True)) == {"illustrative"}
    table = aggregation.programme_execution(contract=hdf, group_by=("programme", "bop", "year"))
    rows = {(r.key["bop"], r.key["year"]): r for r in table.rows if r.key["programme"] == "P150"}
    for year, committed in ((2022, Decimal("400000.00")), (2023, Decimal("100000.00"))):
        row = rows[("0150-HDF", year)]
        assert row.ae_committed == committed
        assert committed * Decimal("1.05") <= row.ae_delegated <= committed * Decimal("1.30") + 1000
    # Run again: nothing is recorded twice.
    state_chain_demo(contract=hdf, seed=7, scale="S")
    assert AeMiseEnPlace.objects.count() == 2
