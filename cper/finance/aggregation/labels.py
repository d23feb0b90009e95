"""Labels and order of the rows: partner, objective, axis, territory… names, in the contract's
order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from cper.contracts.models import BudgetNature, BudgetProgramme, Marker
from cper.finance.summaries import (
    euros,
)
from cper.operations.models import Operation, OperationStatus
from cper.territories.models import Departement, Epci, ProjectTerritory

from .planning import _Ref
from .types import ALL_KEYS, ExecutionQueryError, ExecutionRow

# -- labels and order ---------------------------------------------------------------------------


class _Labels:
    def __init__(self, ref: _Ref) -> None:
        self.ref = ref
        self.cache: dict[str, dict[Any, tuple[str, Any]]] = {}

    def prepare(self, group_by: Sequence[str], keys: Iterable[tuple]) -> None:

        keys = list(keys)
        ref = self.ref
        for i, k in enumerate(group_by):
            present = {key[i] for key in keys}
            labels: dict[Any, tuple[str, Any]] = {}
            if k == "axis":
                axes = {o[2]: o[3] for o in ref.objective.values()}
                labels = {n: (axes.get(n, f"Axe {n}"), n) for n in present}
            elif k == "volet":  # issue 12: the volet's title, in its position
                volets = {v[0]: v for v in ref.volet.values() if v[0]}
                labels = {
                    c: (volets[c][1], (volets[c][2], c))
                    if c in volets
                    else (str(c) if c else "sans volet", (999, str(c or "")))
                    for c in present
                }
            elif k == "objective":
                by_code = {o[0]: o for o in ref.objective.values()}
                labels = {
                    c: (by_code[c][1], (by_code[c][2], by_code[c][4], c))
                    if c in by_code
                    else (str(c), (99, 0, c))
                    for c in present
                }
            elif k == "partner":
                partners = {p[0]: p for p in ref.partner.values()}
                labels = {
                    c: (partners[c][1], (partners[c][2], c))
                    if c in partners
                    else (str(c), (999, c))
                    for c in present
                }
            elif k == "year":
                labels = {
                    y: ((str(y) if y is not None else "sans année"), y or 9999) for y in present
                }
            elif k == "contract":
                titles = {c.slug: c.title for c in ref.contracts}
                labels = {s: (titles.get(s, s), s) for s in present}
            elif k == "departement":
                names = dict(
                    Departement.objects.filter(code__in=[p for p in present if p]).values_list(
                        "code", "name"
                    )
                )
                labels = {
                    c: (f"{names.get(c, c)} ({c})", c) if c else ("non localisé", "~")
                    for c in present
                }
            elif k == "epci":
                names = dict(
                    Epci.objects.filter(siren__in=[p for p in present if p]).values_list(
                        "siren", "name"
                    )
                )
                labels = {
                    c: (names.get(c, c), names.get(c, c)) if c else ("non localisé", "~")
                    for c in present
                }
            elif k == "territory":
                names = dict(
                    ProjectTerritory.objects.filter(code__in=present).values_list("code", "name")
                )
                labels = {c: (names.get(c, c), names.get(c, c)) for c in present}
            elif k == "marker":
                names = dict(
                    Marker.objects.filter(
                        contract_id__in=ref.ids, code__in=[p for p in present if p]
                    ).values_list("code", "label")
                )
                labels = {c: (names.get(c, c), c) for c in present}
            elif k == "status":
                order = [s.value for s in OperationStatus]
                display = dict(OperationStatus.choices)
                labels = {
                    s: (str(display.get(s, s)), order.index(s) if s in order else 99)
                    for s in present
                }
            elif k == "operation":
                codes = sorted(p for p in present if p is not None)
                ops = Operation.objects.filter(contract_id__in=ref.ids)
                if len(codes) <= 2000:
                    ops = ops.filter(code__in=codes)
                titles = dict(ops.values_list("code", "title"))
                labels = {c: (f"{c} {titles.get(c, '')}".strip(), c) for c in present}
            elif k == "programme":
                names = dict(
                    BudgetProgramme.objects.filter(code__in=[p for p in present if p]).values_list(
                        "code", "label"
                    )
                )
                labels = {
                    c: (f"{c} — {names.get(c, c)}", c) if c else ("sans programme", "~")
                    for c in present
                }
            elif k == "bop":
                labels = {c: (c, c) if c else ("sans BOP", "~") for c in present}
            elif k == "budget_nature":
                natures = dict(BudgetNature.choices)
                labels = {
                    c: (str(natures.get(c, c or "non renseignée")), c or "~") for c in present
                }
            self.cache[k] = labels

    def label(self, k: str, value: Any) -> str:
        return self.cache[k][value][0]

    def order(self, k: str, value: Any) -> Any:
        return self.cache[k][value][1]


def _row(
    key: dict[str, Any], labels: dict[str, str], maquette: Decimal | None, vals: Sequence[int]
) -> ExecutionRow:
    return ExecutionRow(
        key=key,
        labels=labels,
        maquette=maquette,
        programmed=euros(vals[0]),
        committed=euros(vals[1]),
        paid=euros(vals[2]),
    )


def _check_keys(group_by: Sequence[str]) -> tuple[str, ...]:
    group = tuple(group_by)
    unknown = [k for k in group if k not in ALL_KEYS]
    if unknown:
        raise ExecutionQueryError(
            f"regroupement inconnu « {', '.join(unknown)} » (attendu : {', '.join(ALL_KEYS)})"
        )
    if len(set(group)) != len(group):
        raise ExecutionQueryError("un même regroupement est demandé deux fois")
    return group
