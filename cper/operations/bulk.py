"""Creating operations: the one implementation, for one operation or a whole register.

`operations_create_many` takes drafts of *new* operations — their maître d'ouvrage (existing or
to create), communes, objectives, markers, partners' references, co-financing plan, and the
status they have reached with the committee that programmed them — and returns, for each draft,
either the operation it wrote or why it refused it (`Refusal`: the findings, with the exact
French messages and fields of `ValidationError`, or the refused permission). Each draft is
checked stage by stage as the register's rules check it — owner, operation, each line, each
lifecycle edge (with the programming committee and its decision) — and the first stage that
fails is the refusal, nothing written for that draft. The accepted drafts are written together
in a few queries per batch: rows, transition log, decisions, audit entries, summaries (the rows
as plain tuples, `cper.db.insert_objects`: COPY on PostgreSQL). A committee given with a draft
also adjourns or rejects it, or takes it on its agenda, and the walk may be dated in the past
(`OperationDraft`): a register's history, e.g. the demo's.

`services.operation_create` and `services.owner_create` are a call with one draft; the
operations import sends its new operations here in chunks. The rules are the functions of
`cper.operations.rules` and the lifecycle's `transition_errors`; the permission is the one
function of `cper.accounts.permissions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, AuditDraft, audit_record_many, diff_fields
from cper.contracts.models import (
    Action,
    BudgetNature,
    BudgetProgramme,
    Contract,
    Marker,
    Objective,
    Partner,
)
from cper.db import Provenance, insert_objects
from cper.findings import Finding, as_error_dict
from cper.money import MoneyError, to_money
from cper.operations import lifecycle, rules
from cper.operations.execution import execution
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Committee,
    CommitteeKind,
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
from cper.operations.selectors import programmed_figure_map
from cper.operations.snapshots import (
    committee_snapshot,
    line_snapshot,
    operation_snapshot,
    owner_snapshot,
)
from cper.territories.models import Commune

__all__ = [
    "CommitteeDraft",
    "LineDraft",
    "OperationDraft",
    "Outcome",
    "OwnerDraft",
    "Refusal",
    "operations_create_many",
    "owners_create_many",
]

_COST_BASES = frozenset(CostBase.values)
_FINANCER_KINDS = frozenset(FinancerKind.values)
_BUDGET_NATURES = frozenset(BudgetNature.values)
_COMMITTEE_KINDS = frozenset(CommitteeKind.values)
_LEGAL_CATEGORIES = frozenset(LegalCategory.values)
# Whose plan no longer changes (as `services.FROZEN_PLAN`).
FROZEN_PLAN = frozenset(
    {OperationStatus.CLOSED, OperationStatus.REJECTED, OperationStatus.ABANDONED}
)


@dataclass(eq=False)
class OwnerDraft:
    """A maître d'ouvrage to create (one object per owner: drafts sharing it share the owner,
    created once, and only if one of their operations is)."""

    name: str
    legal_category: str
    siret: str | None = None
    rna: str | None = None
    commune: Commune | str | None = None
    provenance: str = Provenance.OFFICIAL


@dataclass(eq=False)
class CommitteeDraft:
    """A committee to create with the operations it programmed (one object per committee:
    drafts sharing it share the committee), as `committee_create` would; `created` holds the
    committee once written — it is written only if one of its operations is."""

    kind: str
    date: date
    created: Committee | None = None
    title: str = ""  # e.g. an import's takeover of decisions taken before cper
    place: str = ""
    minutes: str = ""
    provenance: str = Provenance.OFFICIAL


@dataclass
class LineDraft:
    """A financer's line, as `services.financing_line_add` takes it (same defaults)."""

    financer_kind: str
    amount: Decimal | str | int | None
    partner: Partner | None = None
    financer_label: str = ""
    objective: Objective | None = None
    contractualised: bool | None = None
    budget_nature: str | None = None
    programme: BudgetProgramme | None = None
    year: int | None = None
    external_ref: str = ""
    bop: str | None = None  # the State's BOP and activity (issue 12)
    activity: str | None = None


