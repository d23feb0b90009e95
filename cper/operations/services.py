"""Writes of the register: project owners, operations, co-financing lines, committees, decisions.

Every function is keyword-only, atomic, checks the actor's permission with
`cper.accounts.permissions` (the one place), validates with `cper.operations.rules`, and writes
an audit entry with the before/after values and the path (`actor.via`). Invalid input raises
`django.core.exceptions.ValidationError` keyed by field name (French messages) and writes
nothing; a refused permission raises `PermissionDenied`. Money is never deleted: a financing
line is cancelled with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.services import Actor, audit_record, diff_fields
from cper.contracts.models import BudgetNature, Contract, Marker, Objective, Partner
from cper.db import Provenance
from cper.money import MoneyError, to_money
from cper.operations import rules
from cper.operations.lifecycle import TERMINAL, operation_transition
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
    LineStatus,
    Operation,
    OperationCommune,
    OperationStatus,
    ProjectOwner,
)
from cper.territories.models import Commune

__all__ = [
    "committee_add_to_agenda",
    "committee_create",
    "committee_remove_from_agenda",
    "committee_update",
    "decision_record",
    "external_reference_set",
    "financing_line_add",
    "financing_line_cancel",
    "financing_line_update",
    "operation_create",
    "operation_update",
    "owner_create",
    "owner_update",
]


# The choices' values, read once (a TextChoices' `.values` builds a new list at each access, and
# a batch of thousands of lines checks them for each).
_COST_BASES = frozenset(CostBase.values)
_FINANCER_KINDS = frozenset(FinancerKind.values)
_BUDGET_NATURES = frozenset(BudgetNature.values)


def _raise(findings: Iterable[rules.Finding]) -> None:
    errors = rules.as_error_dict(findings)
    if errors:
        raise ValidationError(errors)


def _money(value: Any, field: str, *, required: bool = False) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise ValidationError({field: ["le montant est obligatoire"]})
        return None
    try:
        return to_money(value)
    except MoneyError as exc:
        raise ValidationError({field: [str(exc)]}) from exc


def _unknown_keys(changes: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"{what} : champ(s) non modifiable(s) : {', '.join(sorted(unknown))}")


# --- project owners ----------------------------------------------------------------------------

OWNER_FIELDS = ("name", "siret", "rna", "legal_category", "commune", "provenance")


def _owner_snapshot(owner: ProjectOwner) -> dict[str, Any]:
    return {
        "name": owner.name,
        "siret": owner.siret,
        "rna": owner.rna,
        "legal_category": owner.legal_category,
        "commune": owner.commune_id,
    }


def _owner_validate(values: dict[str, Any], *, exclude_pk: int | None = None) -> dict[str, Any]:
    values["siret"] = rules.normalise_identifier(values.get("siret")) or None
    values["rna"] = rules.normalise_identifier(values.get("rna")) or None
    values["name"] = (values.get("name") or "").strip()
    findings = rules.owner_errors(
        name=values["name"],
        siret=values["siret"],
        rna=values["rna"],
        legal_category=values.get("legal_category") or "",
        categories=LegalCategory.values,
    )
    commune = values.get("commune")
    if isinstance(commune, str) and commune:
        found = Commune.objects.filter(code=commune).first()
        if found is None:
            findings.append(rules.Finding("commune", f"commune inconnue : {commune}"))
        values["commune"] = found
    for key in ("siret", "rna"):
        if values[key] and not any(f.field == key for f in findings):
            clash = ProjectOwner.objects.filter(**{key: values[key]})
            if exclude_pk:
                clash = clash.exclude(pk=exclude_pk)
            other = clash.first()
            if other is not None:
                findings.append(
                    rules.Finding(key, f"ce numéro est déjà celui de « {other.name} » ({other.pk})")
                )
    _raise(findings)
    return values


@transaction.atomic
def owner_create(
    *,
    actor: Actor,
    name: str,
    legal_category: str,
    siret: str | None = None,
    rna: str | None = None,
    commune: Commune | str | None = None,
    provenance: str = Provenance.OFFICIAL,
) -> ProjectOwner:
    """Create a maître d'ouvrage; SIRET (Luhn; La Poste's rule) or RNA number required."""
    require_actor(actor, "owner.edit")
    values = _owner_validate(
        {
            "name": name,
            "legal_category": legal_category,
            "siret": siret,
            "rna": rna,
            "commune": commune or None,
        }
    )
    owner = ProjectOwner.objects.create(**values, provenance=provenance)
    audit_record(
        actor=actor,
        action="maître d'ouvrage créé",
        subject=owner,
        changes=diff_fields({}, _owner_snapshot(owner)),
    )
    return owner


@transaction.atomic
def owner_update(*, actor: Actor, owner: ProjectOwner, **changes: Any) -> ProjectOwner:
    """Change a maître d'ouvrage's name, identifiers, category or commune."""
    _unknown_keys(changes, ("name", "siret", "rna", "legal_category", "commune"), "owner_update")
    require_actor(actor, "owner.edit", owner)
    current = ProjectOwner.objects.select_for_update(of=("self",)).get(pk=owner.pk)
    before = _owner_snapshot(current)
    values = {
        "name": current.name,
        "legal_category": current.legal_category,
        "siret": current.siret,
        "rna": current.rna,
        "commune": current.commune,
        **changes,
    }
    values = _owner_validate(values, exclude_pk=current.pk)
    for key, value in values.items():
        setattr(current, key, value)
    current.save()
    diff = diff_fields(before, _owner_snapshot(current))
    if diff:
        audit_record(actor=actor, action="maître d'ouvrage modifié", subject=current, changes=diff)
    for key in values:
        setattr(owner, key, getattr(current, key))
    return current


# --- operations --------------------------------------------------------------------------------

OPERATION_FIELDS = (
    "title",
    "description",
    "owner",
    "objective",
    "start_date",
    "end_date",
    "cost_ht",
    "cost_ttc",
    "cost_base",
    "physical_progress",
    "published",
)
OPERATION_M2M = ("communes", "secondary_objectives", "markers", "external_references")
# What may still change once an operation is closed, rejected or abandoned.
TERMINAL_EDITABLE = frozenset({"description", "physical_progress", "published"})


def operation_snapshot(
    operation: Operation, *, related: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The audited state of an operation (readable values: codes and names, not ids).

    `related` gives the communes, secondary objectives, markers and external references when
    the caller already holds them (a batch of new operations), instead of reading them."""
    if related is not None:
        return {**_operation_fields_snapshot(operation), **related}
    return {
        **_operation_fields_snapshot(operation),
        "communes": [
            oc.commune_id
            for oc in OperationCommune.objects.filter(operation=operation).order_by("position")
        ]
        if operation.pk
        else [],
        "secondary_objectives": sorted(
            operation.secondary_objectives.values_list("code", flat=True)
        )
        if operation.pk
        else [],
        "markers": sorted(operation.markers.values_list("code", flat=True)) if operation.pk else [],
        "external_references": {
            r.partner.code: r.reference
            for r in operation.external_references.select_related("partner").order_by(
                "partner__code"
            )
        }
        if operation.pk
        else {},
    }


