"""Writing the audit trail: every domain service calls `audit_record` inside its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from cper.audit.models import AuditEntry, Via


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which path (page, import, API, CLI, admin, system)."""

    user: Any  # accounts.User or None for the system
    via: str = Via.WEB

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None, via=Via.SYSTEM)

    @classmethod
    def cli(cls, user: Any = None) -> Actor:
        return cls(user=user, via=Via.CLI)


def jsonable(value: Any) -> Any:
    """A value as it is written in the audit trail: decimals and dates as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def diff_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"avant": x, "après": y}} for the fields whose value changed."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        b, a = jsonable(before.get(key)), jsonable(after.get(key))
        if b != a:
            out[key] = {"avant": b, "après": a}
    return out


def audit_record(
    *,
    actor: Actor,
    action: str,
    subject: models.Model,
    changes: dict[str, Any] | None = None,
    message: str = "",
    contract_id: int | None = None,
    operation_id: int | None = None,
) -> AuditEntry:
    entry = _entry(
        actor,
        {
            "action": action,
            "subject": subject,
            "changes": changes,
            "message": message,
            "contract_id": contract_id,
            "operation_id": operation_id,
        },
    )
    entry.save(force_insert=True)
    return entry


def audit_record_many(*, actor: Actor, records: Iterable[dict[str, Any]]) -> list[AuditEntry]:
    """Write many entries at once (bulk insert), inside the caller's transaction: each record
    holds the keyword arguments of `audit_record` but the actor (action, subject, and optionally
    changes, message, contract_id, operation_id); the entries are those `audit_record` writes."""
    entries = [_entry(actor, record) for record in records]
    return AuditEntry.objects.bulk_create(entries, batch_size=2000)


def _entry(actor: Actor, record: dict[str, Any]) -> AuditEntry:
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    subject = record["subject"]
    return AuditEntry(
        user=user,
        via=actor.via,
        action=record["action"][:200],
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        subject_repr=str(subject)[:300],
        contract_id=record.get("contract_id"),
        operation_id=record.get("operation_id"),
        changes=jsonable(record.get("changes") or {}),
        message=record.get("message", ""),
    )