@dataclass
class OperationDraft:
    """A new operation, as `services.operation_create` takes it, with its plan and the status
    it has reached: the walk from draft follows the lifecycle's edges; the edge into
    `programmed` is the approving decision of `committee` (each active partner line approved at
    its amount, as `decision_record` does by default); edges that need a reason get `reason`.
    With a `committee`, an edge into `adjourned` or `rejected` is that committee's decision with
    that outcome (its notes: `reason`, as `decision_record` takes them), and an operation left
    submitted or under review is put on its agenda (`committee_add_to_agenda`); without one,
    those edges take the reason. `reached_at` dates the walk: when the operation reached each
    status of it — the transition log's date, and a decision's (status → aware datetime; a
    register's history taken over); a status left out is dated now, as one by one."""

    title: str
    owner: ProjectOwner | OwnerDraft | None
    objective: Objective | None
    code: str | None = None
    description: str = ""
    communes: Sequence[Commune | str] = ()
    secondary_objectives: Sequence[Objective] = ()
    markers: Sequence[Marker] = ()
    external_references: Mapping[Partner, str] = field(default_factory=dict)
    start_date: date | None = None
    end_date: date | None = None
    cost_ht: Decimal | str | None = None
    cost_ttc: Decimal | str | None = None
    cost_base: str = CostBase.HT
    physical_progress: str = ""
    published: bool = False
    provenance: str = Provenance.OFFICIAL
    action: Action | None = None  # third level of the structure (issue 12)
    lines: Sequence[LineDraft] = ()
    status: str = OperationStatus.DRAFT
    committee: Committee | CommitteeDraft | None = None
    reason: str = ""
    reached_at: Mapping[str, datetime] = field(default_factory=dict)
    # A refusal the caller has already found (an import's missing title, a financer it cannot
    # place): returned as is when the checks reach its stage and line, so that what comes
    # first is reported first, as one by one.
    blocked: Refusal | None = None


@dataclass
class Refusal:
    """Why a draft was not written: the stage that refused it ("owner", "operation", "line",
    "status"), the line concerned (index in the draft's lines), and either the findings (field →
    messages, as the services' `ValidationError`) or the refused permission's message."""

    stage: str
    findings: list[Finding] = field(default_factory=list)
    denied: str | None = None
    line: int | None = None

    def error(self) -> Exception:
        """The exception the one-by-one services raise for it."""
        if self.denied is not None:
            return PermissionDenied(self.denied)
        return ValidationError(as_error_dict(self.findings))


@dataclass
class Outcome:
    """What the batch did with one draft: the operation written, or the refusal."""

    operation: Operation | None = None
    refusal: Refusal | None = None


class _Refused(Exception):
    def __init__(self, refusal: Refusal):
        super().__init__(refusal.stage)
        self.refusal = refusal


def _permission(actor: Actor, action: str, obj: Any, stage: str, line: int | None = None) -> None:
    try:
        require_actor(actor, action, obj)
    except PermissionDenied as exc:
        raise _Refused(Refusal(stage, denied=str(exc), line=line)) from exc


_STAGES = ("owner", "operation", "line", "status")


def _blocked(draft: OperationDraft, stage: str, line: int | None = None) -> None:
    """Raise the caller's refusal once the checks reach its stage (and line)."""
    b = draft.blocked
    if b is None:
        return
    if _STAGES.index(b.stage) < _STAGES.index(stage) or (b.stage == stage and b.line == line):
        raise _Refused(b)


def _stop(findings: Iterable[Finding], stage: str, line: int | None = None) -> None:
    found = list(findings)
    if as_error_dict(found):
        raise _Refused(Refusal(stage, findings=found, line=line))


def _money(value: Any, name: str, *, required: bool = False) -> list[Finding] | Decimal | None:
    """The amount, or the finding the services raise for it."""
    if value is None or value == "":
        return [Finding(name, "le montant est obligatoire")] if required else None
    try:
        return to_money(value)
    except MoneyError as exc:
        return [Finding(name, str(exc))]


def money_or_refuse(
    value: Any, name: str, stage: str, *, required: bool = False, line: int | None = None
) -> Decimal | None:
    out = _money(value, name, required=required)
    if isinstance(out, list):
        raise _Refused(Refusal(stage, findings=out, line=line))
    return out


def normalise_operation_values(values: dict[str, Any]) -> list[Finding]:
    """Amounts parsed and texts stripped in place; the first finding the services raise on
    a bad cost or cost base (they stop there)."""
    for key in ("cost_ht", "cost_ttc"):
        if key in values:
            out = _money(values[key], key)
            if isinstance(out, list):
                return out
            values[key] = out
    for key in ("title", "description", "physical_progress"):
        if key in values and values[key] is not None:
            values[key] = str(values[key]).strip()
    if "cost_base" in values and values["cost_base"] not in _COST_BASES:
        return [Finding("cost_base", f"assiette inconnue « {values['cost_base']} »")]
    return []


def resolve_communes(
    contract: Contract,
    communes: Iterable[Commune | str],
    findings: list[Finding],
    *,
    known: Mapping[str, Commune] | None = None,
) -> list[Commune]:
    """The communes asked for, in order, adding the findings; `known` (code → commune with its
    département) spares the query when the caller has fetched a batch's communes."""
    codes = [c.code if isinstance(c, Commune) else str(c).strip() for c in communes]
    codes = [c for c in codes if c]
    if known is None:
        found = {
            c.code: c for c in Commune.objects.filter(code__in=codes).select_related("departement")
        }
    else:
        found = {c: known[c] for c in codes if c in known}
    findings += rules.commune_errors(
        requested=codes,
        found={code: c.departement.region_id for code, c in found.items()},
        region_code=contract.region_id,
    )
    return [found[c] for c in dict.fromkeys(codes) if c in found]