def _operation_fields_snapshot(operation: Operation) -> dict[str, Any]:
    return {
        "code": operation.code,
        "title": operation.title,
        "description": operation.description,
        "owner": f"{operation.owner.name} ({operation.owner_id})" if operation.owner_id else None,
        "objective": operation.objective.code if operation.objective_id else None,
        "start_date": operation.start_date,
        "end_date": operation.end_date,
        "cost_ht": operation.cost_ht,
        "cost_ttc": operation.cost_ttc,
        "cost_base": operation.cost_base,
        "physical_progress": operation.physical_progress,
        "published": operation.published,
        "departement": operation.departement_id,
        "epci": operation.epci_id,
    }


def _resolve_communes(
    contract: Contract,
    communes: Iterable[Commune | str],
    findings: list[rules.Finding],
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


def _check_contract_objects(
    contract: Contract, values: dict[str, Any], findings: list[rules.Finding]
) -> None:
    objective = values.get("objective")
    if objective is None:
        findings.append(rules.Finding("objective", "l'objectif principal est obligatoire"))
    elif objective.contract_id != contract.pk:
        findings.append(rules.Finding("objective", "cet objectif n'est pas celui de ce contrat"))
    if values.get("owner") is None:
        findings.append(rules.Finding("owner", "le maître d'ouvrage est obligatoire"))
    for obj in values.get("secondary_objectives") or []:
        if obj.contract_id != contract.pk:
            findings.append(
                rules.Finding("secondary_objectives", f"objectif {obj.code} hors du contrat")
            )
    for marker in values.get("markers") or []:
        if marker.contract_id != contract.pk:
            findings.append(rules.Finding("markers", f"marqueur {marker.code} hors du contrat"))
    refs = values.get("external_references") or {}
    for partner, reference in refs.items():
        if partner.contract_id != contract.pk:
            findings.append(
                rules.Finding("external_references", f"partenaire {partner.code} hors du contrat")
            )
        elif not str(reference).strip():
            findings.append(
                rules.Finding("external_references", f"référence vide pour {partner.code}")
            )


def _normalise_operation_values(values: dict[str, Any]) -> None:
    for key in ("cost_ht", "cost_ttc"):
        if key in values:
            values[key] = _money(values[key], key)
    for key in ("title", "description", "physical_progress"):
        if key in values and values[key] is not None:
            values[key] = str(values[key]).strip()
    if "cost_base" in values and values["cost_base"] not in _COST_BASES:
        raise ValidationError({"cost_base": [f"assiette inconnue « {values['cost_base']} »"]})


def _set_communes(operation: Operation, communes: list[Commune]) -> None:
    OperationCommune.objects.filter(operation=operation).delete()
    OperationCommune.objects.bulk_create(
        [
            OperationCommune(operation=operation, commune=c, position=i)
            for i, c in enumerate(communes)
        ]
    )
    first = communes[0] if communes else None
    # Derived, never typed: the département and EPCI of the first commune.
    operation.departement_id = first.departement_id if first else None
    operation.epci_id = first.epci_id if first else None


def _set_external_references(operation: Operation, refs: Mapping[Partner, str]) -> None:
    wanted = {p.pk: str(r).strip() for p, r in refs.items()}
    ExternalReference.objects.filter(operation=operation).exclude(partner_id__in=wanted).delete()
    for partner_id, reference in wanted.items():
        clash = (
            ExternalReference.objects.filter(partner_id=partner_id, reference=reference)
            .exclude(operation=operation)
            .select_related("operation")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "external_references": [
                        f"la référence « {reference} » est déjà celle de l'opération "
                        f"{clash.operation.code}"
                    ]
                }
            )
        ExternalReference.objects.update_or_create(
            operation=operation, partner_id=partner_id, defaults={"reference": reference}
        )


