"""The rules of the indicators, as pure functions (no query): what a recorded value must be, and
how values roll up from operations to an objective, an axis, a département or a territory.

Roll-up (see docs/indicators.md): for each group and indicator, the latest value of each
operation is taken; quantities in a *summable* unit (counts, m², km, ha, €, places, housing
units, persons, MWh, t CO₂) are added; ratios and percentages are never added: the group shows
their arithmetic mean over the operations that have a value (each operation weighs one), and
the number of operations it is computed on. Planned and achieved are rolled up separately (an
operation with only a planned value counts in the planned figure alone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from cper.findings import ERROR, Finding

NOT_SUMMABLE = frozenset({"pourcent", "ratio"})
MEAN_PLACES = Decimal("0.0001")


def summable(unit: str) -> bool:
    """Whether quantities in `unit` add up across operations (ratios and percentages do not)."""
    return unit not in NOT_SUMMABLE


def value_findings(
    *,
    planned: Decimal | None,
    achieved: Decimal | None,
    date: dt.date | None,
    unit: str,
    today: dt.date,
    line: int | None = None,
) -> list[Finding]:
    """What refuses one value of an indicator (French messages naming the field)."""
    out: list[Finding] = []
    if planned is None and achieved is None:
        out.append(Finding("achieved", "indiquez une valeur prévue ou réalisée", ERROR, line))
    for name, label, value in (("planned", "prévu", planned), ("achieved", "réalisé", achieved)):
        if value is None:
            continue
        if not value.is_finite():
            out.append(Finding(name, f"« {label} » n'est pas un nombre", ERROR, line))
        elif value < 0:
            out.append(Finding(name, f"« {label} » ne peut pas être négatif", ERROR, line))
        elif unit == "pourcent" and value > 100:
            out.append(
                Finding(name, f"« {label} » : un pourcentage ne dépasse pas 100", ERROR, line)
            )
    if date is None:
        out.append(Finding("date", "la date de la valeur est obligatoire", ERROR, line))
    elif date > today:
        out.append(Finding("date", f"la date {date:%d/%m/%Y} est dans le futur", ERROR, line))
    return out


@dataclass(frozen=True)
class Fact:
    """The value of an indicator that counts for one operation, with the groups it belongs to
    (several for a multi-valued dimension: an operation may lie in two territories)."""

    operation_id: int
    indicator_id: int
    unit: str
    groups: tuple[Hashable, ...]
    planned: Decimal | None
    achieved: Decimal | None


@dataclass
class Rolled:
    """One indicator in one group: the sums (summable unit) or the means (ratios)."""

    group: Hashable
    indicator_id: int
    unit: str
    summable: bool
    planned: Decimal | None = None
    achieved: Decimal | None = None
    operations: int = 0
    _planned_n: int = field(default=0, repr=False)
    _achieved_n: int = field(default=0, repr=False)


def _add(acc: Decimal | None, value: Decimal | None) -> Decimal | None:
    if value is None:
        return acc
    return value if acc is None else acc + value


def rollup(facts: Iterable[Fact]) -> list[Rolled]:
    """Roll the facts up per (group, indicator); returns rows in the order groups first appear.
    A fact in no group is left out; a fact in two groups counts in each (never twice in one)."""
    rows: dict[tuple[Hashable, int], Rolled] = {}
    seen: set[tuple[Hashable, int, int]] = set()
    for f in facts:
        for g in dict.fromkeys(f.groups):
            key = (g, f.indicator_id)
            if (g, f.indicator_id, f.operation_id) in seen:
                continue
            seen.add((g, f.indicator_id, f.operation_id))
            row = rows.get(key)
            if row is None:
                row = rows[key] = Rolled(g, f.indicator_id, f.unit, summable(f.unit))
            row.operations += 1
            row.planned = _add(row.planned, f.planned)
            row.achieved = _add(row.achieved, f.achieved)
            row._planned_n += f.planned is not None
            row._achieved_n += f.achieved is not None
    out = list(rows.values())
    for row in out:
        if not row.summable:
            if row.planned is not None:
                row.planned = (row.planned / row._planned_n).quantize(MEAN_PLACES)
            if row.achieved is not None:
                row.achieved = (row.achieved / row._achieved_n).quantize(MEAN_PLACES)
    return out


def plain(value: Decimal) -> str:
    """A quantity as text without its trailing zeros nor an exponent: 2000.0000 → "2000",
    12.5000 → "12.5" (what the command line and the API print)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def progress(achieved: Decimal | None, target: Decimal | None) -> Decimal | None:
    """Achieved as a percentage of the target (one decimal), None without both."""
    if achieved is None or not target:
        return None
    return (achieved * 100 / target).quantize(Decimal("0.1"))
