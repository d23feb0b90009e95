"""Writing a batch of new operations at once: what an import of thousands of rows needs.

`operations_create_many` takes drafts of *new* operations — their maître d'ouvrage (existing or
to create), communes, partners' references, co-financing plan, and the status they have
reached with the committee that programmed them — and writes exactly what the one-by-one
services would (`owner_create`, `operation_create`, `financing_line_add`, `decision_record`,
`lifecycle.operation_transition`): the same rows, the same transition log and decisions, the
same audit entries, checked by the same rule functions (`cper.operations.rules`, the lifecycle's
`transition_errors`) and the one permission function — in a few queries per batch instead of
dozens per operation.

It never explains a refusal. A draft that a rule, a permission or a uniqueness check would
refuse is *declined*: returned as None, nothing written for it. The caller sends declined
drafts through the one-by-one services, which refuse them with their precise messages (or
accept them, when the batch was only cautious). The batch path can therefore only accept what
the services accept; `tests/io/test_import_batch.py` compares what both paths write.

Cautious on purpose, it declines rather than re-implements: a contract that blocks
over-programming (the check reads the summaries, which must move draft by draft), an owner
draft whose SIRET or RNA another draft of the batch also creates under another name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.services import Actor, AuditDraft, audit_record_many, diff_fields
from cper.contracts.models import BudgetNature, BudgetProgramme, Contract, Objective, Partner
from cper.operations import lifecycle, rules
from cper.operations import services as one
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Committee,
    CostBase,
    Decision,
    DecisionAmount,
    DecisionOutcome,
    ExternalReference,
    FinancerKind,
    FinancingLine,
    LegalCategory,
    Operation,
    OperationCommune,
    OperationStatus,
    OperationTransition,
    ProjectOwner,
)
from cper.territories.models import Commune

__all__ = ["CommitteeDraft", "LineDraft", "OperationDraft", "OwnerDraft", "operations_create_many"]


@dataclass(eq=False)
class OwnerDraft:
    """A maître d'ouvrage to create with the operations naming it (one object per owner: drafts
    sharing it share the owner)."""

    name: str
    legal_category: str
    siret: str | None = None
    rna: str | None = None


@dataclass(eq=False)
class CommitteeDraft:
    """A committee to create with the operations it programmed (one object per committee:
    drafts sharing it share the committee), as `committee_create` would; `created` holds the
    committee once written — it is written only if one of its operations is."""

    kind: str
    date: date
    created: Committee | None = None


@dataclass
class LineDraft:
    """A financer's line, as `services.financing_line_add` takes it (same defaults)."""

    financer_kind: str
    amount: Decimal
    partner: Partner | None = None
    financer_label: str = ""
    objective: Objective | None = None
    contractualised: bool | None = None
    budget_nature: str | None = None
    programme: BudgetProgramme | None = None
    year: int | None = None
    external_ref: str = ""


@dataclass
class OperationDraft:
    """A new operation, as `services.operation_create` takes it, with its plan and the status
    it has reached: the walk from draft follows the lifecycle's edges; the edge into
    `programmed` is the approving decision of `committee` (each active partner line approved at
    its amount, as `decision_record` does by default); edges that need a reason get `reason`."""

    title: str
    owner: ProjectOwner | OwnerDraft
    objective: Objective
    code: str | None = None
    description: str = ""
    communes: Sequence[str] = ()
    external_references: Mapping[Partner, str] = field(default_factory=dict)
    start_date: date | None = None
    end_date: date | None = None
    cost_ht: Decimal | None = None
    cost_ttc: Decimal | None = None
    cost_base: str = CostBase.HT
    lines: Sequence[LineDraft] = ()
    status: str = OperationStatus.DRAFT
    committee: Committee | CommitteeDraft | None = None
    reason: str = ""


class _Declined(Exception):
    """A draft the batch does not take (the one-by-one services will say why)."""


def _allowed(actor: Actor, action: str, obj: Any = None) -> bool:
    try:
        require_actor(actor, action, obj)
    except PermissionDenied:
        return False
    return True


def _check(findings: Iterable[rules.Finding]) -> None:
    if rules.as_error_dict(findings):
        raise _Declined