def _next_code(contract: Contract) -> str:
    last = (
        Operation.objects.filter(contract=contract, code__regex=r"^OP-[0-9]{6}$")
        .order_by("-code")
        .values_list("code", flat=True)
        .first()
    )
    n = int(last[3:]) + 1 if last else 1
    return f"OP-{n:06d}"


@transaction.atomic
def operation_create(
    *,
    actor: Actor,
    contract: Contract,
    title: str,
    owner: ProjectOwner,
    objective: Objective,
    code: str | None = None,
    description: str = "",
    communes: Iterable[Commune | str] = (),
    secondary_objectives: Iterable[Objective] = (),
    markers: Iterable[Marker] = (),
    external_references: Mapping[Partner, str] | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    cost_ht: Decimal | str | None = None,
    cost_ttc: Decimal | str | None = None,
    cost_base: str = CostBase.HT,
    physical_progress: str = "",
    published: bool = False,
    provenance: str = Provenance.OFFICIAL,
) -> Operation:
    """Create an operation in `draft`. Its département and EPCI are derived from the first
    commune; its code is `OP-000001`… unless given (e.g. an import keeps the source's)."""
    require_actor(actor, "operation.create", contract)
    values: dict[str, Any] = {
        "title": title,
        "description": description,
        "owner": owner,
        "objective": objective,
        "start_date": start_date,
        "end_date": end_date,
        "cost_ht": cost_ht,
        "cost_ttc": cost_ttc,
        "cost_base": cost_base,
        "physical_progress": physical_progress,
        "published": published,
        "secondary_objectives": list(secondary_objectives),
        "markers": list(markers),
        "external_references": dict(external_references or {}),
    }
    _normalise_operation_values(values)
    findings = rules.operation_errors(
        title=values["title"],
        start_date=start_date,
        end_date=end_date,
        cost_ht=values["cost_ht"],
        cost_ttc=values["cost_ttc"],
        cost_base=cost_base,
    )
    commune_objs = _resolve_communes(contract, communes, findings)
    _check_contract_objects(contract, values, findings)
    code = (code or "").strip() or None
    if code and Operation.objects.filter(contract=contract, code=code).exists():
        findings.append(rules.Finding("code", f"le numéro « {code} » existe déjà dans ce contrat"))
    _raise(findings)

    # Serialise the numbering of a contract's operations.
    Contract.objects.select_for_update(of=("self",)).filter(pk=contract.pk).first()
    operation = Operation(
        contract=contract,
        code=code or _next_code(contract),
        provenance=provenance,
        **{k: values[k] for k in OPERATION_FIELDS},
    )
    try:
        with transaction.atomic():
            operation.save()
    except IntegrityError as exc:
        raise ValidationError({"code": [f"le numéro « {operation.code} » existe déjà"]}) from exc
    if commune_objs:
        _set_communes(operation, commune_objs)
        operation.save(update_fields=["departement", "epci"])
    operation.secondary_objectives.set(values["secondary_objectives"])
    operation.markers.set(values["markers"])
    _set_external_references(operation, values["external_references"])
    audit_record(
        actor=actor,
        action="opération créée",
        subject=operation,
        changes=diff_fields({}, operation_snapshot(operation)),
        contract_id=contract.pk,
        operation_id=operation.pk,
    )
    return operation


