"""The write service of the forecasts: replacing the schedules of financing lines.

Replacing a line's schedule appends a new version of its rows (the previous version stays as
history; the latest counts). Permission: `financing_line.edit` on each line — the partner's
own managers for its lines, instructors for the lines they may edit, administrators; the
command line is trusted. Audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, AuditDraft, audit_record_many
from cper.contracts.models import Contract
from cper.findings import ERROR, Finding, errors_only
from cper.forecasts import rules
from cper.forecasts.models import LineSchedule
from cper.money import to_money
from cper.operations.models import FinancingLine


class ScheduleRefused(ValidationError):
    """Schedules the rules refuse; `.findings` name the field (and the file's line). Nothing
    was written."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        by_field: dict[str, list[str]] = {}
        for f in findings:
            by_field.setdefault(f.field or "__all__", []).append(str(f))
        super().__init__(by_field)

    def __str__(self) -> str:
        return " ; ".join(str(f) for f in self.findings)


@dataclass(frozen=True)
class ScheduleDraft:
    """A line's whole new schedule: (year, planned commitment, planned payment) rows."""

    line: FinancingLine | int
    rows: tuple[tuple[int, Decimal, Decimal], ...]
    line_no: int | None = None


@dataclass
class SchedulesResult:
    versions: dict[int, int] = field(default_factory=dict)  # {line id: version written}


@transaction.atomic
def schedules_replace_many(
    *, actor: Actor, contract: Contract, schedules: Sequence[ScheduleDraft]
) -> SchedulesResult:
    """Write a new version of each line's schedule, or refuse the whole batch."""
    ids = {d.line if isinstance(d.line, int) else d.line.pk for d in schedules}
    lines = {
        line.pk: line
        for line in FinancingLine.objects.filter(pk__in=ids, operation__contract=contract)
        .select_related("operation", "partner")
        .select_for_update(of=("self",))
    }
    findings: list[Finding] = []
    seen: set[int] = set()
    for d in schedules:
        pk = d.line if isinstance(d.line, int) else d.line.pk
        line = lines.get(pk)
        if line is None:
            findings.append(
                Finding("line", f"ligne de financement inconnue : {pk}", ERROR, d.line_no)
            )
            continue
        require_actor(actor, "financing_line.edit", line)
        if pk in seen:
            findings.append(
                Finding("line", f"la ligne {pk} a deux échéanciers dans l'envoi", ERROR, d.line_no)
            )
        seen.add(pk)
        rows = [(y, to_money(c), to_money(p)) for y, c, p in d.rows]
        findings += rules.schedule_findings(
            rows=rows,
            first_year=contract.start_year,
            last_year=contract.end_year,
            line_amount=line.amount,
            line=d.line_no,
        )
    findings = errors_only(findings)
    if findings:
        raise ScheduleRefused(findings)
    latest = dict(
        LineSchedule.objects.filter(line_id__in=ids)
        .values("line_id")
        .annotate(v=Max("version"))
        .values_list("line_id", "v")
    )
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    now = timezone.now()
    made: list[LineSchedule] = []
    result = SchedulesResult()
    entries: list[AuditDraft] = []
    for d in schedules:
        line = lines[d.line if isinstance(d.line, int) else d.line.pk]
        version = (latest.get(line.pk) or 0) + 1
        result.versions[line.pk] = version
        rows = sorted((y, to_money(c), to_money(p)) for y, c, p in d.rows)
        made += [
            LineSchedule(
                line=line,
                version=version,
                year=y,
                planned_commitment=c,
                planned_payment=p,
                recorded_by=user,
                at=now,
            )
            for y, c, p in rows
        ]
        entries.append(
            AuditDraft(
                AuditAction.SCHEDULE_REPLACED,
                line,
                {
                    "version": version,
                    "échéancier": {str(y): {"engagement": c, "paiement": p} for y, c, p in rows},
                },
                message=f"échéancier v{version} ({len(rows)} années)",
                contract_id=contract.pk,
                operation_id=line.operation_id,
            )
        )
    LineSchedule.objects.bulk_create(made)
    audit_record_many(actor=actor, entries=entries)
    return result


def schedule_replace(
    *,
    actor: Actor,
    line: FinancingLine,
    rows: Sequence[tuple[int, Decimal, Decimal]],
) -> int:
    """Replace one line's schedule (the batch service given one draft); returns its version."""
    result = schedules_replace_many(
        actor=actor,
        contract=line.operation.contract,
        schedules=[ScheduleDraft(line=line, rows=tuple(rows))],
    )
    return result.versions[line.pk]
