"""Closings: a frozen snapshot of the execution at a date, never moved by later records, and the
reconciliation that shows what changed for that date since.

The example (euros): operation A (objective 2.2, axis 2, Lille), programmed on 15/03/2025, with
an État line of 100 000 and a Région line of 50 000; État commitment 40 000 on 01/06/2025,
payment 15 000 on 01/09/2025. Closed at 31/12/2025: programmed 150 000, committed 40 000, paid
15 000. Then, after the closing, a payment of 10 000 dated 15/11/2025 is recorded on the État
line: the closing still says 15 000 paid, today's figures for 31/12/2025 say 25 000, and the
reconciliation shows +10 000 paid for État and for axis 2, and that one movement.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.closings import figures as F
from cper.closings import selectors
from cper.closings.models import Closing, ClosingImmutable
from cper.closings.services import ClosingRefused, closing_create
from cper.finance import aggregation
from tests.finance import factories as FF
from tests.operations.factories import make_user

D = dt.date
AT = D(2025, 12, 31)
SYSTEM = Actor.system()


@pytest.fixture
def example(hdf):  # type: ignore[no-untyped-def]
    a = FF.operation(hdf, code="A", programmed_on=D(2025, 3, 15))
    etat = FF.line(a, "etat", "100000.00")
    FF.line(a, "region", "50000.00")
    FF.record(etat, "commitment", D(2025, 6, 1), "40000.00")
    FF.record(etat, "payment", D(2025, 9, 1), "15000.00")
    return hdf, etat


def _row(closing_or_doc, grouping: str, **key):  # type: ignore[no-untyped-def]
    doc = closing_or_doc.figures if isinstance(closing_or_doc, Closing) else closing_or_doc
    for r in F.rows_of(doc, grouping):
        if all(r.key.get(k) == v for k, v in key.items()):
            return r
    raise AssertionError(f"pas de ligne {key} dans {grouping}")


@pytest.mark.django_db
def test_a_closing_freezes_every_grouping_with_its_digest_and_is_audited(example) -> None:
    hdf, _ = example
    closing = closing_create(actor=SYSTEM, contract=hdf, at=AT)
    total = F.total_of(closing.figures)
    assert total is not None
    assert (total.programmed, total.committed, total.paid) == (
        Decimal("150000.00"),
        Decimal("40000.00"),
        Decimal("15000.00"),
    )
    assert _row(closing, "partner", partner="etat").paid == Decimal("15000.00")
    assert _row(closing, "partner", partner="region").programmed == Decimal("50000.00")
    assert _row(closing, "axis", axis=2).committed == Decimal("40000.00")
    assert _row(closing, "axis,partner", axis=2, partner="etat").programmed == Decimal("100000.00")
    assert _row(closing, "departement", departement="59").programmed == Decimal("150000.00")
    assert [r.key["operation"] for r in F.rows_of(closing.figures, F.OPERATIONS_OF_YEAR)] == ["A"]
    assert len(closing.digest) == 64 and selectors.digest_ok(closing)
    entry = AuditEntry.objects.get(action=AuditAction.CLOSING_CREATED, subject_id=str(closing.pk))
    assert entry.changes["paid"] == "15000.00"


@pytest.mark.django_db
def test_a_closing_is_never_edited_nor_deleted(example) -> None:
    hdf, _ = example
    closing = closing_create(actor=SYSTEM, contract=hdf, at=AT)
    closing.label = "autre"
    with pytest.raises(ClosingImmutable):
        closing.save()
    with pytest.raises(ClosingImmutable):
        closing.delete()
    with pytest.raises(ClosingImmutable):
        Closing.objects.filter(pk=closing.pk).update(label="x")


@pytest.mark.django_db
def test_the_same_date_is_closed_again_only_under_another_label(example) -> None:
    hdf, _ = example
    closing_create(actor=SYSTEM, contract=hdf, at=AT)
    with pytest.raises(ClosingRefused, match="déjà arrêtée"):
        closing_create(actor=SYSTEM, contract=hdf, at=AT)
    second = closing_create(actor=SYSTEM, contract=hdf, at=AT, label="rectificatif")
    assert second.label == "rectificatif"
    with pytest.raises(ClosingRefused, match="futur"):
        closing_create(actor=SYSTEM, contract=hdf, at=dt.date.today() + dt.timedelta(days=3))


@pytest.mark.django_db
def test_only_administrators_and_instructors_close(example) -> None:
    hdf, _ = example
    for user in (make_user("observer"), make_user("partner_manager", "etat")):
        with pytest.raises(PermissionDenied):
            closing_create(actor=Actor(user=user), contract=hdf, at=AT)
    closing = closing_create(actor=Actor(user=make_user("instructor")), contract=hdf, at=AT)
    assert closing.created_by is not None


@pytest.mark.django_db
def test_a_back_dated_movement_moves_today_not_the_closing_and_the_reconciliation_shows_it(
    example,
) -> None:
    hdf, etat = example
    closing = closing_create(actor=SYSTEM, contract=hdf, at=AT)
    late = FF.record(etat, "payment", D(2025, 11, 15), "10000.00", reference="MANDAT-TARDIF")

    frozen = Closing.objects.get(pk=closing.pk)
    assert F.total_of(frozen.figures).paid == Decimal("15000.00")  # type: ignore[union-attr]
    assert frozen.digest == closing.digest and selectors.digest_ok(frozen)
    assert aggregation.execution(contract=hdf, as_of=AT).total.paid == Decimal("25000.00")

    rec = selectors.reconciliation(closing=frozen)
    assert [(d.key, d.gaps) for d in rec.changed("partner")] == [
        (
            {"partner": "etat"},
            {
                "maquette": Decimal("0.00"),
                "programmed": Decimal("0.00"),
                "committed": Decimal("0.00"),
                "paid": Decimal("10000.00"),
            },
        )
    ]
    assert [(d.key, d.gap("paid")) for d in rec.changed("axis")] == [
        ({"axis": 2}, Decimal("10000.00"))
    ]
    assert [(d.label, d.gap("paid")) for d in rec.changed("axis,partner")] == [
        (f"{_row(frozen, 'axis', axis=2).label} · {etat.partner.name}", Decimal("10000.00"))
    ]
    assert rec.total.gap("paid") == Decimal("10000.00")
    assert rec.total.gap("committed") == Decimal("0.00")
    assert [(c.movement.pk, c.movement.reference, c.axis, c.paid) for c in rec.movements] == [
        (late.pk, "MANDAT-TARDIF", 2, Decimal("10000.00"))
    ]
    assert str(etat.partner) in rec.movements[0].partner
    assert not rec.unchanged


@pytest.mark.django_db
def test_a_movement_dated_after_the_closing_date_is_not_a_difference(example) -> None:
    hdf, etat = example
    closing = closing_create(actor=SYSTEM, contract=hdf, at=AT)
    FF.record(etat, "payment", D(2026, 1, 15), "5000.00")
    rec = selectors.reconciliation(closing=closing)
    assert rec.unchanged
    assert rec.movements == []


@pytest.mark.django_db
def test_the_commands_create_list_show_and_diff(example) -> None:
    import io
    import json

    from django.core.management import CommandError, call_command

    hdf, etat = example

    def run(*args: str) -> str:
        out = io.StringIO()
        call_command("closing", *args, stdout=out)
        return out.getvalue()

    created = run("create", hdf.slug, "--at", "2025-12-31")
    assert "Situation arrêtée au 31/12/2025" in created and "payé 15\u202f000,00\u00a0€" in created
    with pytest.raises(CommandError, match="déjà arrêtée"):
        run("create", hdf.slug, "--at", "2025-12-31")
    listing = json.loads(run("list", hdf.slug, "--format", "json"))
    assert [(r["at"], r["paid"]) for r in listing] == [("2025-12-31", "15000.00")]
    assert run("list", hdf.slug, "--format", "csv").startswith("at,label,")
    assert "Aucun changement" in run("diff", hdf.slug, "--at", "2025-12-31")
    FF.record(etat, "decommitment", D(2025, 12, 20), "5000.00", reference="DESENG-1")
    diff = json.loads(run("diff", hdf.slug, "--at", "2025-12-31", "--format", "json"))
    partner = [d for d in diff["differences"] if d["grouping"] == "partner"]
    assert [(d["key"], d["committed_gap"]) for d in partner] == [({"partner": "etat"}, "-5000.00")]
    assert [m["reference"] for m in diff["movements"]] == ["DESENG-1"]
    text = run("diff", hdf.slug, "--at", "2025-12-31")
    assert "engagé 40\u202f000,00\u00a0€ → 35\u202f000,00\u00a0€ (-5\u202f000,00\u00a0€)" in text
    with pytest.raises(CommandError, match="aucun arrêté"):
        run("show", hdf.slug, "--at", "2024-12-31")


@pytest.mark.django_db
def test_the_reconciliation_lists_lines_added_after_and_back_dated_status_changes(example) -> None:
    from cper.operations.models import Operation, OperationTransition

    hdf, _ = example
    closing = closing_create(actor=SYSTEM, contract=hdf, at=AT)
    op = Operation.objects.get(contract=hdf, code="A")
    added = FF.line(op, "dep-59", "20000.00")  # a Nord line added after the closing
    OperationTransition.objects.create(
        operation=op,
        from_status="programmed",
        to_status="in_progress",
        at=dt.datetime(2025, 10, 1, 12, tzinfo=dt.UTC),
    )
    rec = selectors.reconciliation(closing=closing)
    assert [(d.key, d.gap("programmed")) for d in rec.changed("partner")] == [
        ({"partner": "dep-59"}, Decimal("20000.00"))
    ]
    assert [(c.line.pk, c.what) for c in rec.lines] == [(added.pk, "créée")]
    assert [(t.operation.code, t.to_status) for t in rec.transitions] == [("A", "in_progress")]
    assert rec.movements == []