@transaction.atomic
def operation_update(*, actor: Actor, operation: Operation, **changes: Any) -> Operation:
    """Change an operation's descriptive fields, communes (département/EPCI re-derived),
    secondary objectives, markers or external references (`{partner: reference}`).

    The status only changes through `lifecycle.operation_transition`. The main objective of an
    operation already programmed does not change (its lines count against it in the maquette).
    """
    _unknown_keys(changes, (*OPERATION_FIELDS, *OPERATION_M2M), "operation_update")
    require_actor(actor, "operation.edit", operation)
    current = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("contract", "owner", "objective")
        .get(pk=operation.pk)
    )
    before = operation_snapshot(current)
    values = dict(changes)
    _normalise_operation_values(values)
    findings: list[rules.Finding] = []
    if current.status in TERMINAL:
        for key in set(values) - TERMINAL_EDITABLE:
            findings.append(
                rules.Finding(
                    key,
                    f"une opération « {current.get_status_display()} » n'est plus modifiable "
                    "(seuls la description, l'avancement et la publication le sont)",
                )
            )
    if (
        "objective" in values
        and values["objective"] is not None
        and values["objective"].pk != current.objective_id
        and current.status in PROGRAMMED_STATUSES
    ):
        findings.append(
            rules.Finding(
                "objective",
                "l'objectif principal d'une opération programmée ne change plus : ses lignes "
                "comptent dans la maquette au titre de cet objectif",
            )
        )
    merged = {k: values.get(k, getattr(current, k)) for k in OPERATION_FIELDS}
    findings += rules.operation_errors(
        title=merged["title"],
        start_date=merged["start_date"],
        end_date=merged["end_date"],
        cost_ht=merged["cost_ht"],
        cost_ttc=merged["cost_ttc"],
        cost_base=merged["cost_base"],
    )
    commune_objs = None
    if "communes" in values:
        commune_objs = _resolve_communes(current.contract, values["communes"] or [], findings)
    _check_contract_objects(current.contract, {**merged, **values}, findings)
    _raise(findings)

    old_objective_id = current.objective_id
    for key in OPERATION_FIELDS:
        if key in values:
            setattr(current, key, values[key])
    if commune_objs is not None:
        _set_communes(current, commune_objs)
    current.save()
    if "secondary_objectives" in values:
        current.secondary_objectives.set(values["secondary_objectives"] or [])
    if "markers" in values:
        current.markers.set(values["markers"] or [])
    if "external_references" in values:
        _set_external_references(current, values["external_references"] or {})
    if current.objective_id != old_objective_id:
        # Lines that counted against the old main objective follow the new one.
        for line in FinancingLine.objects.filter(
            operation=current, objective_id=old_objective_id, status=LineStatus.ACTIVE
        ):
            _line_save(
                actor=actor,
                line=line,
                values={"objective": current.objective},
                action="ligne de financement : objectif suivant l'opération",
            )
    diff = diff_fields(before, operation_snapshot(current))
    if diff:
        audit_record(
            actor=actor,
            action="opération modifiée",
            subject=current,
            changes=diff,
            contract_id=current.contract_id,
            operation_id=current.pk,
        )
    # The caller's instance reflects what was saved.
    for key in (*OPERATION_FIELDS, "departement_id", "epci_id", "updated_at"):
        setattr(operation, key, getattr(current, key))
    return current


@transaction.atomic
def external_reference_set(
    *, actor: Actor, operation: Operation, partner: Partner, reference: str
) -> None:
    """Set (or, with an empty reference, remove) a partner's own file number for an operation."""
    current = {r.partner: r.reference for r in operation.external_references.all()}
    if reference.strip():
        current[partner] = reference.strip()
    else:
        current.pop(partner, None)
    operation_update(actor=actor, operation=operation, external_references=current)


# --- financing lines ---------------------------------------------------------------------------

