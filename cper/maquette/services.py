"""Writes of the maquette: amendments and edits of the initial allocations, and the
synchronisation of a contract file's `maquette:` and `amendments:` sections.

Every service is atomic and audited; it validates with the plain rules of `rules.py` first and
writes nothing when a rule fails (`MaquetteError` lists the findings, each naming its line).
The contract loader's writes (`amendments_write`, `allocations_write`) are batch-first: the
file's lines in, what each became out; the loader has checked them with the same rules.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from cper.audit.actions import AuditAction
from cper.audit.services import (
    Actor,
    AuditDraft,
    UpsertDraft,
    Upserted,
    audit_record,
    audit_record_many,
    audited_upsert_many,
    jsonable,
)
from cper.contracts.models import BudgetProgramme, Contract, Objective
from cper.db import Provenance
from cper.findings import Finding
from cper.maquette.models import Allocation, Amendment, ValorisedCredit
from cper.maquette.rules import (
    ChangeLine,
    amendment_errors,
    change_source_findings,
    initial_allocation_findings,
    initial_change_findings,
)
from cper.maquette.selectors import maquette_amounts
from cper.money import MoneyError, to_money

ZERO = Decimal("0.00")


class MaquetteError(Exception):
    """Refused: the rules that failed, each naming the offending line."""

    def __init__(self, errors: Sequence[Finding]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class AllocationChange:
    """One change of an amendment: add (positive) or take (negative) to partner × objective ×
    year. Codes, not rows, so pages, imports and tests write the same thing."""

    partner: str
    objective: str
    year: int | None
    amount: Decimal | str | int
    note: str = ""
    programme: str | None = None  # LOLF programme code (P112…), State lines
    budget_nature: str | None = None  # default: the partner's
    provenance: str = Provenance.ILLUSTRATIVE
    source: str = ""


def _as_change(value: AllocationChange | Mapping[str, Any]) -> AllocationChange:
    if isinstance(value, AllocationChange):
        return value
    return AllocationChange(**dict(value))


def audit_lines(
    *,
    actor: Actor,
    action: AuditAction,
    lines: Iterable[Allocation],
    contract_id: int,
    before: Any = None,
) -> None:
    """One audit entry per allocation line written, in one INSERT."""
    entries = []
    for line in lines:
        after = {
            "amendment": line.amendment_id,
            "partner": line.partner_id,
            "objective": line.objective_id,
            "year": line.year,
            "amount": line.amount,
            "note": line.note,
            "budget_nature": line.budget_nature,
            "programme": line.programme_id,
            "provenance": line.provenance,
        }
        old = before.get(line.pk) if isinstance(before, dict) else None
        changes = (
            {k: {"avant": jsonable(old.get(k)), "après": jsonable(v)} for k, v in after.items()}
            if old is not None
            else {k: {"avant": None, "après": jsonable(v)} for k, v in after.items()}
        )
        entries.append(
            AuditDraft(action=action, subject=line, changes=changes, contract_id=contract_id)
        )
    audit_record_many(actor=actor, entries=entries)


@transaction.atomic
def amendment_create(
    *,
    actor: Actor,
    contract: Contract,
    number: int,
    title: str,
    kind: str,
    effective_on: dt.date,
    adopted_on: dt.date | None = None,
    signed_on: dt.date | None = None,
    decision_ref: str = "",
    rationale: str = "",
    changes: Sequence[AllocationChange | Mapping[str, Any]],
    provenance: str = Provenance.ILLUSTRATIVE,
    source: str = "",
) -> Amendment:
    """Record amendment n°`number` and its changes, as the next version of the maquette.

    Refused (MaquetteError, nothing written) when: the number is not the next one; the title is
    empty or the kind unknown; the effective date is outside the contract's period or before
    the previous amendment's; a change names an unknown partner, objective, programme or a year
    outside the period, is zero, takes money in an addition; a redeployment does not sum to 0;
    or a partner × objective × year allocation would become negative."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    existing = list(
        Amendment.objects.filter(contract=contract).values_list("number", "effective_on")
    )
    items = [_as_change(c) for c in changes]
    lines: list[ChangeLine] = []
    errors: list[Finding] = []
    for i, c in enumerate(items, start=1):
        where = f"changement n°{i}"
        try:
            amount = to_money(c.amount)
        except MoneyError as exc:
            errors.append(Finding(where, f"montant invalide : {exc}"))
            continue
        lines.append(ChangeLine(c.partner, c.objective, c.year, amount, c.note, where))
    partners = {p.code: p for p in contract.partners.all()}
    objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
    programme_codes = {c.programme for c in items if c.programme}
    programmes = {p.code: p for p in BudgetProgramme.objects.filter(code__in=programme_codes)}
    for i, c in enumerate(items, start=1):
        errors += change_source_findings(
            where=f"changement n°{i}",
            programme=c.programme,
            programme_known=c.programme in programmes,
            provenance=c.provenance,
            provenances=Provenance.values,
        )
    latest = max((n for n, _ in existing), default=0)
    base = maquette_amounts(
        contract=contract,
        version=latest,
        group_by=("partner", "objective", "year"),
        filters={
            "partner": sorted({c.partner for c in lines}),
            "objective": sorted({c.objective for c in lines}),
        },
    )
    errors += amendment_errors(
        number=number,
        title=title,
        kind=kind,
        effective_on=effective_on,
        start_year=contract.start_year,
        end_year=contract.end_year,
        others=existing,
        expected_number=latest + 1,
        changes=lines,
        partners=partners,
        objectives=objectives,
        base=base,  # type: ignore[arg-type]
        where="avenant",
    )
    if errors:
        raise MaquetteError(errors)
    amendment = Amendment.objects.create(
        contract=contract,
        number=number,
        title=title.strip(),
        kind=kind,
        adopted_on=adopted_on,
        signed_on=signed_on,
        effective_on=effective_on,
        decision_ref=decision_ref,
        rationale=rationale,
        provenance=provenance,
        source=source,
    )
    rows = [
        Allocation(
            contract=contract,
            amendment=amendment,
            partner=partners[line.partner],
            objective=objectives[line.objective],
            year=line.year,
            amount=line.amount,
            note=item.note,
            budget_nature=item.budget_nature or partners[line.partner].budget_nature,
            programme=programmes.get(item.programme) if item.programme else None,
            provenance=item.provenance,
            source=item.source,
        )
        for line, item in zip(lines, items, strict=True)
    ]
    created = Allocation.objects.bulk_create(rows)
    total = sum((r.amount for r in rows), ZERO)
    audit_record(
        actor=actor,
        action=AuditAction.AMENDMENT_RECORDED,
        subject=amendment,
        changes={
            "number": {"avant": None, "après": number},
            "kind": {"avant": None, "après": kind},
            "effective_on": {"avant": None, "après": effective_on},
            "net": {"avant": None, "après": total},
            "lines": {"avant": None, "après": len(rows)},
        },
        contract_id=contract.pk,
    )
    audit_lines(
        actor=actor, action=AuditAction.AMENDMENT_CHANGE, lines=created, contract_id=contract.pk
    )
    return amendment