def line_findings(
    operation: Operation, values: dict[str, Any], *, secondary_ids: Iterable[int]
) -> list[Finding]:
    """`rules.plan_line_findings` for a line of this operation."""
    contract = operation.contract
    return rules.plan_line_findings(
        values=values,
        contract_id=operation.contract_id,
        start_year=contract.start_year,
        end_year=contract.end_year,
        allowed_objective_ids={operation.objective_id, *secondary_ids},
        plan_frozen=operation.status in FROZEN_PLAN,
        status_label=operation.get_status_display() if operation.status in FROZEN_PLAN else "",
        financer_kinds=_FINANCER_KINDS,
        budget_natures=_BUDGET_NATURES,
    )


def line_values(
    operation: Operation,
    *,
    financer_kind: str,
    partner: Partner | None,
    financer_label: str,
    objective: Objective | None,
    amount: Decimal | None,
    contractualised: bool | None,
    budget_nature: str | None,
    programme: Any,
    year: int | None,
    external_ref: str,
    bop: str | None = None,
    activity: str | None = None,
) -> dict[str, Any]:
    """A new line's fields with `financing_line_add`'s defaults: the operation's objective; a
    partner's line contractualised (it counts against the maquette), others co-financing (a
    partner's line not contractualised is valorised: `rules.line_category`); the partner's
    budget nature; a State operator named by its label (`rules.STATE_OPERATORS`)."""
    label = (financer_label or "").strip()
    if financer_kind == FinancerKind.STATE_OPERATOR:
        label = rules.state_operator_label(label) or label
    if financer_kind == FinancerKind.BANQUE_DES_TERRITOIRES and not label:
        label = FinancerKind.BANQUE_DES_TERRITOIRES.label
    return {
        "financer_kind": financer_kind,
        "partner": partner,
        "financer_label": label,
        "objective": objective or operation.objective,
        "amount": amount,
        "contractualised": (financer_kind == FinancerKind.PARTNER)
        if contractualised is None
        else bool(contractualised),
        "budget_nature": budget_nature
        or (partner.budget_nature if partner is not None else BudgetNature.OTHER),
        "programme": programme,
        "year": year,
        "external_ref": (external_ref or "").strip(),
        "bop": (bop or "").strip() or None,
        "activity": (activity or "").strip() or None,
    }


def owner_findings(
    values: dict[str, Any], *, known: Mapping[str, Commune] | None = None
) -> list[Finding]:
    """Normalise an owner's values in place and check them as the services do (without the
    uniqueness of its numbers, which the caller checks against what exists)."""
    values["siret"] = rules.normalise_identifier(values.get("siret")) or None
    values["rna"] = rules.normalise_identifier(values.get("rna")) or None
    values["name"] = (values.get("name") or "").strip()
    findings = rules.owner_errors(
        name=values["name"],
        siret=values["siret"],
        rna=values["rna"],
        legal_category=values.get("legal_category") or "",
        categories=_LEGAL_CATEGORIES,
    )
    commune = values.get("commune")
    if isinstance(commune, str) and commune:
        if known is not None:
            found = known.get(commune)
        else:
            found = Commune.objects.filter(code=commune).first()
        if found is None:
            findings.append(Finding("commune", f"commune inconnue : {commune}"))
        values["commune"] = found
    elif not commune:
        values["commune"] = None
    return findings


def number_clash(key: str, other_name: str, other_pk: Any) -> Finding:
    return Finding(key, f"ce numéro est déjà celui de « {other_name} » ({other_pk})")


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
    references: dict[Partner, str]
    on_agenda: bool = False  # left on its committee's agenda, no decision yet