LINE_EDITABLE = (
    "amount",
    "financer_label",
    "objective",
    "contractualised",
    "budget_nature",
    "programme",
    "year",
    "external_ref",
)
FROZEN_PLAN = frozenset(
    {OperationStatus.CLOSED, OperationStatus.REJECTED, OperationStatus.ABANDONED}
)


def line_snapshot(line: FinancingLine) -> dict[str, Any]:
    return {
        "financer_kind": line.financer_kind,
        "partner": line.partner.code if line.partner is not None else None,
        "financer_label": line.financer_label,
        "objective": line.objective.code if line.objective_id else None,
        "amount": line.amount,
        "contractualised": line.contractualised,
        "budget_nature": line.budget_nature,
        "programme": line.programme.code if line.programme is not None else None,
        "year": line.year,
        "external_ref": line.external_ref,
        "status": line.status,
        "cancel_reason": line.cancel_reason,
    }


def _line_findings(
    operation: Operation, values: dict[str, Any], *, secondary_ids: Iterable[int] | None = None
) -> list[rules.Finding]:
    partner = values.get("partner")
    findings = rules.line_errors(
        amount=values.get("amount"),
        financer_kind=values.get("financer_kind") or "",
        partner_id=partner.pk if partner else None,
        contractualised=bool(values.get("contractualised")),
        financer_label=values.get("financer_label") or "",
    )
    if values.get("financer_kind") not in _FINANCER_KINDS:
        findings.append(
            rules.Finding(
                "financer_kind", f"type de financeur inconnu « {values.get('financer_kind')} »"
            )
        )
    if partner is not None and partner.contract_id != operation.contract_id:
        findings.append(
            rules.Finding("partner", "ce partenaire n'est pas signataire de ce contrat")
        )
    objective = values.get("objective")
    if objective is not None:
        if secondary_ids is None:
            secondary_ids = operation.secondary_objectives.values_list("pk", flat=True)
        allowed = {operation.objective_id, *secondary_ids}
        if objective.pk not in allowed:
            findings.append(
                rules.Finding(
                    "objective",
                    "l'objectif de la ligne doit être l'objectif principal ou un objectif "
                    "secondaire de l'opération",
                )
            )
    if values.get("budget_nature") not in _BUDGET_NATURES:
        findings.append(rules.Finding("budget_nature", "nature budgétaire inconnue"))
    year = values.get("year")
    contract = operation.contract
    if year is not None and not (contract.start_year <= int(year) <= contract.end_year + 3):
        findings.append(
            rules.Finding(
                "year",
                f"l'année {year} est hors de la période du contrat "
                f"({contract.start_year}–{contract.end_year})",
            )
        )
    if operation.status in FROZEN_PLAN:
        findings.append(
            rules.Finding(
                "status",
                f"le plan de financement d'une opération « {operation.get_status_display()} » "
                "est figé",
            )
        )
    return findings


def _over_programming_guard(
    *, operation: Operation, pairs: set[tuple[int | None, int]]
) -> list[rules.Finding]:
    """After a change, compare programmed and maquette for the touched partner × objective
    pairs; raise if the contract blocks over-programming, return the warnings otherwise."""
    if not pairs or operation.status not in PROGRAMMED_STATUSES:
        return []
    from cper.operations.selectors import programmed_figures

    contract = operation.contract
    findings = rules.over_programming_findings(
        programmed_figures(contract=contract, pairs=pairs),  # type: ignore[arg-type]
        policy=contract.over_programming,
    )
    _raise(findings)
    return findings


def _line_save(
    *, actor: Actor, line: FinancingLine, values: dict[str, Any], action: str, message: str = ""
) -> FinancingLine:
    before = line_snapshot(line)
    for key, value in values.items():
        setattr(line, key, value)
    line.save()
    diff = diff_fields(before, line_snapshot(line))
    if diff:
        audit_record(
            actor=actor,
            action=action,
            subject=line,
            changes=diff,
            message=message,
            contract_id=line.operation.contract_id,
            operation_id=line.operation_id,
        )
    return line