@transaction.atomic
def allocation_initial_set(
    *,
    actor: Actor,
    contract: Contract,
    partner: str,
    objective: str,
    year: int | None,
    amount: Decimal | str | int,
    note: str = "",
    programme: str | None = None,
    budget_nature: str | None = None,
    provenance: str = Provenance.ILLUSTRATIVE,
    source: str = "",
    reason: str = "",
) -> Allocation | None:
    """Set the initial (version 0) amount of partner × objective × year (× note) to `amount`;
    0 removes the line. Refused when it would make the cell negative in any later version."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    where = f"{partner} / {objective} / {year if year is not None else 'toutes années'}"
    try:
        value = to_money(amount)
    except MoneyError as exc:
        raise MaquetteError([Finding(where, f"montant invalide : {exc}")]) from exc
    p = contract.partners.filter(code=partner).first()
    o = Objective.objects.filter(contract=contract, code=objective).first()
    prog = BudgetProgramme.objects.filter(code=programme).first() if programme else None
    errors = initial_allocation_findings(
        where=where,
        amount=value,
        partner=partner,
        partner_known=p is not None,
        objective=objective,
        objective_known=o is not None,
        year=year,
        years=contract.years,
        programme=programme,
        programme_known=prog is not None,
    )
    if errors:
        raise MaquetteError(errors)
    assert p is not None and o is not None
    current = Allocation.objects.filter(
        contract=contract, amendment__isnull=True, partner=p, objective=o, year=year, note=note
    ).first()
    by_version: dict[int, Decimal] = {}
    for number, amt in Allocation.objects.filter(
        contract=contract, partner=p, objective=o, year=year
    ).values_list("amendment__number", "amount"):
        by_version[number or 0] = by_version.get(number or 0, ZERO) + amt
    errors = initial_change_findings(
        where=where, by_version=by_version, delta=value - (current.amount if current else ZERO)
    )
    if errors:
        raise MaquetteError(errors)
    values = {
        "amount": value,
        "budget_nature": budget_nature or p.budget_nature,
        "programme": prog,
        "provenance": provenance,
        "source": source,
    }
    if current is None:
        if value == 0:
            return None
        line = Allocation.objects.create(
            contract=contract, partner=p, objective=o, year=year, note=note, **values
        )
        audit_lines(
            actor=actor,
            action=AuditAction.ALLOCATION_CREATED,
            lines=[line],
            contract_id=contract.pk,
        )
        return line
    before = {k: getattr(current, k) for k in values}
    if value == 0:
        audit_record(
            actor=actor,
            action=AuditAction.ALLOCATION_DELETED,
            subject=current,
            changes={"amount": {"avant": current.amount, "après": None}},
            message=reason,
            contract_id=contract.pk,
        )
        current.delete()
        return None
    for k, v in values.items():
        setattr(current, k, v)
    current.save(update_fields=list(values))
    audit_record(
        actor=actor,
        action=AuditAction.ALLOCATION_UPDATED,
        subject=current,
        changes={k: {"avant": before[k], "après": v} for k, v in values.items() if before[k] != v},
        message=reason,
        contract_id=contract.pk,
    )
    return current


# --- the contract file's sections (called by the maquette loader) -------------------------------


@transaction.atomic
def amendments_write(
    *, actor: Actor, contract: Contract, drafts: list[UpsertDraft]
) -> list[Upserted]:
    """Create or update the contract's amendments keyed on their number, audited."""
    for draft in drafts:
        if draft.lookup.get("contract") != contract:
            raise ValueError("un avenant d'un autre contrat")
    return audited_upsert_many(
        actor=actor,
        model=Amendment,
        drafts=drafts,
        created=AuditAction.CONTRACT_LOAD_CREATED,
        updated=AuditAction.CONTRACT_LOAD_UPDATED,
        contract_id=contract.pk,
    )


