"""Writing the audit trail: every domain service calls `audit_record` inside its transaction.

This module is the only writer of `AuditEntry`. An entry names one `AuditAction` (the closed
list of `cper.audit.actions`); `audited_upsert_many` is the keyed create-or-update that the
loaders' services (contract structure, organisations, project territories, amendments) share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.utils import timezone

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry, Via
from cper.db import insert_rows

# The French labels that callers wrote as actions before the list was closed: still accepted
# (mapped to their code) while the last call sites move to `AuditAction` members.
_LEGACY_LABELS = {str(a.label): a for a in AuditAction}


class UnknownAuditAction(ValueError):
    """An action outside the closed list: the trail would not know how to show it."""


def audit_action(action: AuditAction | str) -> AuditAction:
    """The `AuditAction` an action names: a member, its code, or (legacy) its French label.
    Anything else is refused, never written as free text."""
    if isinstance(action, AuditAction):
        known: AuditAction | None = action
    elif action in AuditAction.values:
        known = AuditAction(action)
    else:
        known = _LEGACY_LABELS.get(action)
    # LEGACY only names entries the migration kept; nothing new is written as free text.
    if known is not None and known != AuditAction.LEGACY:
        return known
    raise UnknownAuditAction(f"action d'audit inconnue : « {action} »")


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


_AS_IS = frozenset({str, int, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A value as it is written in the audit trail: decimals and dates as strings."""
    if type(value) in _AS_IS:  # most values: as they are, at once
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value.pk)
    # The items as they are without a call when they are (a batch's trail walks hundreds of
    # thousands of them).
    if isinstance(value, list | tuple | set):
        return [v if type(v) in _AS_IS else jsonable(v) for v in value]
    if isinstance(value, dict):
        return {
            k if type(k) is str else str(k): v if type(v) in _AS_IS else jsonable(v)
            for k, v in value.items()
        }
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
class Subject:
    """What an entry is about when it is not one row: a whole load (the reference geography)."""

    type: str
    id: str
    label: str

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class AuditDraft:
    """One entry of the trail, for `audit_record_many` (same fields as `audit_record`)."""

    action: AuditAction
    subject: models.Model | Subject
    changes: dict[str, Any] | None = None
    message: str = ""
    contract_id: int | None = None
    operation_id: int | None = None


def _entry(actor: Actor, draft: AuditDraft) -> AuditEntry:
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    subject = draft.subject
    subject_type, subject_id = _subject_key(subject)
    return AuditEntry(
        user=user,
        via=actor.via,
        action=audit_action(draft.action).value,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_repr=str(subject)[:300],
        contract_id=draft.contract_id,
        operation_id=draft.operation_id,
        changes=jsonable(draft.changes or {}),
        message=draft.message,
    )


def audit_record(
    *,
    actor: Actor,
    action: AuditAction,
    subject: models.Model | Subject,
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


def _subject_key(subject: models.Model | Subject) -> tuple[str, str]:
    if isinstance(subject, Subject):
        return subject.type, subject.id
    return subject._meta.label_lower, str(subject.pk)


# The columns `audit_record_many` writes, in order (every concrete field but the id).
_COLUMNS = (
    "at",
    "user_id",
    "via",
    "action",
    "subject_type",
    "subject_id",
    "subject_repr",
    "contract_id",
    "operation_id",
    "changes",
    "message",
)


def audit_record_many(*, actor: Actor, entries: Iterable[AuditDraft]) -> int:
    """Write the entries of a batch at once, in the given order (ids follow it): what the batch
    services write instead of one `audit_record` per change. One `executemany` of plain tuples
    — the trail of an import of thousands of rows is most of what the import writes, so the
    values shared by the batch (time, user, path) are prepared once, not per entry; on
    PostgreSQL the rows go in with one COPY (`cper.db.insert_rows`)."""
    drafts = list(entries)
    if not drafts:
        return 0
    ops = connection.ops
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    at = AuditEntry._meta.get_field("at").get_db_prep_save(timezone.now(), connection)
    user_id = user.pk if user is not None else None
    rows = []
    for d in drafts:
        action = d.action.value if type(d.action) is AuditAction else audit_action(d.action).value
        if action == AuditAction.LEGACY:
            audit_action(action)  # raises: nothing new is written as free text
        subject_type, subject_id = _subject_key(d.subject)
        rows.append(
            (
                at,
                user_id,
                actor.via,
                action,
                subject_type,
                subject_id,
                str(d.subject)[:300],
                d.contract_id,
                d.operation_id,
                ops.adapt_json_value(jsonable(d.changes or {}), None),
                d.message,
            )
        )
    insert_rows(AuditEntry._meta.db_table, _COLUMNS, rows)
    return len(rows)


@dataclass(frozen=True)
class UpsertDraft:
    """One row a loader describes: the key it is found by, and the values it should have."""

    lookup: dict[str, Any]
    values: dict[str, Any]


@dataclass(frozen=True)
class Upserted:
    """What `audited_upsert_many` did with a draft: the row, and "created", "updated" or
    "unchanged"."""

    obj: Any
    outcome: str


def audited_upsert_many(
    *,
    actor: Actor,
    model: type[models.Model],
    drafts: Iterable[UpsertDraft],
    created: AuditAction,
    updated: AuditAction,
    contract_id: int | None,
    is_contract: bool = False,
) -> list[Upserted]:
    """Create or update each draft's row, keyed on its lookup, auditing what changed (the
    values, before and after); an unchanged row writes nothing. Called by the apps' services
    inside their transaction — the mechanics of a keyed load, not a public write path.
    `is_contract`: the rows are contracts, each entry filed under its own contract."""
    out: list[Upserted] = []
    entries: list[AuditDraft] = []
    manager = model._default_manager
    for draft in drafts:
        obj = manager.filter(**draft.lookup).first()
        if obj is None:
            obj = manager.create(**draft.lookup, **draft.values)
            entries.append(
                AuditDraft(
                    action=created,
                    subject=obj,
                    changes={k: {"avant": None, "après": v} for k, v in draft.values.items()},
                    contract_id=obj.pk if is_contract else contract_id,
                )
            )
            out.append(Upserted(obj, "created"))
            continue
        before = {k: getattr(obj, k) for k in draft.values}
        changed = {k: v for k, v in draft.values.items() if before[k] != v}
        if not changed:
            out.append(Upserted(obj, "unchanged"))
            continue
        for k, v in changed.items():
            setattr(obj, k, v)
        obj.save(update_fields=list(changed))
        entries.append(
            AuditDraft(
                action=updated,
                subject=obj,
                changes={k: {"avant": before[k], "après": v} for k, v in changed.items()},
                contract_id=obj.pk if is_contract else contract_id,
            )
        )
        out.append(Upserted(obj, "updated"))
    audit_record_many(actor=actor, entries=entries)
    return out
