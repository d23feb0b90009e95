"""The audit trail: before/after values, the path, denormalised contract/operation ids, and an
admin that only reads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.urls import reverse

from cper.audit.models import AuditEntry
from cper.audit.services import Actor, audit_record, diff_fields, jsonable
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
        action="test",
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
    system = audit_record(actor=Actor.system(), action="test", subject=op)
    assert system.user is None and system.via == "system"


def test_every_money_write_is_audited_with_before_and_after(hdf, actors):
    op = make_operation(hdf)
    line = make_line(op, "etat", "1000")
    services.financing_line_update(actor=actors["admin"], line=line, amount="1500", year=2024)
    services.financing_line_cancel(actor=actors["admin"], line=line, reason="doublon")
    entries = list(AuditEntry.objects.filter(operation_id=op.pk).order_by("id"))
    assert [e.action for e in entries] == [
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
    entry = audit_record(actor=Actor.system(), action="test", subject=op)
    client.force_login(users["admin"])
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    delete = reverse("admin:audit_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    client.post(change, {"action": "falsifié"})
    entry.refresh_from_db()
    assert entry.action == "test"
    client.force_login(users["public"])
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 302
