"""Reads of the maquette: the one function that computes amounts, and what is built on it.

The maquette in force is version 0 (lines with no amendment) plus the lines of the amendments
in force: those effective on or before a date (`as_of`, default today), or those numbered up to
`version`. `maquette_amounts` is THE computation (one aggregate query); pages, the CLI, CSV
exports, the API and the finance aggregation all go through it, so their totals agree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from cper.contracts.models import Axis, Contract, Objective, Partner, PartnerStatedAmount
from cper.contracts.selectors import VoletPart, volet_parts
from cper.maquette.models import Allocation, Amendment, ValorisedCredit
from cper.money import rate

ZERO = Decimal("0.00")
GROUP_KEYS = ("partner", "axis", "objective", "year", "volet")
_FIELD = {
    "partner": "partner__code",
    "axis": "objective__axis__number",
    "objective": "objective__code",
    "year": "year",
    "volet": "objective__axis__volet__code",  # issue 12: the volet's code
}
_ORDER: dict[str, list[Any]] = {
    "partner": ["partner__position", "partner__code"],
    "axis": ["objective__axis__number"],
    "volet": ["objective__axis__volet__position", "objective__axis__volet__code"],
    "objective": ["objective__axis__number", "objective__position", "objective__code"],
    "year": [F("year").asc(nulls_first=True)],
}
Point = int | dt.date  # a version number or a date


class MaquetteQueryError(ValueError):
    """A request the maquette cannot answer (unknown grouping, both a date and a version…)."""


def allocation_lines(*, contract: Contract, as_of: dt.date | None = None) -> QuerySet[Allocation]:
    """Every maquette line in force on `as_of` (default: today)."""
    as_of = as_of or timezone.localdate()
    return Allocation.objects.filter(contract=contract).filter(
        Q(amendment__isnull=True) | Q(amendment__effective_on__lte=as_of)
    )


def _in_force(as_of: dt.date | None, version: int | None, prefix: str = "") -> Q:
    if as_of is not None and version is not None:
        raise MaquetteQueryError("une date ou une version, pas les deux")
    if version is not None:
        if version < 0:
            raise MaquetteQueryError(f"version invalide : {version}")
        return Q(**{f"{prefix}amendment__isnull": True}) | Q(
            **{f"{prefix}amendment__number__lte": version}
        )
    day = as_of or timezone.localdate()
    return Q(**{f"{prefix}amendment__isnull": True}) | Q(
        **{f"{prefix}amendment__effective_on__lte": day}
    )


def _filter_q(filters: Mapping[str, Any] | None) -> Q:
    q = Q()
    for key, value in (filters or {}).items():
        if key not in _FIELD:
            raise MaquetteQueryError(
                f"filtre inconnu « {key} » (attendu : {', '.join(GROUP_KEYS)})"
            )
        values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        if not values:
            q &= Q(pk__in=[])
            continue
        field_name = _FIELD[key]
        sub = Q()
        present = [v for v in values if v is not None]
        if present:
            sub |= Q(**{f"{field_name}__in": present})
        if len(present) < len(values):
            sub |= Q(**{f"{field_name}__isnull": True})
        q &= sub
    return q


def maquette_amounts(
    *,
    contract: Contract,
    as_of: dt.date | None = None,
    version: int | None = None,
    group_by: Sequence[str] = ("partner", "objective"),
    filters: dict | None = None,  # type: ignore[type-arg]
) -> dict[tuple, Decimal]:  # type: ignore[type-arg]
    """The maquette in force, summed by `group_by`: {(key, …): amount}.

    In force means version 0 plus the amendments effective on or before `as_of` (default
    today), or, with `version=n`, version 0 plus the amendments numbered up to n (not both).
    Group keys, in the order given, among "partner" (partner code), "axis" (axis number),
    "objective" (objective code), "year" (int, or None for lines not split by year) and
    "volet" (the code of the objective's axis's volet, issue 12);
    `group_by=()` gives {(): total}. `filters` uses the same names with a value or a list of
    values, e.g. {"axis": 5, "partner": ["etat", "region"]}. Groups appear in the contract's
    order (partner position, axis number, objective position, year); a group whose lines net
    to zero is kept with 0. One aggregate query (GROUP BY).
    """
    unknown = [g for g in group_by if g not in _FIELD]
    if unknown:
        raise MaquetteQueryError(
            f"regroupement inconnu « {', '.join(unknown)} » (attendu : {', '.join(GROUP_KEYS)})"
        )
    qs = Allocation.objects.filter(contract=contract).filter(
        _in_force(as_of, version), _filter_q(filters)
    )
    if not group_by:
        total = qs.aggregate(total=Sum("amount"))["total"]
        return {(): total if total is not None else ZERO}
    fields = [_FIELD[g] for g in group_by]
    order: list[Any] = []
    for g in group_by:
        order += _ORDER[g]
    rows = qs.values(*fields).annotate(total=Sum("amount")).order_by(*order)
    return {tuple(row[f] for f in fields): row["total"] for row in rows}


def amendments_in_force(
    *, contract: Contract, as_of: dt.date | None = None, version: int | None = None
) -> list[Amendment]:
    """The amendments counted in the maquette at a date (default today) or a version."""
    qs = Amendment.objects.filter(contract=contract)
    if as_of is not None and version is not None:
        raise MaquetteQueryError("une date ou une version, pas les deux")
    if version is not None:
        qs = qs.filter(number__lte=version)
    else:
        qs = qs.filter(effective_on__lte=as_of or timezone.localdate())
    return list(qs.order_by("number"))


@dataclass(frozen=True)
class EnvelopeChange:
    """What one amendment in force adds to the envelope (net of its own redeployments), and
    whether that figure derives from illustrative lines."""

    number: int
    title: str
    amount: Decimal
    illustrative: bool


@dataclass(frozen=True)
class Envelope:
    """The envelope in force and its composition: the initial envelope (with its provenance)
    plus the net change of each amendment in force. What every page shows as « enveloppe »."""

    initial: Decimal
    initial_illustrative: bool
    initial_source: str
    changes: tuple[EnvelopeChange, ...]

    @property
    def total(self) -> Decimal:
        return self.initial + sum((c.amount for c in self.changes), ZERO)

    @property
    def illustrative(self) -> bool:
        """Whether any part of the total derives from illustrative data."""
        return self.initial_illustrative or any(c.illustrative for c in self.changes if c.amount)

    @property
    def illustrative_amount(self) -> Decimal:
        """The part of the total that derives from illustrative data."""
        part = self.initial if self.initial_illustrative else ZERO
        return part + sum((c.amount for c in self.changes if c.illustrative), ZERO)


def envelope(
    *, contract: Contract, as_of: dt.date | None = None, version: int | None = None
) -> Envelope:
    """THE envelope in force at a date (default today) or a version: the contract's initial
    envelope plus the net change of each amendment in force (additions add; redeployments net to
    zero), each part with its provenance — an amendment's change is illustrative when one of its
    lines is. Never stored; one query."""
    rows = (
        Allocation.objects.filter(contract=contract, amendment__isnull=False)
        .filter(_in_force(as_of, version))
        .values("amendment__number", "amendment__title")
        .annotate(
            total=Sum("amount"),
            illustrative=Count("pk", filter=Q(provenance="illustrative")),
        )
        .order_by("amendment__number")
    )
    return Envelope(
        initial=contract.envelope,
        initial_illustrative=contract.envelope_provenance == "illustrative",
        initial_source=contract.envelope_source,
        changes=tuple(
            EnvelopeChange(
                r["amendment__number"],
                r["amendment__title"],
                r["total"] or ZERO,
                bool(r["illustrative"]),
            )
            for r in rows
        ),
    )


def envelope_in_force(
    *, contract: Contract, as_of: dt.date | None = None, version: int | None = None
) -> Decimal:
    """The envelope in force's amount (`envelope(...).total`)."""
    return envelope(contract=contract, as_of=as_of, version=version).total