@dataclass
class _Prepared:
    """What one accepted draft will write."""

    index: int
    draft: OperationDraft
    operation: Operation
    communes: list[Commune]
    lines: list[FinancingLine]
    path: list[lifecycle.Edge]
    new_owner: OwnerDraft | None


@dataclass
class _Batch:
    """What the whole batch reads once: the contract's context and the uniqueness sets."""

    contract: Contract
    communes: dict[str, Commune]
    codes_taken: set[str]
    references_taken: set[tuple[int, str]]
    sirets_taken: set[str]
    rnas_taken: set[str]
    owners: dict[int, ProjectOwner | None] = field(default_factory=dict)  # id(draft) → owner

    @classmethod
    def read(cls, contract: Contract, drafts: Sequence[OperationDraft]) -> _Batch:
        codes = {str(c).strip() for d in drafts for c in d.communes}
        given = {d.code.strip() for d in drafts if d.code and d.code.strip()}
        refs = {(p.pk, str(r).strip()) for d in drafts for p, r in d.external_references.items()}
        new_owners = [d.owner for d in drafts if isinstance(d.owner, OwnerDraft)]
        sirets = {rules.normalise_identifier(o.siret) for o in new_owners} - {""}
        rnas = {rules.normalise_identifier(o.rna) for o in new_owners} - {""}
        taken_refs = ExternalReference.objects.filter(
            partner_id__in={p for p, _ in refs}, reference__in={r for _, r in refs}
        ).values_list("partner_id", "reference")
        return cls(
            contract=contract,
            communes={
                c.code: c
                for c in Commune.objects.filter(code__in=codes).select_related("departement")
            },
            codes_taken=set(
                Operation.objects.filter(contract=contract, code__in=given).values_list(
                    "code", flat=True
                )
            ),
            references_taken=set(taken_refs),
            sirets_taken={
                str(v)
                for v in ProjectOwner.objects.filter(siret__in=sirets).values_list(
                    "siret", flat=True
                )
            },
            rnas_taken={
                str(v)
                for v in ProjectOwner.objects.filter(rna__in=rnas).values_list("rna", flat=True)
            },
        )


def _owner_of(actor: Actor, batch: _Batch, draft: OwnerDraft) -> ProjectOwner:
    """The unsaved owner of an owner draft, checked as `owner_create` checks (once per draft)."""
    key = id(draft)
    if key not in batch.owners:
        owner = None
        siret = rules.normalise_identifier(draft.siret) or None
        rna = rules.normalise_identifier(draft.rna) or None
        findings = rules.owner_errors(
            name=(draft.name or "").strip(),
            siret=siret,
            rna=rna,
            legal_category=draft.legal_category or "",
            categories=LegalCategory.values,
        )
        clash = (siret and siret in batch.sirets_taken) or (rna and rna in batch.rnas_taken)
        if not rules.as_error_dict(findings) and not clash and _allowed(actor, "owner.edit"):
            owner = ProjectOwner(
                name=draft.name.strip(), legal_category=draft.legal_category, siret=siret, rna=rna
            )
            # A second draft creating the same number would clash: the services will say so.
            if siret:
                batch.sirets_taken.add(siret)
            if rna:
                batch.rnas_taken.add(rna)
        batch.owners[key] = owner
    owner = batch.owners[key]
    if owner is None:
        raise _Declined
    return owner


