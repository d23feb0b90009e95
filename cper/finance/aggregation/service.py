"""The public functions of the aggregation service: `execution`, `execution_series`, `pace`,
`line_execution`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from cper.contracts.models import Contract
from cper.finance.models import LineState, Movement
from cper.finance.summaries import (
    cents,
    euros,
    signed,
)
from cper.money import CENT, rate

from .labels import _check_keys, _Labels, _row
from .ledger import _amounts, _maquette
from .planning import _complete, _contracts, _Filters, _normalise, _Ref, _ref
from .types import (
    MAQUETTE_KEYS,
    MULTI_VALUED,
    ExecutionResult,
    ExecutionRow,
    SeriesPoint,
)
from .visibility import UNRESTRICTED, hides_unpublished

# -- the public functions -----------------------------------------------------------------------


def execution(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    group_by: Sequence[str] = (),
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
    viewer: Any = UNRESTRICTED,
) -> ExecutionResult:
    """Maquette, programmed, committed and paid at `as_of` (default today), by `group_by` keys
    among GROUP_KEYS, restricted by `filters` (same names; a value or a list of values:
    departement "59", epci SIREN, territory/marker/objective/partner codes, axis numbers, years,
    statuses, operation codes — or ids as int). With `contract=None`, the national
    consolidation of `contracts` (default: every contract), where "contract" (slugs) may also
    be grouped or filtered on. `viewer`: who looks (`request.user`; None is the public) — the
    public's figures leave out unpublished operations (`visibility`)."""
    group = _check_keys(group_by)
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    contract_list = _contracts(contract, contracts)
    ref = _ref(contract_list)
    hidden = hides_unpublished(viewer)
    f = _normalise(filters, ref, hidden=hidden)
    complete = _complete(f.contract_ids, as_of) if f.contract_ids else True

    amounts = _amounts(f, group, filters, as_of, complete)
    maquette_meaning = not any(k not in MAQUETTE_KEYS and k != "contract" for k in filters)
    rows_have_maquette = maquette_meaning and all(
        k in MAQUETTE_KEYS or k == "contract" for k in group
    )
    mq: dict[tuple, Decimal] = (
        _maquette(contract_list, as_of, group, filters, f) if rows_have_maquette and group else {}
    )

    keys = set(amounts) | set(mq)
    labels = _Labels(ref)
    labels.prepare(group, keys)
    label_maps = [{v: lo[0] for v, lo in labels.cache[k].items()} for k in group]
    order_maps = [
        {v: (1, "") if v is None else (0, lo[1]) for v, lo in labels.cache[k].items()}
        for k in group
    ]
    positions = range(len(group))
    zero = [0, 0, 0]
    ranked: list[tuple[tuple, ExecutionRow]] = []
    for key in keys:
        vals = amounts.get(key, zero)
        maquette = mq.get(key, Decimal("0.00")) if rows_have_maquette else None
        if not (vals[0] or vals[1] or vals[2] or maquette):
            continue
        row = ExecutionRow(
            key=dict(zip(group, key, strict=True)),
            labels={group[i]: label_maps[i][key[i]] for i in positions},
            maquette=maquette.quantize(CENT) if maquette is not None else None,
            programmed=euros(vals[0]),
            committed=euros(vals[1]),
            paid=euros(vals[2]),
        )
        ranked.append((tuple(order_maps[i][key[i]] for i in positions), row))
    ranked.sort(key=lambda item: item[0])
    rows = [row for _, row in ranked]

    # the total: the sum of the rows unless a line may sit in several rows
    if not group:
        total_vals = amounts.get((), [0, 0, 0])
    elif any(k in MULTI_VALUED for k in group):
        total_vals = _amounts(f, (), filters, as_of, complete).get((), [0, 0, 0])
    else:
        total_vals = [sum(v[i] for v in amounts.values()) for i in range(3)]
    total_maquette: Decimal | None = None
    if maquette_meaning:
        if rows_have_maquette and group:
            total_maquette = sum(mq.values(), Decimal("0.00"))
        else:
            total_maquette = sum(
                _maquette(contract_list, as_of, (), filters, f).values(), Decimal("0.00")
            )
        total_maquette = total_maquette.quantize(CENT)
    total = _row({}, {}, total_maquette, total_vals)
    return ExecutionResult(
        contract=contract,
        as_of=as_of,
        group_by=group,
        filters=filters,
        rows=rows,
        total=total,
        contracts=tuple(contract_list),
        published_only=hidden,
    )


def _period(contracts: Sequence[Contract]) -> tuple[dt.date, dt.date]:
    start = min(dt.date(c.start_year, 1, 1) for c in contracts)
    end = max(dt.date(c.end_year, 12, 31) for c in contracts)
    return start, end