@transaction.atomic
def financing_line_add(
    *,
    actor: Actor,
    operation: Operation,
    financer_kind: str,
    amount: Decimal | str | int,
    partner: Partner | None = None,
    financer_label: str = "",
    objective: Objective | None = None,
    contractualised: bool | None = None,
    budget_nature: str | None = None,
    programme: Any = None,
    year: int | None = None,
    external_ref: str = "",
) -> FinancingLine:
    """Add a financer's line to an operation's plan. A partner's line is contractualised by
    default (it counts against the maquette); other financers are valorised."""
    require_actor(actor, "financing_line.edit", (operation, partner))
    op = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("contract", "objective")
        .get(pk=operation.pk)
    )
    values: dict[str, Any] = {
        "financer_kind": financer_kind,
        "partner": partner,
        "financer_label": (financer_label or "").strip(),
        "objective": objective or op.objective,
        "amount": _money(amount, "amount", required=True),
        "contractualised": (financer_kind == FinancerKind.PARTNER)
        if contractualised is None
        else bool(contractualised),
        "budget_nature": budget_nature
        or (partner.budget_nature if partner is not None else BudgetNature.OTHER),
        "programme": programme,
        "year": year,
        "external_ref": (external_ref or "").strip(),
    }
    _raise(_line_findings(op, values))
    line = FinancingLine.objects.create(operation=op, **values)
    audit_record(
        actor=actor,
        action="ligne de financement ajoutée",
        subject=line,
        changes=diff_fields({}, line_snapshot(line)),
        contract_id=op.contract_id,
        operation_id=op.pk,
    )
    if line.contractualised:
        _over_programming_guard(operation=op, pairs={(line.partner_id, line.objective_id)})
    return line


@transaction.atomic
def financing_line_update(*, actor: Actor, line: FinancingLine, **changes: Any) -> FinancingLine:
    """Change a line's amount, label, objective, contractualised flag, budget nature, LOLF
    programme, year or reference. Its financer (kind, partner) never changes: cancel the line
    and add another."""
    _unknown_keys(changes, LINE_EDITABLE, "financing_line_update")
    current = (
        FinancingLine.objects.select_for_update(of=("self",))
        .select_related("operation__contract", "operation__objective", "partner", "objective")
        .get(pk=line.pk)
    )
    require_actor(actor, "financing_line.edit", current)
    if current.status != LineStatus.ACTIVE:
        raise ValidationError({"status": ["cette ligne est annulée : elle ne se modifie plus"]})
    values = dict(changes)
    if "amount" in values:
        values["amount"] = _money(values["amount"], "amount", required=True)
    if "financer_label" in values:
        values["financer_label"] = (values["financer_label"] or "").strip()
    merged = {
        k: values.get(k, getattr(current, k)) for k in (*LINE_EDITABLE, "financer_kind", "partner")
    }
    _raise(_line_findings(current.operation, merged))
    old = (current.objective_id, current.contractualised, current.amount)
    saved = _line_save(
        actor=actor, line=current, values=values, action="ligne de financement modifiée"
    )
    # Only a change that adds to the programmed figure of a pair is checked: lowering an amount
    # on an over-programmed pair must stay possible when the contract blocks.
    grows = saved.contractualised and (
        not old[1] or saved.objective_id != old[0] or saved.amount > old[2]
    )
    if grows:
        _over_programming_guard(
            operation=saved.operation, pairs={(saved.partner_id, saved.objective_id)}
        )
    for key in (*LINE_EDITABLE, "updated_at"):
        setattr(line, key, getattr(saved, key))
    return saved


@transaction.atomic
def financing_line_cancel(*, actor: Actor, line: FinancingLine, reason: str) -> FinancingLine:
    """Cancel a line (never deleted): it stops counting in the plan and the maquette."""
    current = (
        FinancingLine.objects.select_for_update(of=("self",))
        .select_related("operation__contract", "partner", "objective")
        .get(pk=line.pk)
    )
    require_actor(actor, "financing_line.edit", current)
    if not (reason or "").strip():
        raise ValidationError({"cancel_reason": ["le motif d'annulation est obligatoire"]})
    if current.status == LineStatus.CANCELLED:
        raise ValidationError({"status": ["cette ligne est déjà annulée"]})
    if current.operation.status == OperationStatus.CLOSED:
        raise ValidationError({"status": ["le plan d'une opération soldée est figé"]})
    saved = _line_save(
        actor=actor,
        line=current,
        values={"status": LineStatus.CANCELLED, "cancel_reason": reason.strip()},
        action="ligne de financement annulée",
        message=reason.strip(),
    )
    line.status, line.cancel_reason = saved.status, saved.cancel_reason
    return saved


# --- committees and decisions ------------------------------------------------------------------

COMMITTEE_FIELDS = ("kind", "date", "place", "title", "minutes")


def _committee_snapshot(c: Committee) -> dict[str, Any]:
    return {k: getattr(c, k) for k in COMMITTEE_FIELDS}