@dataclass
class _Batch:
    """What the whole batch reads once: the contract's context and the uniqueness sets."""

    contract: Contract
    communes: dict[str, Commune]
    codes_taken: set[str]
    references_taken: dict[tuple[int, str], str]  # (partner, reference) → operation code
    owners_taken: dict[tuple[str, str], tuple[str, Any]]  # (siret|rna, number) → (name, pk)
    owners: dict[int, ProjectOwner | Refusal] = field(default_factory=dict)  # id(draft) →
    committees: dict[int, Refusal | None] = field(default_factory=dict)  # id(draft) → refusal
    programmed: dict[tuple[int, int], rules.ProgrammedFigure] | None = None

    @classmethod
    def read(cls, contract: Contract, drafts: Sequence[OperationDraft]) -> _Batch:
        codes = {
            c.code if isinstance(c, Commune) else str(c).strip() for d in drafts for c in d.communes
        }
        new_owners = [d.owner for d in drafts if isinstance(d.owner, OwnerDraft)]
        codes |= {o.commune for o in new_owners if isinstance(o.commune, str) and o.commune}
        given = {d.code.strip() for d in drafts if d.code and d.code.strip()}
        refs = {(p.pk, str(r).strip()) for d in drafts for p, r in d.external_references.items()}
        taken_refs = (
            ExternalReference.objects.filter(
                partner_id__in={p for p, _ in refs}, reference__in={r for _, r in refs}
            ).values_list("partner_id", "reference", "operation__code")
            if refs
            else []
        )
        return cls(
            contract=contract,
            communes={
                c.code: c
                for c in Commune.objects.filter(code__in=codes).select_related("departement")
            }
            if codes
            else {},
            codes_taken=set(
                Operation.objects.filter(contract=contract, code__in=given).values_list(
                    "code", flat=True
                )
            )
            if given
            else set(),
            references_taken={(p, r): code for p, r, code in taken_refs},
            owners_taken=_owners_taken(new_owners),
        )


def _owners_taken(drafts: Iterable[OwnerDraft]) -> dict[tuple[str, str], tuple[str, Any]]:
    """(siret|rna, number) → (name, id) of the existing owners that the drafts' numbers name
    (read by slices: a register names tens of thousands of owners)."""
    drafts = list(drafts)
    out: dict[tuple[str, str], tuple[str, Any]] = {}
    for key in ("siret", "rna"):
        numbers = sorted({rules.normalise_identifier(getattr(o, key)) for o in drafts} - {""})
        for i in range(0, len(numbers), 5000):
            for number, name, pk in ProjectOwner.objects.filter(
                **{f"{key}__in": numbers[i : i + 5000]}
            ).values_list(key, "name", "pk"):
                out[(key, str(number))] = (name, pk)
    return out


@transaction.atomic
def owners_create_many(
    *, actor: Actor, drafts: Sequence[OwnerDraft]
) -> list[ProjectOwner | Refusal]:
    """Create the maîtres d'ouvrage of `drafts`; for each, the owner written or the refusal."""
    codes = {o.commune for o in drafts if isinstance(o.commune, str) and o.commune}
    batch = _Batch(
        contract=None,  # type: ignore[arg-type]  # owners belong to no contract
        communes={c.code: c for c in Commune.objects.filter(code__in=codes)} if codes else {},
        codes_taken=set(),
        references_taken={},
        owners_taken=_owners_taken(drafts),
    )
    out: list[ProjectOwner | Refusal] = []
    for draft in drafts:
        try:
            out.append(_owner_of(actor, batch, draft))
        except _Refused as refused:
            out.append(refused.refusal)
    created = list({id(o): o for o in out if isinstance(o, ProjectOwner)}.values())
    audit_record_many(actor=actor, entries=_owners_write(created))
    return out


def _owners_write(owners: list[ProjectOwner]) -> list[AuditDraft]:
    """Insert the new owners; their audit entries."""
    insert_objects(owners)
    return [
        AuditDraft(
            action=AuditAction.OWNER_CREATED,
            subject=owner,
            changes=diff_fields({}, owner_snapshot(owner)),
        )
        for owner in owners
    ]


def _owner_of(actor: Actor, batch: _Batch, draft: OwnerDraft) -> ProjectOwner:
    """The unsaved owner of an owner draft, checked as `owner_create` checks it (once per
    draft object)."""
    key = id(draft)
    if key not in batch.owners:
        try:
            _permission(actor, "owner.edit", None, "owner")
            values: dict[str, Any] = {
                "name": draft.name,
                "legal_category": draft.legal_category,
                "siret": draft.siret,
                "rna": draft.rna,
                "commune": draft.commune or None,
            }
            findings = owner_findings(values, known=batch.communes)
            for kind in ("siret", "rna"):
                number = values[kind]
                if number and not any(f.field == kind for f in findings):
                    other = batch.owners_taken.get((kind, number))
                    if other is not None:
                        findings.append(number_clash(kind, *other))
            _stop(findings, "owner")
            owner: ProjectOwner | Refusal = ProjectOwner(
                name=values["name"],
                legal_category=values["legal_category"],
                siret=values["siret"],
                rna=values["rna"],
                commune=values["commune"],
                provenance=draft.provenance,
            )
            for kind in ("siret", "rna"):
                if values[kind]:
                    # Another draft creating the same number clashes with this one.
                    batch.owners_taken[(kind, values[kind])] = (values["name"], "nouveau")
        except _Refused as refused:
            owner = refused.refusal
        batch.owners[key] = owner
    found = batch.owners[key]
    if isinstance(found, Refusal):
        raise _Refused(found)
    return found


