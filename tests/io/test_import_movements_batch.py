"""Movements are imported by chunks through `movements_record_many`: the demo's movements (with
their cancellations) exported then imported into a twin contract come back exactly; the number
of queries follows the number of chunks, not of movements; a database error on a chunk falls
back to the row-by-row path with the same report."""

from __future__ import annotations

import io as _io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cper.contracts.models import Contract
from cper.finance import services as finance
from cper.finance import summaries
from cper.finance.models import Movement
from cper.io import exports, writers
from cper.io.imports import import_movements, import_operations
from cper.io.imports.movements import MovementPlanner
from cper.operations import services as ops
from cper.operations.models import Operation
from tests.io.conftest import csv_file
from tests.io.test_import_rejections import (  # noqa: F401  (fixture)
    MOVEMENT_HEADER,
    messages,
    programmed,
)
from tests.io.test_round_trip import twin  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def ledger(contract, user) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The contract's movements as a spreadsheet sees them (operation, financer, rank, nature,
    date, amount, reference, cancelled movement's reference; not the note)."""
    sheet = exports.movements_sheet(contract, user=user)
    return sorted(tuple(str(c) for i, c in enumerate(row) if i != 11) for row in sheet.rows)


def test_the_demo_movements_exported_then_imported_into_a_twin_come_back_exactly(
    hdf, admin_actor, monkeypatch, request
):
    target = request.getfixturevalue("twin")
    # The source programs by its partners' decisions, like the twin: the demo records them,
    # the lines export carries them, the import records them on the twin's lines.
    Contract.objects.filter(pk=hdf.pk).update(programming_mode="partner_decision")
    call_command("demo", "--operations", "80", "--no-users", stdout=_io.StringIO())
    cancels = Movement.objects.filter(
        financing_line__operation__contract=hdf, cancels__isnull=False
    )
    assert cancels.filter(kind="payment_cancellation").exists()
    assert cancels.filter(kind="decommitment").exists()
    lines = writers.render(exports.build("lines", hdf, user=admin_actor.user), "csv")
    loaded = import_operations(
        actor=admin_actor, contract=target, source=lines, file_name="l.csv", dry_run=False
    )
    assert loaded.ok, [str(r) for r in loaded.rejections[:5]]
    monkeypatch.setattr(MovementPlanner, "chunk_size", 150)  # cancellations across chunks
    data = writers.render(exports.build("movements", hdf, user=admin_actor.user), "xlsx")
    report = import_movements(
        actor=admin_actor, contract=target, source=data, file_name="m.xlsx", dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections[:5]]
    assert (
        report.created
        == report.rows_total
        == Movement.objects.filter(financing_line__operation__contract=hdf).count()
    )
    assert ledger(target, admin_actor.user) == ledger(hdf, admin_actor.user)
    assert summaries.verify(target) == []
    again = import_movements(
        actor=admin_actor, contract=target, source=data, file_name="m.xlsx", dry_run=False
    )
    assert (again.created, again.unchanged, again.rejected) == (0, report.rows_total, 0)


def commitments(n: int) -> bytes:
    rows = [MOVEMENT_HEADER]
    for i in range(n):
        op, financer = ("OK-1", "État") if i % 2 else ("OK-2", "État")
        rows.append([op, financer, "engagement", "01/06/2023", "1,00", f"{2100000000 + i}"])
    return csv_file(rows)


def import_queries(hdf, actor, n: int) -> int:  # type: ignore[no-untyped-def]
    data = commitments(n)
    with CaptureQueriesContext(connection) as ctx:
        report = import_movements(actor=actor, contract=hdf, source=data, dry_run=True)
    assert report.ok and report.created == n
    return len(ctx.captured_queries)


@pytest.mark.usefixtures("programmed")
def test_the_queries_of_an_import_follow_its_chunks_not_its_movements(
    hdf, admin_actor, monkeypatch
):
    monkeypatch.setattr(MovementPlanner, "chunk_size", 60)
    one_chunk = import_queries(hdf, admin_actor, 60)
    per_chunk = import_queries(hdf, admin_actor, 120) - one_chunk
    eight_chunks = import_queries(hdf, admin_actor, 480)
    assert per_chunk < 60 / 3  # a few queries a chunk, not a few a movement
    assert eight_chunks <= one_chunk + 7 * per_chunk + 2


MIXED = [
    MOVEMENT_HEADER,
    ["OK-1", "État", "engagement", "01/06/2023", "300000", "2100000001"],
    ["OK-1", "État", "paiement", "01/07/2023", "-5000", "MDT-0"],
    ["OK-1", "État", "paiement", "01/08/2023", "350000", "MDT-1"],
    ["OK-1", "État", "paiement", "01/09/2023", "12 000 €", "MDT-2"],
    ["OK-1", "État", "paiement", "01/09/2023", "2000", "MDT-2"],
    ["OK-2", "État", "paiement", "01/09/2023", "1", "MDT-3"],
    ["OK-2", "État", "annulation de paiement", "02/09/2023", "1", "AMDT-3"],
]


