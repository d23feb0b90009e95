"""The indicators' demo chapter: the HdF catalogue (illustrative) and values on a share of the
programmed operations, through the service, the same for the same seed."""

from __future__ import annotations

from cper.indicators.demo import SOURCE, demo_indicators
from cper.indicators.models import Indicator, IndicatorValue
from tests.finance import factories as ff


def test_demo_loads_the_catalogue_and_invents_values_deterministically(hdf):
    ops = [ff.operation(hdf, objective="2.2", status="in_progress") for _ in range(12)]
    summary = demo_indicators(contract=hdf, seed=7, scale="S")
    assert summary.startswith("indicateurs : catalogue de 13 indicateurs (illustratif)")
    assert Indicator.objects.filter(contract=hdf, provenance="illustrative").count() == 13
    made = list(
        IndicatorValue.objects.filter(operation__in=ops)
        .order_by("operation_id", "indicator_id", "date", "id")
        .values_list("operation_id", "indicator__code", "planned", "achieved", "date", "source")
    )
    assert made and {m[5] for m in made} == {SOURCE}
    # Objective 2.2 carries R2-M2 and R2-OCC: only those are invented.
    assert {m[1] for m in made} <= {"R2-M2", "R2-OCC"}
    IndicatorValue.objects.all().delete()
    demo_indicators(contract=hdf, seed=7, scale="S")
    again = list(
        IndicatorValue.objects.filter(operation__in=ops)
        .order_by("operation_id", "indicator_id", "date", "id")
        .values_list("operation_id", "indicator__code", "planned", "achieved", "date", "source")
    )
    assert again == made