def _prepare(actor: Actor, batch: _Batch, index: int, draft: OperationDraft) -> _Prepared:
    contract = batch.contract
    _blocked(draft, "owner")
    new_owner = draft.owner if isinstance(draft.owner, OwnerDraft) else None
    owner = _owner_of(actor, batch, new_owner) if new_owner else draft.owner
    _blocked(draft, "operation")
    _permission(actor, "operation.create", contract, "operation")
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
        "physical_progress": draft.physical_progress,
        "published": draft.published,
        "secondary_objectives": list(draft.secondary_objectives),
        "markers": list(draft.markers),
        "external_references": dict(draft.external_references),
    }
    _stop(normalise_operation_values(values), "operation")
    findings = rules.operation_errors(
        title=values["title"],
        start_date=draft.start_date,
        end_date=draft.end_date,
        cost_ht=values["cost_ht"],
        cost_ttc=values["cost_ttc"],
        cost_base=draft.cost_base,
    )
    communes = resolve_communes(contract, draft.communes, findings, known=batch.communes)
    findings += rules.contract_objects_findings(
        contract_id=contract.pk,
        objective=values["objective"],
        owner=values["owner"],
        secondary_objectives=values["secondary_objectives"],
        markers=values["markers"],
        external_references=values["external_references"],
        action=draft.action,
    )
    code = (draft.code or "").strip() or None
    if code is not None and code in batch.codes_taken:
        findings.append(Finding("code", f"le numéro « {code} » existe déjà dans ce contrat"))
    _stop(findings, "operation")
    references = {p: str(r).strip() for p, r in values["external_references"].items()}
    for partner, reference in references.items():
        taken = batch.references_taken.get((partner.pk, reference))
        if taken is not None:
            raise _Refused(
                Refusal(
                    "operation",
                    findings=[
                        Finding(
                            "external_references",
                            f"la référence « {reference} » est déjà celle de l'opération {taken}",
                        )
                    ],
                )
            )

    first = communes[0] if communes else None
    assert not isinstance(owner, OwnerDraft)  # drafted owners are built by `_owner_of`
    operation = Operation(
        contract=contract,
        code=code or "",
        title=values["title"],
        description=values["description"],
        owner=owner,
        objective=values["objective"],
        action=draft.action,
        start_date=draft.start_date,
        end_date=draft.end_date,
        cost_ht=values["cost_ht"],
        cost_ttc=values["cost_ttc"],
        cost_base=draft.cost_base,
        physical_progress=values["physical_progress"],
        published=draft.published,
        provenance=draft.provenance,
        departement_id=first.departement_id if first else None,
        epci_id=first.epci_id if first else None,
        status=OperationStatus.DRAFT,
    )
    secondary_ids = [o.pk for o in values["secondary_objectives"]]
    lines = []
    for i, line in enumerate(draft.lines):
        _blocked(draft, "line", i)
        lines.append(_line(actor, operation, i, line, secondary_ids))
    _blocked(draft, "status")
    path, on_agenda = _walk(actor, batch, operation, draft, lines)
    if draft.blocked is not None:
        raise _Refused(draft.blocked)
    # Only now is the draft accepted: what it takes is taken for the drafts after it.
    if code is not None:
        batch.codes_taken.add(code)
    for partner, reference in references.items():
        batch.references_taken[(partner.pk, reference)] = code or "(nouvelle)"
    return _Prepared(
        index, draft, operation, communes, lines, path, new_owner, references, on_agenda
    )


def _line(
    actor: Actor, operation: Operation, i: int, draft: LineDraft, secondary_ids: list[int]
) -> FinancingLine:
    """The unsaved line `financing_line_add` would write (its defaults, its checks)."""
    partner = draft.partner
    _permission(actor, "financing_line.edit", (operation, partner), "line", i)
    amount = money_or_refuse(draft.amount, "amount", "line", required=True, line=i)
    values = line_values(
        operation,
        financer_kind=draft.financer_kind,
        partner=partner,
        financer_label=draft.financer_label,
        objective=draft.objective,
        amount=amount,
        contractualised=draft.contractualised,
        budget_nature=draft.budget_nature,
        programme=draft.programme,
        year=draft.year,
        external_ref=draft.external_ref,
        bop=draft.bop,
        activity=draft.activity,
    )
    _stop(line_findings(operation, values, secondary_ids=secondary_ids), "line", i)
    return FinancingLine(operation=operation, **values)


