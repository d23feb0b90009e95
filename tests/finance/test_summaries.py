"""The maintained summaries equal their full recomputation from the ledger and the register —
after any sequence of movements and register changes (hypothesis) — and the service equals a
naive recomputation from the raw rows at any date. The register changes are written here with
the ORM, each followed by the `lines_sync` call the register's services make in their
transaction.

CPER_LEDGER_EXAMPLES=200 make test  explores more sequences than the default 10.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cper.checks import BLOCKING, run_checks
from cper.contracts.models import Marker
from cper.finance import aggregation, summaries
from cper.finance.models import ExecutionCell, LineState
from cper.finance.services import MovementRefused
from cper.operations.models import PROGRAMMED_STATUSES, FinancingLine, OperationStatus
from tests.finance import factories as F

D = dt.date
START = D(2021, 1, 1)
MARKER = "emploi-formation-orientation"
COMMUNES = ("59350", "80021", "62041", "02691")


def naive(contract, as_of, keys, departement=None):  # type: ignore[no-untyped-def]
    """{key: (programmed, committed, paid)} from the raw rows, by brute force."""
    out: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    lines = FinancingLine.objects.filter(
        operation__contract=contract, contractualised=True, partner__isnull=False
    ).select_related("operation", "objective__axis", "partner")
    for line in lines:
        op = line.operation
        if departement is not None and op.departement_id != departement:
            continue
        snap = summaries.snapshots_compute(line_ids=[line.pk])[line.pk]

        def key(day: dt.date, line=line) -> tuple:  # type: ignore[no-untyped-def]
            values = {
                "axis": line.objective.axis.number,
                "partner": line.partner.code,
                "year": day.year,
            }
            return tuple(values[k] for k in keys)

        if (
            line.status == "active"
            and op.status in PROGRAMMED_STATUSES
            and snap.programmed_on <= as_of
        ):
            out[key(snap.programmed_on)][0] += line.amount
        for m in line.movements.filter(date__lte=as_of):
            c, p = m.signed_committed, m.signed_paid
            out[key(m.date)][1] += c
            out[key(m.date)][2] += p
    return {k: tuple(v) for k, v in out.items() if any(v)}


def service(contract, as_of, keys, departement=None):  # type: ignore[no-untyped-def]
    filters = {"departement": departement} if departement else {}
    result = aggregation.execution(contract=contract, as_of=as_of, group_by=keys, filters=filters)
    return {
        tuple(r.key[k] for k in keys): (r.programmed, r.committed, r.paid)
        for r in result.rows
        if r.programmed or r.committed or r.paid
    }


actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("move"),
            st.integers(0, 3),
            st.sampled_from(
                [
                    "commitment",
                    "commitment",
                    "payment",
                    "payment",
                    "decommitment",
                    "payment_cancellation",
                ]
            ),
            st.integers(0, 2150),
            st.integers(1, 60000),
            st.integers(0, 10),
        ),
        st.tuples(st.just("amount"), st.integers(0, 3), st.integers(0, 90000)),
        st.tuples(
            st.just("status"),
            st.integers(0, 1),
            st.sampled_from(["programmed", "in_progress", "closed", "abandoned", "under_review"]),
        ),
        st.tuples(st.just("commune"), st.integers(0, 1), st.sampled_from(COMMUNES)),
        st.tuples(st.just("marker"), st.integers(0, 1), st.booleans()),
        st.tuples(st.just("cancel_line"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=18,
)


@settings(
    max_examples=int(os.environ.get("CPER_LEDGER_EXAMPLES", "10")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=actions, as_of_days=st.lists(st.integers(0, 2200), min_size=1, max_size=3))
@pytest.mark.django_db
def test_summaries_equal_recomputation_after_any_sequence(hdf, steps, as_of_days):
    from cper.operations.models import OperationCommune
    from cper.territories.models import Commune

    ops = [F.operation(hdf, programmed_on=D(2021, 6, 1)), F.operation(hdf, programmed_on=None)]
    lines = [
        F.line(ops[0], "etat", "500.00"),
        F.line(ops[0], "region", "300.00"),
        F.line(ops[1], "etat", "400.00"),
        F.line(ops[1], "dep-59", "200.00"),
    ]
    for step in steps:
        kind = step[0]
        if kind == "move":
            _, li, mk, day, cents, pick = step
            line = lines[li]
            cancels = None
            if mk in ("decommitment", "payment_cancellation"):
                target = "commitment" if mk == "decommitment" else "payment"
                candidates = list(line.movements.filter(kind=target).order_by("pk"))
                cancels = candidates[pick % len(candidates)] if candidates else None
            with contextlib.suppress(MovementRefused):
                F.record(
                    line, mk, START + dt.timedelta(days=day), Decimal(cents) / 100, cancels=cancels
                )
        elif kind == "amount":
            line = lines[step[1]]
            line.amount = Decimal(step[2]) / 100
            line.save()
            summaries.lines_sync(line_ids=[line.pk])
        elif kind == "status":
            op = ops[step[1]]
            op.status = step[2]
            op.save()
            summaries.lines_sync(operation_ids=[op.pk])
        elif kind == "commune":
            op = ops[step[1]]
            commune = Commune.objects.get(code=step[2])
            OperationCommune.objects.filter(operation=op).delete()
            OperationCommune.objects.create(operation=op, commune=commune, position=0)
            op.departement_id, op.epci_id = commune.departement_id, commune.epci_id
            op.save()
            summaries.lines_sync(operation_ids=[op.pk])
        elif kind == "marker":
            op = ops[step[1]]
            if step[2]:
                op.markers.add(Marker.objects.get(contract=hdf, code=MARKER))
            else:
                op.markers.clear()
            summaries.lines_sync(operation_ids=[op.pk])
        elif kind == "cancel_line":
            line = lines[step[1]]
            line.status = "cancelled"
            line.save()
            summaries.lines_sync(line_ids=[line.pk])
    assert summaries.verify(hdf) == []
    for days in as_of_days:
        as_of = START + dt.timedelta(days=days)
        keys = ("axis", "partner", "year")
        assert service(hdf, as_of, keys) == naive(hdf, as_of, keys)
        assert service(hdf, as_of, ("partner",), "59") == naive(hdf, as_of, ("partner",), "59")


def test_rebuild_restores_and_the_check_detects_drift(hdf):
    op = F.operation(hdf, programmed_on=D(2022, 2, 1), markers=(MARKER,))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    F.record(line, "payment", D(2022, 4, 1), "100.00")
    assert summaries.verify(hdf) == []
    assert not [f for f in run_checks(hdf) if f.code == "agregats-execution"]
    ExecutionCell.objects.filter(contract=hdf, grain="Y", dim="marker").update(paid=1)
    LineState.objects.filter(pk=line.pk).update(committed=0)
    problems = summaries.verify(hdf)
    assert {p.what for p in problems} == {"ligne", "agrégat"}
    findings = [f for f in run_checks(hdf) if f.code == "agregats-execution"]
    assert findings and findings[0].level == BLOCKING
    assert "cper execution rebuild-summaries hauts-de-france-2021-2027" in findings[0].message
    report = summaries.rebuild(hdf)
    assert report.lines >= 1 and report.cells >= 1
    assert summaries.verify(hdf) == []


def test_line_states_count_their_movements_and_the_check_catches_a_wrong_count(hdf):
    op = F.operation(hdf, programmed_on=D(2022, 2, 1))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    F.record(line, "payment", D(2022, 4, 1), "100.00")
    F.record(line, "payment", D(2022, 5, 1), "50.00")
    assert LineState.objects.get(pk=line.pk).movements == 3
    LineState.objects.filter(pk=line.pk).update(movements=7)
    assert [p.key for p in summaries.verify(hdf)] == [f"{line.pk} (cumuls)"]
    summaries.rebuild(hdf)
    assert LineState.objects.get(pk=line.pk).movements == 3
    assert summaries.verify(hdf) == []


def test_the_check_goes_by_slices_of_lines_and_finds_a_drift_in_any_slice(hdf, monkeypatch):
    # the module, which the package's `verify` function shadows as an attribute
    verify_module = sys.modules["cper.finance.summaries.verify"]
    op = F.operation(hdf, programmed_on=D(2022, 2, 1))
    lines = [F.line(op, "etat", "100.00") for _ in range(5)]
    F.record(lines[3], "commitment", D(2022, 3, 1), "60.00")
    monkeypatch.setattr(verify_module, "LINE_CHUNK", 2)
    assert summaries.verify(hdf) == []
    LineState.objects.filter(pk=lines[3].pk).update(paid=1)
    LineState.objects.filter(pk=lines[4].pk).update(programmed=1)
    # (the cells recomputed from the tampered state follow: only the lines' come first)
    keys = [p.key for p in summaries.verify(hdf)]
    assert keys[:2] == [f"{lines[3].pk} (cumuls)", str(lines[4].pk)]


def test_the_check_reports_a_stored_cell_that_nothing_explains(hdf):
    op = F.operation(hdf, programmed_on=D(2022, 2, 1))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    cell = ExecutionCell.objects.filter(contract=hdf, grain="D", dim="").first()
    ExecutionCell.objects.create(
        contract=hdf,
        grain="D",
        dim="",
        value="",
        period=D(2023, 7, 14),
        year=2023,
        partner_id=cell.partner_id,
        objective_id=cell.objective_id,
        paid=500,
    )
    [problem] = summaries.verify(hdf)
    assert problem.what == "agrégat" and problem.key.startswith("D/base/")
    assert "2023, 7, 14" in problem.key
    assert (problem.stored, problem.expected) == ((0, 0, 500), None)


def test_a_bulk_load_leaves_the_summaries_to_one_rebuild_at_the_end(hdf):
    op = F.operation(hdf, programmed_on=D(2022, 2, 1), markers=(MARKER,))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    with summaries.rebuilt_after():
        F.record(line, "payment", D(2022, 4, 1), "100.00")
        F.record(line, "payment", D(2022, 5, 1), "50.00")
        # inside, the cumulative amounts wait for the recomputation
        assert LineState.objects.get(pk=line.pk).paid == 0
    state = LineState.objects.get(pk=line.pk)
    assert (state.committed, state.paid, state.movements) == (60000, 15000, 3)
    assert summaries.verify(hdf) == []
    assert aggregation.execution(contract=hdf).total.paid == Decimal("150.00")


def test_writes_that_bypass_the_services_are_caught_and_lines_sync_repairs(hdf):
    op = F.operation(hdf, programmed_on=D(2022, 2, 1))
    line = F.line(op, "etat", "1000.00")
    FinancingLine.objects.filter(pk=line.pk).update(amount=Decimal("2000.00"))
    assert summaries.verify(hdf)
    summaries.lines_sync(line_ids=[line.pk])
    assert summaries.verify(hdf) == []
    assert aggregation.execution(contract=hdf).total.programmed == Decimal("2000.00")


def test_deferred_syncs_once_at_the_end(hdf):
    op = F.operation(hdf, programmed_on=D(2022, 2, 1))
    with summaries.deferred() as pending:
        lines = [F.line(op, "etat", "10.00") for _ in range(3)]
        assert not LineState.objects.filter(pk__in=[x.pk for x in lines]).exists()
        assert {x.pk for x in lines} <= pending
    assert LineState.objects.filter(pk__in=[x.pk for x in lines]).count() == 3
    assert summaries.verify(hdf) == []


def test_the_ledger_check_reports_breaches_in_french(hdf):
    from django.db import connection

    from cper.finance.models import Movement

    op = F.operation(hdf, programmed_on=D(2022, 2, 1))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    assert not [f for f in run_checks(hdf) if f.code.startswith("grand-livre")]
    # an import that bypassed the service: a payment before any commitment
    table = Movement._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (financing_line_id, kind, date, amount, reference, via, "
            "recorded_at, note) VALUES (%s, 'payment', %s, %s, 'X', 'import', %s, '')",
            [line.pk, D(2022, 2, 15), Decimal("50.00"), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)],
        )
    findings = [f for f in run_checks(hdf) if f.code == "grand-livre-invariant"]
    assert findings and findings[0].level == BLOCKING
    assert f"Ligne de financement n° {line.pk} : payé supérieur à l'engagé au 15/02/2022" in (
        findings[0].message
    )
    op.status = OperationStatus.ABANDONED
    op.save()
    summaries.lines_sync(operation_ids=[op.pk])
    codes = [f.message for f in run_checks(hdf) if f.code == "grand-livre-invariant"]
    assert any("engagé supérieur au programmé" in m for m in codes)


@pytest.mark.django_db(transaction=True)
def test_the_check_outside_a_transaction_compares_cells_on_a_connection_of_its_own(
    hdf, monkeypatch
):
    """`cper contract check` runs outside a transaction: the cells are compared in a worker
    thread, on its own connection, while the lines are; the findings are the same, lines
    first."""
    import threading

    from django.db import connection

    # the module, which the package's `verify` function shadows as an attribute
    verify_module = sys.modules["cper.finance.summaries.verify"]
    threads: list[str] = []
    compare = verify_module._verify_cells

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return compare(*args, **kwargs)

    monkeypatch.setattr(verify_module, "_verify_cells", recorded)
    op = F.operation(hdf, programmed_on=D(2022, 2, 1), markers=(MARKER,))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    assert not connection.in_atomic_block
    assert summaries.verify(hdf) == []
    ExecutionCell.objects.filter(contract=hdf, grain="Y", dim="marker").update(paid=1)
    LineState.objects.filter(pk=line.pk).update(committed=0)
    problems = summaries.verify(hdf)
    assert problems[0].what == "ligne"
    assert {p.what for p in problems} == {"ligne", "agrégat"}
    assert threads and threading.main_thread().name not in threads
    assert summaries.verify(hdf, limit=1) == problems[:1]