def _elapsed(start: dt.date, end: dt.date, day: dt.date) -> Decimal:
    """Share (0–1) of the period elapsed at the end of `day`."""
    total = (end - start).days + 1
    done = (day - start).days + 1
    return Decimal(min(max(done, 0), total)) / Decimal(total)


# A part of the reference with its own straight line: a volet's first day, last day, amount.
Span = tuple[dt.date, dt.date, Decimal]


def _reference(
    contract_list: list[Contract],
    as_of: dt.date,
    filters: dict[str, Any],
    f: _Filters,
    ref: _Ref,
    group: Sequence[str] = (),
) -> tuple[str, dict[tuple, list[Span]]]:  # type: ignore[type-arg]
    """What the pace is measured against, volet by volet (issue 12): the maquette in force, or
    the programmed amount when the filters have no maquette meaning (département, marker…),
    each volet's amount with its own period (a volet brought in 2023 starts its line in
    2023); axes without a volet follow their contract's period. By `group` keys (none: one
    group, `()`): {group key: [span per volet]}."""
    periods: dict[tuple[str, str], tuple[dt.date, dt.date]] = {}
    for code, _title, _pos, first, last, cid in ref.volet.values():
        if code and first is not None and last is not None:
            periods[(ref.slug[cid], code)] = (dt.date(first, 1, 1), dt.date(last, 12, 31))
    contract_period = {
        c.slug: (dt.date(c.start_year, 1, 1), dt.date(c.end_year, 12, 31)) for c in contract_list
    }
    keys = ("contract", "volet", *group)
    amounts: dict[tuple, Decimal]  # type: ignore[type-arg]
    if all(k in MAQUETTE_KEYS or k == "contract" for k in filters):
        basis = "maquette"
        amounts = _maquette(contract_list, as_of, keys, filters, f)
    else:
        basis = "programmé"
        complete = _complete(f.contract_ids, as_of) if f.contract_ids else True
        amounts = {k: euros(v[0]) for k, v in _amounts(f, keys, filters, as_of, complete).items()}
    out: dict[tuple, list[Span]] = {}  # type: ignore[type-arg]
    for key in sorted(amounts, key=lambda k: (k[0], k[1] or "")):
        slug, code = key[0], key[1]
        start, end = periods.get((slug, code or ""), contract_period[slug])
        out.setdefault(tuple(key[2:]), []).append(
            (start, end, Decimal(amounts[key]).quantize(CENT))
        )
    return basis, out


def _target(spans: Sequence[Span], day: dt.date) -> Decimal:
    """The straight-line target at the end of `day`: each volet's amount times the share of
    its own period elapsed, summed."""
    return sum(
        (amount * _elapsed(start, end, day) for start, end, amount in spans), Decimal("0")
    ).quantize(CENT, rounding=ROUND_HALF_UP)


def execution_series(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
    viewer: Any = UNRESTRICTED,
) -> list[SeriesPoint]:
    """Monthly cumulative committed and paid amounts from the contract's first month (or the
    first movement, if earlier) to the month of `as_of`, with the straight-line pace target:
    per volet, 0 at the volet's first day and 100 % of its maquette in force at its last day,
    summed over the volets (issue 12); `viewer` as for `execution`."""
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    contract_list = _contracts(contract, contracts)
    if not contract_list:
        return []
    ref = _ref(contract_list)
    f = _normalise(filters, ref, hidden=hides_unpublished(viewer))
    complete = _complete(f.contract_ids, as_of) if f.contract_ids else True
    monthly = _amounts(f, ("_month",), filters, as_of, complete)
    start, _end = _period(contract_list)
    _, by_group = _reference(contract_list, as_of, filters, f, ref)
    spans = by_group.get((), [])
    first = min([start, *[k[0] for k in monthly]])
    month = dt.date(first.year, first.month, 1)
    last = dt.date(as_of.year, as_of.month, 1)
    points: list[SeriesPoint] = []
    committed = paid = 0
    before = {k[0]: v for k, v in monthly.items()}
    while month <= last:
        vals = before.get(month, [0, 0, 0])
        committed += vals[1]
        paid += vals[2]
        nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        day = min(nxt - dt.timedelta(days=1), as_of)
        target = _target(spans, day)
        points.append(SeriesPoint(month, euros(committed), euros(paid), target))
        month = nxt
    return points


