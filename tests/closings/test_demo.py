"""The demo's closings chapter: closings at 31/12/2024 and 31/12/2025 through the service, once,
and a late commitment that the last closing's reconciliation shows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.closings import selectors
from cper.closings.demo import demo_closings
from cper.closings.models import Closing, ReportComment
from tests.finance import factories as FF


@pytest.mark.django_db
def test_the_demo_arrete_2024_and_2025_once(hdf) -> None:
    op = FF.operation(hdf, code="A", programmed_on=dt.date(2024, 3, 15))
    FF.record(FF.line(op, "etat", "1000.00"), "commitment", dt.date(2025, 2, 1), "400.00")
    summary = demo_closings(contract=hdf, seed=1, scale="S")
    assert "31/12/2024" in summary and "31/12/2025" in summary
    closings = {c.at: c for c in Closing.objects.filter(contract=hdf)}
    assert sorted(closings) == [dt.date(2024, 12, 31), dt.date(2025, 12, 31)]
    assert (
        closings[dt.date(2024, 12, 31)].figures["groupings"]["total"]["total"]["committed"]
        == "0.00"
    )
    assert (
        closings[dt.date(2025, 12, 31)].figures["groupings"]["total"]["total"]["committed"]
        == "400.00"
    )
    # the late commitment: 600 € left on the line, dated 15/12/2025, recorded after the closing
    assert "engagement tardif de 600,00" in summary
    rec = selectors.reconciliation(closing=closings[dt.date(2025, 12, 31)])
    assert rec.total.gap("committed") == Decimal("600.00")
    assert [c.movement.reference for c in rec.movements] == ["DEMO-TARDIF-1"]
    assert ReportComment.objects.filter(closing=closings[dt.date(2025, 12, 31)]).exists()
    assert "illustratif" in ReportComment.objects.first().text  # type: ignore[union-attr]
    assert "rien d'ajouté" in demo_closings(contract=hdf, seed=1, scale="S")
    assert Closing.objects.filter(contract=hdf).count() == 2
