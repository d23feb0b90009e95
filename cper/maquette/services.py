"""Writes of the maquette: amendments and edits of the initial allocations.

Every service is atomic and audited; it validates with the plain rules of `rules.py` first and
writes nothing when a rule fails (`MaquetteError` lists the errors, each naming its line).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from cper.audit.models import AuditEntry
from cper.audit.services import Actor, audit_record, jsonable
from cper.contracts.models import BudgetProgramme, Contract, Objective
from cper.db import Provenance
from cper.maquette.models import Allocation, Amendment
from cper.maquette.rules import ChangeLine, RuleError, amendment_errors
from cper.maquette.selectors import maquette_amounts
from cper.money import MoneyError, format_eur, to_money

ZERO = Decimal("0.00")


class MaquetteError(Exception):
    """Refused: the rules that failed, each naming the offending line."""

    def __init__(self, errors: Sequence[RuleError]):
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
    *, actor: Actor, action: str, lines: Iterable[Allocation], contract_id: int, before: Any = None
) -> None:
    """One audit entry per allocation line written, in one INSERT."""
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
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
            AuditEntry(
                user=user,
                via=actor.via,
                action=action,
                subject_type=Allocation._meta.label_lower,
                subject_id=str(line.pk),
                subject_repr=str(line)[:300],
                contract_id=contract_id,
                changes=changes,
            )
        )
    AuditEntry.objects.bulk_create(entries)


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
    errors: list[RuleError] = []
    for i, c in enumerate(items, start=1):
        where = f"changement n°{i}"
        try:
            amount = to_money(c.amount)
        except MoneyError as exc:
            errors.append(RuleError(where, None, f"montant invalide : {exc}"))
            continue
        lines.append(ChangeLine(c.partner, c.objective, c.year, amount, c.note, where))
    partners = {p.code: p for p in contract.partners.all()}
    objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
    programme_codes = {c.programme for c in items if c.programme}
    programmes = {p.code: p for p in BudgetProgramme.objects.filter(code__in=programme_codes)}
    for i, c in enumerate(items, start=1):
        if c.programme and c.programme not in programmes:
            errors.append(
                RuleError(f"changement n°{i}", None, f"programme LOLF inconnu « {c.programme} »")
            )
        if c.provenance not in Provenance.values:
            errors.append(RuleError(f"changement n°{i}", None, f"provenance « {c.provenance} »"))
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
        action="avenant enregistré",
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
    audit_lines(actor=actor, action="changement d'avenant", lines=created, contract_id=contract.pk)
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
        raise MaquetteError([RuleError(where, None, f"montant invalide : {exc}")]) from exc
    errors: list[RuleError] = []
    if value < 0:
        errors.append(RuleError(where, None, "une allocation initiale ne peut être négative"))
    p = contract.partners.filter(code=partner).first()
    o = Objective.objects.filter(contract=contract, code=objective).first()
    if p is None:
        errors.append(RuleError(where, None, f"partenaire inconnu « {partner} »"))
    if o is None:
        errors.append(RuleError(where, None, f"objectif inconnu « {objective} »"))
    if year is not None and year not in contract.years:
        errors.append(RuleError(where, None, f"année {year} hors de la période du contrat"))
    prog = None
    if programme:
        prog = BudgetProgramme.objects.filter(code=programme).first()
        if prog is None:
            errors.append(RuleError(where, None, f"programme LOLF inconnu « {programme} »"))
    if errors:
        raise MaquetteError(errors)
    assert p is not None and o is not None
    current = Allocation.objects.filter(
        contract=contract, amendment__isnull=True, partner=p, objective=o, year=year, note=note
    ).first()
    delta = value - (current.amount if current else ZERO)
    # The cell in every version must stay >= 0: check the lowest point along the versions.
    running = ZERO
    rows = (
        Allocation.objects.filter(contract=contract, partner=p, objective=o, year=year)
        .values_list("amendment__number", "amount")
        .order_by("amendment__number")
    )
    by_version: dict[int, Decimal] = {}
    for number, amt in rows:
        by_version[number or 0] = by_version.get(number or 0, ZERO) + amt
    for number in sorted(by_version):
        running += by_version[number]
        if number == 0:
            running += delta
        if running < 0:
            raise MaquetteError(
                [
                    RuleError(
                        where,
                        None,
                        f"l'allocation deviendrait négative "
                        f"{'après l’avenant n°' + str(number) if number else 'dès la version 0'} "
                        f"({format_eur(running)})",
                    )
                ]
            )
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
        audit_lines(actor=actor, action="allocation créée", lines=[line], contract_id=contract.pk)
        return line
    before = {k: getattr(current, k) for k in values}
    if value == 0:
        audit_record(
            actor=actor,
            action="allocation supprimée",
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
        action="allocation modifiée",
        subject=current,
        changes={k: {"avant": before[k], "après": v} for k, v in values.items() if before[k] != v},
        message=reason,
        contract_id=contract.pk,
    )
    return current


__all__ = [
    "AllocationChange",
    "MaquetteError",
    "allocation_initial_set",
    "amendment_create",
    "audit_lines",
]