def _prepare(actor: Actor, batch: _Batch, index: int, draft: OperationDraft) -> _Prepared:
    contract = batch.contract
    new_owner = draft.owner if isinstance(draft.owner, OwnerDraft) else None
    owner = _owner_of(actor, batch, new_owner) if new_owner else draft.owner
    assert isinstance(owner, ProjectOwner)
    values: dict[str, Any] = {
        "title": draft.title,
        "description": draft.description,
        "owner": owner,
        "objective": draft.objective,
        "start_date": draft.start_date,
        "end_date": draft.end_date,
        "cost_ht": draft.cost_ht,
        "cost_ttc": draft.cost_ttc,
        "cost_base": draft.cost_base,
        "secondary_objectives": [],
        "markers": [],
        "external_references": dict(draft.external_references),
    }
    try:
        one._normalise_operation_values(values)
    except ValidationError as exc:
        raise _Declined from exc
    findings = rules.operation_errors(
        title=values["title"],
        start_date=draft.start_date,
        end_date=draft.end_date,
        cost_ht=values["cost_ht"],
        cost_ttc=values["cost_ttc"],
        cost_base=draft.cost_base,
    )
    communes = one._resolve_communes(contract, draft.communes, findings, known=batch.communes)
    one._check_contract_objects(contract, values, findings)
    _check(findings)
    code = (draft.code or "").strip() or None
    if code is not None:
        if code in batch.codes_taken:
            raise _Declined
        batch.codes_taken.add(code)
    for partner, reference in values["external_references"].items():
        ref = (partner.pk, str(reference).strip())
        if ref in batch.references_taken:
            raise _Declined
        batch.references_taken.add(ref)

    first = communes[0] if communes else None
    operation = Operation(
        contract=contract,
        code=code or "",
        title=values["title"],
        description=values["description"],
        owner=owner,
        objective=draft.objective,
        start_date=draft.start_date,
        end_date=draft.end_date,
        cost_ht=values["cost_ht"],
        cost_ttc=values["cost_ttc"],
        cost_base=draft.cost_base,
        departement_id=first.departement_id if first else None,
        epci_id=first.epci_id if first else None,
        status=OperationStatus.DRAFT,
    )
    if not _allowed(actor, "operation.create", contract):
        raise _Declined

    lines = [_line(actor, operation, line) for line in draft.lines]
    path = _walk(actor, operation, draft, lines)
    return _Prepared(index, draft, operation, communes, lines, path, new_owner)


def _line(actor: Actor, operation: Operation, draft: LineDraft) -> FinancingLine:
    """The unsaved line `financing_line_add` would write (its defaults, its checks)."""
    partner = draft.partner
    if not _allowed(actor, "financing_line.edit", (operation, partner)):
        raise _Declined
    try:
        amount = one._money(draft.amount, "amount", required=True)
    except ValidationError as exc:
        raise _Declined from exc
    values: dict[str, Any] = {
        "financer_kind": draft.financer_kind,
        "partner": partner,
        "financer_label": (draft.financer_label or "").strip(),
        "objective": draft.objective or operation.objective,
        "amount": amount,
        "contractualised": (draft.financer_kind == FinancerKind.PARTNER)
        if draft.contractualised is None
        else bool(draft.contractualised),
        "budget_nature": draft.budget_nature
        or (partner.budget_nature if partner is not None else BudgetNature.OTHER),
        "programme": draft.programme,
        "year": draft.year,
        "external_ref": (draft.external_ref or "").strip(),
    }
    _check(one._line_findings(operation, values, secondary_ids=()))
    return FinancingLine(operation=operation, **values)


def _walk(
    actor: Actor, operation: Operation, draft: OperationDraft, lines: list[FinancingLine]
) -> list[lifecycle.Edge]:
    """The lifecycle edges from draft to the draft's status, each allowed as
    `operation_transition` (and, into programmed, `decision_record`) would allow it."""
    path = lifecycle.status_path(OperationStatus.DRAFT, draft.status)
    if path is None:
        raise _Declined
    if path and not _allowed(actor, "operation.transition", operation):
        raise _Declined
    for edge in path:
        decision = None
        if edge.needs_decision:
            if (
                not _committee_allowed(actor, operation, draft.committee)
                or edge.needs_decision != DecisionOutcome.APPROVED
                or not any(line.partner_id and line.amount > 0 for line in lines)
            ):
                raise _Declined
            if (
                operation.contract.over_programming == "block"
                and edge.target in PROGRAMMED_STATUSES
                and any(line.contractualised for line in lines)
            ):
                raise _Declined  # the check reads summaries that move draft by draft
            decision = Decision(outcome=DecisionOutcome.APPROVED)
        reason = draft.reason if (edge.needs_reason or edge.decision_or_reason) else ""
        operation.status = edge.source
        if lifecycle.transition_errors(
            operation=operation, to_status=edge.target, reason=reason, decision=decision
        ):
            raise _Declined
    operation.status = path[-1].target if path else OperationStatus.DRAFT
    return path


