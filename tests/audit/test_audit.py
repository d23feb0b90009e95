"""The audit trail: before/after values, the path, denormalised contract/operation ids, and an
admin that only reads."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import (
    Actor,
    AuditDraft,
    UnknownAuditAction,
    audit_record,
    audit_record_many,
    diff_fields,
    jsonable,
)
from cper.operations import services
from tests.operations.factories import make_line, make_operation


def test_diff_fields_keeps_only_changes_as_strings():
    diff = diff_fields(
        {"amount": Decimal("10.00"), "title": "a", "day": dt.date(2024, 1, 2)},
        {"amount": Decimal("12.50"), "title": "a", "day": dt.date(2024, 1, 3)},
    )
    assert diff == {
        "amount": {"avant": "10.00", "après": "12.50"},
        "day": {"avant": "2024-01-02", "après": "2024-01-03"},
    }
    assert jsonable({"x": [Decimal("1.5")]}) == {"x": ["1.5"]}


def test_entries_carry_user_path_contract_and_operation(hdf, users):
    op = make_operation(hdf)
    entry = audit_record(
        actor=Actor(user=users["instructor"], via="api"),
        action=AuditAction.OPERATION_UPDATED,
        subject=op,
        changes={"title": {"avant": "a", "après": "b"}},
        contract_id=hdf.pk,
        operation_id=op.pk,
    )
    assert (entry.user, entry.via, entry.contract_id, entry.operation_id) == (
        users["instructor"],
        "api",
        hdf.pk,
        op.pk,
    )
    assert entry.subject_type == "operations.operation" and entry.subject_id == str(op.pk)
    system = audit_record(actor=Actor.system(), action=AuditAction.OPERATION_UPDATED, subject=op)
    assert system.user is None and system.via == "system"


def test_every_money_write_is_audited_with_before_and_after(hdf, actors):
    op = make_operation(hdf)
    line = make_line(op, "etat", "1000")
    services.financing_line_update(actor=actors["admin"], line=line, amount="1500", year=2024)
    services.financing_line_cancel(actor=actors["admin"], line=line, reason="doublon")
    entries = list(AuditEntry.objects.filter(operation_id=op.pk).order_by("id"))
    assert [e.action for e in entries] == [AuditAction.LINE_UPDATED, AuditAction.LINE_CANCELLED]
    assert [e.get_action_display() for e in entries] == [
        "ligne de financement modifiée",
        "ligne de financement annulée",
    ]
    assert entries[0].changes == {
        "amount": {"avant": "1000.00", "après": "1500.00"},
        "year": {"avant": None, "après": 2024},
    }
    assert entries[1].changes["status"] == {"avant": "active", "après": "cancelled"}
    assert entries[1].message == "doublon"


def test_a_change_that_changes_nothing_writes_no_entry(hdf, actors):
    op = make_operation(hdf)
    services.operation_update(actor=actors["admin"], operation=op, title=op.title)
    assert not AuditEntry.objects.filter(operation_id=op.pk).exists()


def test_the_admin_only_reads_the_trail(client, hdf, users):
    op = make_operation(hdf)
    entry = audit_record(actor=Actor.system(), action=AuditAction.OPERATION_UPDATED, subject=op)
    client.force_login(users["admin"])
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    delete = reverse("admin:audit_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    client.post(change, {"action": "falsifié"})
    entry.refresh_from_db()
    assert entry.action == AuditAction.OPERATION_UPDATED
    client.force_login(users["public"])
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 302


def test_a_batch_writes_the_entries_one_by_one_writing_would(hdf, users):
    op = make_operation(hdf)
    actor = Actor(user=users["instructor"], via="import")
    draft = AuditDraft(
        action=AuditAction.OPERATION_UPDATED,
        subject=op,
        changes={"montant": {"avant": Decimal("1.10"), "après": Decimal("2.20")}},
        message="motif",
        contract_id=hdf.pk,
        operation_id=op.pk,
    )
    single = audit_record(actor=actor, **vars(draft))
    assert audit_record_many(actor=actor, entries=[draft, draft]) == 2
    fields = [f.name for f in AuditEntry._meta.concrete_fields if f.name not in {"id", "at"}]
    rows = list(AuditEntry.objects.filter(operation_id=op.pk).order_by("id").values(*fields))
    expected = {f: getattr(single, f) for f in fields if f != "user"}
    expected["user"] = users["instructor"].pk
    assert rows[1] == rows[2] == rows[0] == expected
    assert rows[0]["changes"] == {"montant": {"avant": "1.10", "après": "2.20"}}
    with pytest.raises(UnknownAuditAction):
        audit_record_many(actor=actor, entries=[AuditDraft(action="falsifié", subject=op)])  # type: ignore[arg-type]


def test_an_action_outside_the_closed_list_is_refused(hdf):
    op = make_operation(hdf)
    with pytest.raises(UnknownAuditAction):
        audit_record(actor=Actor.system(), action="falsifié", subject=op)  # type: ignore[arg-type]
    with pytest.raises(UnknownAuditAction):
        audit_record(actor=Actor.system(), action=AuditAction.LEGACY, subject=op)


def test_a_legacy_label_or_a_code_is_written_as_its_code(hdf):
    op = make_operation(hdf)
    by_label = audit_record(actor=Actor.system(), action="opération modifiée", subject=op)  # type: ignore[arg-type]
    by_code = audit_record(actor=Actor.system(), action="operation.updated", subject=op)  # type: ignore[arg-type]
    assert by_label.action == by_code.action == "operation.updated"
    assert by_label.get_action_display() == "opération modifiée"


def test_the_database_refuses_an_action_outside_the_list(hdf):
    op = make_operation(hdf)
    entry = audit_record(actor=Actor.system(), action=AuditAction.OPERATION_UPDATED, subject=op)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="texte libre")


def test_the_migration_maps_free_text_to_codes():
    migration = importlib.import_module("cper.audit.migrations.0003_action_codes")
    # The migration's frozen list is the list of its day: every action it knew still exists.
    current = {a.value: str(a.label) for a in AuditAction if a != AuditAction.LEGACY}
    assert migration.ACTIONS.items() <= current.items()
    code_for = migration.code_for
    assert code_for("import appliqué", {}) == ("import.applied", {})
    assert code_for("movement.payment", {"x": 1}) == ("movement.payment", {"x": 1})
    status = {"status": {"avant": "programmed", "après": "in_progress"}}
    assert code_for("statut : Programmée → En cours", status) == (
        "operation.status_changed",
        status,
    )
    assert code_for("statut : Programmée → En cours", {}) == (
        "operation.status_changed",
        {"status": {"avant": "Programmée", "après": "En cours"}},
    )
    assert code_for("décision : favorable", {})[0] == "committee.decision_recorded"
    assert code_for("autre chose", {"a": 1}) == (
        "legacy",
        {"a": 1, "action": {"avant": None, "après": "autre chose"}},
    )


def test_the_history_shows_the_french_label(client, hdf, users):
    op = make_operation(hdf)
    audit_record(
        actor=Actor.system(),
        action=AuditAction.OPERATION_UPDATED,
        subject=op,
        operation_id=op.pk,
        contract_id=hdf.pk,
    )
    client.force_login(users["admin"])
    page = client.get(reverse("operations:history", args=[hdf.slug, op.pk]))
    assert page.status_code == 200
    assert "opération modifiée" in page.content.decode()
    assert "operation.updated" not in page.content.decode()


def test_the_audit_app_imports_no_other_app():
    # Every app's services write the trail (accounts' too): audit sits below them all. It may
    # use the project's core modules, which belong to no app (money, findings, db).
    root = Path(__file__).resolve().parents[2] / "cper" / "audit"
    other = re.compile(r"^\s*(from|import) cper\.(?!(audit|db|money|findings)\b)\w+", re.MULTILINE)
    for path in root.rglob("*.py"):
        if "migrations" not in path.parts:
            assert not other.search(path.read_text(encoding="utf-8")), path
