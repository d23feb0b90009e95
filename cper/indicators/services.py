"""The write services of the indicators: loading a contract's catalogue, and recording values
per operation (the one batch service; a single value is a batch of one).

Permissions (cper/accounts/permissions.py): the catalogue is contract data (`contract.load`,
administrators; the command line is trusted); a value is part of the operation's follow-up
(`operation.edit`: instructors and administrators). Every write is audited in its transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, AuditDraft, audit_record_many, diff_fields
from cper.contracts.models import Contract, Objective
from cper.db import Provenance
from cper.findings import ERROR, Finding
from cper.indicators import rules
from cper.indicators.models import (
    QUANTITY_PLACES,
    Indicator,
    IndicatorKind,
    IndicatorValue,
    Unit,
)
from cper.operations.models import Operation


class IndicatorsRefused(ValidationError):
    """A batch the rules refuse; `.findings` name the field (and the file's line) of each
    problem. Nothing was written."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        by_field: dict[str, list[str]] = {}
        for f in findings:
            by_field.setdefault(f.field or "__all__", []).append(str(f))
        super().__init__(by_field)

    def __str__(self) -> str:
        return " ; ".join(str(f) for f in self.findings)


# --- catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorDraft:
    code: str
    name: str
    kind: str
    unit: str
    objectives: tuple[str, ...] = ()
    baseline_value: Decimal | None = None
    baseline_year: int | None = None
    target_2027: Decimal | None = None
    provenance: str = Provenance.ILLUSTRATIVE
    source: str = ""


@dataclass
class CatalogueReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
_FIELDS = ("name", "kind", "unit", "baseline_value", "baseline_year", "target_2027")


def _stored(value: Any) -> Any:
    """A quantity as the database gives it back (four places), so that a reload compares
    equal and changes nothing."""
    if isinstance(value, Decimal):
        return value.quantize(QUANTUM)
    return value


def _catalogue_findings(
    drafts: Sequence[IndicatorDraft], objectives: dict[str, Objective]
) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    for i, d in enumerate(drafts, start=1):
        where = f"indicators[{i}]"
        if not d.code or not d.name:
            out.append(Finding(f"{where}.code", "code et intitulé obligatoires"))
        if d.code in seen:
            out.append(Finding(f"{where}.code", f"code « {d.code} » en double"))
        seen.add(d.code)
        if d.kind not in IndicatorKind.values:
            out.append(Finding(f"{where}.kind", f"nature inconnue « {d.kind} »"))
        if d.unit not in Unit.values:
            out.append(Finding(f"{where}.unit", f"unité inconnue « {d.unit} »"))
        if d.provenance not in Provenance.values:
            out.append(Finding(f"{where}.provenance", f"provenance inconnue « {d.provenance} »"))
        for code in d.objectives:
            if code not in objectives:
                out.append(Finding(f"{where}.objectives", f"objectif inconnu « {code} »"))
    return out


@transaction.atomic
def indicator_catalogue_load(
    *, actor: Actor, contract: Contract, drafts: Sequence[IndicatorDraft]
) -> CatalogueReport:
    """Create or update the contract's indicators keyed on their code (indicators absent from
    the drafts are kept: values may refer to them). Refused as a whole on any finding."""
    require_actor(actor, "contract.load")
    objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
    findings = _catalogue_findings(drafts, objectives)
    if findings:
        raise IndicatorsRefused(findings)
    existing = {
        i.code: i
        for i in Indicator.objects.filter(contract=contract).prefetch_related("objectives")
    }
    report = CatalogueReport()
    entries: list[AuditDraft] = []
    for position, d in enumerate(drafts, start=1):
        values: dict[str, Any] = {f: _stored(getattr(d, f)) for f in _FIELDS}
        values.update(provenance=d.provenance, source=d.source, position=position)
        wanted_objectives = sorted(d.objectives)
        ind = existing.get(d.code)
        if ind is None:
            ind = Indicator.objects.create(contract=contract, code=d.code, **values)
            ind.objectives.set([objectives[c] for c in wanted_objectives])
            report.created += 1
            entries.append(
                AuditDraft(
                    AuditAction.INDICATOR_CREATED,
                    ind,
                    {**values, "objectives": wanted_objectives},
                    contract_id=contract.pk,
                )
            )
            continue
        before = {k: getattr(ind, k) for k in values}
        before["objectives"] = sorted(o.code for o in ind.objectives.all())
        changes = diff_fields(before, {**values, "objectives": wanted_objectives})
        if not changes:
            report.unchanged += 1
            continue
        for k, v in values.items():
            setattr(ind, k, v)
        ind.save()
        ind.objectives.set([objectives[c] for c in wanted_objectives])
        report.updated += 1
        entries.append(
            AuditDraft(AuditAction.INDICATOR_UPDATED, ind, changes, contract_id=contract.pk)
        )
    audit_record_many(actor=actor, entries=entries)
    return report


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueDraft:
    """One value to record: the operation (object, id, or its number in the contract), the
    indicator (object or code), the figures. `line` is the file's row for an import."""

    operation: Operation | int | str
    indicator: Indicator | str
    planned: Decimal | None
    achieved: Decimal | None
    date: dt.date | None
    source: str = ""
    line: int | None = None


@dataclass
class ValuesResult:
    values: list[IndicatorValue] = field(default_factory=list)


def _resolve_operations(contract: Contract, drafts: Iterable[ValueDraft]) -> dict[Any, Operation]:
    ids = {d.operation for d in drafts if isinstance(d.operation, int)}
    codes = {d.operation for d in drafts if isinstance(d.operation, str)}
    found: dict[Any, Operation] = {}
    qs = Operation.objects.filter(contract=contract).select_related("contract")
    for op in qs.filter(pk__in=ids):
        found[op.pk] = op
    for op in qs.filter(code__in=codes):
        found[op.code] = op
    return found


@transaction.atomic
def indicator_values_record_many(
    *, actor: Actor, contract: Contract, values: Sequence[ValueDraft]
) -> ValuesResult:
    """Append the values (history kept: the latest by date counts), or refuse the whole batch
    (`IndicatorsRefused`, each finding naming its row) — nothing written if one is bad."""
    require_actor(actor, "operation.edit")
    today = timezone.localdate()
    indicators = {i.code: i for i in Indicator.objects.filter(contract=contract)}
    operations = _resolve_operations(contract, values)
    findings: list[Finding] = []
    rows: list[IndicatorValue] = []
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    now = timezone.now()
    for d in values:
        op = d.operation if isinstance(d.operation, Operation) else operations.get(d.operation)
        if op is None or op.contract_id != contract.pk:
            findings.append(
                Finding("operation", f"opération inconnue « {d.operation} »", ERROR, d.line)
            )
        else:
            require_actor(actor, "operation.edit", op)
        ind = d.indicator if isinstance(d.indicator, Indicator) else indicators.get(d.indicator)
        if ind is None or ind.contract_id != contract.pk:
            findings.append(
                Finding("indicator", f"indicateur inconnu « {d.indicator} »", ERROR, d.line)
            )
            continue
        findings += rules.value_findings(
            planned=d.planned,
            achieved=d.achieved,
            date=d.date,
            unit=ind.unit,
            today=today,
            line=d.line,
        )
        if op is not None and d.date is not None:
            rows.append(
                IndicatorValue(
                    operation=op,
                    indicator=ind,
                    planned=d.planned,
                    achieved=d.achieved,
                    date=d.date,
                    source=d.source[:300],
                    recorded_by=user,
                    recorded_at=now,
                )
            )
    if findings:
        raise IndicatorsRefused(findings)
    made = IndicatorValue.objects.bulk_create(rows)
    audit_record_many(
        actor=actor,
        entries=[
            AuditDraft(
                AuditAction.INDICATOR_VALUE_RECORDED,
                v.operation,
                {
                    "indicateur": v.indicator.code,
                    "prévu": v.planned,
                    "réalisé": v.achieved,
                    "date": v.date,
                    "source": v.source,
                },
                message=f"{v.indicator.code} {v.indicator.name}",
                contract_id=contract.pk,
                operation_id=v.operation.pk,
            )
            for v in made
        ],
    )
    return ValuesResult(values=made)


def indicator_value_record(
    *,
    actor: Actor,
    operation: Operation,
    indicator: Indicator | str,
    planned: Decimal | None,
    achieved: Decimal | None,
    date: dt.date,
    source: str = "",
) -> IndicatorValue:
    """Record one value (the batch service given one draft)."""
    draft = ValueDraft(operation, indicator, planned, achieved, date, source)
    return indicator_values_record_many(
        actor=actor, contract=operation.contract, values=[draft]
    ).values[0]