def _committee_allowed(
    actor: Actor, operation: Operation, committee: Committee | CommitteeDraft | None
) -> bool:
    """Whether the decision may be recorded at this committee (created first, if a draft, as
    `committee_create` checks it)."""
    if committee is None:
        return False
    if isinstance(committee, CommitteeDraft):
        values = {"kind": committee.kind, "date": committee.date}
        return not one._committee_findings(values) and _allowed(
            actor, "committee.edit", operation.contract
        )
    return committee.contract_id == operation.contract_id and _allowed(
        actor, "committee.edit", committee
    )


def _number(contract: Contract, prepared: list[_Prepared]) -> None:
    """OP-000001… for the operations that came without a number, as `operation_create` does
    (the contract's row is locked, as there, to serialise the numbering)."""
    missing = [p.operation for p in prepared if not p.operation.code]
    if not missing:
        return
    Contract.objects.select_for_update(of=("self",)).filter(pk=contract.pk).first()
    n = int(one._next_code(contract)[3:])
    for op in missing:
        op.code = f"OP-{n:06d}"
        n += 1


@transaction.atomic
def operations_create_many(
    *, actor: Actor, contract: Contract, drafts: Sequence[OperationDraft]
) -> list[Operation | None]:
    """Create the new operations of `drafts` that every rule accepts (see the module); None in
    place of each declined draft, for which nothing is written."""
    out: list[Operation | None] = [None] * len(drafts)
    if not drafts:
        return out
    batch = _Batch.read(contract, drafts)
    prepared: list[_Prepared] = []
    for i, draft in enumerate(drafts):
        try:
            prepared.append(_prepare(actor, batch, i, draft))
        except _Declined:
            continue
    if not prepared:
        return out
    _write(actor, contract, prepared)
    for p in prepared:
        out[p.index] = p.operation
    return out