def _walk(
    actor: Actor,
    batch: _Batch,
    operation: Operation,
    draft: OperationDraft,
    lines: list[FinancingLine],
) -> tuple[list[lifecycle.Edge], bool]:
    """The lifecycle edges from draft to the draft's status, each checked as
    `operation_transition` (and, for a committee's decision, `committee_create` and
    `decision_record`) checks it; and whether the operation is left on its committee's agenda
    (checked as `committee_add_to_agenda`)."""
    path = lifecycle.status_path(OperationStatus.DRAFT, draft.status)
    if path is None:
        operation.status = OperationStatus.DRAFT
        _stop(
            [
                Finding("status", m)
                for m in lifecycle.transition_errors(operation=operation, to_status=draft.status)
            ],
            "status",
        )
        path = []
    for edge in path:
        operation.status = edge.source
        decision = None
        outcome = _decided(draft, edge)
        if outcome is not None:
            decision = _decide(actor, batch, operation, draft, lines, outcome)
        _permission(actor, "operation.transition", operation, "status")
        reason = draft.reason if (edge.needs_reason or edge.decision_or_reason) else ""
        errors = lifecycle.transition_errors(
            operation=operation, to_status=edge.target, reason=reason, decision=decision
        )
        _stop([Finding("status", m) for m in errors], "status")
    operation.status = path[-1].target if path else OperationStatus.DRAFT
    if operation.status in PROGRAMMED_STATUSES and any(edge.needs_decision for edge in path):
        _over_programming(batch, operation, draft, lines)
    on_agenda = (
        draft.committee is not None
        and operation.status in _ON_AGENDA
        and not any(_decided(draft, edge) for edge in path)
    )
    if on_agenda:
        _committee_check(actor, batch, operation, draft)
    return path, on_agenda


# The statuses an operation waits for its committee in (as `committee_add_to_agenda`'s).
_ON_AGENDA = frozenset({OperationStatus.SUBMITTED, OperationStatus.UNDER_REVIEW})


def _decided(draft: OperationDraft, edge: lifecycle.Edge) -> str | None:
    """The outcome of the committee's decision this edge of the draft's walk carries, if any:
    the approval into programmed; adjournment or rejection when the draft names a committee."""
    if edge.needs_decision:
        return edge.needs_decision
    if edge.decision_or_reason and draft.committee is not None:
        return edge.decision_or_reason
    return None


def _decide(
    actor: Actor,
    batch: _Batch,
    operation: Operation,
    draft: OperationDraft,
    lines: list[FinancingLine],
    outcome: str,
) -> Decision:
    """The decision of the draft's committee, checked as `committee_create` (for a committee
    to create) and `decision_record` (an approval's default amounts) check it."""
    if draft.committee is None:
        return None  # type: ignore[return-value]  # transition_errors says a decision is needed
    _committee_check(actor, batch, operation, draft)
    if outcome == DecisionOutcome.APPROVED and not any(
        line.partner_id and line.amount > 0 for line in lines
    ):
        _stop(
            [
                Finding(
                    "amounts", "une décision favorable approuve au moins un montant d'un partenaire"
                )
            ],
            "status",
        )
    return Decision(operation=operation, outcome=outcome)


def _committee_check(
    actor: Actor, batch: _Batch, operation: Operation, draft: OperationDraft
) -> None:
    """The draft's committee, checked as `committee_create` (for a committee to create) and
    the agenda's services (same contract) check it."""
    committee = draft.committee
    assert committee is not None
    if isinstance(committee, CommitteeDraft) and committee.created is None:
        key = id(committee)
        if key not in batch.committees:
            try:
                _permission(actor, "committee.edit", operation.contract, "status")
                _stop(
                    rules.committee_findings(
                        kind=committee.kind,
                        date_given=isinstance(committee.date, date),
                        kinds=_COMMITTEE_KINDS,
                    ),
                    "status",
                )
                batch.committees[key] = None
            except _Refused as refused:
                batch.committees[key] = refused.refusal
        refusal = batch.committees[key]
        if refusal is not None:
            raise _Refused(refusal)
        _permission(actor, "committee.edit", operation.contract, "status")
    else:
        existing = committee.created if isinstance(committee, CommitteeDraft) else committee
        assert existing is not None
        _permission(actor, "committee.edit", existing, "status")
        if existing.contract_id != operation.contract_id:
            _stop([Finding("operation", "cette opération relève d'un autre contrat")], "status")