def _committee_findings(values: dict[str, Any]) -> list[rules.Finding]:
    out: list[rules.Finding] = []
    if values.get("kind") not in CommitteeKind.values:
        out.append(rules.Finding("kind", "nature de comité inconnue"))
    if not isinstance(values.get("date"), date):
        out.append(rules.Finding("date", "la date du comité est obligatoire"))
    return out


@transaction.atomic
def committee_create(
    *,
    actor: Actor,
    contract: Contract,
    kind: str,
    date: date,
    place: str = "",
    title: str = "",
    minutes: str = "",
    provenance: str = Provenance.OFFICIAL,
) -> Committee:
    """Create a committee session (comité de pilotage, de programmation, de suivi)."""
    require_actor(actor, "committee.edit", contract)
    values = {"kind": kind, "date": date, "place": place.strip(), "title": title.strip()}
    _raise(_committee_findings(values))
    committee = Committee.objects.create(
        contract=contract, minutes=minutes, provenance=provenance, **values
    )
    audit_record(
        actor=actor,
        action="comité créé",
        subject=committee,
        changes=diff_fields({}, _committee_snapshot(committee)),
        contract_id=contract.pk,
    )
    return committee


@transaction.atomic
def committee_update(*, actor: Actor, committee: Committee, **changes: Any) -> Committee:
    _unknown_keys(changes, COMMITTEE_FIELDS, "committee_update")
    require_actor(actor, "committee.edit", committee)
    current = Committee.objects.select_for_update(of=("self",)).get(pk=committee.pk)
    before = _committee_snapshot(current)
    merged = {**before, **changes}
    _raise(_committee_findings(merged))
    for key, value in changes.items():
        setattr(current, key, value)
    current.save()
    diff = diff_fields(before, _committee_snapshot(current))
    if diff:
        audit_record(
            actor=actor,
            action="comité modifié",
            subject=current,
            changes=diff,
            contract_id=current.contract_id,
        )
    for key in changes:
        setattr(committee, key, getattr(current, key))
    return current


EXAMINABLE = frozenset(
    {OperationStatus.SUBMITTED, OperationStatus.UNDER_REVIEW, OperationStatus.ADJOURNED}
)


@transaction.atomic
def committee_add_to_agenda(
    *, actor: Actor, committee: Committee, operation: Operation
) -> Decision:
    """Put an operation (submitted, under review or adjourned) on a committee's agenda."""
    require_actor(actor, "committee.edit", committee)
    if operation.contract_id != committee.contract_id:
        raise ValidationError({"operation": ["cette opération relève d'un autre contrat"]})
    if operation.status not in EXAMINABLE:
        raise ValidationError(
            {
                "operation": [
                    f"une opération « {operation.get_status_display()} » ne peut pas être "
                    "inscrite à l'ordre du jour (déposée, en instruction ou ajournée seulement)"
                ]
            }
        )
    if Decision.objects.filter(committee=committee, operation=operation).exists():
        raise ValidationError({"operation": ["cette opération est déjà à l'ordre du jour"]})
    decision = Decision.objects.create(committee=committee, operation=operation)
    audit_record(
        actor=actor,
        action="inscrite à l'ordre du jour",
        subject=decision,
        changes={"committee": {"avant": None, "après": committee.pk}},
        message=str(committee),
        contract_id=committee.contract_id,
        operation_id=operation.pk,
    )
    return decision


@transaction.atomic
def committee_remove_from_agenda(*, actor: Actor, decision: Decision, reason: str = "") -> None:
    """Take an operation off an agenda while no decision has been recorded."""
    require_actor(actor, "committee.edit", decision.committee)
    current = Decision.objects.select_for_update(of=("self",)).get(pk=decision.pk)
    if current.outcome:
        raise ValidationError({"operation": ["une décision enregistrée ne se retire pas"]})
    audit_record(
        actor=actor,
        action="retirée de l'ordre du jour",
        subject=current,
        changes={"committee": {"avant": current.committee_id, "après": None}},
        message=f"{current.committee}" + (f" : {reason}" if reason else ""),
        contract_id=current.committee.contract_id,
        operation_id=current.operation_id,
    )
    current.delete()


_OUTCOME_STATUS = {
    DecisionOutcome.APPROVED: OperationStatus.PROGRAMMED,
    DecisionOutcome.ADJOURNED: OperationStatus.ADJOURNED,
    DecisionOutcome.REJECTED: OperationStatus.REJECTED,
}