def maquette_illustrative_amount(
    *,
    contract: Contract,
    as_of: dt.date | None = None,
    version: int | None = None,
    filters: Mapping[str, Any] | None = None,
) -> Decimal:
    """The part of the maquette in force (`filters` as `maquette_amounts` takes them; other
    keys are ignored) whose lines are illustrative: 0 when all are the contract's figures."""
    scope = {k: v for k, v in (filters or {}).items() if k in _FIELD}
    total = (
        Allocation.objects.filter(contract=contract, provenance="illustrative")
        .filter(_in_force(as_of, version), _filter_q(scope))
        .aggregate(s=Sum("amount"))["s"]
    )
    return total or ZERO


def maquette_illustrative_by_partner(
    *, contract: Contract, as_of: dt.date | None = None, version: int | None = None
) -> dict[str, Decimal]:
    """{partner code: illustrative part of its maquette in force}, for the partners that have
    one (one query)."""
    rows = (
        Allocation.objects.filter(contract=contract, provenance="illustrative")
        .filter(_in_force(as_of, version))
        .values("partner__code")
        .annotate(s=Sum("amount"))
    )
    return {r["partner__code"]: r["s"] for r in rows if r["s"]}


def version_changes(*, contract: Contract) -> dict[int, dict[tuple, Decimal]]:  # type: ignore[type-arg]
    """{version number: {(partner, objective, year): net change}}, version 0 first: the
    maquette as a sequence of changes, for the rules that follow it version by version."""
    rows = (
        Allocation.objects.filter(contract=contract)
        .values("amendment__number", "partner__code", "objective__code", "year")
        .annotate(total=Sum("amount"))
        .order_by(F("amendment__number").asc(nulls_first=True))
    )
    out: dict[int, dict[tuple, Decimal]] = {}  # type: ignore[type-arg]
    for r in rows:
        number = r["amendment__number"] or 0
        out.setdefault(number, {})[(r["partner__code"], r["objective__code"], r["year"])] = r[
            "total"
        ]
    return dict(sorted(out.items()))


