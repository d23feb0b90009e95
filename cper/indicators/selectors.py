"""Reads of the indicators: the catalogue, the values that count (latest by date, at a date),
an operation's block, the roll-ups by objective, axis, département and project territory, and
the section of the annual report.

Who looks matters: a viewer who may not see unpublished operations (the public) gets the
values of published operations alone (`operation_queryset`). The roll-up arithmetic is the
rules' (`cper.indicators.rules.rollup`); this module only reads and groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from cper.accounts.permissions import can
from cper.contracts.models import Axis, Contract, ContractTerritory, Objective
from cper.finance.aggregation import UNRESTRICTED, hides_unpublished
from cper.indicators import rules
from cper.indicators.models import Indicator, IndicatorValue
from cper.operations.models import Operation, OperationCommune
from cper.territories.models import Departement, ProjectTerritory

GROUPINGS = {
    "contract": "contrat",
    "axis": "axe",
    "objective": "objectif",
    "departement": "département",
    "territory": "territoire de projet",
}
UNLOCATED = "~"


def catalogue(*, contract: Contract) -> list[Indicator]:
    """The contract's indicators, in the catalogue's order, with their objectives."""
    return list(
        Indicator.objects.filter(contract=contract)
        .prefetch_related("objectives")
        .order_by("position", "code")
    )


def _values(
    *, contract: Contract, user: Any, at: dt.date | None, operations: Iterable[int] | None = None
) -> QuerySet[IndicatorValue]:
    qs = IndicatorValue.objects.filter(indicator__contract=contract)
    if hides_unpublished(user):
        qs = qs.filter(operation__published=True)
    if at is not None:
        qs = qs.filter(date__lte=at)
    if operations is not None:
        qs = qs.filter(operation_id__in=list(operations))
    return qs


def latest_values(
    *, contract: Contract, user: Any, at: dt.date | None = None
) -> dict[tuple[int, int], tuple[Decimal | None, Decimal | None]]:
    """{(operation id, indicator id): (planned, achieved)} of the values that count at `at`
    (default: every value): the latest by date, then by recording order. One query."""
    out: dict[tuple[int, int], tuple[Decimal | None, Decimal | None]] = {}
    rows = (
        _values(contract=contract, user=user, at=at)
        .order_by("operation_id", "indicator_id", "date", "id")
        .values_list("operation_id", "indicator_id", "planned", "achieved")
    )
    for op_id, ind_id, planned, achieved in rows:
        out[(op_id, ind_id)] = (planned, achieved)  # later rows replace earlier ones
    return out


# --- an operation's block -----------------------------------------------------------------


@dataclass
class OperationIndicator:
    indicator: Indicator
    current: IndicatorValue
    history: list[IndicatorValue]


@dataclass
class OperationIndicators:
    operation: Operation
    rows: list[OperationIndicator]
    choices: list[Indicator]  # the catalogue, the operation's objective's indicators first
    can_edit: bool


def operation_indicators(*, operation: Operation, user: Any) -> OperationIndicators:
    """The block « Indicateurs » of an operation's page (already checked visible): each
    indicator with a value, its value that counts and its history; for an editor, the form's
    choices. One query, two for an editor."""
    values = list(
        IndicatorValue.objects.filter(operation=operation)
        .select_related("indicator", "recorded_by")
        .order_by("indicator__position", "indicator__code", "date", "id")
    )
    by_indicator: dict[int, list[IndicatorValue]] = {}
    for v in values:
        by_indicator.setdefault(v.indicator_id, []).append(v)
    rows = [
        OperationIndicator(indicator=vs[-1].indicator, current=vs[-1], history=vs)
        for vs in by_indicator.values()
    ]
    can_edit = can(user, "operation.edit", operation)
    choices: list[Indicator] = []
    if can_edit:  # the form's choices: the indicators of the operation's objective first
        serves = Indicator.objectives.through.objects.filter(
            indicator_id=OuterRef("pk"), objective_id=operation.objective_id
        )
        choices = sorted(
            Indicator.objects.filter(contract_id=operation.contract_id).annotate(
                serves=Exists(serves)
            ),
            key=lambda i: (not i.serves, i.position, i.code),  # type: ignore[attr-defined]
        )
    return OperationIndicators(
        operation=operation,
        rows=rows,
        choices=choices,
        can_edit=can_edit,
    )


# --- roll-up --------------------------------------------------------------------------------


@dataclass
class RollupRow:
    group: Hashable
    group_label: str
    indicator: Indicator
    planned: Decimal | None
    achieved: Decimal | None
    operations: int
    summable: bool

    @property
    def unit_label(self) -> str:
        return self.indicator.get_unit_display()

    @property
    def aggregation(self) -> str:
        return "somme" if self.summable else "moyenne par opération"

    @property
    def progress(self) -> Decimal | None:
        """Achieved against the 2027 target (only meaningful for the whole contract)."""
        return rules.progress(self.achieved, self.indicator.target_2027)


@dataclass
class Rollup:
    contract: Contract
    by: str
    at: dt.date | None
    rows: list[RollupRow] = field(default_factory=list)


def _territory_groups(contract: Contract, operation_ids: set[int]) -> dict[int, list[str]]:
    """{operation id: [territory codes]}: the contract's project territories one of the
    operation's communes lies in (a territory is its communes plus its EPCI's communes, as in
    the execution summaries). Four queries."""
    territories = list(
        ContractTerritory.objects.filter(contract=contract).values_list(
            "territory_id", "territory__code"
        )
    )
    if not territories or not operation_ids:
        return {}
    codes = dict(territories)
    ids = list(codes)
    by_commune: dict[str, set[str]] = {}
    by_epci: dict[str, set[str]] = {}
    for tid, commune in ProjectTerritory.communes.through.objects.filter(
        projectterritory_id__in=ids
    ).values_list("projectterritory_id", "commune_id"):
        by_commune.setdefault(commune, set()).add(codes[tid])
    for tid, epci in ProjectTerritory.epcis.through.objects.filter(
        projectterritory_id__in=ids
    ).values_list("projectterritory_id", "epci_id"):
        by_epci.setdefault(epci, set()).add(codes[tid])
    out: dict[int, set[str]] = {}
    for op_id, commune, epci in OperationCommune.objects.filter(
        operation_id__in=operation_ids
    ).values_list("operation_id", "commune_id", "commune__epci_id"):
        found = by_commune.get(commune, set()) | by_epci.get(epci or "", set())
        if found:
            out.setdefault(op_id, set()).update(found)
    return {k: sorted(v) for k, v in out.items()}


def _labels(contract: Contract, by: str) -> dict[Hashable, tuple[str, Any]]:
    """{group key: (label, sort key)} for the grouping."""
    if by == "axis":
        return {
            a.number: (f"Axe {a.number} — {a.title}", a.number)
            for a in Axis.objects.filter(contract=contract)
        }
    if by == "objective":
        return {
            o.code: (f"{o.code} {o.title}", (o.axis.number, o.position))
            for o in Objective.objects.filter(contract=contract).select_related("axis")
        }
    if by == "departement":
        labels: dict[Hashable, tuple[str, Any]] = {
            d.code: (f"{d.name} ({d.code})", d.code)
            for d in Departement.objects.filter(region_id=contract.region_id)
        }
        labels[UNLOCATED] = ("non localisé", "~")
        return labels
    if by == "territory":
        return {
            t.territory.code: (t.territory.name, t.territory.name)
            for t in ContractTerritory.objects.filter(contract=contract).select_related("territory")
        }
    return {contract.slug: (contract.title, 0)}


def indicator_rollup(
    *,
    contract: Contract,
    by: str = "contract",
    user: Any = UNRESTRICTED,
    at: dt.date | None = None,
    indicator: str | None = None,
) -> Rollup:
    """Each indicator's planned and achieved quantities rolled up to `by` (contract, axis,
    objective, departement, territory) from each operation's value that counts at `at`: sums
    for summable units, means per operation for ratios (`rules.rollup`). Bounded: a handful of
    queries whatever the number of values."""
    if by not in GROUPINGS:
        raise ValueError(f"regroupement inconnu « {by} » (attendu : {', '.join(GROUPINGS)})")
    latest = latest_values(contract=contract, user=user, at=at)
    catalogue_ = {
        i.pk: i for i in Indicator.objects.filter(contract=contract).order_by("position", "code")
    }
    if indicator:
        catalogue_ = {k: v for k, v in catalogue_.items() if v.code == indicator}
    op_ids = {op for op, ind in latest if ind in catalogue_}
    ops = {
        pk: (dep, obj_code, axis)
        for pk, dep, obj_code, axis in Operation.objects.filter(pk__in=op_ids).values_list(
            "pk", "departement_id", "objective__code", "objective__axis__number"
        )
    }
    territories = _territory_groups(contract, op_ids) if by == "territory" else {}

    def groups(op_id: int) -> tuple[Hashable, ...]:
        dep, obj_code, axis = ops[op_id]
        if by == "axis":
            return (axis,)
        if by == "objective":
            return (obj_code,)
        if by == "departement":
            return (dep or UNLOCATED,)
        if by == "territory":
            return tuple(territories.get(op_id, ()))
        return (contract.slug,)

    facts = [
        rules.Fact(op, ind, catalogue_[ind].unit, groups(op), planned, achieved)
        for (op, ind), (planned, achieved) in latest.items()
        if ind in catalogue_ and op in ops
    ]
    labels = _labels(contract, by)
    position = {pk: n for n, pk in enumerate(catalogue_)}
    rolled = sorted(
        rules.rollup(facts),
        key=lambda r: (
            labels.get(r.group, (str(r.group), str(r.group)))[1],
            position[r.indicator_id],
        ),
    )
    return Rollup(
        contract=contract,
        by=by,
        at=at,
        rows=[
            RollupRow(
                group=r.group,
                group_label=labels.get(r.group, (str(r.group), ""))[0],
                indicator=catalogue_[r.indicator_id],
                planned=r.planned,
                achieved=r.achieved,
                operations=r.operations,
                summable=r.summable,
            )
            for r in rolled
        ],
    )


# --- the annual report --------------------------------------------------------------------


def report_section(*, contract: Contract, at: dt.date) -> dict[str, Any]:
    """The indicators of the annual execution report at `at` (values dated ≤ `at`, every
    operation): plain data, French labels, Decimal values.

    {"titre": str, "date": date, "note": str,
     "colonnes": [str…],
     "lignes": [{"code", "indicateur", "nature", "unite", "agregation", "reference",
                 "annee_reference", "cible_2027", "prevu", "realise", "avancement_pct",
                 "operations", "provenance"}],
     "par_axe": [{"axe", "code", "indicateur", "unite", "prevu", "realise", "operations"}]}
    """
    whole = indicator_rollup(contract=contract, by="contract", at=at)
    by_axis = indicator_rollup(contract=contract, by="axis", at=at)
    rolled = {r.indicator.pk: r for r in whole.rows}
    lines = []
    for ind in catalogue(contract=contract):
        r = rolled.get(ind.pk)
        lines.append(
            {
                "code": ind.code,
                "indicateur": ind.name,
                "nature": ind.get_kind_display(),
                "unite": ind.get_unit_display(),
                "agregation": (
                    r.aggregation
                    if r
                    else ("somme" if rules.summable(ind.unit) else "moyenne par opération")
                ),
                "reference": ind.baseline_value,
                "annee_reference": ind.baseline_year,
                "cible_2027": ind.target_2027,
                "prevu": r.planned if r else None,
                "realise": r.achieved if r else None,
                "avancement_pct": r.progress if r else None,
                "operations": r.operations if r else 0,
                "provenance": ind.get_provenance_display(),
            }
        )
    return {
        "titre": "Indicateurs de réalisation et de résultat",
        "date": at,
        "note": (
            "Valeur retenue par opération : la plus récente datée au plus tard du "
            f"{at:%d/%m/%Y}. Unités additives sommées ; ratios et pourcentages : moyenne "
            "par opération."
        ),
        "colonnes": [
            "Code",
            "Indicateur",
            "Nature",
            "Unité",
            "Valeur de référence",
            "Cible 2027",
            "Prévu",
            "Réalisé",
            "Avancement (%)",
            "Opérations",
        ],
        "lignes": lines,
        "par_axe": [
            {
                "axe": r.group_label,
                "code": r.indicator.code,
                "indicateur": r.indicator.name,
                "unite": r.unit_label,
                "prevu": r.planned,
                "realise": r.achieved,
                "operations": r.operations,
            }
            for r in by_axis.rows
        ],
    }