@transaction.atomic
def decision_record(
    *,
    actor: Actor,
    committee: Committee,
    operation: Operation,
    outcome: str,
    amounts: Mapping[Any, Any] | None = None,
    notes: str = "",
) -> Decision:
    """Record a committee's decision on an operation (added to the agenda if needed).

    approved: the amounts approved per financing line (default: each active partner line's
    current amount) are recorded; a line whose approved amount differs is set to it; the
    operation moves to `programmed` through the lifecycle (from `submitted` or `adjourned`
    it first goes to `under_review`). adjourned / rejected: the operation moves there.
    Over-programming is checked on the partner × objective pairs approved.
    """
    require_actor(actor, "committee.edit", committee)
    if outcome not in DecisionOutcome.values:
        raise ValidationError({"outcome": [f"décision inconnue « {outcome} »"]})
    op = Operation.objects.select_related("contract", "objective").get(pk=operation.pk)
    if op.contract_id != committee.contract_id:
        raise ValidationError({"operation": ["cette opération relève d'un autre contrat"]})
    if op.status not in EXAMINABLE:
        raise ValidationError(
            {
                "operation": [
                    f"une opération « {op.get_status_display()} » ne peut pas recevoir de "
                    "décision (déposée, en instruction ou ajournée seulement)"
                ]
            }
        )
    decision = (
        Decision.objects.select_for_update(of=("self",))
        .filter(committee=committee, operation=op)
        .first()
    )
    if decision is not None and decision.outcome:
        raise ValidationError({"outcome": ["une décision est déjà enregistrée pour ce comité"]})

    lines = {
        line.pk: line
        for line in FinancingLine.objects.filter(operation=op, status=LineStatus.ACTIVE)
        .select_related("partner", "objective", "operation__contract")
        .select_for_update(of=("self",))
    }
    approved: dict[int, Decimal] = {}
    if amounts:
        if outcome != DecisionOutcome.APPROVED:
            raise ValidationError({"amounts": ["seule une décision favorable porte des montants"]})
        for key, value in amounts.items():
            pk = key.pk if isinstance(key, FinancingLine) else int(key)
            if pk not in lines:
                raise ValidationError(
                    {"amounts": [f"la ligne {pk} n'est pas une ligne active de cette opération"]}
                )
            amount = _money(value, "amounts", required=True)
            assert amount is not None
            if amount < 0:
                raise ValidationError({"amounts": ["un montant approuvé ne peut pas être négatif"]})
            approved[pk] = amount
    elif outcome == DecisionOutcome.APPROVED:
        approved = {pk: line.amount for pk, line in lines.items() if line.partner_id}
    if outcome == DecisionOutcome.APPROVED and not any(v > 0 for v in approved.values()):
        raise ValidationError(
            {"amounts": ["une décision favorable approuve au moins un montant d'un partenaire"]}
        )

    if decision is None:
        decision = committee_add_to_agenda(actor=actor, committee=committee, operation=op)
    if op.status != OperationStatus.UNDER_REVIEW:
        operation_transition(
            actor=actor,
            operation=op,
            to_status=OperationStatus.UNDER_REVIEW,
            reason=f"examinée par le {committee}",
        )
    decision.outcome = outcome
    decision.notes = notes.strip()
    decision.decided_at = timezone.now()
    decision.save()
    DecisionAmount.objects.bulk_create(
        [
            DecisionAmount(decision=decision, financing_line_id=pk, amount=a)
            for pk, a in approved.items()
        ]
    )
    for pk, amount in approved.items():
        line = lines[pk]
        if line.amount != amount:
            _line_save(
                actor=actor,
                line=line,
                values={"amount": amount},
                action="ligne de financement : montant approuvé par le comité",
                message=str(committee),
            )
    audit_record(
        actor=actor,
        action=f"décision : {decision.get_outcome_display()}",
        subject=decision,
        changes={
            "outcome": {"avant": None, "après": outcome},
            "amounts": {"avant": None, "après": {str(k): v for k, v in approved.items()}},
        },
        message=f"{committee}" + (f" : {decision.notes}" if decision.notes else ""),
        contract_id=committee.contract_id,
        operation_id=op.pk,
    )
    operation_transition(
        actor=actor,
        operation=op,
        to_status=_OUTCOME_STATUS[DecisionOutcome(outcome)],
        reason=notes.strip(),
        decision=decision,
    )
    operation.status = op.status
    if outcome == DecisionOutcome.APPROVED:
        pairs = {
            (lines[pk].partner_id, lines[pk].objective_id)
            for pk in approved
            if lines[pk].contractualised and lines[pk].partner_id
        }
        _over_programming_guard(operation=op, pairs=pairs)
    return decision
