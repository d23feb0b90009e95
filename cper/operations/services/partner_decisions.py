"""Recording each co-financer's own decision on its financing line (issue 12): the arrêté
attributif or convention of the State, the délibération of the Region's commission permanente,
a departmental or metropolitan council's decision…

Batch first: `partner_decisions_record_many(drafts)` checks every draft (permission on its line,
`rules.partner_decision_findings`, the signed act's type and size), writes the valid ones at
once, audits them, and brings the summaries of their lines in step in the same transaction
(`summaries.lines_sync`: under the contract's `partner_decision` programming mode the decision
in force is what programmes the line). `partner_decision_record` is that batch given one draft,
raising instead of reporting. Decisions are appended, never edited: an amending deliberation is
a new decision, the latest in date is in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from cper.accounts.permissions import can, refusal_message
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, AuditDraft, audit_record_many
from cper.db import Provenance, ids_in
from cper.findings import Finding, errors_only
from cper.money import MoneyError, to_money
from cper.operations import rules
from cper.operations.execution import execution
from cper.operations.models import (
    FinancingLine,
    LineStatus,
    PartnerDecision,
    PartnerDecisionKind,
    PartnerDecisionOutcome,
)
from cper.operations.services.common import raise_findings


@dataclass
class PartnerDecisionDraft:
    """One decision to record on one financing line (values as typed: the amount may be text)."""

    financing_line_id: int
    kind: str
    date: dt.date | None
    amount: Any
    body: str = ""
    reference: str = ""
    outcome: str = PartnerDecisionOutcome.GRANTED
    document: File | None = None  # an uploaded file (PDF, ODT, DOCX)
    notes: str = ""
    provenance: str = Provenance.OFFICIAL


@dataclass
class PartnerDecisionResult:
    """What became of a draft: the decision written, or why not."""

    draft: PartnerDecisionDraft
    decision: PartnerDecision | None = None
    findings: list[Finding] = field(default_factory=list)
    refused: str = ""  # the permission refusal, if any

    @property
    def written(self) -> bool:
        return self.decision is not None


def _document_findings(document: File | None) -> list[Finding]:
    if not document:
        return []
    position = document.tell() if hasattr(document, "tell") else 0
    document.seek(0)
    head = document.read(8)
    document.seek(position)
    return rules.decision_document_findings(
        name=str(document.name or ""), size=int(document.size or 0), head=head
    )


def _amount(value: Any) -> tuple[Decimal | None, list[Finding]]:
    if value is None or value == "":
        return None, []
    try:
        return to_money(value), []
    except MoneyError as exc:
        return None, [Finding("amount", f"montant décidé : {exc}")]


@transaction.atomic
def partner_decisions_record_many(
    *, actor: Actor, drafts: list[PartnerDecisionDraft]
) -> list[PartnerDecisionResult]:
    """Record the valid drafts, report the others (per draft: written decision, or findings /
    permission refusal). The lines are locked; the summaries of the written lines are synced
    once at the end."""
    results = [PartnerDecisionResult(draft=d) for d in drafts]
    line_ids = sorted({d.financing_line_id for d in drafts})
    lines = {
        line.pk: line
        for line in FinancingLine.objects.select_for_update(of=("self",))
        .select_related("partner", "operation", "operation__contract")
        .filter(ids_in("pk", line_ids))
        .order_by("pk")
    }
    today = timezone.localdate()
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    trusted = actor.user is None and actor.via in {"system", "cli"}
    kinds, outcomes = set(PartnerDecisionKind.values), set(PartnerDecisionOutcome.values)
    to_write: list[tuple[PartnerDecisionResult, PartnerDecision]] = []
    for result in results:
        d = result.draft
        line = lines.get(d.financing_line_id)
        if line is None:
            result.findings.append(
                Finding("financing_line", f"ligne de financement n° {d.financing_line_id} inconnue")
            )
            continue
        if not trusted and not can(actor.user, "partner_decision.record", line):
            result.refused = refusal_message(actor.user, "partner_decision.record", line)
            continue
        amount, findings = _amount(d.amount)
        findings += rules.partner_decision_findings(
            kind=d.kind,
            kinds=kinds,
            outcome=d.outcome,
            outcomes=outcomes,
            amount=amount,
            date=d.date,
            today=today,
            line_amount=line.amount,
            has_partner=line.partner_id is not None,
            line_active=line.status == LineStatus.ACTIVE,
        )
        findings += _document_findings(d.document)
        result.findings = findings
        if errors_only(findings):
            continue
        # The rules refused a missing partner, date or amount.
        assert line.partner_id is not None and d.date is not None and amount is not None
        decision = PartnerDecision(
            financing_line=line,
            partner_id=line.partner_id,
            kind=d.kind,
            body=d.body.strip(),
            date=d.date,
            reference=d.reference.strip(),
            amount=amount,
            outcome=d.outcome,
            notes=d.notes.strip(),
            provenance=d.provenance,
            recorded_by=user,
        )
        if d.document:
            # Stored now (under MEDIA_ROOT/decisions/<year>/, a unique name chosen by the
            # storage); the row keeps its path.
            name = str(d.document.name or "acte").rsplit("/", 1)[-1]
            decision.document.save(name, d.document, save=False)
        to_write.append((result, decision))
    if not to_write:
        return results
    written = PartnerDecision.objects.bulk_create([dec for _, dec in to_write])
    for (result, _), decision in zip(to_write, written, strict=True):
        result.decision = decision
    # Under the CPER setting the decision in force programmes the line: its summaries follow.
    execution().lines_sync(line_ids=sorted({dec.financing_line_id for dec in written}))
    audit_record_many(
        actor=actor,
        entries=[
            AuditDraft(
                action=AuditAction.PARTNER_DECISION_RECORDED,
                subject=dec,
                changes={
                    "ligne": dec.financing_line_id,
                    "nature": dec.kind,
                    "instance": dec.body,
                    "date": dec.date,
                    "référence": dec.reference,
                    "montant": dec.amount,
                    "sens": dec.outcome,
                    "acte": dec.document.name or "",
                },
                message=f"{dec.get_kind_display()} du {dec.date:%d/%m/%Y}",
                contract_id=lines[dec.financing_line_id].operation.contract_id,
                operation_id=lines[dec.financing_line_id].operation_id,
            )
            for dec in written
        ],
    )
    return results


@transaction.atomic
def partner_decision_record(
    *,
    actor: Actor,
    line: FinancingLine,
    kind: str,
    date: dt.date | None,
    amount: Any,
    body: str = "",
    reference: str = "",
    outcome: str = PartnerDecisionOutcome.GRANTED,
    document: File | None = None,
    notes: str = "",
    provenance: str = Provenance.OFFICIAL,
) -> PartnerDecision:
    """Record one partner's decision on `line` (the batch given one draft). Raises
    PermissionDenied, or ValidationError keyed by field, and writes nothing."""
    draft = PartnerDecisionDraft(
        financing_line_id=line.pk,
        kind=kind,
        date=date,
        amount=amount,
        body=body,
        reference=reference,
        outcome=outcome,
        document=document,
        notes=notes,
        provenance=provenance,
    )
    (result,) = partner_decisions_record_many(actor=actor, drafts=[draft])
    if result.refused:
        raise PermissionDenied(result.refused)
    raise_findings(result.findings)
    if result.decision is None:  # pragma: no cover - every refusal above raises
        raise ValidationError({"financing_line": ["décision non enregistrée"]})
    return result.decision