def _over_programming(
    batch: _Batch, operation: Operation, draft: OperationDraft, lines: list[FinancingLine]
) -> None:
    """`decision_record`'s over-programming guard on the pairs approved, counting what the
    batch's earlier drafts programmed (only a contract that blocks refuses)."""
    contract = batch.contract
    if contract.over_programming != "block":
        return
    committee = draft.committee
    day = committee.date if committee is not None else None
    if day is not None and day > timezone.localdate():
        return  # programmed from a later date: not in today's figure
    pairs = {
        (line.partner_id, line.objective_id)
        for line in lines
        if line.contractualised and line.partner_id
    }
    if batch.programmed is None:
        batch.programmed = {}
    missing = [p for p in pairs if p not in batch.programmed]
    if missing:
        batch.programmed.update(programmed_figure_map(contract=contract, pairs=missing))
    added: dict[tuple[int, int], Decimal] = {}
    for line in lines:
        pair = (line.partner_id, line.objective_id)
        if pair in pairs and line.amount:
            added[pair] = added.get(pair, Decimal(0)) + line.amount
    figures = {
        pair: rules.ProgrammedFigure(
            f.partner_label, f.objective_label, f.maquette, f.programmed + added.get(pair, 0)
        )
        for pair, f in batch.programmed.items()
        if pair in pairs
    }
    _stop(
        rules.over_programming_findings(
            [figures[p] for p in sorted(figures)], policy=contract.over_programming
        ),
        "status",
    )
    batch.programmed.update(figures)


def _number(contract: Contract, prepared: list[_Prepared]) -> None:
    """OP-000001… for the operations that came without a number, as `operation_create` does
    (the contract's row is locked, as there, to serialise the numbering)."""
    missing = [p.operation for p in prepared if not p.operation.code]
    if not missing:
        return
    Contract.objects.select_for_update(of=("self",)).filter(pk=contract.pk).first()
    last = (
        Operation.objects.filter(contract=contract, code__regex=r"^OP-[0-9]{6}$")
        .order_by("-code")
        .values_list("code", flat=True)
        .first()
    )
    n = int(last[3:]) + 1 if last else 1
    for op in missing:
        op.code = f"OP-{n:06d}"
        n += 1


@transaction.atomic
def operations_create_many(
    *, actor: Actor, contract: Contract, drafts: Sequence[OperationDraft]
) -> list[Outcome]:
    """Create the new operations of `drafts`; for each, the operation written or the refusal
    (nothing written for a refused draft)."""
    out = [Outcome() for _ in drafts]
    if not drafts:
        return out
    batch = _Batch.read(contract, drafts)
    prepared: list[_Prepared] = []
    for i, draft in enumerate(drafts):
        try:
            prepared.append(_prepare(actor, batch, i, draft))
        except _Refused as refused:
            out[i].refusal = refused.refusal
    if prepared:
        _write(actor, contract, prepared)
    for p in prepared:
        out[p.index].operation = p.operation
    return out


