"""Factories of the indicators' tests: a small catalogue on the Hauts-de-France contract, and
values recorded through the service (the system actor)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.indicators.models import Indicator, IndicatorValue
from cper.indicators.services import (
    IndicatorDraft,
    indicator_catalogue_load,
    indicator_value_record,
)
from cper.operations.models import Operation

SYSTEM = Actor.system()


def catalogue(contract: Contract) -> dict[str, Indicator]:
    """Three indicators: surfaces (m², summable), a count of places, an occupancy rate (%)."""
    indicator_catalogue_load(
        actor=SYSTEM,
        contract=contract,
        drafts=[
            IndicatorDraft("T-M2", "Surface réhabilitée", "output", "m2", ("2.2", "2.5")),
            IndicatorDraft(
                "T-PL", "Places créées", "output", "places", ("4.2",), target_2027=Decimal(100)
            ),
            IndicatorDraft("T-OCC", "Taux d'occupation", "result", "pourcent", ("2.2",)),
        ],
    )
    return {i.code: i for i in Indicator.objects.filter(contract=contract)}


def value(
    op: Operation,
    code: str,
    *,
    planned: str | None = None,
    achieved: str | None = None,
    day: dt.date = dt.date(2024, 6, 30),
) -> IndicatorValue:
    return indicator_value_record(
        actor=SYSTEM,
        operation=op,
        indicator=code,
        planned=Decimal(planned) if planned is not None else None,
        achieved=Decimal(achieved) if achieved is not None else None,
        date=day,
    )