@dataclass
class AllocationsWritten:
    """What `allocations_write` did: lines created, updated, left unchanged, deleted."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


# The values of a line `allocations_write` compares (the rest is its key).
_LINE_FIELDS = ["amount", "budget_nature", "programme_id", "provenance", "source"]


@transaction.atomic
def allocations_write(
    *,
    actor: Actor,
    contract: Contract,
    amendment: Amendment | None,
    drafts: Sequence[AllocationChange],
) -> AllocationsWritten:
    """Make the lines of version 0 (`amendment` None) or of one amendment exactly `drafts`:
    create what is missing, update what changed, delete the lines no draft names (keyed on
    partner × objective × year × note); every write audited, unchanged lines write nothing.
    The drafts are the contract file's, already checked by the rules (codes are known)."""
    partners = {p.code: p for p in contract.partners.all()}
    objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
    programmes = {p.code: p for p in BudgetProgramme.objects.all()}
    existing: dict[tuple[str, str, int | None, str], list[Allocation]] = defaultdict(list)
    for row in Allocation.objects.filter(contract=contract, amendment=amendment).select_related(
        "partner", "objective", "programme"
    ):
        existing[(row.partner.code, row.objective.code, row.year, row.note)].append(row)
    done = AllocationsWritten()
    to_create: list[Allocation] = []
    to_update: list[Allocation] = []
    before: dict[int, dict[str, Any]] = {}
    for draft in drafts:
        partner = partners[draft.partner]
        key = (draft.partner, draft.objective, draft.year, draft.note)
        values = {
            "amount": to_money(draft.amount),
            "budget_nature": draft.budget_nature or partner.budget_nature,
            "programme_id": programmes[draft.programme].pk if draft.programme else None,
            "provenance": draft.provenance,
            "source": draft.source[:500],
        }
        rows = existing.pop(key, [])
        if not rows:
            to_create.append(
                Allocation(
                    contract=contract,
                    amendment=amendment,
                    partner=partner,
                    objective=objectives[draft.objective],
                    year=draft.year,
                    note=draft.note,
                    **values,
                )
            )
            continue
        row, extra = rows[0], rows[1:]
        if extra:
            existing[key] = extra  # duplicates left over are deleted below
        old = {f: getattr(row, f) for f in _LINE_FIELDS}
        if all(old[f] == values[f] for f in _LINE_FIELDS):
            done.unchanged += 1
            continue
        before[row.pk] = {
            "amount": old["amount"],
            "budget_nature": old["budget_nature"],
            "programme": old["programme_id"],
            "provenance": old["provenance"],
        }
        for f, v in values.items():
            setattr(row, f, v)
        to_update.append(row)
    stale = [row for rows in existing.values() for row in rows]
    if stale:
        audit_record_many(
            actor=actor,
            entries=[
                AuditDraft(
                    action=AuditAction.CONTRACT_LOAD_DELETED,
                    subject=row,
                    changes={"amount": {"avant": row.amount, "après": None}},
                    contract_id=contract.pk,
                )
                for row in stale
            ],
        )
        Allocation.objects.filter(pk__in=[r.pk for r in stale]).delete()
        done.deleted = len(stale)
    if to_update:
        Allocation.objects.bulk_update(to_update, _LINE_FIELDS)
        audit_lines(
            actor=actor,
            action=AuditAction.CONTRACT_LOAD_UPDATED,
            lines=to_update,
            contract_id=contract.pk,
            before=before,
        )
        done.updated = len(to_update)
    if to_create:
        created = Allocation.objects.bulk_create(to_create)
        audit_lines(
            actor=actor,
            action=AuditAction.CONTRACT_LOAD_CREATED,
            lines=created,
            contract_id=contract.pk,
        )
        done.created = len(created)
    return done


__all__ = [
    "AllocationChange",
    "AllocationsWritten",
    "MaquetteError",
    "allocation_initial_set",
    "allocations_write",
    "amendment_create",
    "amendments_write",
    "audit_lines",
]


# -- issue 12: valorised credits --


@transaction.atomic
def valorised_credits_write(
    *, actor: Actor, contract: Contract, drafts: list[UpsertDraft]
) -> list[Upserted]:
    """Create or update the contract's valorised credits (`ValorisedCredit`, apart from the
    maquette) keyed on partner × objective × year, audited as the contract file's load."""
    for draft in drafts:
        if draft.lookup.get("contract") != contract:
            raise ValueError("des crédits valorisés d'un autre contrat")
    return audited_upsert_many(
        actor=actor,
        model=ValorisedCredit,
        drafts=drafts,
        created=AuditAction.CONTRACT_LOAD_CREATED,
        updated=AuditAction.CONTRACT_LOAD_UPDATED,
        contract_id=contract.pk,
    )