def amendment_effects(
    *,
    contract: Contract,
    filters: dict | None = None,  # type: ignore[type-arg]
) -> dict[int, Decimal]:
    """{amendment number: net change} of every amendment with lines matching `filters` (same
    names as `maquette_amounts`: partner, axis, objective, year), in number order. An amendment
    that touches the level but nets to zero there (a redeployment inside it) is kept with 0.
    One aggregate query: what a page about an axis, objective or partner needs to list the
    amendments that changed it."""
    rows = (
        Allocation.objects.filter(contract=contract, amendment__isnull=False)
        .filter(_filter_q(filters))
        .values("amendment__number")
        .annotate(total=Sum("amount"))
        .order_by("amendment__number")
    )
    return {r["amendment__number"]: r["total"] for r in rows}


def version_at(*, contract: Contract, as_of: dt.date | None = None) -> int:
    """The version in force on a date: the highest amendment number effective by then (0 if
    none). Amendments are kept in date order, so this is also how many are in force."""
    numbers = Amendment.objects.filter(
        contract=contract, effective_on__lte=as_of or timezone.localdate()
    ).values_list("number", flat=True)
    return max(numbers, default=0)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_point(text: str) -> Point:
    """A version (`2`, `v2`) or a date (`2024-12-31`), as typed on a command line or a form."""
    raw = str(text).strip()
    if _DATE.match(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError as exc:
            raise MaquetteQueryError(f"date invalide « {raw} »") from exc
    digits = raw[1:] if raw[:1] in {"v", "V"} else raw
    if digits.isdigit():
        return int(digits)
    raise MaquetteQueryError(f"« {raw} » n'est ni un numéro de version ni une date AAAA-MM-JJ")


def point_kwargs(point: Point | None) -> dict[str, Any]:
    if point is None:
        return {}
    return {"version": point} if isinstance(point, int) else {"as_of": point}


def point_label(point: Point | None) -> str:
    if point is None:
        return f"en vigueur le {timezone.localdate().strftime('%d/%m/%Y')}"
    if isinstance(point, int):
        return "version 0 (contrat initial)" if point == 0 else f"version {point}"
    return f"en vigueur le {point.strftime('%d/%m/%Y')}"


# --- the table of pages, CLI and CSV ----------------------------------------------------------


@dataclass
class Row:
    """A table row: a label and its values in column order, with the row total."""

    key: Any
    label: str
    values: list[Decimal]
    total: Decimal
    share: Decimal | None = None
    stated: Decimal | None = None
    detail: str = ""

    @property
    def gap(self) -> Decimal | None:
        return None if self.stated is None else self.total - self.stated


@dataclass
class ShareRow:
    axis: Axis
    amount: Decimal
    computed: Decimal | None  # of the axis's volet's maquette (issue 12)
    stated: Decimal | None
    gap: Decimal | None
    flagged: bool
    volet: VoletPart | None = None


@dataclass
class VoletRow:
    """Issue 12: a volet in the maquette table — its period, envelope and maquette total."""

    part: VoletPart
    total: Decimal

    @property
    def unallocated(self) -> Decimal | None:
        return None if self.part.envelope is None else self.part.envelope - self.total


@dataclass
class AxisDetail:
    axis: Axis
    objectives: list[Objective]
    partner_rows: list[Row]  # partners × objectives of the axis
    objective_totals: list[Decimal]
    year_rows: list[Row]  # objectives × years
    year_totals: list[Decimal]
    total: Decimal


@dataclass
class MaquetteTable:
    contract: Contract
    point: Point | None
    label: str
    version: int
    amendments: list[Amendment]
    partners: list[Partner]
    axes: list[Axis]
    years: list[int | None]
    cells: dict[tuple[str, int], Decimal]
    partner_rows: list[Row]
    axis_totals: list[Decimal]
    total: Decimal
    envelope: Decimal
    shares: list[ShareRow]
    details: dict[int, AxisDetail] = field(default_factory=dict)
    volets: list[VoletRow] = field(default_factory=list)  # issue 12

    @property
    def partner_totals(self) -> dict[str, Decimal]:
        return {r.key: r.total for r in self.partner_rows}

    @property
    def axis_total_map(self) -> dict[int, Decimal]:
        return {a.number: t for a, t in zip(self.axes, self.axis_totals, strict=True)}

    @property
    def unallocated(self) -> Decimal:
        return self.envelope - self.total


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def maquette_table(
    *,
    contract: Contract,
    as_of: dt.date | None = None,
    version: int | None = None,
    filters: dict | None = None,  # type: ignore[type-arg]
) -> MaquetteTable:
    """The maquette in force as tables: partners × axes with totals and shares (computed vs
    stated), and per axis the drill-down partners × objectives and objectives × years.

    Amounts come from one `maquette_amounts` call by partner × objective × year; every total
    is derived from those sums, never stored."""
    point: Point | None = version if version is not None else as_of
    cells3 = maquette_amounts(
        contract=contract,
        as_of=as_of,
        version=version,
        group_by=("partner", "objective", "year"),
        filters=filters,
    )
    axes = list(
        contract.axes.prefetch_related("objectives").order_by("number")  # objectives ordered
    )
    partners = list(contract.partners.order_by("position", "code"))
    stated = {
        s.partner_id: s.amount
        for s in PartnerStatedAmount.objects.filter(partner__contract=contract, axis__isnull=True)
    }
    amendments = amendments_in_force(contract=contract, as_of=as_of, version=version)
    objective_axis: dict[str, int] = {}
    objectives_by_axis: dict[int, list[Objective]] = {}
    for a in axes:
        objs = sorted(a.objectives.all(), key=lambda o: (o.position, o.code))
        objectives_by_axis[a.number] = objs
        for o in objs:
            objective_axis[o.code] = a.number

    pa: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    po: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    oy: dict[tuple[str, int | None], Decimal] = defaultdict(lambda: ZERO)
    years_seen: set[int | None] = set()
    for (p, o, y), amount in cells3.items():
        pa[(p, objective_axis[o])] += amount
        po[(p, o)] += amount
        oy[(o, y)] += amount
        years_seen.add(y)
    years: list[int | None] = list(contract.years)
    if None in years_seen:
        years.append(None)
    years += sorted(y for y in years_seen if y is not None and y not in contract.years)

    total = _sum(cells3.values())
    partner_rows = []
    for p in partners:
        values = [pa.get((p.code, a.number), ZERO) for a in axes]
        ptotal = _sum(values)
        partner_rows.append(
            Row(
                key=p.code,
                label=p.short_name or p.name,
                values=values,
                total=ptotal,
                share=rate(ptotal, total),
                stated=stated.get(p.pk),
            )
        )
    axis_totals = [_sum(pa.get((p.code, a.number), ZERO) for p in partners) for a in axes]
    tolerance = Decimal(contract.share_tolerance)
    # issue 12: an axis's share is of its volet's maquette, not of the whole contract's.
    parts = volet_parts(contract=contract)
    part_of = {n: part for part in parts for n in part.axis_numbers}
    amount_of = {a.number: amount for a, amount in zip(axes, axis_totals, strict=True)}
    volet_rows = [
        VoletRow(part=part, total=_sum(amount_of.get(n, ZERO) for n in part.axis_numbers))
        for part in parts
    ]
    volet_total = {id(r.part): r.total for r in volet_rows}
    shares = []
    for a, amount in zip(axes, axis_totals, strict=True):
        part = part_of.get(a.number)
        computed = rate(amount, volet_total[id(part)] if part is not None else total)
        stated_share = Decimal(a.stated_share) if a.stated_share is not None else None
        gap = computed - stated_share if computed is not None and stated_share is not None else None
        shares.append(
            ShareRow(
                a,
                amount,
                computed,
                stated_share,
                gap,
                gap is not None and abs(gap) > tolerance,
                volet=part,
            )
        )
    details: dict[int, AxisDetail] = {}
    for a, amount in zip(axes, axis_totals, strict=True):
        objs = objectives_by_axis[a.number]
        p_rows = []
        for p in partners:
            values = [po.get((p.code, o.code), ZERO) for o in objs]
            p_rows.append(
                Row(key=p.code, label=p.short_name or p.name, values=values, total=_sum(values))
            )
        y_rows = []
        for o in objs:
            values = [oy.get((o.code, y), ZERO) for y in years]
            y_rows.append(
                Row(key=o.code, label=o.code, values=values, total=_sum(values), detail=o.title)
            )
        details[a.number] = AxisDetail(
            axis=a,
            objectives=objs,
            partner_rows=p_rows,
            objective_totals=[_sum(po.get((p.code, o.code), ZERO) for p in partners) for o in objs],
            year_rows=y_rows,
            year_totals=[_sum(oy.get((o.code, y), ZERO) for o in objs) for y in years],
            total=amount,
        )
    resolved = max((am.number for am in amendments), default=0)
    return MaquetteTable(
        contract=contract,
        point=point,
        label=point_label(point),
        version=resolved,
        amendments=amendments,
        partners=partners,
        axes=axes,
        years=years,
        cells=dict(pa),
        partner_rows=partner_rows,
        axis_totals=axis_totals,
        total=total,
        envelope=envelope_in_force(contract=contract, as_of=as_of, version=version),
        shares=shares,
        details=details,
        volets=volet_rows,
    )


# --- differences between two versions or dates -------------------------------------------------


@dataclass
class DiffLine:
    """A difference, for one cell or a roll-up: before, after, change, and who made it."""

    partner: str
    partner_name: str
    axis: int | None
    objective: str | None
    objective_title: str
    year: int | None
    before: Decimal
    after: Decimal
    amendments: list[int]

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


@dataclass
class MaquetteDiff:
    contract: Contract
    from_: Point
    to: Point
    from_label: str
    to_label: str
    amendments: list[tuple[Amendment, int]]  # (amendment, +1 applied / -1 undone), in order
    cells: list[DiffLine]  # partner × objective × year
    by_partner_axis: list[DiffLine]
    by_partner: list[DiffLine]
    by_axis: list[DiffLine]
    total_before: Decimal
    total_after: Decimal

    @property
    def total_delta(self) -> Decimal:
        return self.total_after - self.total_before

    @property
    def amendment_numbers(self) -> list[int]:
        return [a.number for a, _ in self.amendments]


def _amendment_ids(contract: Contract, point: Point) -> set[int]:
    qs = Amendment.objects.filter(contract=contract)
    if isinstance(point, int):
        qs = qs.filter(number__lte=point)
    else:
        qs = qs.filter(effective_on__lte=point)
    return set(qs.values_list("pk", flat=True))


def maquette_diff(*, contract: Contract, from_: Point, to: Point) -> MaquetteDiff:
    """What changed between two versions or dates (a version is an int, a date a date), per
    partner × objective × year and rolled up to partner × axis, partner and axis, with the
    amendments responsible for each change (applied: +1, undone when going back: -1)."""
    before = maquette_amounts(
        contract=contract, group_by=("partner", "objective", "year"), **point_kwargs(from_)
    )
    after = maquette_amounts(
        contract=contract, group_by=("partner", "objective", "year"), **point_kwargs(to)
    )
    ids_from, ids_to = _amendment_ids(contract, from_), _amendment_ids(contract, to)
    sign = {pk: 1 for pk in ids_to - ids_from} | {pk: -1 for pk in ids_from - ids_to}
    who: dict[tuple[str, str, int | None], set[int]] = defaultdict(set)
    if sign:
        rows = (
            Allocation.objects.filter(amendment_id__in=list(sign))
            .values("amendment__number", "partner__code", "objective__code", "year")
            .annotate(total=Sum("amount"))
        )
        for r in rows:
            if r["total"]:
                who[(r["partner__code"], r["objective__code"], r["year"])].add(
                    r["amendment__number"]
                )
    partners = {p.code: p for p in contract.partners.all()}
    position = {code: (p.position, code) for code, p in partners.items()}
    objectives = {o.code: o for o in contract.objectives.select_related("axis")}

    def pname(code: str) -> str:
        p = partners.get(code)
        return (p.short_name or p.name) if p else code

    cells: list[DiffLine] = []
    for key in sorted(
        set(before) | set(after),
        key=lambda k: (
            position.get(k[0], (999, k[0])),
            objectives[k[1]].axis.number,
            objectives[k[1]].position,
            k[2] if k[2] is not None else -1,
        ),
    ):
        b, a = before.get(key, ZERO), after.get(key, ZERO)
        if a == b:
            continue
        p, o, y = key
        obj = objectives[o]
        cells.append(
            DiffLine(p, pname(p), obj.axis.number, o, obj.title, y, b, a, sorted(who[key]))
        )

    changed = [(c.partner, c.objective, c.year) for c in cells]

    def rollup(keyf: Any, make: Any) -> list[DiffLine]:
        """Totals before/after for every group with a changed cell (even when the group nets
        to zero, as a redeployment inside one partner does)."""
        b_sum: dict[Any, Decimal] = defaultdict(lambda: ZERO)
        a_sum: dict[Any, Decimal] = defaultdict(lambda: ZERO)
        numbers: dict[Any, set[int]] = defaultdict(set)
        for key, v in before.items():
            b_sum[keyf(key)] += v
        for key, v in after.items():
            a_sum[keyf(key)] += v
        for key, ns in who.items():
            numbers[keyf(key)] |= ns
        touched = {keyf(key) for key in changed}
        return [
            make(k, (b_sum[k], a_sum[k], sorted(numbers[k])))
            for k in sorted(touched, key=lambda k: make(k, "sort"))
        ]

    def mk_pa(k: tuple[str, int], v: Any) -> Any:
        if v == "sort":
            return (position.get(k[0], (999, k[0])), k[1])
        return DiffLine(k[0], pname(k[0]), k[1], None, "", None, v[0], v[1], v[2])

    def mk_p(k: str, v: Any) -> Any:
        if v == "sort":
            return position.get(k, (999, k))
        return DiffLine(k, pname(k), None, None, "", None, v[0], v[1], v[2])

    def mk_a(k: int, v: Any) -> Any:
        if v == "sort":
            return k
        return DiffLine("", "", k, None, "", None, v[0], v[1], v[2])

    amendments = sorted(Amendment.objects.filter(pk__in=list(sign)), key=lambda am: am.number)
    responsible = set().union(*who.values()) if who else set()
    return MaquetteDiff(
        contract=contract,
        from_=from_,
        to=to,
        from_label=point_label(from_),
        to_label=point_label(to),
        amendments=[(am, sign[am.pk]) for am in amendments if am.number in responsible],
        cells=cells,
        by_partner_axis=rollup(lambda k: (k[0], objectives[k[1]].axis.number), mk_pa),
        by_partner=rollup(lambda k: k[0], mk_p),
        by_axis=rollup(lambda k: objectives[k[1]].axis.number, mk_a),
        total_before=_sum(before.values()),
        total_after=_sum(after.values()),
    )


# --- amendments --------------------------------------------------------------------------------


@dataclass
class AmendmentSummary:
    amendment: Amendment
    total: Decimal  # net change (0 for a balanced redeployment)
    added: Decimal
    removed: Decimal
    lines: int


def amendment_list(*, contract: Contract) -> list[AmendmentSummary]:
    """The contract's amendments in order, with their net change, additions and removals."""
    qs = (
        Amendment.objects.filter(contract=contract)
        .annotate(
            total=Sum("changes__amount"),
            added=Sum("changes__amount", filter=Q(changes__amount__gt=0)),
            removed=Sum("changes__amount", filter=Q(changes__amount__lt=0)),
            lines=Count("changes"),
        )
        .order_by("number")
    )
    return [
        AmendmentSummary(
            amendment=a,
            total=a.total or ZERO,  # type: ignore[attr-defined]
            added=a.added or ZERO,  # type: ignore[attr-defined]
            removed=a.removed or ZERO,  # type: ignore[attr-defined]
            lines=a.lines,  # type: ignore[attr-defined]
        )
        for a in qs
    ]


@dataclass
class AmendmentDetail:
    amendment: Amendment
    lines: list[Allocation]
    by_note: list[tuple[str, Decimal]]
    diff: MaquetteDiff
    envelope_before: Decimal
    envelope_after: Decimal


def amendment_get(*, contract: Contract, number: int) -> Amendment:
    return Amendment.objects.get(contract=contract, number=number)


def amendment_detail(*, contract: Contract, number: int) -> AmendmentDetail:
    """An amendment with its change lines, their split by note (e.g. by mode) and what it
    changed (the diff from version n-1 to version n). Raises Amendment.DoesNotExist."""
    amendment = amendment_get(contract=contract, number=number)
    lines = list(
        amendment.changes.select_related("partner", "objective__axis", "programme").order_by(
            "partner__position", "objective__axis__number", "objective__position", "year", "note"
        )
    )
    by_note = [
        (r["note"] or "—", r["total"])
        for r in amendment.changes.values("note").annotate(total=Sum("amount")).order_by("note")
    ]
    return AmendmentDetail(
        amendment=amendment,
        lines=lines,
        by_note=by_note,
        diff=maquette_diff(contract=contract, from_=number - 1, to=number),
        envelope_before=envelope_in_force(contract=contract, version=number - 1),
        envelope_after=envelope_in_force(contract=contract, version=number),
    )


# -- issue 12: valorised credits --


@dataclass(frozen=True)
class ValorisedCredits:
    """The signatories' valorised credits, apart from the maquette: never in its total."""

    lines: list[ValorisedCredit]
    by_partner: list[tuple[str, Decimal]]  # (partner label, total), in the contract's order
    total: Decimal
    illustrative: bool  # some line is invented


def valorised_credits(*, contract: Contract) -> ValorisedCredits:
    """The contract's valorised credits (one query)."""
    lines = list(
        ValorisedCredit.objects.filter(contract=contract)
        .select_related("partner", "objective")
        .order_by("partner__position", "partner__code", "objective__code", "year")
    )
    sums: dict[str, Decimal] = {}
    for line in lines:
        label = line.partner.short_name or line.partner.name
        sums[label] = sums.get(label, Decimal("0.00")) + line.amount
    return ValorisedCredits(
        lines=lines,
        by_partner=list(sums.items()),
        total=sum((line.amount for line in lines), Decimal("0.00")),
        illustrative=any(line.provenance == "illustrative" for line in lines),
    )
