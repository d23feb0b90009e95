"""The forecasts' demo chapter: schedules on a share of the active partner lines, within the
line's amount, through the service, the same for the same seed."""

from __future__ import annotations

from decimal import Decimal

from cper.forecasts.demo import demo_forecasts
from cper.forecasts.selectors import current_schedules
from tests.finance import factories as ff


def test_demo_invents_schedules_within_each_lines_amount(hdf):
    lines = []
    for _ in range(15):
        op = ff.operation(hdf, status="in_progress")
        lines.append(ff.line(op, "etat", "123456.78"))
    summary = demo_forecasts(contract=hdf, seed=3, scale="S")
    schedules = current_schedules(line_ids=[x.pk for x in lines])
    assert (
        summary
        == f"prévisions : {len(schedules)} échéanciers prévisionnels inventés (illustratifs)"
    )
    assert 0 < len(schedules) < 15
    for s in schedules.values():
        assert s.total_commitment == Decimal("123456.78")
        assert s.total_payment <= Decimal("123456.78")
        assert all(hdf.start_year <= r.year <= hdf.end_year + 5 for r in s.rows)
    first = {k: [(r.year, r.commitment, r.payment) for r in v.rows] for k, v in schedules.items()}
    demo_forecasts(contract=hdf, seed=3, scale="S")  # a second run appends version 2, same rows
    second = current_schedules(line_ids=[x.pk for x in lines])
    assert {k: v.version for k, v in second.items()} == dict.fromkeys(first, 2)
    assert {
        k: [(r.year, r.commitment, r.payment) for r in v.rows] for k, v in second.items()
    } == first
