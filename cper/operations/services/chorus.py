"""The State's Chorus codes of its lines (issue 12): the BOP and the activity of each State
line's LOLF programme, set in one batch — by a reconciliation with Chorus, or by the demo. One
audit entry per changed line; the execution summaries are untouched (the execution by BOP reads
the line's own column through a join, `cper.finance.aggregation`)."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.services import Actor, AuditDraft, audit_record_many, diff_fields
from cper.db import update_rows
from cper.operations.models import FinancingLine, LineStatus

MAX_CODE = 30


@transaction.atomic
def financing_lines_chorus_set(
    *, actor: Actor, codes: Mapping[int, tuple[str | None, str | None]]
) -> int:
    """Set (BOP, activity) of active lines, {line id: (bop, activity)} (None or "" clears a
    code). Refuses, writing nothing, a code longer than 30 characters or a line the actor may
    not edit. Returns the number of lines changed."""
    wanted = {pk: tuple((c or "").strip() or None for c in pair) for pk, pair in codes.items()}
    too_long = sorted(
        pk for pk, pair in wanted.items() if any(len(c or "") > MAX_CODE for c in pair)
    )
    if too_long:
        raise ValidationError(
            {
                "bop": [
                    f"ligne n° {too_long[0]} : un code Chorus compte {MAX_CODE} caractères au plus"
                ]
            }
        )
    lines = list(
        FinancingLine.objects.select_for_update(of=("self",))
        .select_related("operation", "partner")
        .filter(pk__in=list(wanted), status=LineStatus.ACTIVE)
        .order_by("pk")
    )
    changed: list[FinancingLine] = []
    audits: list[AuditDraft] = []
    for line in lines:
        require_actor(actor, "financing_line.edit", line)
        bop, activity = wanted[line.pk]
        if (line.bop, line.activity) == (bop, activity):
            continue
        before = {"bop": line.bop, "activity": line.activity}
        line.bop, line.activity = bop, activity
        changed.append(line)
        audits.append(
            AuditDraft(
                action=AuditAction.LINE_UPDATED,
                subject=line,
                changes=diff_fields(before, {"bop": bop, "activity": activity}),
                contract_id=line.operation.contract_id,
                operation_id=line.operation_id,
            )
        )
    update_rows(
        FinancingLine, ("bop", "activity"), [(li.pk, li.bop, li.activity) for li in changed]
    )
    audit_record_many(actor=actor, entries=audits)
    return len(changed)