@pytest.mark.usefixtures("programmed")
def test_a_database_error_on_a_chunk_falls_back_to_row_by_row_with_the_same_report(
    hdf, admin_actor, monkeypatch
):
    batched = import_movements(actor=admin_actor, contract=hdf, source=csv_file(MIXED))

    whole = finance.movements_record_many

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        if len(kwargs["movements"]) == 1:  # `movement_record`, the row-by-row path, works
            return whole(**kwargs)
        with transaction.atomic():  # as the service: its savepoint is rolled back
            Movement.objects.create(financing_line_id=0, kind="x", date=None, amount=Decimal(1))

    monkeypatch.setattr(finance, "movements_record_many", broken)
    fallen = import_movements(
        actor=admin_actor, contract=hdf, source=csv_file(MIXED), partial=True, dry_run=False
    )
    assert messages(fallen) == messages(batched)
    assert set(messages(batched)) == {3, 4, 6, 7, 8}
    assert fallen.created == batched.created == 2
    assert Movement.objects.filter(reference__in=["2100000001", "MDT-2"]).count() == 2
    assert summaries.verify(hdf) == []


@pytest.mark.usefixtures("programmed")
def test_a_row_goes_in_whole_or_not_at_all_and_later_rows_do_not_see_a_refused_one(
    hdf, admin_actor
):
    rows = [
        ["N° d'opération", "Financeur", "Date", "N° EJ", "Montant engagé", "Montant payé"],
        ["OK-1", "État", "01/06/2023", "2100000001", "1000", "5000"],  # paid beyond committed
        ["OK-1", "État", "02/06/2023", "2100000002", "", "10"],  # sees no commitment
        ["OK-1", "État", "03/06/2023", "2100000003", "100", "100"],
    ]
    report = import_movements(
        actor=admin_actor, contract=hdf, source=csv_file(rows), partial=True, dry_run=False
    )
    assert report.layout == "wide"
    got = messages(report)
    assert set(got) == {2, 3} and "engagé" in got[2][0][1] and "aucun engagement" in got[3][0][1]
    assert sorted(Movement.objects.values_list("reference", "kind")) == [
        ("2100000003", "commitment"),
        ("2100000003", "payment"),
    ]


@pytest.mark.usefixtures("programmed")
def test_progress_ticks_up_to_the_last_row(hdf, admin_actor, monkeypatch):
    monkeypatch.setattr(MovementPlanner, "chunk_size", 7)
    seen: list[tuple[int, int]] = []
    import_movements(
        actor=admin_actor,
        contract=hdf,
        source=commitments(30),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (30, 30) and len(seen) >= 4
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.usefixtures("programmed")
def test_a_partner_imports_movements_keyed_by_its_own_file_numbers(hdf, admin_actor):
    # The operations named by a file are read up front, by slices: the partner's own file
    # numbers find their operation, the contract's codes still do, an unknown one is named.
    etat = hdf.partners.get(code="etat")
    ops.external_reference_set(
        actor=admin_actor,
        operation=Operation.objects.get(contract=hdf, code="OK-1"),
        partner=etat,
        reference="DOSSIER-ETAT-7",
    )
    header = ["N° de dossier", "Nature du mouvement", "Date", "Montant", "N° EJ"]
    rows = [
        header,
        ["DOSSIER-ETAT-7", "engagement", "01/06/2023", "1000", "2100000101"],
        ["OK-2", "engagement", "01/06/2023", "2000", "2100000102"],
        ["DOSSIER-INCONNU", "engagement", "01/06/2023", "3000", "2100000103"],
    ]
    report = import_movements(
        actor=admin_actor,
        contract=hdf,
        source=csv_file(rows),
        partner=etat,
        partial=True,
        dry_run=False,
    )
    assert report.created == 2
    assert [(r.row, r.message) for r in report.rejections] == [
        (4, "opération inconnue « DOSSIER-INCONNU » pour État")
    ]
    by_ref = {m.reference: m.financing_line.operation.code for m in Movement.objects.all()}
    assert by_ref == {"2100000101": "OK-1", "2100000102": "OK-2"}


@pytest.mark.usefixtures("programmed")
def test_a_nul_byte_in_a_cell_rejects_its_row_by_name_on_every_database(hdf, admin_actor):
    # PostgreSQL refuses NUL in text: the cell's NUL becomes U+FFFD, the row is rejected by
    # name, the other rows are imported.
    rows = [
        MOVEMENT_HEADER,
        ["OK-1\x00", "État", "engagement", "01/06/2023", "1000", "2100000201"],
        ["OK-2", "État", "engagement", "01/06/2023", "2000", "2100000202"],
    ]
    report = import_movements(
        actor=admin_actor, contract=hdf, source=csv_file(rows), partial=True, dry_run=False
    )
    assert report.created == 1
    assert [(r.row, r.message) for r in report.rejections] == [
        (2, "opération inconnue « OK-1\ufffd »")
    ]