def pace(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
    viewer: Any = UNRESTRICTED,
) -> dict[str, Any]:
    """Execution against a straight line from each volet's first day to 100 % of its
    maquette at its last day, summed over the volets the question covers (issue 12: the
    mobility volet's line starts in 2023): the share of the period elapsed (weighed by the
    volets' amounts), the committed and paid shares of the reference (maquette in force;
    programmed amount under non-maquette filters), the target amount at `as_of` and the gaps
    (negative: behind the line); `spans` lists (first day, last day, amount) per volet;
    `viewer` as for `execution`."""
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    contract_list = _contracts(contract, contracts)
    result = execution(
        contract=contract, as_of=as_of, filters=filters, contracts=contract_list, viewer=viewer
    )
    ref = _ref(contract_list)
    f = _normalise(filters, ref, hidden=result.published_only)
    basis, by_group = _reference(contract_list, as_of, filters, f, ref)
    spans = by_group.get((), [])
    reference = sum((amount for _, _, amount in spans), Decimal("0.00"))
    start, end = _period(contract_list)
    target = _target(spans, as_of)
    # Several volets: the elapsed share is the target's share of the reference (each volet
    # weighed by its amount); with no amount, the contract's own period.
    elapsed = target / reference if reference else _elapsed(start, end, as_of)
    t = result.total
    elapsed_pct = (elapsed * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    committed_share = rate(t.committed, reference)
    paid_share = rate(t.paid, reference)
    return {
        "as_of": as_of,
        "start": start,
        "end": end,
        "elapsed": elapsed_pct,  # percent of the period
        "basis": basis,  # "maquette" | "programmé"
        "reference": reference,
        "programmed": t.programmed,
        "committed": t.committed,
        "paid": t.paid,
        "committed_share": committed_share,
        "paid_share": paid_share,
        "target": target,
        "committed_gap": t.committed - target,
        "paid_gap": t.paid - target,
        "committed_points": None if committed_share is None else committed_share - elapsed_pct,
        "paid_points": None if paid_share is None else paid_share - elapsed_pct,
        # issue 12: the reference per volet, each with its own period (first day, last day)
        "spans": spans,
    }


def pace_elapsed(
    *,
    contract: Contract | None,
    as_of: dt.date | None = None,
    group_by: Sequence[str] = ("partner",),
    filters: dict[str, Any] | None = None,
    contracts: Iterable[Contract] | None = None,
    viewer: Any = UNRESTRICTED,
) -> dict[tuple, Decimal]:  # type: ignore[type-arg]
    """Issue 12: the linear pace of each group (by `group_by` keys, e.g. partner), in percent
    of its reference at `as_of`: its amount in each volet, times the share of that volet's own
    period elapsed, summed, over its whole reference — a partner with most of its money in the
    mobility volet (2023-2027) is expected to have done less by 2024 than one in the volet
    2021-2027. Groups without a reference are absent. Reference as for `pace`."""
    filters = dict(filters or {})
    as_of = as_of or timezone.localdate()
    group = _check_keys(group_by)
    contract_list = _contracts(contract, contracts)
    if not contract_list:
        return {}
    ref = _ref(contract_list)
    f = _normalise(filters, ref, hidden=hides_unpublished(viewer))
    _, by_group = _reference(contract_list, as_of, filters, f, ref, group)
    out: dict[tuple, Decimal] = {}  # type: ignore[type-arg]
    for key, spans in by_group.items():
        reference = sum((amount for _, _, amount in spans), Decimal("0.00"))
        if reference:
            out[key] = (_target(spans, as_of) * 100 / reference).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
    return out


@dataclass(frozen=True)
class LineExecution:
    programmed: Decimal
    committed: Decimal
    paid: Decimal

    @property
    def remaining_to_pay(self) -> Decimal:
        return self.committed - self.paid

    @property
    def remaining_to_commit(self) -> Decimal:
        return self.programmed - self.committed


def line_execution(
    *, lines: Iterable[Any], as_of: dt.date | None = None
) -> dict[int, LineExecution]:
    """Programmed, committed and paid per financing line (objects or ids), at `as_of`
    (default: today) — for an operation's page; lines not contractualised included."""
    ids = sorted({x if isinstance(x, int) else x.pk for x in lines})
    as_of = as_of or timezone.localdate()
    out: dict[int, LineExecution] = {}
    if not ids:
        return out
    states = {
        pk: (prog, on, c, p)
        for pk, prog, on, c, p in LineState.objects.filter(pk__in=ids).values_list(
            "pk", "programmed", "programmed_on", "committed", "paid"
        )
    }
    late: dict[int, list[int]] = {}
    for line_id, kind, amount in Movement.objects.filter(
        financing_line_id__in=ids, date__gt=as_of
    ).values_list("financing_line_id", "kind", "amount"):
        c, p = signed(kind, cents(amount))
        acc = late.setdefault(line_id, [0, 0])
        acc[0] += c
        acc[1] += p
    for pk in ids:
        prog, on, c, p = states.get(pk, (0, None, 0, 0))
        lc, lp = late.get(pk, (0, 0))
        shown = prog if on is not None and on <= as_of else 0
        out[pk] = LineExecution(euros(shown), euros(c - lc), euros(p - lp))
    return out
