"""Writes of the closings app: arrêter the execution at a date (`closing_create`) and write a
version of an axis's commentary in the annual report (`report_comment_write`). Both audited;
neither edits anything: a closing and a comment version are appended, never changed."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor, audit_record
from cper.closings import figures as F
from cper.closings import rules
from cper.closings.models import Closing, ReportComment
from cper.contracts.models import Axis, Contract
from cper.finance.models import Movement
from cper.findings import as_error_dict
from cper.operations.models import OperationTransition


class ClosingRefused(ValueError):
    """A closing or a comment the rules refuse; `errors` is {field: [French messages]}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(" ; ".join(m for ms in errors.values() for m in ms))


def _watermarks() -> dict[str, int]:
    """The last ids recorded so far: anything above them was recorded after the closing."""
    return {
        "movement": Movement.objects.aggregate(m=Max("id"))["m"] or 0,
        "transition": OperationTransition.objects.aggregate(m=Max("id"))["m"] or 0,
        "audit": AuditEntry.objects.aggregate(m=Max("id"))["m"] or 0,
    }


@transaction.atomic
def closing_create(*, actor: Actor, contract: Contract, at: dt.date, label: str = "") -> Closing:
    """Freeze the execution of `contract` at `at` (every grouping of `figures`) with its
    digest. Refused for a date in the future, before the contract, or already arrêtée under the
    same label."""
    require_actor(actor, "closing.create", contract)
    label = (label or "").strip()
    # Lock the contract row: two closings of the same date cannot race past the check.
    Contract.objects.select_for_update().filter(pk=contract.pk).first()
    exists = Closing.objects.filter(contract=contract, at=at, label=label).exists()
    errors = as_error_dict(
        rules.closing_findings(
            at=at,
            today=timezone.localdate(),
            contract_start=dt.date(contract.start_year, 1, 1),
            label=label,
            exists=exists,
        )
    )
    if errors:
        raise ClosingRefused(errors)
    marks = _watermarks()
    document = F.execution_figures(contract=contract, at=at)
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    closing = Closing(
        contract=contract,
        at=at,
        label=label,
        created_by=user,
        via=actor.via,
        figures=document,
        digest=F.digest(document),
        watermarks=marks,
    )
    closing.save()
    total = F.total_of(document)
    audit_record(
        actor=actor,
        action=AuditAction.CLOSING_CREATED,
        subject=closing,
        changes={
            "at": at,
            "label": label,
            "digest": closing.digest,
            "programmed": total.programmed if total else None,
            "committed": total.committed if total else None,
            "paid": total.paid if total else None,
        },
        contract_id=contract.pk,
    )
    return closing


@transaction.atomic
def report_comment_write(*, actor: Actor, closing: Closing, axis: Axis, text: str) -> ReportComment:
    """Append a version of the commentary of `axis` in the report of `closing`."""
    require_actor(actor, "closing.create", closing.contract)
    if axis.contract_id != closing.contract_id:
        raise ClosingRefused({"axis": ["cet axe n'appartient pas au contrat de l'arrêté"]})
    errors = as_error_dict(rules.comment_findings(text=text))
    if errors:
        raise ClosingRefused(errors)
    previous = (
        ReportComment.objects.filter(closing=closing, axis=axis).order_by("-at", "-id").first()
    )
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    comment = ReportComment(closing=closing, axis=axis, text=text.strip(), author=user)
    comment.save()
    audit_record(
        actor=actor,
        action=AuditAction.REPORT_COMMENT_WRITTEN,
        subject=comment,
        changes={
            "closing": closing.at,
            "axis": axis.number,
            "text": {"avant": previous.text if previous else None, "après": comment.text},
        },
        contract_id=closing.contract_id,
    )
    return comment