def _write(actor: Actor, contract: Contract, prepared: list[_Prepared]) -> None:
    from cper.finance import summaries

    now = timezone.now()
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    audit: list[AuditDraft] = []

    # Owners first (an owner shared by several drafts is created once).
    owners: dict[int, ProjectOwner] = {}
    for p in prepared:
        if p.new_owner is not None and id(p.new_owner) not in owners:
            owners[id(p.new_owner)] = p.operation.owner
    ProjectOwner.objects.bulk_create(owners.values(), batch_size=2000)
    for owner in owners.values():
        audit.append(
            AuditDraft(
                action="maître d'ouvrage créé",
                subject=owner,
                changes=diff_fields({}, one._owner_snapshot(owner)),
            )
        )
    # Then the committees to create that an accepted operation names (once each).
    committees: dict[int, CommitteeDraft] = {}
    for p in prepared:
        c = p.draft.committee
        if (
            isinstance(c, CommitteeDraft)
            and c.created is None
            and any(edge.needs_decision for edge in p.path)
        ):
            c.created = Committee(contract=contract, kind=c.kind, date=c.date)
            committees[id(c)] = c
    Committee.objects.bulk_create([c.created for c in committees.values() if c.created])
    for c in committees.values():
        assert c.created is not None
        audit.append(
            AuditDraft(
                action="comité créé",
                subject=c.created,
                changes=diff_fields({}, one._committee_snapshot(c.created)),
                contract_id=contract.pk,
            )
        )

    _number(contract, prepared)
    operations = [p.operation for p in prepared]
    Operation.objects.bulk_create(operations, batch_size=1000)
    OperationCommune.objects.bulk_create(
        [
            OperationCommune(operation=p.operation, commune=c, position=i)
            for p in prepared
            for i, c in enumerate(p.communes)
        ],
        batch_size=5000,
    )
    for p in prepared:
        for line in p.lines:
            line.operation = p.operation
    FinancingLine.objects.bulk_create([ln for p in prepared for ln in p.lines], batch_size=2000)

    decisions: dict[int, Decision] = {}
    for p in prepared:
        if any(edge.needs_decision for edge in p.path):
            decisions[p.index] = Decision(
                committee=_committee_of(p),
                operation=p.operation,
                outcome=DecisionOutcome.APPROVED,
                notes="",
                decided_at=now,
            )
    Decision.objects.bulk_create(decisions.values(), batch_size=2000)
    DecisionAmount.objects.bulk_create(
        [
            DecisionAmount(decision=decisions[p.index], financing_line=line, amount=line.amount)
            for p in prepared
            if p.index in decisions
            for line in p.lines
            if line.partner_id
        ],
        batch_size=5000,
    )

    transitions: list[OperationTransition] = []
    for p in prepared:
        op = p.operation
        audit.append(
            AuditDraft(
                action="opération créée",
                subject=op,
                changes=diff_fields(
                    {},
                    one.operation_snapshot(
                        op,
                        related={
                            "communes": [c.code for c in p.communes],
                            "secondary_objectives": [],
                            "markers": [],
                            "external_references": {
                                partner.code: str(ref).strip()
                                for partner, ref in sorted(
                                    _references(p).items(), key=lambda item: item[0].code
                                )
                            },
                        },
                    ),
                ),
                contract_id=contract.pk,
                operation_id=op.pk,
            )
        )
        for line in p.lines:
            audit.append(
                AuditDraft(
                    action="ligne de financement ajoutée",
                    subject=line,
                    changes=diff_fields({}, one.line_snapshot(line)),
                    contract_id=contract.pk,
                    operation_id=op.pk,
                )
            )
        for edge in p.path:
            decision = decisions.get(p.index) if edge.needs_decision else None
            reason = _reason(p, edge)
            if decision is not None:
                committee = decision.committee
                audit.append(
                    AuditDraft(
                        action="inscrite à l'ordre du jour",
                        subject=decision,
                        changes={"committee": {"avant": None, "après": committee.pk}},
                        message=str(committee),
                        contract_id=contract.pk,
                        operation_id=op.pk,
                    )
                )
                audit.append(
                    AuditDraft(
                        action=f"décision : {decision.get_outcome_display()}",
                        subject=decision,
                        changes={
                            "outcome": {"avant": None, "après": decision.outcome},
                            "amounts": {
                                "avant": None,
                                "après": {
                                    str(line.pk): line.amount for line in p.lines if line.partner_id
                                },
                            },
                        },
                        message=str(committee),
                        contract_id=contract.pk,
                        operation_id=op.pk,
                    )
                )
            transitions.append(
                OperationTransition(
                    operation=op,
                    from_status=edge.source,
                    to_status=edge.target,
                    user=user,
                    reason=reason,
                    decision=decision,
                    at=now,
                )
            )
            changes: dict[str, Any] = {"status": {"avant": edge.source, "après": edge.target}}
            if decision is not None:
                changes["decision"] = {"avant": None, "après": decision.pk}
            audit.append(
                AuditDraft(
                    action=f"statut : {lifecycle.label(edge.source)} → "
                    f"{lifecycle.label(edge.target)}",
                    subject=op,
                    changes=changes,
                    message=reason,
                    contract_id=contract.pk,
                    operation_id=op.pk,
                )
            )
    ExternalReference.objects.bulk_create(
        [
            ExternalReference(operation=p.operation, partner=partner, reference=str(ref).strip())
            for p in prepared
            for partner, ref in _references(p).items()
        ],
        batch_size=5000,
    )
    OperationTransition.objects.bulk_create(transitions, batch_size=5000)
    audit_record_many(actor=actor, entries=audit)
    # bulk_create sends no signal: the summaries learn of the new lines here (once, at the end
    # of an import that defers them).
    summaries.lines_sync(line_ids=[line.pk for p in prepared for line in p.lines])


def _references(p: _Prepared) -> Mapping[Partner, str]:
    return p.draft.external_references


def _committee_of(p: _Prepared) -> Committee:
    committee = p.draft.committee
    if isinstance(committee, CommitteeDraft):
        committee = committee.created
    assert committee is not None  # checked by _walk, created by _write
    return committee


def _reason(p: _Prepared, edge: lifecycle.Edge) -> str:
    return p.draft.reason if (edge.needs_reason or edge.decision_or_reason) else ""
