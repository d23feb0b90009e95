"""What a financing line counts as in the summaries (its snapshot), and the units of the cells:
integer cents, signed committed and paid amounts, periods."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from cper.contracts.models import ContractTerritory, ProgrammingMode
from cper.db import ids_in
from cper.finance.models import LineState, LineTag, MovementKind
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    FinancingLine,
    LineStatus,
    Operation,
    OperationCommune,
    OperationTransition,
    PartnerDecision,
    PartnerDecisionOutcome,
)
from cper.territories.models import Commune, ProjectTerritory

GRAINS = ("Y", "M", "D")
BASE = ""
DEPARTEMENT = "departement"
EPCI = "epci"
MARKER = LineTag.MARKER
TERRITORY = LineTag.TERRITORY
CELL_DIMS = (DEPARTEMENT, EPCI, MARKER, TERRITORY)
# Dimensions too fine for day cells (about as many as movements): year and month cells only;
# the days of a month begun are read from the movements.
MONTHLY_DIMS = frozenset({EPCI})

_PROGRAMMED = frozenset(str(s) for s in PROGRAMMED_STATUSES)


def cents(amount: Decimal | int) -> int:
    """Euros (Decimal, exact to the cent) → integer cents."""
    return int((Decimal(amount) * 100).to_integral_value())


def euros(value: int | None) -> Decimal:
    """Integer cents → Decimal euros with two places."""
    return Decimal(int(value or 0)).scaleb(-2)


def signed(kind: str, amount_cents: int) -> tuple[int, int]:
    """(committed, paid) change of a movement, in cents."""
    if kind == MovementKind.COMMITMENT:
        return amount_cents, 0
    if kind == MovementKind.DECOMMITMENT:
        return -amount_cents, 0
    if kind == MovementKind.PAYMENT:
        return 0, amount_cents
    if kind == MovementKind.PAYMENT_CANCELLATION:
        return 0, -amount_cents
    if kind in _AFFECTATION_KINDS:
        return 0, 0  # kept apart: `signed_affected`, the line state's `affected`
    raise ValueError(f"nature de mouvement inconnue : {kind}")


_AFFECTATION_KINDS = frozenset({MovementKind.AFFECTATION, MovementKind.DESAFFECTATION})


def signed_affected(kind: str, amount_cents: int) -> int:
    """Net affected AP change of a movement, in cents (0 but for affectations)."""
    if kind == MovementKind.AFFECTATION:
        return amount_cents
    if kind == MovementKind.DESAFFECTATION:
        return -amount_cents
    return 0


def period_start(day: dt.date, grain: str) -> dt.date:
    if grain == "Y":
        return dt.date(day.year, 1, 1)
    if grain == "M":
        return dt.date(day.year, day.month, 1)
    return day


# -- what a line counts as ------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSnapshot:
    contract_id: int
    operation_id: int
    partner_id: int | None
    objective_id: int
    departement: str
    epci: str
    status: str
    counted: bool
    programmed: int  # cents
    programmed_on: dt.date | None
    tags: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def contribution_key(self) -> tuple[Any, ...]:
        """What the cells depend on (the status is not in the cells)."""
        return (
            self.contract_id,
            self.partner_id,
            self.objective_id,
            self.departement,
            self.epci,
            self.counted,
            self.programmed,
            self.programmed_on,
            self.tags,
        )

    def dims(self) -> list[tuple[str, str]]:
        out = [(BASE, "")]
        if self.departement:
            out.append((DEPARTEMENT, self.departement))
        if self.epci:
            out.append((EPCI, self.epci))
        out.extend(sorted(self.tags))
        return out


# What a line counts as, stored on its `LineState` row under the same names (the snapshot's
# fields but its tags, which are `LineTag` rows): one list for reading and writing states.
STATE_FIELDS = (
    "contract_id",
    "operation_id",
    "partner_id",
    "objective_id",
    "departement",
    "epci",
    "status",
    "counted",
    "programmed",
    "programmed_on",
)
# The state's columns kept from the ledger, after STATE_FIELDS in its rows.
LEDGER_FIELDS = ("committed", "paid", "affected", "movements", "paid_on", "opened_on")


def _local_date(value: dt.datetime | dt.date | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            return timezone.localdate(value)
        return value.date()
    return value


def _territory_communes(
    contract_ids: Iterable[int], communes: set[str] | None = None
) -> dict[int, dict[str, set[str]]]:
    """{contract_id: {commune code: {territory codes}}} for the contracts' project territories
    (a territory is its communes plus the communes of its EPCI), restricted to `communes` when
    given (a handful of queries on indexes, for the lines of a few operations)."""

    links = list(
        ContractTerritory.objects.filter(contract_id__in=list(contract_ids)).values_list(
            "contract_id", "territory_id", "territory__code"
        )
    )
    out: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if not links or (communes is not None and not communes):
        return out
    territory_ids = {t for _, t, _ in links}
    direct = ProjectTerritory.communes.through.objects.filter(projectterritory_id__in=territory_ids)
    epci_links = ProjectTerritory.epcis.through.objects.filter(
        projectterritory_id__in=territory_ids
    )
    commune_epci = Commune.objects.filter(epci__isnull=False)
    if communes is not None:
        direct = direct.filter(commune_id__in=communes)
        commune_epci = commune_epci.filter(code__in=communes)
    communes_of: dict[int, set[str]] = defaultdict(set)
    for tid, code in direct.values_list("projectterritory_id", "commune_id"):
        communes_of[tid].add(code)
    epcis_of: dict[int, set[str]] = defaultdict(set)
    for tid, siren in epci_links.values_list("projectterritory_id", "epci_id"):
        epcis_of[tid].add(siren)
    wanted = set().union(*epcis_of.values()) if epcis_of else set()
    by_epci: dict[str, set[str]] = defaultdict(set)
    if wanted:
        for code, siren in commune_epci.filter(epci_id__in=wanted).values_list("code", "epci_id"):
            by_epci[siren].add(code)
    for contract_id, tid, tcode in links:
        members = set(communes_of[tid])
        for siren in epcis_of[tid]:
            members |= by_epci[siren]
        for commune in members:
            out[contract_id][commune].add(tcode)
    return out


def _programmed_on(operation_ids: Sequence[int] | None, contract_ids: Sequence[int] | None) -> dict:

    qs = OperationTransition.objects.filter(to_status__in=list(_PROGRAMMED))
    if operation_ids is not None:
        qs = qs.filter(ids_in("operation_id", operation_ids))
    if contract_ids is not None:
        qs = qs.filter(operation__contract_id__in=list(contract_ids))
    out: dict[int, dt.date] = {}
    for op_id, at, committee_date in qs.values_list(
        "operation_id", "at", "decision__committee__date"
    ).iterator(chunk_size=20000):
        day = committee_date or _local_date(at)
        if day is not None and (op_id not in out or day < out[op_id]):
            out[op_id] = day
    return out


def decisions_in_force(
    *,
    line_ids: Sequence[int] | None = None,
    contract_ids: Sequence[int] | None = None,
    line_range: tuple[int, int] | None = None,
) -> dict[int, tuple[int, dt.date]]:
    """{line: (granted cents, date)} of the partner's decision in force on each line — the
    latest in date, then in recording order (an amending deliberation replaces the first);
    lines whose decision in force refuses or withdraws are left out (issue 12)."""
    qs = PartnerDecision.objects.all()
    if line_ids is not None:
        qs = qs.filter(ids_in("financing_line_id", line_ids))
    if line_range is not None:
        qs = qs.filter(financing_line_id__gte=line_range[0], financing_line_id__lte=line_range[1])
    if contract_ids is not None:
        qs = qs.filter(financing_line__operation__contract_id__in=list(contract_ids))
    latest: dict[int, tuple[dt.date, int, str, Decimal]] = {}
    for line_id, day, pk, outcome, amount in qs.values_list(
        "financing_line_id", "date", "pk", "outcome", "amount"
    ).iterator(chunk_size=20000):
        seen = latest.get(line_id)
        if seen is None or (day, pk) > seen[:2]:
            latest[line_id] = (day, pk, outcome, amount)
    return {
        line_id: (cents(amount), day)
        for line_id, (day, _, outcome, amount) in latest.items()
        if outcome == PartnerDecisionOutcome.GRANTED and amount > 0
    }


def snapshots_compute(
    *,
    line_ids: Iterable[int] | None = None,
    contract_ids: Iterable[int] | None = None,
    line_range: tuple[int, int] | None = None,
) -> dict[int, LineSnapshot]:
    """What each line counts as, from the register (lines, operations, transitions, markers,
    communes): by line ids, or every line of the given contracts (`line_range`: those whose
    ids lie in that closed range — a slice read along the primary key, without a list of
    ids)."""

    qs = FinancingLine.objects.all()
    if line_ids is not None:
        ids = sorted(set(line_ids))
        if not ids:
            return {}
        qs = qs.filter(ids_in("pk", ids))
    if line_range is not None:
        qs = qs.filter(pk__gte=line_range[0], pk__lte=line_range[1])
    if contract_ids is not None:
        qs = qs.filter(operation__contract_id__in=list(contract_ids))
    rows = list(
        qs.values_list(
            "id",
            "amount",
            "status",
            "contractualised",
            "partner_id",
            "objective_id",
            "operation_id",
            "operation__contract_id",
            "operation__status",
            "operation__departement_id",
            "operation__epci_id",
            "operation__created_at",
            "operation__contract__programming_mode",
        ).iterator(chunk_size=20000)
    )
    if not rows:
        return {}
    # issue 12: under the CPER setting a partner's line is programmed by the partner's own
    # decision in force (its amount, at its date), once the committee's avis has put the
    # operation in a programmed status; lines without a contract partner keep the committee's.
    by_decision = [r[0] for r in rows if r[12] == ProgrammingMode.PARTNER_DECISION and r[4]]
    decided: dict[int, tuple[int, dt.date]] = {}
    if by_decision and line_range is not None:
        decided = decisions_in_force(
            contract_ids=sorted({r[7] for r in rows}), line_range=line_range
        )
    elif by_decision and (line_ids is not None or len(by_decision) < 5000):
        decided = decisions_in_force(line_ids=by_decision)
    elif by_decision:
        decided = decisions_in_force(contract_ids=sorted({r[7] for r in rows}))
    op_ids = sorted({r[6] for r in rows})
    by_ids = line_ids is not None or line_range is not None or len(op_ids) < 5000
    contracts = sorted({r[7] for r in rows})
    prog_on = _programmed_on(op_ids if by_ids else None, None if by_ids else contracts)
    tags: dict[int, set[tuple[str, str]]] = defaultdict(set)
    markers = Operation.markers.through.objects.all()
    markers = (
        markers.filter(ids_in("operation_id", op_ids))
        if by_ids
        else markers.filter(operation__contract_id__in=contracts)
    )
    for op_id, code in markers.values_list("operation_id", "marker__code").iterator(
        chunk_size=20000
    ):
        tags[op_id].add((MARKER, code))
    communes = OperationCommune.objects.all()
    communes = (
        communes.filter(ids_in("operation_id", op_ids))
        if by_ids
        else communes.filter(operation__contract_id__in=contracts)
    )
    op_communes = list(
        communes.values_list("operation_id", "commune_id").iterator(chunk_size=20000)
    )
    territories = (
        _territory_communes(contracts, {c for _, c in op_communes})
        if by_ids
        else _territory_communes(contracts)
    )
    if any(territories.values()):
        op_contract = {r[6]: r[7] for r in rows}
        for op_id, commune in op_communes:
            contract_id = op_contract.get(op_id)
            if contract_id is None:
                continue
            for code in territories[contract_id].get(commune, ()):
                tags[op_id].add((TERRITORY, code))
    out: dict[int, LineSnapshot] = {}
    for (
        line_id,
        amount,
        line_status,
        contractualised,
        partner_id,
        objective_id,
        op_id,
        contract_id,
        op_status,
        dep,
        epci,
        created_at,
        mode,
    ) in rows:
        programmed_now = line_status == LineStatus.ACTIVE and op_status in _PROGRAMMED
        programmed, programmed_on = 0, None
        if programmed_now and mode == ProgrammingMode.PARTNER_DECISION and partner_id:
            programmed, programmed_on = decided.get(line_id, (0, None))
        elif programmed_now:
            programmed = cents(amount)
            programmed_on = prog_on.get(op_id) or _local_date(created_at)
        out[line_id] = LineSnapshot(
            contract_id=contract_id,
            operation_id=op_id,
            partner_id=partner_id,
            objective_id=objective_id,
            departement=dep or "",
            epci=epci or "",
            status=op_status,
            counted=bool(contractualised and partner_id is not None),
            programmed=programmed,
            programmed_on=programmed_on,
            tags=frozenset(tags.get(op_id, ())),
        )
    return out


def snapshots_stored(
    line_ids: Iterable[int], *, contract_id: int | None = None
) -> dict[int, LineSnapshot]:
    """The snapshots stored for these lines (those that have one): one query per 5,000 lines,
    the states with their tags (a row per tag). With `contract_id`, `line_ids` are consecutive
    lines of that contract, read as one range of its states."""
    ids = sorted(set(line_ids))
    out: dict[int, LineSnapshot] = {}
    step = len(ids) if contract_id is not None else 5000
    for i in range(0, len(ids), max(step, 1)):
        rows: dict[int, tuple[Any, ...]] = {}
        tags: dict[int, set[tuple[str, str]]] = defaultdict(set)
        width = len(STATE_FIELDS)
        part = ids[i : i + step]
        states = (
            LineState.objects.filter(
                contract_id=contract_id, line_id__gte=part[0], line_id__lte=part[-1]
            )
            if contract_id is not None
            else LineState.objects.filter(ids_in("pk", part))
        )
        for row in states.values_list("pk", *STATE_FIELDS, "tags__kind", "tags__value"):
            rows[row[0]] = row[1 : 1 + width]
            if row[1 + width] is not None:
                tags[row[0]].add((row[1 + width], row[2 + width]))
        for lid, values in rows.items():
            out[lid] = LineSnapshot(
                **dict(zip(STATE_FIELDS, values, strict=True)),
                tags=frozenset(tags.get(lid, ())),
            )
    return out
