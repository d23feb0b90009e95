"""Execution by LOLF programme (issue 12): the table the ministries, the SGAR and the ANCT ask
for. Per programme (× BOP × year), the State's figures along its budget chain:

- contractualisé: the State's allocations of the maquette in force carrying that programme
  (`Allocation.programme`); allocations have no BOP, so a grouping by BOP gives it on no row
  (None) and only in the total;
- AE mises en place: credits delegated to the region (`AeMiseEnPlace`, net of withdrawals), by
  their exercice, recorded on or before `as_of`;
- AE engagées, CP payés: the committed and paid amounts of the State's contractualised lines,
  from `execution` (grouped by the line's programme and BOP, year of the movement);
- rates: AE engagées / AE mises en place, CP payés / AE engagées.

"year" is the year of each event, as everywhere in the service. Amounts are summed as integer
cents (exact on SQLite, which keeps NUMERIC as floating point).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from cper.contracts.models import BudgetProgramme, Contract, Partner, PartnerKind
from cper.finance.models import AeKind, AeMiseEnPlace
from cper.finance.summaries import cents, euros
from cper.maquette.selectors import allocation_lines
from cper.money import rate

from .service import execution
from .types import ExecutionQueryError
from .visibility import UNRESTRICTED

PROGRAMME_KEYS = ("programme", "bop", "year")


@dataclass(frozen=True)
class ProgrammeRow:
    key: dict[str, Any]  # {"programme": "P112", "bop": "0112-DR59", "year": 2023}
    labels: dict[str, str]
    contractualised: Decimal | None  # None on rows of a grouping by BOP
    ae_delegated: Decimal  # AE mises en place
    ae_committed: Decimal  # AE engagées
    cp_paid: Decimal  # CP payés

    @property
    def ae_commitment_rate(self) -> Decimal | None:
        """AE engagées / AE mises en place, in percent."""
        return rate(self.ae_committed, self.ae_delegated)

    @property
    def cp_payment_rate(self) -> Decimal | None:
        """CP payés / AE engagées, in percent."""
        return rate(self.cp_paid, self.ae_committed)

    @property
    def ae_remaining(self) -> Decimal:
        """AE mises en place not yet committed."""
        return self.ae_delegated - self.ae_committed


@dataclass(frozen=True)
class ProgrammeExecution:
    contract: Contract
    as_of: dt.date
    group_by: tuple[str, ...]
    rows: list[ProgrammeRow]
    total: ProgrammeRow
    published_only: bool = False


def programme_keys(group_by: Sequence[str]) -> bool:
    """Whether a grouping is one of the programme table's (programme, with BOP and/or year)."""
    return bool(group_by) and "programme" in group_by and set(group_by) <= set(PROGRAMME_KEYS)


def state_partner_codes(contract: Contract) -> list[str]:
    return list(
        Partner.objects.filter(contract=contract, kind=PartnerKind.STATE)
        .order_by("position", "code")
        .values_list("code", flat=True)
    )


def programme_execution(
    *,
    contract: Contract,
    as_of: dt.date | None = None,
    group_by: Sequence[str] = ("programme",),
    viewer: Any = UNRESTRICTED,
) -> ProgrammeExecution:
    """The State's execution by programme (× BOP × year) at `as_of` (default today); `viewer`
    as for `execution` (the public's AE engagées and CP payés leave out unpublished
    operations; the maquette and the AE mises en place are the contract's, public)."""
    group = tuple(group_by)
    if not programme_keys(group) or len(set(group)) != len(group):
        raise ExecutionQueryError(
            "l'exécution par programme se regroupe par programme, et au choix par bop et year"
        )
    as_of = as_of or timezone.localdate()
    acc: dict[tuple, list[int]] = {}  # key → [contractualised, delegated, committed, paid]

    def add(key: tuple, i: int, value: int) -> None:
        acc.setdefault(key, [0, 0, 0, 0])[i] += value

    def key_of(values: dict[str, Any]) -> tuple:
        return tuple(values[k] for k in group)

    codes = state_partner_codes(contract)
    published_only = False
    if codes:
        result = execution(
            contract=contract,
            as_of=as_of,
            group_by=group,
            filters={"partner": codes},
            viewer=viewer,
        )
        published_only = result.published_only
        for row in result.rows:
            key = key_of(row.key)
            add(key, 2, cents(row.committed))
            add(key, 3, cents(row.paid))

    by_bop = "bop" in group
    contractualised_total = 0
    for code, year, amount in (
        allocation_lines(contract=contract, as_of=as_of)
        .filter(partner__kind=PartnerKind.STATE)
        .values_list("programme__code", "year", "amount")
    ):
        value = cents(amount)
        contractualised_total += value
        if not by_bop:
            add(key_of({"programme": code, "year": year}), 0, value)

    for code, bop, year, kind, amount in AeMiseEnPlace.objects.filter(
        contract=contract, date__lte=as_of
    ).values_list("programme__code", "bop", "year", "kind", "amount"):
        value = cents(amount) * (1 if kind == AeKind.DELEGATION else -1)
        add(key_of({"programme": code, "bop": bop or None, "year": year}), 1, value)

    names = dict(
        BudgetProgramme.objects.filter(code__in=[k[0] for k in acc if k[0]]).values_list(
            "code", "label"
        )
    )

    def labels(key: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in key.items():
            if k == "programme":
                out[k] = f"{v} — {names.get(v, v)}" if v else "sans programme"
            elif k == "bop":
                out[k] = v or "sans BOP"
            else:
                out[k] = str(v) if v is not None else "sans année"
        return out

    def order(key: tuple) -> tuple:
        return tuple((v is None, v if v is not None else 0) for v in key)

    rows: list[ProgrammeRow] = []
    for key in sorted(acc, key=order):
        c, d, e, p = acc[key]
        if not (c or d or e or p):
            continue
        values = dict(zip(group, key, strict=True))
        rows.append(
            ProgrammeRow(
                key=values,
                labels=labels(values),
                contractualised=None if by_bop else euros(c),
                ae_delegated=euros(d),
                ae_committed=euros(e),
                cp_paid=euros(p),
            )
        )
    total = ProgrammeRow(
        key={},
        labels={},
        contractualised=euros(contractualised_total),
        ae_delegated=euros(sum(v[1] for v in acc.values())),
        ae_committed=euros(sum(v[2] for v in acc.values())),
        cp_paid=euros(sum(v[3] for v in acc.values())),
    )
    return ProgrammeExecution(
        contract=contract,
        as_of=as_of,
        group_by=group,
        rows=rows,
        total=total,
        published_only=published_only,
    )
