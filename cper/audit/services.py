"""Writing the audit trail: every domain service calls `audit_record` inside its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.utils import timezone

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


@dataclass(frozen=True)
class AuditDraft:
    """One entry of the trail, for `audit_record_many` (same fields as `audit_record`)."""

    action: str
    subject: models.Model
    changes: dict[str, Any] | None = None
    message: str = ""
    contract_id: int | None = None
    operation_id: int | None = None


def _entry(actor: Actor, draft: AuditDraft) -> AuditEntry:
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    subject = draft.subject
    return AuditEntry(
        user=user,
        via=actor.via,
        action=draft.action[:200],
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        subject_repr=str(subject)[:300],
        contract_id=draft.contract_id,
        operation_id=draft.operation_id,
        changes=jsonable(draft.changes or {}),
        message=draft.message,
    )


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
        AuditDraft(
            action=action,
            subject=subject,
            changes=changes,
            message=message,
            contract_id=contract_id,
            operation_id=operation_id,
        ),
    )
    entry.save()
    return entry


def audit_record_many(*, actor: Actor, entries: Iterable[AuditDraft]) -> int:
    """Write the entries of a batch at once, in the given order (ids follow it): what the batch
    services write instead of one `audit_record` per change. One `executemany` — the trail of
    an import of thousands of rows is most of what the import writes."""
    rows = [_entry(actor, d) for d in entries]
    if not rows:
        return 0
    now = timezone.now()
    fields = [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    sql = (
        f"INSERT INTO {quote(AuditEntry._meta.db_table)} "
        f"({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    for row in rows:
        row.at = now  # auto_now_add, which only save() and bulk_create() fill
    params = [[f.get_db_prep_save(getattr(r, f.attname), connection) for f in fields] for r in rows]
    with connection.cursor() as cursor:
        for i in range(0, len(params), 5000):
            cursor.executemany(sql, params[i : i + 5000])
    return len(rows)
