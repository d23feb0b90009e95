"""The indicators' chapter of the demo (`cper demo`, registered in `cper.demo.extras`): the
contract's catalogue from `contracts/<slug>.indicators.yaml` when there is one, and invented
values on about a third of the operations programmed or later — through the services, as the
system, deterministic for a seed. Every figure is illustrative: the catalogue file says so, and
each value's source reads « illustratif (démonstration) »."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.indicators.files import read_catalogue
from cper.indicators.models import Indicator
from cper.indicators.services import (
    ValueDraft,
    indicator_catalogue_load,
    indicator_values_record_many,
)
from cper.operations.models import PROGRAMMED_STATUSES, Operation

SOURCE = "illustratif (démonstration)"
SHARE = 0.35
# Euros of eligible cost per unit of each unit (an invented order of magnitude).
COST_PER_UNIT = {
    "m2": 2_500,
    "km": 1_500_000,
    "ha": 25_000,
    "places": 60_000,
    "logements": 80_000,
    "personnes": 2_000,
    "mwh": 1_200,
    "tco2": 6_000,
    "nombre": 1_500_000,
    "eur": 1,
}
# Achieved share of the planned quantity, by operation status (min, max).
PROGRESS = {
    "programmed": (0.0, 0.1),
    "in_progress": (0.2, 0.8),
    "completed": (0.9, 1.05),
    "closed": (0.95, 1.05),
}


def catalogue_file(contract: Contract) -> Path:
    return Path(settings.BASE_DIR) / "contracts" / f"{contract.slug}.indicators.yaml"


def _planned(unit: str, cost: Decimal, rng: random.Random) -> Decimal:
    if unit in {"pourcent", "ratio"}:
        return Decimal(rng.randint(50, 95))
    per_unit = COST_PER_UNIT.get(unit, 100_000)
    quantity = max(Decimal(1), (cost / per_unit) * Decimal(str(round(rng.uniform(0.6, 1.4), 2))))
    return quantity.quantize(Decimal("0.1") if unit == "km" else Decimal(1))


def demo_indicators(*, contract: Contract, seed: int, scale: str) -> str:
    """Load the catalogue and invent values; returns a French one-line summary."""
    path = catalogue_file(contract)
    if not path.exists():
        return "indicateurs : pas de catalogue pour ce contrat (aucune valeur inventée)"
    actor = Actor.system()
    _, drafts, findings = read_catalogue(path)
    if findings:
        return "indicateurs : catalogue illisible — " + "; ".join(str(f) for f in findings[:3])
    indicator_catalogue_load(actor=actor, contract=contract, drafts=drafts)
    by_objective: dict[int, list[Indicator]] = {}
    for ind in Indicator.objects.filter(contract=contract).prefetch_related("objectives"):
        for o in ind.objectives.all():
            by_objective.setdefault(o.pk, []).append(ind)
    rng = random.Random(f"indicators-{seed}")
    today = timezone.localdate()
    values: list[ValueDraft] = []
    operations = (
        Operation.objects.filter(contract=contract, status__in=PROGRAMMED_STATUSES)
        .only(
            "pk", "code", "title", "objective_id", "status", "cost_ht", "start_date", "contract_id"
        )
        .order_by("pk")
    )
    for op in operations:
        if rng.random() >= SHARE or op.objective_id not in by_objective:
            continue
        cost = op.cost_ht or Decimal(1_000_000)
        first = max(contract.start_year, (op.start_date or dt.date(2022, 1, 1)).year)
        for ind in by_objective[op.objective_id][:2]:
            planned = _planned(ind.unit, cost, rng)
            low, high = PROGRESS.get(op.status, (0.0, 0.1))
            share = Decimal(str(round(rng.uniform(low, high), 2)))
            achieved = (planned * share).quantize(Decimal(1))
            if ind.unit == "pourcent":
                achieved = min(Decimal(100), achieved)
            day = min(today, dt.date(first, 12, 31))
            values.append(ValueDraft(op, ind, planned, None, day, SOURCE))
            later = min(today, dt.date(max(first + 1, today.year - 1), 12, 31))
            if later > day:  # a later value: the history shows the earlier one
                values.append(ValueDraft(op, ind, planned, achieved, later, SOURCE))
    if values:
        indicator_values_record_many(actor=actor, contract=contract, values=values)
    return (
        f"indicateurs : catalogue de {len(drafts)} indicateurs (illustratif), "
        f"{len(values)} valeurs inventées"
    )