def _write(actor: Actor, contract: Contract, prepared: list[_Prepared]) -> None:
    now = timezone.now()
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    audit: list[AuditDraft] = []

    # Owners first (an owner shared by several drafts is created once).
    owners: dict[int, ProjectOwner] = {}
    for p in prepared:
        if p.new_owner is not None and id(p.new_owner) not in owners:
            owners[id(p.new_owner)] = p.operation.owner
    audit += _owners_write(list(owners.values()))
    # Then the committees to create that an accepted operation names (once each).
    committees: dict[int, CommitteeDraft] = {}
    for p in prepared:
        c = p.draft.committee
        if (
            isinstance(c, CommitteeDraft)
            and c.created is None
            and (p.on_agenda or _deciding_edge(p) is not None)
        ):
            c.created = Committee(
                contract=contract,
                kind=c.kind,
                date=c.date,
                title=c.title.strip(),
                place=c.place.strip(),
                minutes=c.minutes,
                provenance=c.provenance,
            )
            committees[id(c)] = c
    insert_objects([c.created for c in committees.values() if c.created])
    for c in committees.values():
        assert c.created is not None
        audit.append(
            AuditDraft(
                action=AuditAction.COMMITTEE_CREATED,
                subject=c.created,
                changes=diff_fields({}, committee_snapshot(c.created)),
                contract_id=contract.pk,
            )
        )

    _number(contract, prepared)
    operations = [p.operation for p in prepared]
    insert_objects(operations)
    insert_objects(
        [
            OperationCommune(operation=p.operation, commune=c, position=i)
            for p in prepared
            for i, c in enumerate(p.communes)
        ],
        ids=False,
    )
    insert_objects(
        [
            Operation.secondary_objectives.through(operation_id=p.operation.pk, objective_id=pk)
            for p in prepared
            for pk in sorted({o.pk for o in p.draft.secondary_objectives})
        ],
        ids=False,
    )
    insert_objects(
        [
            Operation.markers.through(operation_id=p.operation.pk, marker_id=pk)
            for p in prepared
            for pk in sorted({m.pk for m in p.draft.markers})
        ],
        ids=False,
    )
    for p in prepared:
        for line in p.lines:
            line.operation = p.operation
    insert_objects([ln for p in prepared for ln in p.lines])

    # The committees' decisions (one per operation at most: its walk crosses one deciding
    # edge), dated when the walk reached the status they decide; and the agendas.
    decisions: dict[int, Decision] = {}
    for p in prepared:
        edge = _deciding_edge(p)
        if edge is not None:
            decisions[p.index] = Decision(
                committee=_committee_of(p),
                operation=p.operation,
                outcome=_decided(p.draft, edge),
                notes=_reason(p, edge).strip(),
                decided_at=p.draft.reached_at.get(edge.target, now),
            )
        elif p.on_agenda:
            decisions[p.index] = Decision(committee=_committee_of(p), operation=p.operation)
    insert_objects(list(decisions.values()))
    insert_objects(
        [
            DecisionAmount(decision=decisions[p.index], financing_line=line, amount=line.amount)
            for p in prepared
            if p.index in decisions and decisions[p.index].outcome == DecisionOutcome.APPROVED
            for line in p.lines
            if line.partner_id
        ],
        ids=False,
    )

    transitions: list[OperationTransition] = []
    for p in prepared:
        op = p.operation
        audit.append(
            AuditDraft(
                action=AuditAction.OPERATION_CREATED,
                subject=op,
                changes=diff_fields(
                    {},
                    operation_snapshot(
                        op,
                        related={
                            "communes": [c.code for c in p.communes],
                            "secondary_objectives": sorted(
                                {o.code for o in p.draft.secondary_objectives}
                            ),
                            "markers": sorted({m.code for m in p.draft.markers}),
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
                    action=AuditAction.LINE_ADDED,
                    subject=line,
                    changes=diff_fields({}, line_snapshot(line)),
                    contract_id=contract.pk,
                    operation_id=op.pk,
                )
            )
        if p.on_agenda:
            agenda = decisions[p.index]
            audit.append(
                AuditDraft(
                    action=AuditAction.AGENDA_ADDED,
                    subject=agenda,
                    changes={"committee": {"avant": None, "après": agenda.committee.pk}},
                    message=str(agenda.committee),
                    contract_id=contract.pk,
                    operation_id=op.pk,
                )
            )
        for edge in p.path:
            decision = decisions.get(p.index) if _decided(p.draft, edge) else None
            reason = _reason(p, edge)
            if decision is not None:
                committee = decision.committee
                audit.append(
                    AuditDraft(
                        action=AuditAction.AGENDA_ADDED,
                        subject=decision,
                        changes={"committee": {"avant": None, "après": committee.pk}},
                        message=str(committee),
                        contract_id=contract.pk,
                        operation_id=op.pk,
                    )
                )
                audit.append(
                    AuditDraft(
                        action=AuditAction.DECISION_RECORDED,
                        subject=decision,
                        changes={
                            "outcome": {"avant": None, "après": decision.outcome},
                            "amounts": {
                                "avant": None,
                                "après": {
                                    str(line.pk): line.amount
                                    for line in p.lines
                                    if line.partner_id
                                    and decision.outcome == DecisionOutcome.APPROVED
                                },
                            },
                        },
                        message=f"{committee}" + (f" : {decision.notes}" if decision.notes else ""),
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
                    at=p.draft.reached_at.get(edge.target, now),
                )
            )
            changes: dict[str, Any] = {"status": {"avant": edge.source, "après": edge.target}}
            if decision is not None:
                changes["decision"] = {"avant": None, "après": decision.pk}
            audit.append(
                AuditDraft(
                    action=AuditAction.OPERATION_STATUS_CHANGED,
                    subject=op,
                    changes=changes,
                    message=reason,
                    contract_id=contract.pk,
                    operation_id=op.pk,
                )
            )
    insert_objects(
        [
            ExternalReference(operation=p.operation, partner=partner, reference=str(ref).strip())
            for p in prepared
            for partner, ref in _references(p).items()
        ],
        ids=False,
    )
    insert_objects(transitions, ids=False)
    audit_record_many(actor=actor, entries=audit)
    # The summaries learn of the new lines here (once, at the end of an import that defers
    # them), in this transaction.
    execution().lines_sync(line_ids=[line.pk for p in prepared for line in p.lines])
    # An operation created without any line has its (zero) total too: the register's amount
    # sort walks the totals of every operation.
    execution().totals_sync([p.operation.pk for p in prepared if not p.lines])


def _references(p: _Prepared) -> Mapping[Partner, str]:
    return p.references


def _deciding_edge(p: _Prepared) -> lifecycle.Edge | None:
    """The edge of the walk that carries its committee's decision, if any."""
    return next((edge for edge in p.path if _decided(p.draft, edge)), None)


def _committee_of(p: _Prepared) -> Committee:
    committee = p.draft.committee
    if isinstance(committee, CommitteeDraft):
        committee = committee.created
    assert committee is not None  # checked by _walk, created by _write
    return committee


def _reason(p: _Prepared, edge: lifecycle.Edge) -> str:
    return p.draft.reason if (edge.needs_reason or edge.decision_or_reason) else ""
